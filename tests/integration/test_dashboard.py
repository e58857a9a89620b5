"""The dashboard over real HTTP: the app on port 0, incidents made through real commands, pages read back."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from adapters.memory import InMemoryChat
from adapters.web import live, render
from bot.app import App, running, web_app
from bot.chat import Invocation, RoomRef, UserRef
from bot.clock import SimClock
from bot.config import Settings
from tests.conftest import PLAYBOOKS, ROOT, START
from tests.processes import dashboard, warroom

PATIENCE = aiohttp.ClientTimeout(total=15)
LOBBY = RoomRef("C-LOBBY", "general")
HOSTILE = "<script>alert('x')</script>"


@dataclass
class Board:
    """The app served on port 0, a client, and a way to type commands into the war room."""

    app: App
    base: str
    http: aiohttp.ClientSession
    clock: SimClock
    room: RoomRef = LOBBY
    rooms: list[RoomRef] = field(default_factory=list)  # each incident's war room, INC-1 first

    async def run(self, text: str, *, user: str = "dana", incident: int | None = None) -> None:
        """Type a command in the last war room opened, or in ``incident``'s own (where an incident is worked on)."""
        command = text.removeprefix("/incident ")  # what chat adapters hand the core
        room = self.rooms[incident - 1] if incident is not None else self.room
        reply = await self.app.warroom.handle(Invocation(command, UserRef(user, user), room))
        assert reply.ok, "\n".join(m.title for m in reply.messages)
        if reply.rooms_opened:
            self.room = reply.rooms_opened[-1]
            self.rooms.extend(reply.rooms_opened)

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.text()

    async def page(self, path: str) -> str:
        status, body = await self.get(path)
        assert status == 200, f"{path}: {status}\n{body[:2000]}"
        return body

    async def later(self, delta: timedelta) -> None:
        """Let time pass with the reminder engine running (chases, escalations, promises at risk)."""
        await self.app.engine.run_until(self.clock.now() + delta, self.clock)


