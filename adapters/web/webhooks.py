"""The webhook HTTP client: one aiohttp session POSTing signed deliveries; a receiver's failure is an answer, not
an exception, so the core decides about retries."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from bot.webhook_delivery import Answer

TIMEOUT = 10.0  # seconds a receiver has to answer; a slower one is retried like one that failed


class HttpWebhookPoster:
    """POSTs webhook deliveries with aiohttp; redirects are not followed (a subscriber names its real URL)."""

    def __init__(self, *, timeout: float = TIMEOUT) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> Answer:
        """One attempt: the receiver's status (and Retry-After), or why there was none."""
        try:
            async with self._client().post(url, data=payload, headers=dict(headers), allow_redirects=False) as answer:
                status = answer.status
                wait = answer.headers.get("Retry-After") if status in (429, 503) else None
                return Answer(status, None if 200 <= status < 300 else f"HTTP {status}", wait)
        except TimeoutError:
            return Answer(None, f"no answer within {self.timeout.total:g}s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as err:
            return Answer(None, f"{type(err).__name__}: {str(err)[:200]}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
