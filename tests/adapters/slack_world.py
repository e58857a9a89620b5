"""The Warroom server with the Slack surface mounted on port 0, a fake Slack behind it, and signed requests in front."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from adapters.slack.surface import SlackSurface
from bot.app import App, running, web_app
from bot.clock import SimClock
from bot.config import Settings
from bot.domain import Incident
from bot.metrics import Metrics
from tests.adapters.fake_slack import BOT_TOKEN, LOBBY, PEOPLE, TEAM, Channel, FakeSlack, user_id
from tests.conftest import PLAYBOOKS, START

SIGNING_SECRET = "test-signing-secret"
FORM = "application/x-www-form-urlencoded"


async def eventually(check: Callable[[], bool], *, within: float = 15.0, what: str = "the condition") -> None:
    """Poll ``check`` in short steps until it holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


def sign(body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Slack's v0 signature: HMAC-SHA256 over `v0:{timestamp}:{body}`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


class SlackWorld:
    """Drives the server the way Slack does and reads what the fake Slack saw."""

    def __init__(
        self, fake: FakeSlack, app: App, surface: SlackSurface, url: str, http: aiohttp.ClientSession, clock: SimClock
    ) -> None:
        self.fake, self.app, self.surface, self.url, self.http, self.clock = fake, app, surface, url, http, clock

    async def send(
        self, body: str, content_type: str, *, signed: bool = True, timestamp: int | None = None, **headers: str
    ) -> int:
        """POST /slack/events; the HTTP status."""
        status, _ = await self.exchange(body, content_type, signed=signed, timestamp=timestamp, **headers)
        return status

    async def exchange(
        self, body: str | bytes, content_type: str, *, signed: bool = True, timestamp: int | None = None, **headers: str
    ) -> tuple[int, str]:
        """POST /slack/events; the HTTP status and the body of the answer."""
        data = body.encode() if isinstance(body, str) else body
        signature = sign(data.decode(errors="replace"), timestamp=timestamp) if signed else {}
        head = {"Content-Type": content_type, **signature, **headers}
        async with self.http.post(self.url, data=data, headers=head) as response:
            return response.status, await response.text()

    def command_body(
        self, text: str, *, user: str = "dana", channel: str = LOBBY, channel_name: str = "general"
    ) -> str:
        return urlencode(
            {
                "token": "unused",
                "team_id": TEAM,
                "team_domain": "acme",
                "channel_id": channel,
                "channel_name": channel_name,
                "user_id": user_id(user),
                "user_name": user,
                "command": "/incident",
                "text": text,
                "api_app_id": "A0WARROOM",
                "response_url": self.fake.response_url(),
                "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
            }
        )

    async def command(self, text: str, *, user: str = "dana", room: Channel | None = None, **kwargs: Any) -> int:
        """`/incident <text>` typed by ``user`` in ``room`` (the lobby by default), signed."""
        channel, name = (room.id, room.name) if room else (LOBBY, "general")
        return await self.send(self.command_body(text, user=user, channel=channel, channel_name=name), FORM, **kwargs)

    async def ask(self, text: str, *, user: str = "dana", room: Channel | None = None) -> str:
        """A read-only `/incident <text>`, answered in the ack itself: the answer's text."""
        channel, name = (room.id, room.name) if room else (LOBBY, "general")
        status, body = await self.exchange(self.command_body(text, user=user, channel=channel, channel_name=name), FORM)
        assert status == 200, body
        answer: dict[str, Any] = json.loads(body)
        assert answer.get("response_type") == "ephemeral", answer
        return str(answer["text"])

    async def interact(self, payload: dict[str, Any]) -> int:
        return await self.send(urlencode({"payload": json.dumps(payload)}), FORM)

    async def click(self, button: dict[str, Any], *, room: Channel, user: str = "dana") -> int:
        """A block_actions payload for ``button`` (a Block Kit element the bot posted) clicked in ``room``."""
        return await self.interact(
            {
                "type": "block_actions",
                "team": {"id": TEAM, "domain": "acme"},
                "user": {"id": user_id(user), "username": user, "name": user, "team_id": TEAM},
                "api_app_id": "A0WARROOM",
                "container": {"type": "message", "channel_id": room.id},
                "channel": {"id": room.id, "name": room.name},
                "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
                "response_url": self.fake.response_url(),
                "actions": [{**button, "block_id": "b1", "action_ts": str(time.time())}],
            }
        )

    async def event(self, event: dict[str, Any], *, event_id: str, retry: int | None = None) -> int:
        body = {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0WARROOM",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
        }
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        return await self.send(json.dumps(body), "application/json", **headers)

    def replies(self) -> list[str]:
        """Everything said to people through response_url, as text."""
        return [r.get("text", "") for r in self.fake.responses]

    def posts(self, channel: Channel) -> list[dict[str, Any]]:
        return list(channel.messages.values())

    async def until(self, check: Callable[[], bool], what: str = "the condition", within: float = 15.0) -> None:
        await eventually(check, within=within, what=what)

    async def incidents(self) -> list[Incident]:
        async with self.app.db.transaction() as store:
            return await store.incidents(include_closed=True)

    async def opened(self, text: str = 'open "Router dead on arrival" sev:2') -> Channel:
        """Open an incident from the lobby and wait for its kickoff to be pinned; the war room."""
        before = len(self.fake.called("pins.add"))
        assert await self.command(text) == 200
        await self.until(lambda: len(self.fake.called("pins.add")) > before, "the kickoff card pinned")
        created = self.fake.called("conversations.create")[-1]
        return self.fake.channel_named(str(created.args["name"]))


@asynccontextmanager
async def slack_world(
    database_url: str,
    *,
    people: Iterable[str] = PEOPLE,
    post_interval: float = 0.01,
    fake: FakeSlack | None = None,
    playbooks: Path = PLAYBOOKS,
    **settings: Any,
) -> AsyncIterator[SlackWorld]:
    """The whole server on loopback: fake Slack (``fake``, set up beforehand, or a new one), Warroom with the Slack
    surface, the reminder engine's clock."""
    fake = fake or FakeSlack(people)
    api = await fake.start()
    config = Settings(
        database_url=database_url,
        playbooks_dir=playbooks,
        slack_bot_token=BOT_TOKEN,
        slack_api_url=api,
        **({"slack_signing_secret": SIGNING_SECRET} | settings),
    )
    metrics = Metrics()  # the app's own, reported to by the surface as in `warroom serve`
    surface = SlackSurface(config, post_interval=post_interval, observer=metrics)
    clock = SimClock(START)
    try:
        async with running(config, chat=surface.chat, clock=clock, metrics=metrics) as app:
            web_application = web_app(app)
            surface.mount(web_application, app)
            runner = web.AppRunner(web_application)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            try:
                await surface.start(app)
                async with aiohttp.ClientSession() as http:
                    yield SlackWorld(fake, app, surface, url, http, clock)
                await surface.idle()
            finally:
                await runner.cleanup()
                await surface.close()
    finally:
        await fake.close()