@asynccontextmanager
async def board_on(database_url: str, playbooks: Path = PLAYBOOKS) -> AsyncIterator[Board]:
    settings = Settings(database_url=database_url, playbooks_dir=playbooks)
    clock = SimClock(START)
    async with running(settings, chat=InMemoryChat(), clock=clock) as app:
        runner = web.AppRunner(web_app(app), shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            async with aiohttp.ClientSession(timeout=PATIENCE) as http:
                yield Board(app, f"http://127.0.0.1:{runner.addresses[0][1]}", http, clock)
        finally:
            await runner.cleanup()


@pytest.fixture
async def board(database_url: str) -> AsyncIterator[Board]:
    async with board_on(database_url) as b:
        yield b


async def rma(board: Board, *, title: str = "Edge router failed at Acme DC-3", vendor: str = "northwind") -> None:
    """The demo's first act, shortened: a vendor follow-up a promise depends on, then two silent days."""
    await board.run(
        f'/incident open "{title}" sev:2 customer:"Acme Retail" playbook:hardware-rma'
        ' impact:"DC-3 on a 4G backup link" cost:2500/h at-risk:2M'
    )
    await board.run("/incident role comms @lee")
    await board.run(f'/incident vendor {vendor} "tracking number for the replacement router" due:2d ref:RMA-4471')
    await board.run('/incident commit "replacement router on site at DC-3" due:"fri 17:00" needs:V1')
    await board.run('/incident update told Acme the router failed, RMA 4471 is filed next:"wed 12:00"', user="lee")
    await board.later(timedelta(days=2, hours=5))  # V1 is late, the promise that needs it at risk, the update due


def text_of(html: str) -> str:
    """The page as a person reads it: tags dropped, entities of our own escaping undone, spaces squeezed."""
    plain = re.sub(r"<[^>]+>", " ", html)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&#39;", "'")
    return re.sub(r"\s+", " ", plain.replace("&amp;", "&"))


async def test_the_overview_shows_open_incidents_their_stakes_and_what_is_late(board: Board) -> None:
    await rma(board)
    overview = text_of(await board.page("/"))
    assert "1 open incident" in overview
    assert "INC-1 Edge router failed at Acme DC-3" in overview and "Acme Retail" in overview and "sev 2" in overview
    assert "$2,000,000" in overview  # revenue at risk
    assert "$132,500" in overview  # 53h at $2,500/h: the cost so far, from the clock
    assert "Overdue" in overview  # Wednesday noon's customer update did not come
    assert "INC-1 V1 tracking number for the replacement router" in overview  # an overdue follow-up
    assert "INC-1 C1 replacement router on site at DC-3 at risk" in overview  # the promise that needs V1
    assert re.search(r"INC-1 B1 .*Northwind", overview)  # bad news not told yet
    fragment = await board.page("/overview/live")
    assert "<html" not in fragment and "INC-1" in fragment  # what the page's script swaps in


async def test_the_incident_page_shows_roles_ladders_promises_updates_and_the_timeline(board: Board) -> None:
    await rma(board)
    page = text_of(await board.page("/incidents/1"))
    assert "INC-1: Edge router failed at Acme DC-3" in page
    assert "comms lee" in page  # roles
    assert "V1 tracking number for the replacement router (RMA-4471)" in page
    assert "← rung 1" in page  # the ladder, with the rung it reached
    assert "C1 replacement router on site at DC-3: at risk" in page
    assert "U1 told Acme the router failed, RMA 4471 is filed" in page
    assert "B1" in page and "not told yet" in page
    assert "Timeline" in page and "opened" in page.lower()
    assert "DC-3 on a 4G backup link" in page  # the impact
    # Times in the incident's zone (the playbook's) until the page's script shows them in the viewer's.
    assert '<time datetime="2026-11-23T14:00:00+00:00" data-zone="America/Chicago"' in await board.page("/incidents/1")


async def test_vendors_closed_and_summary_pages(board: Board) -> None:
    await rma(board)
    vendors = await board.page("/vendors")
    assert "<svg" in vendors and "Northwind Distribution" in text_of(vendors)
    assert "<script" not in vendors.split("</head>")[1]  # a static chart: nothing runs, nothing is fetched
    vendor = text_of(await board.page("/vendors/Northwind%20Distribution"))
    assert "INC-1 V1 tracking number for the replacement router" in vendor
    draft = text_of(await board.page("/incidents/1/summary"))
    assert "Draft: INC-1 is not closed yet" in draft
    await board.run("/incident vendor done V1 delivered")
    await board.run("/incident resolve router replaced")
    await board.run('/incident close outcome:"Acme kept DC-3 running"')
    closed = text_of(await board.page("/closed"))
    assert "1 closed incident" in closed and "INC-1 Edge router failed at Acme DC-3" in closed
    assert "No closed incidents on this page" in text_of(await board.page("/closed?page=2"))
    assert "INC-1 Edge router" in text_of(await board.page("/closed?page=x%3Cb%3E"))  # not a page: the first
    overview = text_of(await board.page("/"))
    assert "0 open incidents" in overview and "Closed lately INC-1 Edge router failed at Acme DC-3" in overview
    summary = await board.page("/incidents/1/summary")
    assert "Draft" not in summary and "<h1>" in summary and "Acme kept DC-3 running" in text_of(summary)
    assert 'href="/api/v1/incidents/1/summary?format=json"' in summary
    async with board.http.get(board.base + "/incidents/1/summary.md") as download:
        assert download.status == 200 and download.content_type == "text/markdown"
        assert 'filename="INC-1-summary.md"' in download.headers["Content-Disposition"]
        assert (await download.text()).startswith("# ")


async def test_the_incident_pages_live_part_is_the_page_as_it_is_now(board: Board) -> None:
    await rma(board)
    page = await board.page("/incidents/1")
    assert 'data-live="/incidents/1/live"' in page and 'data-stream="/live"' in page
    await board.run('/incident note "Priya promised the tracking number by noon"')
    part = await board.page("/incidents/1/live")
    assert "<html" not in part and 'id="timeline"' in part
    assert "Priya promised the tracking number by noon" in text_of(part)
    status, missing = await board.get("/incidents/99/live")
    assert status == 404 and "There is no incident INC-99" in text_of(missing)


async def test_closed_incidents_are_listed_the_last_closed_first(board: Board) -> None:
    for title in ("First fire", "Second fire"):
        await board.run(f'/incident open "{title}" sev:3')
        await board.later(timedelta(hours=1))
    await board.run("/incident resolve put out", incident=1)
    await board.run("/incident close outcome:done", incident=1)
    await board.later(timedelta(hours=1))
    await board.run("/incident resolve put out", incident=2)
    await board.run("/incident close outcome:done", incident=2)
    closed = text_of(await board.page("/closed"))
    assert closed.index("INC-2 Second fire") < closed.index("INC-1 First fire")  # INC-2 closed last
    overview = text_of(await board.page("/"))
    assert overview.index("INC-2 Second fire") < overview.index("INC-1 First fire")


async def test_hostile_user_text_is_escaped_on_every_page(board: Board) -> None:
    await rma(board, title=f"{HOSTILE} router", vendor='"<img src=x onerror=alert(1)>"')
    await board.run(f"/incident note {HOSTILE}")
    await board.run(f"/incident lesson {HOSTILE} [click](javascript:alert(1))")
    await board.run("/incident vendor cancel V1 no longer needed")
    await board.run("/incident resolve fixed")
    await board.run(f'/incident close outcome:"{HOSTILE}"')
    vendors = await board.page("/vendors")
    name = re.search(r'href="(/vendors/[^"]+)"', vendors)
    assert name is not None
    for path in ("/", "/closed", "/incidents/1", "/vendors", name.group(1), "/incidents/1/summary"):
        html = await board.page(path)
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert 'href="javascript:' not in html, path
    assert "&lt;script&gt;alert" in await board.page("/incidents/1")
    assert "&lt;script&gt;alert" in await board.page("/incidents/1/summary")


async def test_the_overview_is_read_once_per_change_and_never_served_stale_after_one(board: Board) -> None:
    await rma(board)
    first = await board.page("/overview/live")
    assert await board.page("/overview/live") == first  # nothing changed: the same, read once for every viewer
    await board.run("/incident sev 1")
    changed = await board.page("/overview/live")
    assert changed != first and "sev 1" in text_of(changed)
    board.clock.advance(timedelta(hours=1))  # nothing changed but time: ages and clocks move within seconds
    assert "2d 6h" in text_of(await board.page("/overview/live"))
    async with board.http.get(board.base + "/") as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]


