"""Fake Microsoft services on loopback: a Bot Connector, Microsoft Graph and an Entra sign-in endpoint (TLS).

They answer like the real ones — status codes, `{"error": {"code", "message"}}` bodies, Retry-After on 429 —
record every call, and fail on request (`fail_next`) so tests can watch retries. The Bot Connector is strict where
Teams is: an activity over 100 KB, counted as UTF-16, is refused with 413 `MessageSizeTooBig`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TENANT = "72f988bf-0000-4000-8000-000000000001"
APP_ID = "00000000-0000-4000-8000-00000000b07"
APP_SECRET = "test-app-secret"
TEAM_GROUP_ID = "57fb72d0-d811-46f4-8947-305e6072eaa5"  # the team's id in Graph (its Microsoft 365 group)
TEAM_ID = "19:team-general@thread.tacv2"  # the team's id in the Bot Framework: its General channel
GENERAL = TEAM_ID
BOT = {"id": f"28:{APP_ID}", "name": "Warroom"}
MAX_MESSAGE = 100 * 1024  # bytes of UTF-16: Teams answers 413 MessageSizeTooBig past this


def too_big(activity: Any) -> web.Response | None:
    """Teams' size check on a bot message: the whole activity as UTF-16."""
    size = len(json.dumps(activity, ensure_ascii=False, separators=(",", ":")).encode("utf-16-le"))
    if size > MAX_MESSAGE:
        return error(413, "MessageSizeTooBig", f"Message size {size} bytes exceeds the limit of {MAX_MESSAGE}.")
    return None


def person(handle: str, name: str, n: int, domain: str = "contoso.com") -> dict[str, Any]:
    """A member of the team as the Bot Connector's roster lists them."""
    return {
        "id": f"29:{handle}",
        "name": name,
        "aadObjectId": f"00000000-0000-4000-8000-{n:012d}",
        "email": f"{handle}@{domain}",
        "userPrincipalName": f"{handle}@{domain}",
        "tenantId": TENANT,
        "userRole": "user",
    }


PEOPLE = [
    person(h, name, n, *domain)
    for n, (h, name, *domain) in enumerate(
        [
            ("dana", "Dana Scully"),
            ("lee", "lee"),
            ("sam", "sam"),
            ("kim", "Kim Park", "example.com"),
            ("csm-lead", "Casey Lead"),
            ("support-duty", "Sol Duty"),
            ("support-manager", "Mo Manager"),
            ("acct-exec", "Ari Exec"),
            ("vp-customer-success", "Vic President"),
        ],
        start=1,
    )
]
DANA = PEOPLE[0]


