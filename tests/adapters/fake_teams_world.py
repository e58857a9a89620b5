"""The Warroom server with the Teams surface mounted on port 0, fake Microsoft services behind it, Teams in front."""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from botbuilder.schema import Activity
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from adapters.teams.pacing import Backoff, Pacer
from adapters.teams.surface import TeamsChat, TeamsSurface
from bot.app import App, running, web_app
from bot.clock import SimClock
from bot.config import Settings
from bot.metrics import Metrics
from bot.observe import QUIET, Observer
from bot.store import Database
from tests.adapters.fake_teams import (
    APP_ID,
    APP_SECRET,
    BOT,
    DANA,
    GENERAL,
    TEAM_GROUP_ID,
    TEAM_ID,
    TENANT,
    FakeConnector,
    FakeGraph,
    FakeLogin,
    self_signed,
    serve,
)
from tests.conftest import PLAYBOOKS, START

ISSUER = "https://api.botframework.test"  # the fake channel's token issuer


async def eventually(check: Callable[[], Any], *, within: float = 10.0, what: str = "the condition") -> Any:
    """Poll ``check`` in short steps until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)
    return result


@dataclass
class Sleeps:
    """A Backoff's sleep that records how long it was asked to wait and yields at once."""

    asked: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await asyncio.sleep(0)


class ChannelIssuer:
    """The Bot Framework's token service, as a channel sees it: OpenID metadata, signing keys, signed JWTs.

    botbuilder fetches the metadata with blocking `requests` on the event loop, so this one serves from a thread.
    """

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        self.keys = {"keys": [jwk | {"kid": "test-key", "use": "sig", "endorsements": ["msteams"]}]}
        self.url = ""

    @contextmanager
    def running(self) -> Iterator[str]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 — the http.server API
                body = issuer.keys if self.path == "/keys" else {"issuer": ISSUER, "jwks_uri": f"{issuer.url}/keys"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            server.shutdown()
            server.server_close()

    def sign(self, service_url: str, *, audience: str = APP_ID) -> str:
        now = datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "serviceurl": service_url,
            "nbf": now - timedelta(minutes=1),
            "exp": now + timedelta(hours=1),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "test-key"})


@dataclass
class Fakes:
    """Everything on Microsoft's side of the wire."""

    connector: FakeConnector
    login: FakeLogin | None = None
    graph: FakeGraph | None = None
    issuer: ChannelIssuer | None = None
    cert: str | None = None


@asynccontextmanager
async def microsoft(tmp: Path, *, credentials: bool = False, team: bool = False, **graph: Any) -> AsyncIterator[Fakes]:
    """The fake Bot Connector, plus sign-in, a channel token issuer and Graph when the bot has credentials."""
    async with AsyncExitStack() as stack:
        fakes = Fakes(FakeConnector())
        fakes.connector.url = await stack.enter_async_context(serve(fakes.connector.app()))
        if credentials or team:
            fakes.login = FakeLogin()
            context, fakes.cert = self_signed(tmp)
            fakes.login.url = await stack.enter_async_context(serve(fakes.login.app(), ssl_context=context))
            fakes.connector.token = "connector-token"
            fakes.issuer = ChannelIssuer()
            stack.enter_context(fakes.issuer.running())
        if team:
            fakes.graph = FakeGraph(fakes.connector, **graph)
            fakes.graph.url = await stack.enter_async_context(serve(fakes.graph.app())) + "/v1.0"
            fakes.graph.token = "graph-token"
        yield fakes