async def test_the_watcher_counts_changes_and_says_maybe_now_and_then_when_it_cannot_tell() -> None:
    token: list[object] = [1]
    watcher = live.Watcher(lambda: token[0], poll=0.01, blind_every=0.05)
    watcher.start()
    try:
        assert await watcher.wait_past(0, patience=0.1) == 0  # nothing changed: the same generation back
        token[0] = 2
        assert await watcher.wait_past(0, patience=10) == 1
        token[0] = None  # e.g. PostgreSQL's LISTEN connection is down: pages re-read at a slow pace
        assert await watcher.wait_past(1, patience=10) == 2
    finally:
        await watcher.close()
    assert await watcher.wait_past(2, patience=10) is None  # closing: every stream ends


def test_markdown_from_user_text_never_becomes_markup() -> None:
    html = render.markdown("# INC-1\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) **kept**\n")
    assert "<img" not in html and "&lt;img src=x" in html and 'href="javascript' not in html
    assert "<h1>INC-1</h1>" in html and "<strong>kept</strong>" in html


@pytest.mark.parametrize("path", ["/incidents/99", "/incidents/abc", "/incidents/99/summary", "/vendors/nobody"])
async def test_unknown_things_are_a_404_page(board: Board, path: str) -> None:
    status, body = await board.get(path)
    assert status == 404 and "<h1>Not found</h1>" in body and 'href="/"' in body


async def test_the_live_stream_tells_the_page_when_a_command_changed_something(board: Board) -> None:
    await board.run('/incident open "Carrier outage" sev:3 customer:Globex')
    async with board.http.get(board.base + "/live") as stream:
        assert stream.status == 200 and stream.content_type == "text/event-stream"
        assert await asyncio.wait_for(_event(stream), 10) == "ready"
        await board.run("/incident note the carrier has a truck on site")
        assert await asyncio.wait_for(_event(stream), 10) == "changed"
    assert "Carrier outage" in await board.page("/overview/live")


