"""Live pages: one watcher per process turns "the database changed" into server-sent events.

bot/store/changes.py answers "has anything changed?" without a query (SQLite's data_version, PostgreSQL's NOTIFY),
so one cheap poll serves every open page; each page's script then re-fetches what it shows. When the change token
cannot be told (PostgreSQL's LISTEN connection down), pages are told to re-read at a slow pace instead, so a page
is never stale for long and never hammers the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable

from aiohttp import web
from aiohttp_sse import sse_response

log = logging.getLogger(__name__)
POLL = 0.5  # seconds between two looks at the change token: near-instant for people, negligible for the database
BLIND_EVERY = 15.0  # seconds between two "re-read" events while no change token can be told
PING = 15.0  # seconds between two SSE comments that keep proxies from closing an idle stream
LOOK = 2.0  # seconds between two looks at whether a live page's connection is still open
MAX_STREAMS = 500  # open pages one process serves live at once; past it, pages still work (and retry later)
PER_VIEWER = 8  # live pages one signed-in person (or, without sign-in, one address) may have open at once
MAX_AGE = 3600.0  # seconds a stream lasts: the browser reconnects through the sign-in guard, so an ended session ends


class Watcher:
    """Counts changes of the database's token; streams wait on the count."""

    def __init__(
        self,
        version: Callable[[], Hashable | None],
        *,
        poll: float = POLL,
        blind_every: float = BLIND_EVERY,
        per_viewer: int = PER_VIEWER,
    ) -> None:
        self._version = version
        self.per_viewer = per_viewer
        self.by_viewer: dict[str, int] = {}  # live pages open now, by who (or which address) has them open
        self._poll = poll
        self._blind_every = blind_every
        self.generation = 0
        self.streams = 0  # live pages being served right now
        self.closing = False
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching (idempotent): called on the first stream, inside the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard-live")

    async def close(self) -> None:
        """Stop watching and let every stream end (at shutdown: an open page must not hold the server up)."""
        self.closing = True
        async with self._changed:
            self._changed.notify_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_past(self, generation: int, *, patience: float) -> int | None:
        """The generation after ``generation`` once the database has changed; the same one after ``patience``
        seconds of quiet; None when the watcher is closing."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.closing or self.generation > generation), patience
                )
            return None if self.closing else self.generation

    async def _run(self) -> None:
        seen = self._look()
        blind_since = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self._poll)
            now = asyncio.get_running_loop().time()
            current = self._look()
            if current is None:
                if now - blind_since < self._blind_every:
                    continue
                blind_since = now  # cannot tell: say "maybe changed" now and then
            elif current == seen:
                continue
            seen = current
            async with self._changed:
                self.generation += 1
                self._changed.notify_all()

    def _look(self) -> Hashable | None:
        try:
            return self._version()
        except Exception as err:  # the live pages must outlive a bad moment of the database
            log.warning("cannot tell whether the database changed (%s); pages are told to re-read now and then", err)
            return None


WATCHER: web.AppKey[Watcher] = web.AppKey("dashboard_watcher", Watcher)


async def stream(request: web.Request) -> web.StreamResponse:
    """GET /live: an `event: changed` each time the database changes, until the page goes away (or MAX_AGE)."""
    watcher = request.app[WATCHER]
    if watcher.streams >= MAX_STREAMS:
        return web.Response(
            status=503, text="Too many live pages open; this one refreshes on reload.", headers={"Retry-After": "60"}
        )
    who = viewer_key(request)
    if watcher.by_viewer.get(who, 0) >= watcher.per_viewer:
        return web.Response(
            status=429,
            text=f"You have {watcher.per_viewer} live pages open already; close one, and this one updates on reload.",
            headers={"Retry-After": "60"},
        )
    watcher.start()
    watcher.streams += 1
    watcher.by_viewer[who] = watcher.by_viewer.get(who, 0) + 1
    try:
        return await _stream(request, watcher)
    finally:
        watcher.streams -= 1
        left = watcher.by_viewer.pop(who) - 1
        if left:
            watcher.by_viewer[who] = left


def viewer_key(request: web.Request) -> str:
    """Whose live pages a request counts against: the signed-in person, else the address it comes from."""
    viewer = request.get("viewer")
    if viewer is not None and not getattr(viewer, "local", True):
        return "user:" + (getattr(viewer, "email", "") or getattr(viewer, "name", ""))
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return "address:" + (str(peer[0]) if isinstance(peer, tuple) and peer else "?")


async def _stream(request: web.Request, watcher: Watcher) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    ends = loop.time() + MAX_AGE
    async with sse_response(request, ping_interval=PING) as sse:
        generation: int | None = watcher.generation
        await sse.send("ready", event="ready")  # the page knows the stream is up (and tests know when to act)
        # A page that went away is not cancelled by aiohttp: its connection is seen closed (or its ping failing)
        # within LOOK seconds, so its place among the viewer's live pages comes free at once.
        while sse.is_connected() and loop.time() < ends:
            seen = generation
            generation = await watcher.wait_past(seen or 0, patience=min(LOOK, max(0.0, ends - loop.time())))
            if generation is None:
                break
            if generation != seen:
                try:
                    await sse.send(str(generation), event="changed", id=str(generation))
                except ConnectionError:  # the page went away between two pings
                    break
    return sse


def install(
    web_application: web.Application, version: Callable[[], Hashable | None], *, per_viewer: int = PER_VIEWER
) -> None:
    """Add the watcher to ``web_application``, stopped when the application shuts down; each viewer may have
    ``per_viewer`` live pages open at once."""
    watcher = Watcher(version, per_viewer=per_viewer)
    web_application[WATCHER] = watcher

    async def stop(_app: web.Application) -> None:
        await watcher.close()

    web_application.on_shutdown.append(stop)
