"""A small OpenID Connect provider on port 0 for tests: discovery, JWKS (an RSA key made here), /authorize that
sends the browser straight back with a code for the configured user, and /token that checks the client, the
redirect URI and PKCE and returns a signed ID token. Tests bend it (another audience, key, nonce, ...) to see
the dashboard refuse."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from bot.clock import Clock
from bot.config import WebSignIn

CLIENT_ID, CLIENT_SECRET = "warroom-dashboard", "fake-client-secret"
SECRET = secrets.token_urlsafe(32)  # WARROOM_WEB_SECRET of the dashboards under test
TENANT = "0b4e6a3c-1f2d-4e5a-9b8c-7d6e5f4a3b2c"
SLACK_TEAM = "T0123ACME"


def rsa_key(kid: str = "key-1") -> RSAKey:
    """A fresh RSA signing key."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


@dataclass
class FakeOidc:
    """The provider; ``user`` is who /authorize signs in; the other fields bend the next answers."""

    clock: Clock
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "U-sam",
            "name": "Sam <Ops> Lee",
            "email": "sam@acme.example",
            "email_verified": True,
            "tid": TENANT,
            "https://slack.com/team_id": SLACK_TEAM,
        }
    )
    auth_methods: tuple[str, ...] = ("client_secret_basic",)
    key: RSAKey = field(default_factory=rsa_key)
    signing_key: RSAKey | None = None  # sign with this instead of the published key
    overrides: dict[str, Any] = field(default_factory=dict)  # claims to put into (None: leave out of) the ID token
    state: str | None = None  # send this state back instead of the one the client sent
    error: str | None = None  # answer /authorize with this error (the person said no) instead of a code
    base: str = ""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.base

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/.well-known/openid-configuration", self.discovery)
        application.router.add_get("/jwks", self.jwks)
        application.router.add_get("/authorize", self.authorize)
        application.router.add_post("/token", self.token)
        return application

    async def discovery(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": list(self.auth_methods),
                "scopes_supported": ["openid", "email", "profile"],
            }
        )

    async def jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorize_requests.append(query)
        wanted = {"response_type": "code", "client_id": CLIENT_ID, "code_challenge_method": "S256"}
        if any(query.get(name) != value for name, value in wanted.items()) or "openid" not in query.get("scope", ""):
            return web.Response(status=400, text=f"bad authorization request: {query}")
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        back = {"code": code, "state": self.state if self.state is not None else query.get("state", "")}
        if self.error is not None:
            back = {"error": self.error, "state": query.get("state", "")}
        raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode(back)}")

    async def token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        client = (form.get("client_id"), form.get("client_secret"))
        if "client_secret_basic" in self.auth_methods:
            scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
            user, _, password = base64.b64decode(encoded or "Og==").decode().partition(":")
            client = (unquote(user), unquote(password)) if scheme == "Basic" else (None, None)
        if client != (CLIENT_ID, CLIENT_SECRET):
            return web.json_response({"error": "invalid_client"}, status=401)
        asked = self.codes.pop(str(form.get("code")), None)  # a code works once
        if asked is None or form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(str(form.get("code_verifier")).encode()).digest()
        pkce = base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == asked["code_challenge"]
        if not pkce or form.get("redirect_uri") != asked["redirect_uri"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE, redirect_uri"}, status=400)
        return web.json_response({"access_token": "at-" + secrets.token_urlsafe(8), "id_token": self.id_token(asked)})

    def id_token(self, asked: dict[str, str]) -> str:
        now = self.clock.now()
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=5)).timestamp()),
            "nonce": asked.get("nonce"),
            **self.user,
            **self.overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        key = self.signing_key or self.key
        return jwt.encode({"alg": "RS256", "kid": str(key.kid)}, claims, key)


def sign_in_settings(provider: FakeOidc, allow: tuple[str, ...] = ("@acme.example",)) -> WebSignIn:
    """The dashboard's sign-in settings for ``provider``: who is let in is ``allow``."""
    return WebSignIn(
        issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, secret=SECRET, allow=allow
    )


@asynccontextmanager
async def serving(application: web.Application) -> AsyncIterator[str]:
    """``application`` served on 127.0.0.1, port 0, for the block: its base URL."""
    runner = web.AppRunner(application)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@asynccontextmanager
async def fake_oidc(provider: FakeOidc) -> AsyncIterator[FakeOidc]:
    """``provider`` served on port 0 for the block."""
    async with serving(provider.application()) as base:
        provider.base = base
        yield provider