async def test_live_streams_are_capped_and_end_after_their_time(board: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    from adapters.web import live

    monkeypatch.setattr(live, "MAX_STREAMS", 1)
    monkeypatch.setattr(live, "MAX_AGE", 1.0)  # then the browser reconnects, through the sign-in guard again
    async with board.http.get(board.base + "/live") as first:
        assert await asyncio.wait_for(_event(first), 10) == "ready"
        async with board.http.get(board.base + "/live") as second:
            assert second.status == 503 and second.headers["Retry-After"] == "60"
        await asyncio.wait_for(first.content.read(), 10)  # read to its end: the stream ended by itself
        assert first.content.at_eof()
    async with board.http.get(board.base + "/live") as again:  # its place is free again
        assert again.status == 200 and await asyncio.wait_for(_event(again), 10) == "ready"


async def _event(stream: aiohttp.ClientResponse) -> str:
    """The name of the next event on a server-sent event stream."""
    while True:
        line = (await stream.content.readline()).decode()
        if line.startswith("event:"):
            return line.removeprefix("event:").strip()


def test_warroom_dashboard_shows_the_demos_war_rooms_on_this_machine_only(tmp_path: Path) -> None:
    # What `warroom demo` leaves behind (tests/integration/test_cli.py runs the whole demo): its war rooms in
    # warroom-demo.db, here typed into the console on that file, much faster than the demo's two acts.
    story = '/incident open "Edge router failed at Acme Retail DC-3" sev:2 customer:"Acme Retail"\n'
    typed = warroom(
        "console",
        "--start",
        "2026-03-02 09:00",
        stdin=story,
        env={"WARROOM_DATABASE_URL": "sqlite:///warroom-demo.db"},
        cwd=tmp_path,
        timeout=180,  # seconds alone; minutes on a machine busy with other tests
    )
    assert typed.returncode == 0, typed.stderr
    with dashboard(tmp_path) as board:  # no setting: warroom.db has no incidents, so the demo's are shown
        assert "this shows the last `warroom demo`" in board.next_line()
        overview = asyncio.run(_fetch(board.url))
        assert "INC-1" in overview and "Edge router failed at Acme Retail DC-3" in overview
    assert not (tmp_path / "warroom.db").exists()


async def _fetch(url: str) -> str:
    async with aiohttp.ClientSession(timeout=PATIENCE) as http, http.get(url) as response:
        assert response.status == 200
        return await response.text()


def test_warroom_dashboard_without_a_demo_says_what_to_run(tmp_path: Path) -> None:
    env = {**os.environ, "WARROOM_PLAYBOOKS": str(PLAYBOOKS), "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "dashboard", "--demo"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2 and "run `warroom demo` first" in result.stderr


async def test_a_follow_up_whose_date_slipped_shows_its_first_due_time_and_its_slips(board: Board) -> None:
    await rma(board)  # V1 was due Wed 25 Nov 08:00 CST; it is now 13:00
    await board.run('/incident vendor heard V1 "ships friday" due:"fri 12:00"', user="lee")
    page = text_of(await board.page("/incidents/1"))
    assert "Fri 27 Nov 2026 12:00 CST (first due Wed 25 Nov 2026 08:00 CST , 1 slip)" in page  # a tag, a space
    vendor = text_of(await board.page("/vendors/Northwind%20Distribution"))
    assert "(first due Wed 25 Nov 2026 08:00 CST , 1 slip)" in vendor and "slipped its date once" in vendor
    assert "Slips" in text_of(await board.page("/vendors"))


async def test_after_a_change_of_zone_every_time_on_the_incident_and_summary_pages_is_in_one_zone(board: Board) -> None:
    await rma(board)  # in Chicago's zone: V1 asked "due Wed 25 Nov 2026 08:00 CST"
    await board.run("/incident set tz:Paris")
    incident = await board.page("/incidents/1")
    assert '<p id="zone-note" class="hint">Times are in each incident\'s own time zone.</p>' in incident
    assert "CST" not in text_of(incident) and 'data-zone="America/Chicago"' not in incident
    # a line written before the change: its time is a <time> the page's script shows in the viewer's zone
    assert (
        'due <time datetime="2026-11-25T14:00:00+00:00" data-zone="Europe/Paris" '
        'title="Wed 25 Nov 2026 15:00 CET (Europe/Paris)">Wed 25 Nov 2026 15:00 CET</time>'
    ) in incident
    summary = await board.page("/incidents/1/summary")
    assert (
        "CST" not in text_of(summary)
        and '<time datetime="2026-11-25T14:00:00+00:00" data-zone="Europe/Paris"' in summary
    )