def error(status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class Failure:
    status: int
    retry_after: str | None
    matching: str  # a substring of "METHOD path"


@dataclass
class _Service:
    """What every fake shares: a call log, scripted failures, and an optional bearer token to insist on."""

    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    token: str | None = None

    def fail_next(self, status: int, *, times: int = 1, retry_after: str | None = None, matching: str = "") -> None:
        """The next ``times`` calls whose "METHOD path" contains ``matching`` answer ``status``."""
        self.failures += [Failure(status, retry_after, matching) for _ in range(times)]

    async def _enter(self, request: web.Request) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        path = unquote(request.path)
        self.calls.append(Call(request.method, path, body, dict(request.headers)))
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return error(401, "Unauthorized", "Authorization has been denied for this request.")
        for failure in self.failures:
            if failure.matching in f"{request.method} {path}":
                self.failures.remove(failure)
                headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else None
                code = {429: "TooManyRequests", 412: "PreconditionFailed"}.get(failure.status, "ServiceError")
                return error(failure.status, code, f"scripted failure {failure.status}", headers=headers)
        return None


@asynccontextmanager
async def serve(app: web.Application, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Run an aiohttp app on 127.0.0.1, port 0; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class FakeConnector(_Service):
    """The Bot Connector a serviceUrl points at: conversations, activities, team rosters."""

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.channels: set[str] = {GENERAL}
        self.chats: set[str] = set()
        self.activities: dict[str, dict[str, Any]] = {}  # activity id → {"conversation": id, "activity": {...}}
        self.updates: list[dict[str, Any]] = []
        self.members: dict[str, list[dict[str, Any]]] = {TEAM_ID: PEOPLE}
        self.roots: set[str] = set()  # people's own top-level posts, which the bot may reply under
        self.refused: list[Any] = []  # activities refused as too big
        self._ids = itertools.count(1700000000001)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/conversations/{cid}/pagedmembers", self._members)
        return app

    # --- what tests read ---------------------------------------------------------------------------

    def posts_in(self, conversation: str) -> list[dict[str, Any]]:
        """Activities posted into a conversation (a thread's replies, a chat's messages), oldest first."""
        return [a["activity"] for a in self.activities.values() if a["conversation"] == conversation]

    def threads_in(self, channel: str) -> list[str]:
        """Conversation ids of the reply chains started in a channel."""
        return [f"{channel};messageid={aid}" for aid, a in self.activities.items() if a["conversation"] == channel]

    def texts_in(self, conversation: str) -> list[str]:
        return [card_text(a) for a in self.posts_in(conversation)]

    # --- the API -----------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        params = self.calls[-1].body or {}
        channel = ((params.get("channelData") or {}).get("channel") or {}).get("id")
        if not params.get("isGroup") or channel not in self.channels:
            return error(400, "BadArgument", "Incorrect conversation creation parameters")
        if (refused := too_big(params.get("activity") or {})) is not None:
            self.refused.append(params.get("activity") or {})
            return refused
        activity_id = str(next(self._ids))
        self.activities[activity_id] = {"conversation": channel, "activity": params.get("activity") or {}}
        # Teams answers with the new reply chain's conversation id and the root activity's id.
        return web.json_response({"id": f"{channel};messageid={activity_id}", "activityId": activity_id}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        conversation = unquote(request.match_info["cid"])
        if not self._exists(conversation):
            return error(404, "ConversationNotFound", "Conversation not found.")
        if (refused := too_big(self.calls[-1].body)) is not None:
            self.refused.append(self.calls[-1].body)
            return refused
        activity_id = str(next(self._ids))
        self.activities[activity_id] = {"conversation": conversation, "activity": self.calls[-1].body}
        return web.json_response({"id": activity_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        conversation, activity_id = unquote(request.match_info["cid"]), request.match_info["aid"]
        found = self.activities.get(activity_id)
        if found is None or found["conversation"].split(";")[0] != conversation.split(";")[0]:
            return error(404, "ActivityNotFound", "Activity not found.")
        if (refused := too_big(self.calls[-1].body)) is not None:
            return refused
        found["activity"] = self.calls[-1].body
        self.updates.append(self.calls[-1].body)
        return web.json_response({"id": activity_id})

    async def _members(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        conversation = unquote(request.match_info["cid"])
        if conversation not in self.members:
            return error(404, "ConversationNotFound", "Conversation not found.")
        return web.json_response({"members": self.members[conversation]})

    def _exists(self, conversation: str) -> bool:
        base, _, root = conversation.partition(";messageid=")
        if conversation in self.chats:
            return True
        return base in self.channels and (not root or root in self.activities or root in self.roots)


class FakeGraph(_Service):
    """Microsoft Graph's channel calls for one team: create (409 on a taken name) and add members."""

    def __init__(self, connector: FakeConnector, *, duplicate_status: int = 409) -> None:
        super().__init__()
        self.url = ""
        self.connector = connector  # one Teams behind both APIs: a channel Graph creates, the bot can post in
        self.duplicate_status = duplicate_status
        self.channels: dict[str, dict[str, Any]] = {}  # id → channel, with "members"
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1.0/teams/{team}/channels", self._create)
        app.router.add_post("/v1.0/teams/{team}/channels/{cid}/members", self._add_member)
        return app

    def named(self, name: str) -> dict[str, Any]:
        return next(c for c in self.channels.values() if c["displayName"] == name)

    async def _create(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        if request.match_info["team"] != TEAM_GROUP_ID:
            return error(404, "NotFound", "No team found with Group Id " + request.match_info["team"])
        body = self.calls[-1].body or {}
        name = str(body.get("displayName", ""))
        if any(c["displayName"].lower() == name.lower() for c in self.channels.values()):
            if self.duplicate_status == 400:
                return error(400, "BadRequest", "Channel name already existed, please use other name.")
            return error(409, "NameAlreadyExists", "Channel name already existed, please use other name.")
        if len(name) > 50 or any(ch in name for ch in "~#%&*{}+/\\:<>?|'\","):
            return error(400, "BadRequest", "Channel name contains invalid characters or is too long.")
        private = body.get("membershipType") == "private"
        owners = [m for m in body.get("members") or [] if "owner" in m.get("roles", [])]
        if private and not owners:
            return error(400, "BadRequest", "A private channel created with application permissions needs an owner.")
        channel_id = f"19:channel{next(self._ids)}@thread.tacv2"
        self.channels[channel_id] = {
            "id": channel_id,
            "displayName": name,
            "description": body.get("description"),
            "membershipType": body.get("membershipType", "standard"),
            "members": [_user_of(m) for m in body.get("members") or []],
        }
        self.connector.channels.add(channel_id)
        return web.json_response({k: v for k, v in self.channels[channel_id].items() if k != "members"}, status=201)

    async def _add_member(self, request: web.Request) -> web.Response:
        if (refused := await self._enter(request)) is not None:
            return refused
        channel = self.channels.get(unquote(request.match_info["cid"]))
        if channel is None:
            return error(404, "NotFound", "Channel not found.")
        if channel["membershipType"] != "private":
            return error(400, "BadRequest", "Members can be added to private channels only.")
        user = _user_of(self.calls[-1].body or {})
        if user in channel["members"]:
            return error(409, "Conflict", "The user is already a member of the channel.")
        channel["members"].append(user)
        return web.json_response({"userId": user, "roles": (self.calls[-1].body or {}).get("roles", [])}, status=201)


def _user_of(member: dict[str, Any]) -> str:
    bind = str(member.get("user@odata.bind", ""))
    return bind.split("users('", 1)[-1].rstrip("')")


class FakeLogin(_Service):
    """Entra ID's v2 endpoints for one tenant: OpenID configuration and client-credentials tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.url = ""
        self.issued: list[str] = []  # the scopes tokens were issued for, in order

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        return app

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        base = f"{self.url}/{tenant}"
        return web.json_response(
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("client_id") != APP_ID or form.get("client_secret") != APP_SECRET:
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
                status=401,
            )
        scope = str(form.get("scope", ""))
        self.issued.append(scope)
        return web.json_response({"token_type": "Bearer", "expires_in": 3599, "access_token": token_for(scope)})


def token_for(scope: str) -> str:
    """The token the fake sign-in endpoint issues for a scope (msal may add `offline_access` etc.)."""
    if "graph.microsoft.com" in scope:
        return "graph-token"
    return "connector-token"


def self_signed(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A TLS context for 127.0.0.1 and the path of its certificate, for clients to trust (msal insists on https)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "login.pem", directory / "login.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, str(cert_path)


def card_text(activity: dict[str, Any]) -> str:
    """Everything a person reads on a posted card: its text blocks and facts, one per line."""
    lines: list[str] = []
    for attachment in activity.get("attachments") or []:
        for element in (attachment.get("content") or {}).get("body", []):
            if element.get("type") == "TextBlock":
                lines.append(element["text"])
            elif element.get("type") == "FactSet":
                lines += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return "\n".join(lines)


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = activity["attachments"][0]["content"]
    return content
