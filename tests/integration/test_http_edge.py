"""The HTTP edge of `warroom serve`, over real sockets on 127.0.0.1: slow clients are cut while others are served,
no credential reaches the log, one viewer cannot take every live page, and /readyz's detail is not for strangers."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import ConsoleSurface, serve
from bot.clock import SystemClock
from bot.config import Settings
from tests.conftest import PLAYBOOKS
from tests.integration.test_serve import free_port

PATIENCE = aiohttp.ClientTimeout(total=15)
TOKEN = "wr_" + "S3cr3tT0k3n" * 4  # the shape of an API token: what must never reach a log
METRICS_TOKEN = "metrics-token-0123456789abcdef"


@asynccontextmanager
async def served(tmp_path: Path, **env: str) -> AsyncIterator[str]:
    """`serve` itself (the console surface, no chat platform) on a free port of 127.0.0.1, until the block ends."""
    port = free_port()
    settings = Settings.from_env(
        {
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
            "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            **env,
        }
    )
    clock = SystemClock()
    task = asyncio.create_task(serve(settings, clock=clock, surface=ConsoleSurface(settings, clock, io.StringIO())))
    base = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(120):
            while not await healthy(base):
                assert not task.done(), task.exception()
                await asyncio.sleep(0.1)
        yield base
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


async def healthy(base: str) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=PATIENCE) as http, http.get(f"{base}/healthz") as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def raw(base: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", int(base.rsplit(":", 1)[1]))


async def test_a_malformed_request_with_a_bearer_token_leaves_no_token_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with served(tmp_path) as base:
        reader, writer = await raw(base)
        # A bare LF after a header: aiohttp refuses the request and logs the raw header lines it could not read.
        writer.write(
            f"GET /api/v1/incidents?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\n"
            f"Authorization: Bearer {TOKEN}\r\nCookie: warroom_session={TOKEN}\r\n\r\n".encode()
        )
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 15)
        writer.close()
        assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n")[0]
        wellformed = f"{base}/api/v1/incidents?token={TOKEN}"  # logged by the access log, query string and all
        async with (
            aiohttp.ClientSession(timeout=PATIENCE) as http,
            http.get(wellformed, headers={"Authorization": "x"}) as response,
        ):
            assert response.status == 401
    logged = caplog.text
    assert "Missing expected CR" in logged or "Bad" in logged  # the refusal was logged, and is still useful…
    assert "[redacted]" in logged  # …with what it held redacted
    assert "S3cr3tT0k3n" not in logged
    for record in caplog.records:
        assert "S3cr3tT0k3n" not in record.getMessage()


async def test_a_client_sending_a_byte_a_second_is_cut_while_healthz_answers_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with served(tmp_path) as base:

        async def trickle(fast: bytes, slow: bytes) -> str:
            """Send ``fast`` at once, then ``slow`` a byte every half second: "cut" once the server hangs up."""
            reader, writer = await raw(base)
            writer.write(fast)
            try:
                for byte in slow:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)
                    with suppress(TimeoutError):
                        said = await asyncio.wait_for(reader.read(1024), 0.01)
                        if not said or reader.at_eof():
                            return "cut"
                    if reader.at_eof():
                        return "cut"
                return "never cut"
            except ConnectionError:
                return "cut"
            finally:
                writer.close()

        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60 + b"\r\n\r\n"
        body_head = (
            b"POST /auth/sign-out HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
        )
        slow_head = asyncio.create_task(trickle(b"", head))  # 40 s to send, at this pace
        slow_body = asyncio.create_task(trickle(body_head, b"csrf_token=" + b"x" * 89))  # 50 s
        answered = 0
        async with asyncio.timeout(40):  # a bound for the test, far beyond the edge's own limits
            while not (slow_head.done() and slow_body.done()):
                assert await healthy(base)  # others are served the whole time
                answered += 1
                await asyncio.sleep(0.2)
        assert (slow_head.result(), slow_body.result()) == ("cut", "cut")
        assert answered > 3 and await healthy(base)
    assert "did not arrive within 10s" in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_one_viewer_cannot_hold_more_live_pages_than_the_setting_allows(tmp_path: Path) -> None:
    async with (
        served(tmp_path, WARROOM_LIVE_PAGES_PER_VIEWER="2") as base,
        aiohttp.ClientSession(timeout=PATIENCE) as http,
    ):
        first, second = await http.get(f"{base}/live"), await http.get(f"{base}/live")
        try:
            assert first.status == second.status == 200
            async with http.get(f"{base}/live") as third:
                assert third.status == 429 and third.headers["Retry-After"] == "60"
                assert "You have 2 live pages open already" in await third.text()
            async with http.get(f"{base}/") as page:
                assert page.status == 200  # the pages themselves still work
        finally:
            first.close()
        async with asyncio.timeout(30):  # the closed page's place comes free once the server notices
            while True:
                async with http.get(f"{base}/live") as again:
                    if again.status == 200:
                        break
                    assert again.status == 429
                await asyncio.sleep(0.5)
        second.close()


async def test_readyz_tells_its_detail_only_to_this_machine_or_the_metrics_token(tmp_path: Path) -> None:
    async def readyz(**headers: str) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession(timeout=PATIENCE) as http,
            http.get(f"{base}/readyz", headers=headers) as response,
        ):
            return response.status, await response.json()

    async with served(tmp_path, WARROOM_METRICS_TOKEN=METRICS_TOKEN) as base:
        status, here = await readyz()
        assert status == 200 and here["database"] == "sqlite" and here["schema"] == "at head" and "backlog" in here
        proxied = {"X-Forwarded-For": "203.0.113.9"}  # through a proxy: someone on another machine
        assert await readyz(**proxied) == (200, {"status": "ready"})
        assert await readyz(**proxied, Authorization="Bearer wrong-token-0123456789") == (200, {"status": "ready"})
        status, trusted = await readyz(**proxied, Authorization=f"Bearer {METRICS_TOKEN}")
        assert status == 200 and trusted == here
