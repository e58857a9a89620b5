"""Who may use the dashboard: OpenID Connect sign-in kept in an encrypted session cookie, a CSRF token on every
form, and — with no sign-in configured — this machine only, never through a proxy.

The guard covers exactly the routes named ``dashboard.*`` and the sign-out; it sets ``request["viewer"]``."""

from __future__ import annotations

import base64
import hmac
import html
import ipaddress
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_session import SESSION_KEY, Session, get_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from adapters.web.oidc import Identity, Provider, ProviderError, Refused
from bot.clock import Clock
from bot.config import Settings, WebSignIn

log = logging.getLogger(__name__)
COOKIE = "warroom_session"
SESSION = timedelta(hours=12)  # a sign-in lasts this long, checked on the server, whatever the browser keeps
PENDING = timedelta(minutes=10)  # time to finish signing in at the provider
MAX_PENDING = 4  # sign-ins one browser may have started and not finished (they travel in the cookie)
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PROXY_HEADERS = (
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Forwarded-Proto",
    "X-Forwarded-Server",
    "X-Real-IP",
    "X-Client-IP",
    "True-Client-IP",
    "Via",
)
MAX_NEXT = 1024  # the page to return to after sign-in travels in the cookie: a long one would make it too big
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
CSRF_FIELD, CSRF_HEADER = "csrf_token", "X-CSRF-Token"
SIGN_IN, CALLBACK, SIGN_OUT = "/auth/sign-in", "/auth/callback", "/auth/sign-out"


@dataclass(frozen=True)
class Viewer:
    """Who is looking at the dashboard; ``local`` when no sign-in is configured (this machine only)."""

    name: str
    email: str
    local: bool
    sees_private: bool = False  # private incidents are shown only to people the allow list names one by one


LOCAL = Viewer(name="local user", email="", local=True, sees_private=True)


def named_in(allow: tuple[str, ...], email: str) -> bool:
    """Whether the allow list names this address itself (`name@domain`), not only its domain or workspace: who may
    see private incidents on the dashboard."""
    wanted = email.strip().lower()
    return bool(wanted) and any(entry.strip().lower() == wanted for entry in allow if not entry.startswith("@"))


