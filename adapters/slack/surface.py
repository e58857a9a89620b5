"""Slack: a Bolt app on POST /slack/events (or Socket Mode) that acks at once, then runs the core in the background."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import (
    ACTION_PREFIX,
    OPEN_FORM,
    blocks,
    command_from_form,
    fallback_text,
    from_slack,
    open_form,
)
from adapters.slack.chat import SlackChat, retry_handlers, web_client
from bot import commands as c
from bot.chat import ChatPort, Invocation, Message, Reply, RoomRef, Tone, UserRef
from bot.config import ConfigError, Settings
from bot.errors import BadInput, WarroomError
from bot.runtime import Runtime

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
EVENT_TTL = timedelta(hours=1)  # Slack retries an event three times within about five minutes
REPEAT_TTL = timedelta(minutes=1)  # the same command twice within a minute is a double submit
READ_ONLY = (c.ShowStatus, c.ListIncidents, c.ShowHelp, c.ListFollowUps, c.ShowScorecard)
_SLACK_ID = re.compile(r"[A-Z0-9]{2,30}")
_LEADING_MENTION = re.compile(r"^\s*<@[A-Za-z0-9]+>[\s:,]*")
AUTH_FAILED = (
    "Warroom cannot use its Slack token right now (auth.test failed); ask whoever runs it to check SLACK_BOT_TOKEN."
)


@dataclass(frozen=True)
class ReplyTo:
    """Where the answer to one person goes: the request's response_url, else an ephemeral post in the channel."""

    channel: str
    user: str
    response_url: str | None = None
    team: str = ""


