"""The dashboard: server-rendered pages over the read models of bot/views.py, live over server-sent events.

Every page route is named `dashboard.<page>`: the sign-in middleware protects exactly those. Static files
(/static/) need no sign-in. Pages work without JavaScript; the one script of our own only makes them better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from adapters.web import live, render
from bot.clock import Clock
from bot.errors import NotFound
from bot.playbooks import PlaybookLibrary
from bot.store import Database
from bot.summary import build_summary, to_markdown

HERE = Path(__file__).parent
TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("dashboard_templates", jinja2.Environment)
LOGOUT_PATH = "/auth/logout"  # the sign-in's log-out endpoint (POST, with the CSRF token)


@dataclass(frozen=True)
class LocalViewer:
    """Who is looking when no sign-in is configured: the dashboard then answers on the loopback only."""

    name: str = "local"
    email: str = ""
    local: bool = True


def no_csrf(_request: web.Request) -> str:
    """The stand-in when no sign-in is configured: there is no session to forge a request against."""
    return ""


@dataclass(frozen=True)
class Dashboard:
    """What the pages read from: the database, the playbooks (update cadences), the clock, the CSRF tokens."""

    db: Database
    playbooks: PlaybookLibrary
    clock: Clock
    csrf: Callable[[web.Request], str] = no_csrf

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
            **context,
        }
        response = aiohttp_jinja2.render_template(template, request, full, app_key=TEMPLATES, status=status)
        response.headers.setdefault("Cache-Control", "no-store")  # a page can hold a customer's name
        return response

    def not_found(self, request: web.Request, message: str) -> web.Response:
        return self.page(request, "not_found.html", {"message": message}, status=404)

    async def summary(self, request: web.Request) -> web.Response:
        """GET /incidents/{n}/summary: the lessons-learned summary as HTML (a draft while the incident is open)."""
        found = await self._summary(request)
        if isinstance(found, web.Response):
            return found
        number, markdown, draft = found
        context = {"number": number, "ref": f"INC-{number}", "draft": draft, "body": render.markdown(markdown)}
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
            stored = await store.summary(number)
            if stored is not None:
                return number, stored[0], False
            try:
                incident = await store.get_incident(number)
            except NotFound:
                return self.not_found(request, f"There is no incident INC-{number}.")
            cadence = self.playbooks.get(incident.playbook).update_cadence
            return number, to_markdown(await build_summary(store, incident, cadence)), True


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
) -> Dashboard:
    """Add the dashboard's pages, its live stream and its static files to ``web_application``."""
    board = Dashboard(db=db, playbooks=playbooks, clock=clock, csrf=csrf)
    env = aiohttp_jinja2.setup(
        web_application,
        app_key=TEMPLATES,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(("html",), default=True),
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the page tests instead of showing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=render.when, duration=render.duration, money=render.money)
    web_application[aiohttp_jinja2.static_root_key] = "/static"
    live.install(web_application, db.changes.version)
    routes = web_application.router
    routes.add_get("/incidents/{number}/summary", board.summary, name="dashboard.summary")
    routes.add_get("/incidents/{number}/summary.md", board.summary_markdown, name="dashboard.summary_markdown")
    routes.add_get("/live", live.stream, name="dashboard.live")
    routes.add_static("/static/", HERE / "static", name="static")
    return board