class TeamsWorld:
    """Drives the server the way Teams does and reads what the fakes saw."""

    def __init__(self, url: str, fakes: Fakes, app: App, surface: TeamsSurface, clock: SimClock) -> None:
        self.url, self.fakes, self.app, self.surface, self.clock = url, fakes, app, surface, clock
        self.connector = fakes.connector
        self.http: aiohttp.ClientSession | None = None

    @property
    def service_url(self) -> str:
        return self.connector.url + "/"

    def activity(self, text: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """A message as Teams delivers it to this server (see `teams_activity`)."""
        return teams_activity(self.connector, text, **kwargs)

    async def send(self, activity: dict[str, Any], *, signed: bool | None = None) -> int:
        """POST an activity to /api/messages, signed by the fake issuer when the bot has credentials."""
        assert self.http is not None
        headers = {}
        if signed if signed is not None else self.fakes.issuer is not None:
            assert self.fakes.issuer is not None
            headers["Authorization"] = f"Bearer {self.fakes.issuer.sign(activity['serviceUrl'])}"
        async with self.http.post(f"{self.url}/api/messages", json=activity, headers=headers) as resp:
            return resp.status

    async def say(self, text: str, **kwargs: Any) -> int:
        return await self.send(self.activity(text, **kwargs))

    async def click(self, data: dict[str, Any], *, conversation: str, sender: dict[str, Any] = DANA) -> int:
        """What Teams sends when someone clicks an Action.Submit button on a card in ``conversation``."""
        return await self.send(self.activity(None, conversation=conversation, sender=sender, value=data))

    async def incident_room(self, number: int = 1) -> str:
        async with self.app.db.transaction() as store:
            incident = await store.get_incident(number)
        assert incident.room_id is not None
        return incident.room_id


def teams_activity(
    connector: FakeConnector,
    text: str | None = None,
    *,
    conversation: str | None = None,
    sender: dict[str, Any] = DANA,
    mention_bot: bool = True,
    value: Any = None,
    mentions: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """A message as Teams delivers it: in the General channel (a new post unless ``conversation`` says otherwise)."""
    activity_id = f"{int(time.time() * 1000)}{next(_activity_ids):03d}"
    if conversation is None:
        conversation = f"{GENERAL};messageid={activity_id}"
        connector.roots.add(activity_id)
    entities: list[dict[str, Any]] = []
    if text is not None and mention_bot:
        text = f"<at>{BOT['name']}</at> {text}"
        entities.append({"type": "mention", "text": f"<at>{BOT['name']}</at>", "mentioned": BOT})
    for person in mentions:
        entities.append({"type": "mention", "text": f"<at>{person['name']}</at>", "mentioned": person})
    personal = conversation.startswith("a:")
    team_data = {
        "teamsChannelId": GENERAL,
        "teamsTeamId": TEAM_ID,
        "channel": {"id": GENERAL, "name": "General"},
        "team": {"id": TEAM_ID, "name": "Support"},
    }
    return {
        "type": "message",
        "id": activity_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "serviceUrl": connector.url + "/",
        "channelId": "msteams",
        "from": {"id": sender["id"], "name": sender["name"], "aadObjectId": sender["aadObjectId"]},
        "conversation": {
            "id": conversation,
            "conversationType": "personal" if personal else "channel",
            "isGroup": not personal,
            "tenantId": TENANT,
        },
        "recipient": BOT,
        "text": text,
        "value": value,
        "entities": entities,
        "channelData": {"tenant": {"id": TENANT}} | ({} if personal else team_data),
    }


_activity_ids = itertools.count(1)


@asynccontextmanager
async def teams_world(
    fakes: Fakes,
    database_url: str,
    *,
    playbooks: Path = PLAYBOOKS,
    start: datetime = START,
    backoff: Backoff | None = None,
    pacer: Pacer | None = None,
    settings: dict[str, Any] | None = None,
) -> AsyncIterator[TeamsWorld]:
    """The real server (aiohttp, Database, playbooks) with the Teams surface, talking to ``fakes``."""
    metrics = Metrics()  # the app's own, reported to by the surface as in `warroom serve`
    config, surface = teams_surface(
        fakes, database_url, playbooks=playbooks, backoff=backoff, pacer=pacer, settings=settings, observer=metrics
    )
    clock = SimClock(start)
    async with AsyncExitStack() as stack:
        app = await stack.enter_async_context(running(config, chat=surface.chat, clock=clock, metrics=metrics))
        application = web_app(app)
        surface.mount(application, app)
        stack.push_async_callback(surface.close)
        url = await stack.enter_async_context(serve(application))
        world = TeamsWorld(url, fakes, app, surface, clock)
        world.http = await stack.enter_async_context(aiohttp.ClientSession())
        yield world


def teams_surface(
    fakes: Fakes,
    database_url: str,
    *,
    playbooks: Path = PLAYBOOKS,
    backoff: Backoff | None = None,
    pacer: Pacer | None = None,
    settings: dict[str, Any] | None = None,
    observer: Observer = QUIET,
) -> tuple[Settings, TeamsSurface]:
    """Settings and a Teams surface pointed at the fakes: their service URL, sign-in, issuer and Graph."""
    values: dict[str, Any] = {"database_url": database_url, "playbooks_dir": playbooks}
    options: dict[str, Any] = {}
    if fakes.login is not None:
        values |= {"microsoft_app_id": APP_ID, "microsoft_app_password": APP_SECRET, "microsoft_app_tenant_id": TENANT}
        options |= {"login_url": fakes.login.url, "tls_verify": fakes.cert}
    if fakes.issuer is not None:
        options["channel_auth"] = {
            "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": ISSUER,
            "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": f"{fakes.issuer.url}/.well-known/openidconfiguration",
            "OAUTH_URL": "https://token.botframework.com",
        }
    if fakes.graph is not None:
        values |= {"teams_team_id": TEAM_GROUP_ID, "graph_api_url": fakes.graph.url}
    config = Settings(**(values | (settings or {})))
    surface = TeamsSurface(
        config,
        service_url=fakes.connector.url + "/",
        backoff=backoff or fast_backoff(),
        pacer=pacer,
        observer=observer,
        **options,
    )
    return config, surface


@asynccontextmanager
async def teams_port(*, graph: bool = False) -> AsyncIterator[TeamsChat]:
    """The Teams chat port on its own (no server in front) on a throwaway database, having seen one channel post."""
    with tempfile.TemporaryDirectory() as tmp:
        async with microsoft(Path(tmp), team=graph) as fakes:
            url = f"sqlite:///{tmp}/warroom.db"
            db = Database(url)
            await db.upgrade()
            _, surface = teams_surface(fakes, url)
            surface.teams.bind(db)
            try:
                await surface.teams.remember(Activity().deserialize(teams_activity(fakes.connector, "hello")))
                yield surface.teams
            finally:
                await surface.close()
                await db.dispose()


def fast_backoff(sleep: Callable[[float], Awaitable[None]] | None = None) -> Backoff:
    """Retries that keep a test quick: milliseconds apart, or recorded and not waited at all."""
    return Backoff(attempts=5, base=0.01, cap=0.05, sleep=sleep or asyncio.sleep)
