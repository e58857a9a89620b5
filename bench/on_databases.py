"""Where a benchmark measures: a fresh SQLite file, then a scratch PostgreSQL database dropped afterwards."""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def add_postgres_argument(parser: argparse.ArgumentParser) -> None:
    """`--postgres URL`: the server the scratch database is made on; '' measures on SQLite alone."""
    parser.add_argument(
        "--postgres", default=POSTGRES, help="server to create a scratch database on; '' to skip PostgreSQL"
    )


async def on_each_database(postgres: str, measure: Callable[[str], Awaitable[T]]) -> list[T]:
    """``measure(url)`` on SQLite, then on PostgreSQL unless ``postgres`` is '' (the server to make a database on)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(await measure(f"sqlite:///{folder}/bench.db"))
    if postgres:
        name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(postgres)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            rows.append(await measure(postgres.rsplit("/", 1)[0] + f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            await admin.close()
    return rows
