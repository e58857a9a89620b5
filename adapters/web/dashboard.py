"""The dashboard: server-rendered pages over the read models of bot/views.py, live over server-sent events.

Every page route is named `dashboard.<page>`: the sign-in middleware protects exactly those. Static files
(/static/) need no sign-in. Pages work without JavaScript; the one script of our own only makes them better.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from adapters.web import charts, live, render
from bot import figures, views, words
from bot.access import Access
from bot.clock import Clock
from bot.domain import Incident
from bot.errors import NotFound
from bot.playbooks import PlaybookLibrary
from bot.store import Database
from bot.store.views import EVERY_INCIDENT, Visible
from bot.summary import build_summary, to_markdown

HERE = Path(__file__).parent
OVERVIEW_LIMIT = 200  # incidents on the overview; more than a wall screen can show, fewer than a slow page
CLOSED_LIMIT = 200
RECENT_LIMIT = 5  # closed incidents the overview shows when none is open
LIST_LIMIT = 50  # rows of each list across incidents on the overview (overdue, at risk, untold); the rest counted
KEEP_OVERVIEW = timedelta(seconds=10)  # how long an unchanged overview is served again: ages and clocks may lag this
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("dashboard_templates", jinja2.Environment)
LOGOUT_PATH = "/auth/sign-out"  # the sign-in's sign-out endpoint (POST, with the CSRF token)


@dataclass(frozen=True)
class LocalViewer:
    """Who is looking when no sign-in is configured: the dashboard then answers on the loopback only."""

    name: str = "local"
    email: str = ""
    local: bool = True
    sees_private: bool = True


def no_csrf(_request: web.Request) -> str:
    """The stand-in when no sign-in is configured: there is no session to forge a request against."""
    return ""


@dataclass
class _Kept:
    """The last overview read, with the database's change token it was read at."""

    version: Hashable | None = None
    at: datetime | None = None
    html: Markup | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Dashboard:
    """What the pages read from: the database, the playbooks (update cadences), the clock, the CSRF tokens."""

    db: Database
    playbooks: PlaybookLibrary
    clock: Clock
    csrf: Callable[[web.Request], str] = no_csrf
    default_zone: str = "UTC"  # WARROOM_TZ: where times show that belong to no incident
    keep: timedelta = KEEP_OVERVIEW
    _kept: _Kept = field(default_factory=_Kept)
    _kept_public: _Kept = field(default_factory=_Kept)  # the same, without private incidents (see _visible)

    def page(
        self, request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
    ) -> web.Response:
        """``template`` rendered with what every page shows (the viewer, the CSRF token for forms)."""
        viewer = request.get("viewer") or LocalViewer()
        full = {
            "viewer": viewer,
            "csrf_token": lambda: self.csrf(request),
            "logout_path": LOGOUT_PATH,
            "page": request.match_info.route.name,
            "default_zone": self.default_zone,
            **context,
        }
        response = aiohttp_jinja2.render_template(template, request, full, app_key=TEMPLATES, status=status)
        return guarded(response)

    def not_found(self, request: web.Request, message: str) -> web.Response:
        return self.page(request, "not_found.html", {"message": message}, status=404)

    async def overview(self, request: web.Request) -> web.Response:
        """GET /: the open incidents, and across them what is overdue, at risk or untold."""
        return self.page(request, "overview.html", {"overview": await self._overview(request)})

    async def overview_fragment(self, request: web.Request) -> web.Response:
        """GET /overview/live: the overview's live part alone, for the page's script to swap in."""
        return guarded(web.Response(text=await self._overview(request), content_type="text/html"))

    async def _overview(self, request: web.Request) -> Markup:
        """The overview's live part as HTML; while the database has not changed, the same for a few seconds.

        Each change wakes every open overview at once (the live stream): they ask together, and one of them reads
        and renders for all. The part holds no viewer's details (those are in the page around it)."""
        everything = _sees_private(request)
        kept = self._kept if everything else self._kept_public
        async with kept.lock:
            version, now = self.db.changes.version(), self.clock.now()
            fresh = kept.at is not None and now - kept.at < self.keep
            if kept.html is not None and version is not None and version == kept.version and fresh:
                return kept.html
            context = await self._read_overview(now, everything=everything)
            html = Markup(request.app[TEMPLATES].get_template("_overview.html").render(context))
            kept.version, kept.at, kept.html = version, now, html
            return html

    def _visible(self, request: web.Request | None, *, everything: bool | None = None) -> Visible:
        """The incidents this viewer may see: every one, or the public ones unless the allow list names them."""
        if everything if everything is not None else _sees_private(request):
            return EVERY_INCIDENT
        return Access(self.playbooks).public()

    def _hidden(self, request: web.Request, incident: Incident) -> bool:
        """Whether this viewer may not see this incident: a private one, unless the allow list names them."""
        return not _sees_private(request) and Access(self.playbooks).is_private(incident)

    async def _read_overview(self, now: datetime, *, everything: bool = True) -> dict[str, Any]:
        """What the overview shows: a page of the open incidents and the first LIST_LIMIT of each list across them,
        each counted in the database (nothing more is read than the page shows). A viewer the allow list does not
        name for them is shown no private incident: they are neither listed nor counted."""
        visible = self._visible(None, everything=everything)
        async with self.db.read() as store:
            page_of = await views.incident_list(
                store, playbooks=self.playbooks, now=now, limit=OVERVIEW_LIMIT, visible=visible
            )
            late, late_total = await views.overdue_follow_ups(store, now=now, limit=LIST_LIMIT, visible=visible)
            at_risk, at_risk_total = await views.commitments_at_risk(store, now=now, limit=LIST_LIMIT, visible=visible)
            untold, untold_total = await views.untold_bad_news_page(store, now=now, limit=LIST_LIMIT, visible=visible)
            recent = None
            if not page_of.total:  # nothing open: the last war rooms closed, rather than an empty page
                recent = await views.incident_list(
                    store, playbooks=self.playbooks, now=now, state="closed", limit=RECENT_LIMIT, visible=visible
                )
            shown = [i.number for i in page_of.items] + ([i.number for i in recent.items] if recent else [])
            shown += [f.incident for f in late] + [c.incident for c in at_risk] + [b.incident for b in untold]
            zones = await store.zones_of(sorted(set(shown)))
        return {
            "now": now,
            "page_of": page_of,
            "recent": recent,
            "late": late,
            "late_total": late_total,
            "at_risk": at_risk,
            "at_risk_total": at_risk_total,
            "untold": untold,
            "untold_total": untold_total,
            "zones": zones,
            "default_zone": self.default_zone,
        }

    async def incident(self, request: web.Request) -> web.Response:
        """GET /incidents/{n}: one incident in full, with its timeline; it refreshes itself like the overview."""
        found = await self._incident(request)
        if isinstance(found, web.Response):
            return found
        detail, part = found
        return self.page(request, "incident.html", {"i": detail, "part": part})

    async def incident_fragment(self, request: web.Request) -> web.Response:
        """GET /incidents/{n}/live: the incident page's live part alone, for the page's script to swap in."""
        found = await self._incident(request)
        if isinstance(found, web.Response):
            return found
        return guarded(web.Response(text=found[1], content_type="text/html"))

    async def _incident(self, request: web.Request) -> tuple[views.IncidentDetail, Markup] | web.Response:
        """The incident of the path and its page's live part as HTML, or the 404 page."""
        number = incident_number(request)
        if number is None:
            return self.not_found(request, "There is no such incident.")
        now = self.clock.now()
        async with self.db.read() as store:
            try:
                incident = await store.get_incident(number)
                if self._hidden(request, incident):
                    raise NotFound(f"there is no INC-{number}")  # a private incident: as if it did not exist
                detail = await views.incident_detail(store, number, playbooks=self.playbooks, now=now)
            except NotFound:
                return self.not_found(request, f"There is no incident INC-{number}.")
            events = await views.timeline(store, number)
            zone = incident.timezone
        context = {"i": detail, "events": events, "zone": zone, "now": now}
        return detail, Markup(request.app[TEMPLATES].get_template("_incident.html").render(context))

    async def closed(self, request: web.Request) -> web.Response:
        """GET /closed[?page=N]: the closed incidents, each with its summary, CLOSED_LIMIT to a page."""
        text = request.query.get("page", "1")
        number = int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 6 else 1
        number = max(number, 1)
        now = self.clock.now()
        async with self.db.read() as store:
            page_of = await views.incident_list(
                store,
                playbooks=self.playbooks,
                now=now,
                state="closed",
                limit=CLOSED_LIMIT,
                offset=(number - 1) * CLOSED_LIMIT,
                visible=self._visible(request),
            )
            zones = await store.zones_of([i.number for i in page_of.items])
        more = page_of.offset + len(page_of.items) < page_of.total
        context = {"page_of": page_of, "zones": zones, "number": number, "more": more}
        return self.page(request, "closed.html", context)

    async def vendors(self, request: web.Request) -> web.Response:
        """GET /vendors: the scorecard, and its chart."""
        async with self.db.read() as store:
            card = await views.scorecard(store, now=self.clock.now(), visible=self._visible(request))
        bars = [
            charts.VendorBar(
                vendor=s.vendor,
                hours_to_answer=max(s.mean_hear_back_seconds or 0, s.longest_silence_seconds or 0) / 3600 or None,
                chases=s.chases,
                escalations=s.escalations,
            )
            for s in card.vendors
        ]
        hours, effort = charts.vendor_charts(bars)
        return self.page(request, "vendors.html", {"scores": card.vendors, "hours": hours, "effort": effort})

    async def vendor(self, request: web.Request) -> web.Response:
        """GET /vendors/{name}: that vendor's follow-ups across every incident, open or closed."""
        name = request.match_info["name"]
        now = self.clock.now()
        visible = self._visible(request)
        async with self.db.read() as store:
            mine = [f for f in await store.visible_follow_ups(visible) if f.waits_on.lower() == name.lower()]
            card = await views.scorecard(store, now=now, vendor=name, visible=visible) if mine else None
            zones = await store.zones_of(sorted({f.incident for f in mine}))
            emailed = figures.first_emails(await store.mails()) if mine else {}
        if not mine:
            return self.not_found(request, f"No follow-up was ever asked of {name[:80]}.")
        name = mine[0].waits_on  # as the war room spells it
        score = next((s for s in card.vendors if s.vendor.lower() == name.lower()), None) if card else None
        shown = sorted(
            (views.follow_up_view(f, now=now, emailed=emailed) for f in mine), key=lambda f: f.asked_at, reverse=True
        )
        return self.page(request, "vendor.html", {"name": name, "score": score, "follow_ups": shown, "zones": zones})

    async def summary(self, request: web.Request) -> web.Response:
        """GET /incidents/{n}/summary: the lessons-learned summary as HTML (a draft while the incident is open)."""
        found = await self._summary(request)
        if isinstance(found, web.Response):
            return found
        number, markdown, draft = found
        async with self.db.read() as store:
            try:
                zone = (await store.get_incident(number)).timezone
            except NotFound:
                zone = self.default_zone
        body = render.times_in_html(render.markdown(markdown), zone)  # the page's zone, as the incident page's
        context = {"number": number, "ref": f"INC-{number}", "draft": draft, "body": body}
        return self.page(request, "summary.html", context)

    async def summary_markdown(self, request: web.Request) -> web.Response:
        """GET /incidents/{n}/summary.md: the same summary as a Markdown download."""
        found = await self._summary(request)
        if isinstance(found, web.Response):
            return found
        number, markdown, draft = found
        if draft:
            markdown = f"> Draft: INC-{number} is not closed yet.\n\n{markdown}"
        disposition = f'attachment; filename="INC-{number}-summary.md"'
        return web.Response(
            text=markdown, content_type="text/markdown", charset="utf-8", headers={"Content-Disposition": disposition}
        )

    async def _summary(self, request: web.Request) -> tuple[int, str, bool] | web.Response:
        number = incident_number(request)
        if number is None:
            return self.not_found(request, "There is no such incident.")
        async with self.db.read() as store:
            try:
                incident = await store.get_incident(number)
            except NotFound:
                incident = None
            if incident is not None and self._hidden(request, incident):  # private: as if it did not exist
                return self.not_found(request, f"There is no incident INC-{number}.")
            stored = await store.summary(number)
            if stored is not None:
                return number, stored[0], False
            if incident is None:
                return self.not_found(request, f"There is no incident INC-{number}.")
            try:
                cadence = self.playbooks.get(incident.playbook).update_cadence
            except NotFound:  # a playbook removed since: the draft goes without the update cadence
                cadence = {}
            return number, to_markdown(await build_summary(store, incident, cadence)), True


