"""Teams' rate limits, kept on our side: posts paced per conversation, throttled calls retried with backoff."""

from __future__ import annotations

import asyncio
import collections
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from bot.errors import ChatError

log = logging.getLogger(__name__)
T = TypeVar("T")

# Teams throttles each thread at 7 messages a second and 60 in 30 seconds; we stay under both.
TEAMS_WINDOWS: tuple[tuple[float, int], ...] = ((1.0, 7), (30.0, 60))
# 429 (throttled), 412 (Teams' "precondition failed" under load), 502 and 504 are worth another try.
RETRYABLE = frozenset({412, 429, 502, 504})
Sleep = Callable[[float], Awaitable[None]]


class Retryable(Exception):
    """A call failed in a way that may succeed later; ``retry_after`` is the server's wish, in seconds."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail, self.retry_after = status, detail, retry_after


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a Retry-After header, given as seconds or as an HTTP date; None when absent or unreadable."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.replace(".", "", 1).isdigit():  # float() refuses "²", which isdigit() takes
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently to retry: exponential with jitter, or exactly what Retry-After asks."""

    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    # A Retry-After longer than this is not waited out: the reminder engine retries the firing after its lease.
    longest_wait: float = 60.0
    sleep: Sleep = field(default=asyncio.sleep, compare=False)

    def delay(self, attempt: int, asked: float | None) -> float:
        if asked is not None:
            return min(asked, self.longest_wait)
        return min(self.cap, self.base * 2.0**attempt) * random.uniform(0.8, 1.2)  # jitter spreads replicas apart


async def with_retries(call: Callable[[], Awaitable[T]], *, backoff: Backoff, what: str) -> T:
    """Run ``call``, retrying Retryable failures; the last one becomes a ChatError naming ``what``."""
    for attempt in range(backoff.attempts):
        try:
            return await call()
        except Retryable as err:
            if attempt + 1 >= backoff.attempts or (err.retry_after or 0) > backoff.longest_wait:
                raise ChatError(f"{what} failed after {attempt + 1} tries: {err}") from err
            wait = backoff.delay(attempt, err.retry_after)
            log.info("%s: %s; retrying in %.2fs", what, err, wait)
            await backoff.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def failure(err: ChatError) -> str:
    """What a failed Teams or Graph call is counted as: `http_<status>` (retries given up included), else
    `unreachable`."""
    status = getattr(err, "status", None) or getattr(err.__cause__, "status", None)
    return f"http_{status}" if isinstance(status, int) and status else "unreachable"


class Pacer:
    """Sliding windows per conversation: ``wait(key)`` returns once one more post fits in every window."""

    def __init__(
        self,
        windows: tuple[tuple[float, int], ...] = TEAMS_WINDOWS,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.windows, self.clock, self.sleep = windows, clock, sleep
        self._longest = max(w for w, _ in windows)
        self._sent: dict[str, collections.deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, key: str) -> None:
        """Block until a post to ``key`` is within the limits, then count it."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # posts to one conversation queue up in order
            sent = self._sent.setdefault(key, collections.deque())
            while True:
                now = self.clock()
                while sent and sent[0] <= now - self._longest:
                    sent.popleft()
                delay = max((self._free_in(sent, now, w, n) for w, n in self.windows), default=0.0)
                if delay <= 0:
                    sent.append(now)
                    return
                await self.sleep(delay)

    @staticmethod
    def _free_in(sent: collections.deque[float], now: float, window: float, limit: int) -> float:
        recent = [t for t in sent if t > now - window]
        if len(recent) < limit:
            return 0.0
        return recent[-limit] + window - now  # when the oldest post that fills the window drops out
