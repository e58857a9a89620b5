"""OpenID Connect with one provider: discovery, the authorization URL (PKCE, state, nonce), the code exchange and
an ID token checked by authlib/joserfc (signature from the provider's JWKS; iss, aud, exp, iat, nonce)."""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from bot.clock import Clock
from bot.config import WebSignIn, email_allowed

log = logging.getLogger(__name__)
SCOPES = "openid email profile"
LEEWAY = 60  # seconds of clock skew tolerated between this server and the provider
PATIENCE = aiohttp.ClientTimeout(total=10)  # a provider that has not answered by then will not
JWKS_REFRESH = timedelta(minutes=1)  # an unknown key id refetches the keys at most this often: no refetch storm
# Asymmetric algorithms only: an HS256 token "signed" with a public key, or "none", is never accepted.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
SLACK_TEAM = "https://slack.com/team_id"


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable (a 502 page, nothing recorded)."""


class Refused(Exception):
    """The sign-in answer is not acceptable: bad token, wrong audience, not on the allow list (a 403 page)."""


@dataclass(frozen=True)
class Metadata:
    """What discovery told us about the provider."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    basic_auth: bool  # client_secret_basic, else client_secret_post


@dataclass(frozen=True)
class Identity:
    """Who signed in, as the ID token says."""

    subject: str
    name: str
    email: str


class Provider:
    """The one OpenID provider in ``config``; its HTTP client is opened on first use and closed by ``close``."""

    def __init__(self, config: WebSignIn, *, clock: Clock) -> None:
        self.config, self.clock = config, clock
        self._http: aiohttp.ClientSession | None = None
        self._metadata: Metadata | None = None
        self._keys: KeySet | None = None
        self._keys_fetched = clock.now() - JWKS_REFRESH
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        """Where to send the browser to sign in."""
        meta = await self.metadata()
        url = prepare_grant_uri(
            meta.authorization_endpoint,
            self.config.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=SCOPES,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return str(url)

    async def sign_in(self, *, code: str, redirect_uri: str, verifier: str, nonce: str) -> Identity:
        """Exchange ``code`` for an ID token, check it, and say who it names if they are allowed in."""
        meta = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        form["code_verifier"] = verifier
        headers = {"Accept": "application/json"}
        if meta.basic_auth:  # RFC 6749 2.3.1: each part form-encoded, as authlib's own clients do
            pair = f"{quote(self.config.client_id, safe='')}:{quote(self.config.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        answer = await self._json("POST", meta.token_endpoint, data=form, headers=headers)
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            # Slack answers errors with 200 and {"ok": false, "error": ...}; others with 400 and "error".
            raise ProviderError(f"the token endpoint gave no ID token ({str(answer.get('error', 'no error'))[:80]})")
        claims = await self.verify(id_token, nonce=nonce, access_token=answer.get("access_token"))
        return self.admit(claims)

    async def verify(self, id_token: str, *, nonce: str, access_token: object = None) -> dict[str, Any]:
        """The ID token's claims once its signature, issuer, audience, times and nonce are right; else Refused."""
        meta = await self.metadata()
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=list(meta.algorithms))
            except InvalidKeyIdError:  # the provider may have rotated its keys since we fetched them
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=list(meta.algorithms))
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.config.client_id}
            if isinstance(access_token, str):
                params["access_token"] = access_token  # checks at_hash when the token carries one
            options = {
                "iss": {"essential": True, "value": meta.issuer},
                "aud": {"essential": True, "value": self.config.client_id},
            }
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(now=int(self.clock.now().timestamp()), leeway=LEEWAY)
        except (JoseError, ValueError, TypeError, KeyError) as err:
            log.warning("an ID token was refused: %s: %s", type(err).__name__, str(err)[:120])
            raise Refused("the answer from the sign-in provider could not be verified") from None
        return dict(claims)

    def admit(self, claims: dict[str, Any]) -> Identity:
        """The identity in ``claims`` when WARROOM_WEB_ALLOW lets it in; else Refused."""
        email = claims["email"].lower() if isinstance(claims.get("email"), str) else ""
        if not any(_allows(entry, claims, email) for entry in self.config.allow):
            raise Refused(f"{(email or str(claims.get('sub', '?')))[:80]} is not allowed in (WARROOM_WEB_ALLOW)")
        name = claims.get("name") if isinstance(claims.get("name"), str) else None
        return Identity(subject=str(claims["sub"]), name=str(name or email or claims["sub"]), email=email)

    async def metadata(self) -> Metadata:
        """The provider's discovery document, fetched once; its issuer must be exactly the configured one."""
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                doc = await self._json("GET", f"{self.config.issuer}/.well-known/openid-configuration")
                try:
                    self._metadata = self._read_metadata(doc)
                except (KeyError, TypeError, ValueError) as err:
                    raise ProviderError(f"the provider's discovery document is unusable: {str(err)[:120]}") from None
        return self._metadata

    def _read_metadata(self, doc: dict[str, Any]) -> Metadata:
        if doc["issuer"] != self.config.issuer:  # OpenID Connect Discovery 1.0, section 4.3
            raise ValueError(f"it names issuer {str(doc['issuer'])[:80]!r}, not WARROOM_OIDC_ISSUER")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(alg for alg in ALGORITHMS if alg in offered)
        if not algorithms:
            raise ValueError(f"it signs ID tokens with none of {', '.join(ALGORITHMS)}")
        methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        authorize, token, jwks = (str(doc[key]) for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"))
        # The issuer is https:// (http:// only on this machine, which Settings checks): so must its endpoints be.
        https = all(url.startswith("https://") for url in (authorize, token, jwks))
        if self.config.issuer.startswith("https://") and not https:
            raise ValueError("its endpoints must be https://")
        basic = "client_secret_basic" in methods
        return Metadata(str(doc["issuer"]), authorize, token, jwks, algorithms=algorithms, basic_auth=basic)

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys, refetched (rate-limited) when a token names a key we do not have."""
        now = self.clock.now()
        if self._keys is not None and not (refresh and now - self._keys_fetched >= JWKS_REFRESH):
            return self._keys
        meta = await self.metadata()
        doc = await self._json("GET", meta.jwks_uri)
        try:
            self._keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError) as err:
            raise ProviderError(f"the provider's JWKS is unusable: {str(err)[:120]}") from None
        self._keys_fetched = now
        return self._keys

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=PATIENCE)
        try:
            async with self._http.request(method, url, **kwargs) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            raise ProviderError(f"the sign-in provider did not answer {method} {url} ({type(err).__name__})") from None
        if not isinstance(body, dict):
            raise ProviderError(f"the sign-in provider answered {method} {url} with something other than JSON")
        if response.status >= 400 and method == "GET":
            raise ProviderError(f"the sign-in provider answered {method} {url} with HTTP {response.status}")
        return body


def _allows(entry: str, claims: dict[str, Any], email: str) -> bool:
    """Whether one WARROOM_WEB_ALLOW entry lets in the holder of ``claims``."""
    kind, _, value = entry.partition(":")
    if kind == "slack":
        return claims.get(SLACK_TEAM) == value
    if kind == "entra":
        tenant = claims.get("tid")
        return isinstance(tenant, str) and tenant.lower() == value.lower()
    # An email counts only when the provider vouches for it: some let a user type any address into a profile.
    if not email or claims.get("email_verified") not in (True, "true"):
        return False
    return email_allowed(entry, email)