# Only our own script and styles (pygal's SVG carries inline <style>), no frames: if something ever slipped past
# the escaping, the browser would still refuse to run it.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _sees_private(request: web.Request | None) -> bool:
    viewer = request.get("viewer") if request is not None else None
    return bool(getattr(viewer or LocalViewer(), "sees_private", False))


def guarded(response: web.Response) -> web.Response:
    """``response`` with the dashboard's security headers; never cached, since a page can hold customers' names."""
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def incident_number(request: web.Request) -> int | None:
    """The incident number in the path, or None when it is not one (`/incidents/abc`, a number too big to be)."""
    text = request.match_info.get("number", "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def mount(
    web_application: web.Application,
    *,
    db: Database,
    playbooks: PlaybookLibrary,
    clock: Clock,
    csrf: Callable[[web.Request], str] = no_csrf,
    default_zone: str = "UTC",
    keep: timedelta = KEEP_OVERVIEW,
    live_per_viewer: int = live.PER_VIEWER,
) -> Dashboard:
    """Add the dashboard's pages, its live stream and its static files to ``web_application``; one viewer may
    have ``live_per_viewer`` live pages open at once."""
    board = Dashboard(db=db, playbooks=playbooks, clock=clock, csrf=csrf, default_zone=default_zone, keep=keep)
    env = aiohttp_jinja2.setup(
        web_application,
        app_key=TEMPLATES,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the page tests instead of showing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=render.when,
        times_in=render.times_in,
        duration=render.duration,
        seconds=render.seconds,
        money=render.money,
        count=words.count,
    )
    env.globals["times"] = words.times
    web_application[aiohttp_jinja2.static_root_key] = "/static"
    live.install(web_application, db.changes.version, per_viewer=live_per_viewer)
    routes = web_application.router
    routes.add_get("/", board.overview, name="dashboard.overview")
    routes.add_get("/overview/live", board.overview_fragment, name="dashboard.overview_fragment")
    routes.add_get("/closed", board.closed, name="dashboard.closed")
    routes.add_get("/incidents/{number}", board.incident, name="dashboard.incident")
    routes.add_get("/incidents/{number}/live", board.incident_fragment, name="dashboard.incident_fragment")
    routes.add_get("/vendors", board.vendors, name="dashboard.vendors")
    routes.add_get("/vendors/{name:.+}", board.vendor, name="dashboard.vendor")
    routes.add_get("/incidents/{number}/summary", board.summary, name="dashboard.summary")
    routes.add_get("/incidents/{number}/summary.md", board.summary_markdown, name="dashboard.summary_markdown")
    routes.add_get("/live", live.stream, name="dashboard.live")
    routes.add_static("/static/", HERE / "static", name="static")
    return board
