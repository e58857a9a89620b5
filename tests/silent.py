"""A database gone silent: a loopback port that accepts connections and never answers (packets dropped, a hung host)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def silent_postgres() -> AsyncIterator[str]:
    """A PostgreSQL URL whose server takes the connection and then says nothing, ever."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/silent"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()