class SlackSurface:
    """Slack as the server sees it: the chat port, the Bolt app on the one aiohttp server, Socket Mode, its tasks."""

    def __init__(self, settings: Settings, *, post_interval: float = 1.0, concurrency: int = 4) -> None:
        if not settings.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set")
        if not (settings.slack_signing_secret or settings.slack_app_token):
            raise ConfigError("set SLACK_SIGNING_SECRET (requests over HTTP) or SLACK_APP_TOKEN (Socket Mode)")
        self.settings = settings
        self.slack = SlackChat(
            web_client(settings.slack_bot_token, settings.slack_api_url), post_interval=post_interval
        )
        self.chat: ChatPort = self.slack
        self.socket_mode = bool(settings.slack_app_token)
        slack = self.slack

        async def authorize() -> AuthorizeResult:  # a plain function: Bolt passes bound methods a second `self`
            return await slack.authorize()

        self.bolt = AsyncApp(
            name="warroom",
            # Our listeners only ack and hand the work to a task, so Bolt may run them inline and answer at once
            # (by default it runs them aside and polls for the ack every 10 ms).
            process_before_response=True,
            # Bolt's own client carries no token: requests get the bot's from `authorize`, Socket Mode its app token.
            client=web_client(None, settings.slack_api_url),
            signing_secret=settings.slack_signing_secret or "",
            authorize=authorize,
            user_facing_authorize_error_message=AUTH_FAILED,
        )
        self.bolt.command("/incident")(self._on_command)
        self.bolt.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        self.bolt.view(OPEN_FORM)(self._on_form)
        self.bolt.event("app_mention")(self._on_mention)
        self._app: Runtime | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)

    # --- the Surface protocol ------------------------------------------------------------------------

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        """POST /slack/events on the one aiohttp server (only with a signing secret to check requests against)."""
        self._app = app
        if self.settings.slack_signing_secret:
            web_application.router.add_post(EVENTS_PATH, self._http)

    async def start(self, app: Runtime) -> None:
        """Learn who the bot is before the first request; connect Socket Mode when SLACK_APP_TOKEN is set."""
        self._app = app
        try:
            await self.slack.identity()
        except WarroomError as err:
            log.error("Slack rejected the bot token or cannot be reached: %s", err)
        if self.socket_mode:
            self._socket = AsyncSocketModeHandler(
                self.bolt, app_token=self.settings.slack_app_token, web_client=self.bolt.client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped

    async def close(self) -> None:
        """Disconnect Socket Mode, let running commands finish (30 s at most), close the HTTP session."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=30)
            for task in pending:
                task.cancel()
        await self.slack.close()

    async def idle(self) -> None:
        """Wait until every background command has finished (tests and benchmarks)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # --- inbound: Bolt does the signature check, the ack and the routing ---------------------------

    async def _http(self, request: web.Request) -> web.Response:
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()  # within Slack's 3 seconds, always: everything else happens after
        self._spawn(self._command(body))

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        channel, user = body.get("channel") or {}, body.get("user") or {}
        invocation = Invocation(
            str(action.get("value") or ""), _user(user), RoomRef(channel.get("id", ""), channel.get("name", ""))
        )
        to = ReplyTo(invocation.room.id, invocation.user.id, body.get("response_url"), _team(body))
        self._spawn(self._run(invocation, to))

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        meta = json.loads(view.get("private_metadata") or "{}")
        text = command_from_form(view.get("state", {}).get("values", {}), str(meta.get("extra", "")))
        room = RoomRef(str(meta.get("channel_id", "")), str(meta.get("channel_name", "")))
        invocation = Invocation(text, _user(body.get("user") or {}), room)
        to = ReplyTo(room.id, invocation.user.id, meta.get("response_url"), _team(body))
        self._spawn(self._run(invocation, to))

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        # Bolt acks the event as soon as this returns; retries of one event share its event_id.
        self._spawn(self._mention(str(body.get("event_id") or ""), event, _team(body)))

    # --- background work -----------------------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, body: Mapping[str, Any]) -> None:
        text, people = from_slack(str(body.get("text") or ""))
        self.slack.remember(people)
        user = UserRef(str(body.get("user_id", "")), str(body.get("user_name") or body.get("user_id", "")))
        room = RoomRef(str(body.get("channel_id", "")), str(body.get("channel_name") or body.get("channel_id", "")))
        to = ReplyTo(room.id, user.id, body.get("response_url"), _team(body))
        if _wants_form(text) and body.get("trigger_id"):
            await self._guarded(self._open_form(str(body["trigger_id"]), text, room, to), to)
        else:
            await self._run(Invocation(text, user, room), to)

    async def _mention(self, event_id: str, event: Mapping[str, Any], team: str) -> None:
        if event_id and not await self._first_time(f"slack:event:{event_id}", EVENT_TTL):
            log.info("Slack event %s seen before (a retry); skipped", event_id)
            return
        text = _LEADING_MENTION.sub("", str(event.get("text") or ""))
        text, people = from_slack(re.sub(r"^/?incident\b", "", text.strip()))
        self.slack.remember(people)
        user_id, channel = str(event.get("user", "")), str(event.get("channel", ""))
        user = (await self.slack.find_user(f"<@{user_id}>")) or UserRef(user_id, user_id)
        await self._run(Invocation(text, user, RoomRef(channel, channel)), ReplyTo(channel, user_id, None, team))

    async def _run(self, invocation: Invocation, to: ReplyTo) -> None:
        """The core runs the command; its reply (or why it could not) goes back to the person."""
        await self._guarded(self._handle(invocation, to), to)

    async def _handle(self, invocation: Invocation, to: ReplyTo) -> None:
        async with self._slots:
            key = _repeat_key(invocation, to.team)
            if key and not await self._first_time(key, REPEAT_TTL):
                await self._reply(to, Reply((_repeat_message(invocation.text),), ok=False))
                return
            try:
                reply = await self._core.warroom.handle(invocation)
            except Exception:
                if key:
                    await self._forget(key)
                raise
            if key and not reply.ok:
                await self._forget(key)  # nothing changed: trying again at once must work
        await self._reply(to, reply)

    async def _guarded(self, work: Coroutine[Any, Any, None], to: ReplyTo) -> None:
        try:
            await work
        except Exception as error:
            ref = uuid.uuid4().hex[:8]
            log.exception("Slack request failed after its ack (ref %s)", ref)
            said = f"{error} (ref {ref})" if isinstance(error, WarroomError) else f"Something went wrong (ref {ref})"
            failed = Message(f"{said}; nothing you typed was lost. Try again.", tone=Tone.ERROR)
            try:
                await self._reply(to, Reply((failed,), ok=False))
            except Exception as err:  # Slack is unreachable: the log is all that is left
                log.error("could not tell %s about ref %s either: %s", to.user, ref, err)

    async def _open_form(self, trigger_id: str, text: str, room: RoomRef, to: ReplyTo) -> None:
        options = {t.key: t.text for t in c.tokenize(text)[1:] if t.key}
        sev = options.pop("sev", "3")
        customer, impact = options.pop("customer", None), options.pop("impact", None)
        extra = " ".join(f'{key}:"{value}"' for key, value in options.items() if '"' not in value)
        metadata = {
            "channel_id": room.id,
            "channel_name": room.name,
            "response_url": to.response_url or "",
            "extra": extra,
        }
        view = open_form(metadata, severity=int(sev) if sev.isdigit() else 3, customer=customer, impact=impact)
        self.slack.open_session()
        await self.slack.api("views.open", self.slack.client.views_open(trigger_id=trigger_id, view=view))

    async def _reply(self, to: ReplyTo, reply: Reply) -> None:
        """Ephemeral, to the person only: through response_url when there is one, else chat.postEphemeral."""
        if not reply.messages:
            return
        rendered, text = blocks(reply.messages), fallback_text(reply.messages)
        rooms = [r.id for r in reply.rooms_opened if _SLACK_ID.fullmatch(r.id)]
        if rooms:
            links = ", ".join(f"<#{room}>" for room in rooms)
            rendered.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Jump in: {links}"}]})
        if to.response_url:
            self.slack.open_session()
            hook = AsyncWebhookClient(
                to.response_url, session=self.slack.client.session, retry_handlers=retry_handlers()
            )
            try:
                sent = await hook.send(text=text, blocks=rendered, response_type="ephemeral", replace_original=False)
                if sent.status_code == 200:
                    return
                log.warning("response_url answered %s %s; answering ephemerally instead", sent.status_code, sent.body)
            except Exception as err:  # an expired or unreachable response_url: the channel is still there
                log.warning("response_url failed (%s); answering ephemerally instead", err)
        self.slack.open_session()
        await self.slack.api(
            "chat.postEphemeral",
            self.slack.client.chat_postEphemeral(channel=to.channel, user=to.user, text=text, blocks=rendered),
        )

    # --- idempotency, shared by every replica through the database ------------------------------------

    @property
    def _core(self) -> Runtime:
        if self._app is None:
            raise RuntimeError("SlackSurface.mount() or start() must run before requests arrive")
        return self._app

    async def _first_time(self, key: str, ttl: timedelta) -> bool:
        app = self._core
        async with app.db.transaction() as store:
            return await store.first_time(key, now=app.warroom.core.clock.now(), ttl=ttl)

    async def _forget(self, key: str) -> None:
        async with self._core.db.transaction() as store:
            await store.forget(key)


def _user(user: Mapping[str, Any]) -> UserRef:
    return UserRef(str(user.get("id", "")), str(user.get("username") or user.get("name") or user.get("id", "")))


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    return str(body.get("team_id") or (team.get("id") if isinstance(team, Mapping) else "") or "")


def _wants_form(text: str) -> bool:
    """`open` with options but no title (or nothing at all) asks for the rest in a form."""
    try:
        tokens = c.tokenize(text)
    except BadInput:
        return False
    return bool(tokens) and tokens[0].text.lower() == "open" and all(t.key for t in tokens[1:])


def _repeat_key(invocation: Invocation, team: str) -> str | None:
    """A key for commands that change something; reading twice is never a double submit."""
    try:
        if isinstance(c.parse(invocation.text), READ_ONLY):
            return None
    except WarroomError:
        return None
    said = " ".join(invocation.text.split())
    digest = hashlib.sha256(f"{team}|{invocation.user.id}|{invocation.room.id}|{said}".encode()).hexdigest()
    return f"slack:command:{digest}"


def _repeat_message(text: str) -> Message:
    return Message(
        f"You sent `{' '.join(text.split())[:80]}` a moment ago and I ran it once; this copy was ignored."
        " Send it again after a minute if you really mean it twice.",
        tone=Tone.INFO,
    )
