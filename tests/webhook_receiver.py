"""A webhook receiver on port 0, as a subscriber would write one: it checks every delivery's signature with the
documented algorithm (its own code, not Warroom's) and answers what the test tells it to."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    raw: bytes
    body: dict[str, Any]
    signed: bool  # the Warroom-Signature header matched HMAC-SHA256("<timestamp>.<body>") with the secret

    @property
    def event_id(self) -> str:
        return str(self.body["id"])

    @property
    def type(self) -> str:
        return str(self.body["type"])


def expected_signature(secret: str, timestamp: str, raw: bytes) -> str:
    """The recipe in docs/WEBHOOKS.md: hex HMAC-SHA256 over the timestamp, a dot and the raw body, prefixed `v1=`."""
    return "v1=" + hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()


class Receiver:
    """Records every POST to /hook; ``answer`` picks the status (and headers) for each, 200 by default."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.answer: Callable[[Received], tuple[int, dict[str, str]]] = lambda _r: (200, {})
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signature = request.headers.get("Warroom-Signature", "")
        timestamp = request.headers.get("Warroom-Timestamp", "")
        signed = hmac.compare_digest(signature, expected_signature(self.secret, timestamp, raw))
        got = Received(dict(request.headers), raw, json.loads(raw), signed)
        self.received.append(got)
        status, headers = self.answer(got)
        return web.Response(status=status, headers=headers, text="ok" if status < 300 else "nope")

    def types(self) -> list[str]:
        return [r.type for r in self.received]