def session_key(secret: str) -> Fernet:
    """The Fernet key for session cookies, derived from WARROOM_WEB_SECRET with HKDF-SHA256 (any long random text)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"warroom dashboard session cookie v1")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret.encode())))


def csrf_token(request: web.Request) -> str:
    """The token a dashboard form sends back in a hidden ``csrf_token`` field (or an X-CSRF-Token header)."""
    session = request.get(SESSION_KEY)
    if not isinstance(session, Session) or "viewer" not in request:
        raise RuntimeError("csrf_token() is only for routes named dashboard.*, which the sign-in guard covers")
    token = session.get("csrf")
    if not isinstance(token, str):  # made when first needed, so a live (streaming) page never has to save the cookie
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def page(status: int, message: str, *, link: tuple[str, str] | None = None) -> web.Response:
    """A one-line HTML page; ``message`` is escaped."""
    extra = f' <a href="{html.escape(link[0])}">{html.escape(link[1])}</a>' if link else ""
    body = f"<!doctype html><html lang=en><meta charset=utf-8><title>Warroom</title><p>{html.escape(message)}{extra}"
    return web.Response(status=status, text=body, content_type="text/html", headers={"Cache-Control": "no-store"})


class Guard:
    """The middleware and the sign-in routes."""

    __middleware_version__ = 1  # what @web.middleware marks: a new-style middleware, (request, handler)

    def __init__(self, config: WebSignIn | None, *, clock: Clock, public_url: str | None = None) -> None:
        self.config, self.clock, self.public_url = config, clock, public_url
        self.provider = Provider(config, clock=clock) if config else None

    async def __call__(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        name = request.match_info.route.name or ""
        if not (name.startswith("dashboard.") or name == "auth.sign_out"):
            return await handler(request)
        session = await get_session(request)
        if self.provider is None:
            refusal = not_local(request)
            if refusal:
                return page(403, f"Sign-in is not configured, so the dashboard answers this machine only: {refusal}.")
            viewer = LOCAL
        else:
            found = self._viewer(session)
            if found is None:
                if request.method in ("GET", "HEAD") and name != "auth.sign_out":
                    return await self._start(request, session, after=request.path_qs)
                return page(403, "You are not signed in (or your sign-in ended); nothing was changed.", link=_AGAIN)
            viewer = replace(found, sees_private=self.config is not None and named_in(self.config.allow, found.email))
        if request.method in UNSAFE and not await _csrf_ok(request, session):
            return page(403, "This form is out of date or did not come from the dashboard; reload and try again.")
        request["viewer"] = viewer
        return await handler(request)

    def _viewer(self, session: Session) -> Viewer | None:
        user, until = session.get("user"), session.get("until")
        if not isinstance(user, dict) or not isinstance(until, int | float):
            return None
        if self.clock.now().timestamp() >= until:
            session.invalidate()  # an old cookie replayed after its time is refused, and cleared
            return None
        return Viewer(name=str(user.get("name", "")), email=str(user.get("email", "")), local=False)

    async def _start(self, request: web.Request, session: Session, *, after: str) -> web.Response:
        assert self.provider is not None
        state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        try:
            url = await self.provider.authorization_url(
                redirect_uri=self._redirect_uri(request), state=state, nonce=nonce, verifier=verifier
            )
        except ProviderError as err:
            log.warning("sign-in could not start: %s", err)
            return page(502, "The sign-in provider did not answer; try again in a minute.", link=_AGAIN)
        until = (self.clock.now() + PENDING).timestamp()
        after = _local_path(after) if len(after) <= MAX_NEXT else "/"
        started = {"state": state, "nonce": nonce, "verifier": verifier, "next": after, "until": until}
        # A few at once: tabs restored together each start a sign-in, and each must be able to finish.
        earlier = self._pending(session)
        session["pending"] = [*earlier[-(MAX_PENDING - 1) :], started]
        return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})

    def _pending(self, session: Session) -> list[dict[str, Any]]:
        """The sign-ins this browser started and may still finish, oldest first."""
        started, now = session.get("pending"), self.clock.now().timestamp()
        if not isinstance(started, list):
            return []
        return [p for p in started if isinstance(p, dict) and _number(p.get("until")) > now]

    def _redirect_uri(self, request: web.Request) -> str:
        return f"{self.public_url or request.url.origin()}{CALLBACK}"

    async def sign_in(self, request: web.Request) -> web.Response:
        """GET /auth/sign-in[?next=/path]: off to the provider."""
        if self.provider is None:
            return page(404, "Sign-in is not configured: the dashboard answers this machine only.")
        return await self._start(request, await get_session(request), after=request.query.get("next", "/"))

    async def callback(self, request: web.Request) -> web.Response:
        """GET /auth/callback?code&state: the provider sends the browser back; a session only if all checks pass."""
        if self.provider is None:
            return page(404, "Sign-in is not configured: the dashboard answers this machine only.")
        session = await get_session(request)
        started, sent = self._pending(session), request.query.get("state", "").encode()
        pending = next((p for p in started if hmac.compare_digest(sent, str(p.get("state")).encode())), None)
        # One attempt per sign-in started: a replayed or forged answer finds nothing and ends none of the others (a
        # link elsewhere to /auth/callback must not break a sign-in in progress).
        session["pending"] = [p for p in started if p is not pending]
        if pending is None:
            if self._viewer(session) is not None:  # another tab finished first: this one has nothing left to do
                return web.Response(status=302, headers={"Location": "/"})
            if not started:
                return page(400, "This sign-in was not started in this browser, or took too long.", link=_AGAIN)
            log.warning("sign-in refused: the state does not match a sign-in this browser started")
            return page(403, "Sign-in refused: the answer does not belong to the sign-in this browser started.")
        if "error" in request.query or "code" not in request.query:
            reason = request.query.get("error_description") or request.query.get("error") or "no code"
            return page(403, f"The sign-in provider said no: {reason[:200]}", link=_AGAIN)
        try:
            identity = await self.provider.sign_in(
                code=request.query["code"],
                redirect_uri=self._redirect_uri(request),
                verifier=str(pending.get("verifier")),
                nonce=str(pending.get("nonce")),
            )
        except Refused as err:
            log.warning("sign-in refused: %s", err)
            return page(403, f"Sign-in refused: {err}.", link=_AGAIN)
        except ProviderError as err:
            log.warning("sign-in failed: %s", err)
            return page(502, "The sign-in provider did not answer properly; try again in a minute.", link=_AGAIN)
        self._signed_in(session, identity)
        return web.Response(status=302, headers={"Location": _local_path(str(pending.get("next", "/")))})

    def _signed_in(self, session: Session, identity: Identity) -> None:
        session.invalidate()  # a fresh session (and CSRF token) for the signed-in user: nothing carried over
        session["user"] = {"sub": identity.subject, "name": identity.name, "email": identity.email}
        session["until"] = (self.clock.now() + SESSION).timestamp()
        log.info("signed in to the dashboard: %s", identity.email or identity.subject)

    async def sign_out(self, request: web.Request) -> web.Response:
        """POST /auth/sign-out (with the CSRF token, which the guard checked): the session is cleared."""
        (await get_session(request)).invalidate()
        if self.provider is None:
            return page(200, "There is nothing to sign out of: sign-in is not configured.", link=("/", "Back"))
        return page(200, "You are signed out.", link=_AGAIN)

    async def close(self, _app: web.Application) -> None:
        if self.provider is not None:
            await self.provider.close()


_AGAIN = (SIGN_IN, "Sign in")


def install(web_application: web.Application, settings: Settings, *, clock: Clock) -> Guard:
    """Add sessions, the guard and the sign-in routes to ``web_application`` (before it starts)."""
    config = settings.web
    # Without sign-in the cookie only carries the CSRF token: a key that lives as long as the process is enough.
    key = session_key(config.secret) if config else Fernet(Fernet.generate_key())
    secure = bool(settings.public_url and settings.public_url.startswith("https://"))
    storage = EncryptedCookieStorage(
        key, cookie_name=COOKIE, max_age=int(SESSION.total_seconds()), httponly=True, samesite="Lax", secure=secure
    )
    guard = Guard(config, clock=clock, public_url=settings.public_url)
    web_application.middlewares.append(session_middleware(storage))
    web_application.middlewares.append(guard)
    web_application.router.add_get(SIGN_IN, guard.sign_in, name="auth.sign_in")
    web_application.router.add_get(CALLBACK, guard.callback, name="auth.callback")
    web_application.router.add_post(SIGN_OUT, guard.sign_out, name="auth.sign_out")
    web_application.on_cleanup.append(guard.close)
    return guard


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    expected = session.get("csrf")
    sent: Any = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = (await request.post()).get(CSRF_FIELD)  # read once; the handler's request.post() gets the same
    if not isinstance(expected, str) or not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def not_local(request: web.Request) -> str | None:
    """Why ``request`` is not from this machine, or None when it is: a loopback peer, no proxy headers, and a
    loopback Host (a page elsewhere that rebinds its DNS name to 127.0.0.1 must not read the dashboard)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address = peer[0] if isinstance(peer, tuple) and peer else ""
    if not _loopback(address):
        return "this request came from another machine"
    if any(header in request.headers for header in PROXY_HEADERS):
        return "this request came through a proxy"
    host = (request.url.host or "").lower()
    if host not in LOCAL_NAMES and not host.endswith(".localhost"):
        return "open it as http://127.0.0.1 or http://localhost"
    return None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _local_path(after: str) -> str:
    """``after`` when it is a path on this site; else ``/`` (no open redirect to another site after sign-in)."""
    if after.startswith("/") and not after.startswith(("//", "/\\")) and all(" " < ch < "\x7f" for ch in after):
        return after  # printable ASCII only: no control character (%0B, %0A, %09) ever reaches a Location header
    return "/"
