"""The customer's private page, `/c/<token>`: no sign-in, no cookies, nothing from elsewhere; only for a live link.

Everything it shows comes from bot.voice.compose (customer fields, the one guard) and is escaped by Jinja. An
unknown, revoked or ended token gets the same 404 after the same single lookup by the token's hash.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.web import live
from adapters.web.dashboard import TEMPLATES
from bot.share import MAX_QUESTION, MAX_TOKEN
from bot.sharing import Asked, CustomerPages, Opened

# Stricter than the dashboard's: our script and stylesheet only, no inline anything, forms only to ourselves.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGES: web.AppKey[CustomerPages] = web.AppKey("customer_pages", CustomerPages)
NOT_FOUND = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex, nofollow">'
    '<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Not found</title></head><body><main><h1>Not found</h1>"
    "<p>There is no page at this address. If someone sent you this link, ask them for a new one.</p>"
    "</main></body></html>"
)


def secured(response: web.StreamResponse) -> web.StreamResponse:
    """The page's security headers: strict CSP, no referrer, not indexed, never cached, no framing."""
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    return response


def not_found() -> web.StreamResponse:
    """The one 404 of every token that opens no page: the same bytes whatever the reason."""
    return secured(web.Response(status=404, text=NOT_FOUND, content_type="text/html"))


def _token(request: web.Request) -> str:
    return request.match_info.get("token", "")[:MAX_TOKEN]


def _render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.StreamResponse:
    env = request.app[TEMPLATES]
    html = env.get_template(template).render(context)
    return secured(web.Response(status=status, text=html, content_type="text/html"))


def _context(request: web.Request, opened: Opened, **more: Any) -> dict[str, Any]:
    base = f"/c/{_token(request)}"
    return {"p": opened.page, "w": opened.page.words, "base": base, "max_question": MAX_QUESTION, **more}


async def page(request: web.Request) -> web.StreamResponse:
    """GET /c/{token}: the page; the open is recorded (the time only) and the room told when it should be."""
    opened = await request.app[PAGES].open(_token(request))
    if opened is None:
        return not_found()
    sent = request.query.get("sent") == "1"
    return _render(request, "customer_page.html", _context(request, opened, sent=sent, problem=None, draft=""))


async def fragment(request: web.Request) -> web.StreamResponse:
    """GET /c/{token}/live: the page's live part, for its script to swap in (not an open)."""
    opened = await request.app[PAGES].read(_token(request))
    if opened is None:
        return not_found()
    return _render(request, "_customer.html", _context(request, opened))


async def events(request: web.Request) -> web.StreamResponse:
    """GET /c/{token}/events: server-sent events, `changed` when anything changed, for a live link only."""
    if await request.app[PAGES].read(_token(request)) is None:
        return not_found()
    response = await live.stream(request)
    return response


async def feed(request: web.Request) -> web.StreamResponse:
    """GET /c/{token}/feed.atom: the updates the customer was sent, as an Atom feed."""
    opened = await request.app[PAGES].read(_token(request))
    if opened is None:
        return not_found()
    context = _context(request, opened, link_id=opened.link.id, origin=str(request.url.origin()))
    xml = request.app[TEMPLATES].get_template("customer_feed.xml").render(context)
    return secured(web.Response(text=xml, content_type="application/atom+xml"))


async def ask(request: web.Request) -> web.StreamResponse:
    """POST /c/{token}/ask: a question or correction for the team (rate-limited per link, 2,000 characters)."""
    pages = request.app[PAGES]
    if not _same_origin(request, pages.public_origin):
        return secured(
            web.Response(status=403, text="This form did not come from this page.", content_type="text/plain")
        )
    form = await request.post()
    text = form.get("question")
    text = text if isinstance(text, str) else ""
    outcome = await pages.ask(_token(request), text)
    if outcome is None:
        return not_found()
    if outcome == Asked.SENT:
        return secured(web.Response(status=303, headers={"Location": f"/c/{_token(request)}?sent=1#ask"}))
    opened = await pages.read(_token(request))
    if opened is None:
        return not_found()
    w = opened.page.words
    problem = {
        Asked.EMPTY: w.empty,
        Asked.TOO_LONG: w.too_long.format(limit=f"{MAX_QUESTION:,}"),
        Asked.TOO_MANY: w.too_many,
    }[outcome]
    status = 429 if outcome == Asked.TOO_MANY else 400
    context = _context(request, opened, sent=False, problem=problem, draft=text[: MAX_QUESTION * 2])
    return _render(request, "customer_page.html", context, status=status)


def _same_origin(request: web.Request, public_origin: str | None) -> bool:
    """Whether the form was posted from this site: the browser's Sec-Fetch-Site, else its Origin. (With no referrer
    policy a browser may send `Origin: null` for our own form; Sec-Fetch-Site still says same-origin.)"""
    fetched = request.headers.get("Sec-Fetch-Site")
    if fetched is not None:
        return fetched in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin in (None, "null", str(request.url.origin()), public_origin)


def mount(web_application: web.Application, pages: CustomerPages) -> None:
    """Add the customer's page to an application the dashboard is mounted on (its templates, static, live)."""
    web_application[PAGES] = pages
    routes = web_application.router
    routes.add_get("/c/{token}", page, name="customer.page")
    routes.add_get("/c/{token}/live", fragment, name="customer.live")
    routes.add_get("/c/{token}/events", events, name="customer.events")
    routes.add_get("/c/{token}/feed.atom", feed, name="customer.feed")
    routes.add_post("/c/{token}/ask", ask, name="customer.ask")
