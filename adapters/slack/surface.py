"""Slack: a Bolt app on POST /slack/events (or Socket Mode) that acks at once, then runs the core in the background."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.slack.blocks import (
    ACTION_PREFIX,
    OPEN_FORM,
    blocks,
    command_from_form,
    fallback_text,
    from_slack,
    open_form,
    payloads,
)
from adapters.slack.chat import SlackCallError, SlackChat, retry_handlers, web_client
from adapters.slack.edge import REPLAY_TTL, SIGNATURE, RefusalLog, SlackEdge, replay_key
from bot import commands as c
from bot.chat import ChatPort, Invocation, Message, Reply, RoomRef, Tone, UserRef
from bot.config import ConfigError, Settings
from bot.errors import BadInput, WarroomError
from bot.inbox import (
    MAY_BE_RECORDED,
    NOTHING_RECORDED,
    Accepted,
    Inbox,
    InboxUnavailable,
    InboxUncertain,
    TryAgainLater,
    recorded_before_restart,
    try_again,
)
from bot.observe import QUIET, Observer
from bot.outbox import short_version
from bot.runtime import Runtime
from bot.store.inbox import LeaseLost, applying

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
EVENT_TTL = timedelta(hours=1)  # Slack retries an event three times within about five minutes
REPEAT_TTL = timedelta(minutes=1)  # the same command twice within a minute is a double submit
INLINE_ANSWER = 1.0  # seconds a read-only command may take to be answered in the ack itself
RENDERS_KEPT = 256  # Block Kit of kept answers (bot/answers.py), so a repeated `status` is not rendered again
_SLACK_ID = re.compile(r"[A-Z0-9]{2,30}")
_LEADING_MENTION = re.compile(r"^\s*<@[A-Za-z0-9]+>[\s:,]*")
_BAD_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
IDENTITY_RETRY_MAX = 60.0  # seconds between two tries of auth.test while Slack cannot be reached
IDENTITY_WAIT_AFTER_ACK = 20.0  # seconds acked work waits, at most, for the bot to learn its workspace (after start)
CLAIM = "warroom_claim"  # where the replay check of an admitted read waits in Bolt's context (see _claim)
ARRIVED = "warroom_arrived"  # when an admitted request arrived (time.monotonic()): its ack is due 3 s later
STRANGER = "This Slack workspace is not the one Warroom is installed in; nothing was recorded."
UNSURE = (
    "I cannot tell yet which Slack workspace I belong to (Slack is not answering me); nothing was recorded."
    " Try again in a minute."
)
FORM_FIELDS = ("sev", "customer", "impact")  # options the open form asks for itself
FORM_LOST = (
    "This form can no longer be submitted (it is more than a day old, or I lost what it was opened with)."
    " Nothing was recorded: close it and type /incident open again."
)


@dataclass(frozen=True)
class ReplyTo:
    """Where the answer to one person goes: the request's response_url, else an ephemeral post in the channel."""

    channel: str
    user: str
    response_url: str | None = None
    team: str = ""
    enterprise: str | None = None  # the request's Enterprise Grid organisation, if any


class SlackSurface:
    """Slack as the server sees it: the chat port, the Bolt app on the one aiohttp server, Socket Mode, its tasks."""

    def __init__(
        self, settings: Settings, *, post_interval: float = 1.0, concurrency: int = 4, observer: Observer = QUIET
    ) -> None:
        if not settings.slack_bot_token:
            raise ConfigError("SLACK_BOT_TOKEN is not set")
        if not (settings.slack_signing_secret or settings.slack_app_token):
            raise ConfigError("set SLACK_SIGNING_SECRET (requests over HTTP) or SLACK_APP_TOKEN (Socket Mode)")
        self.settings = settings
        self.observer = observer  # told each Web API call (by the chat) and how long each ack took
        self.slack = SlackChat(
            web_client(settings.slack_bot_token, settings.slack_api_url), post_interval=post_interval, observer=observer
        )
        self.chat: ChatPort = self.slack
        self.socket_mode = bool(settings.slack_app_token)
        slack = self.slack

        refusals = self.refusals = RefusalLog(log)

        # Plain functions: Bolt passes bound methods a second `self`.
        async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
            return slack.authorize(enterprise_id=enterprise_id, team_id=team_id)  # never waits for Slack

        async def malformed(error: Exception) -> BoltResponse:
            # Signed, parsed, and still not what Slack sends (an `event` that is a string, a view without a type):
            # Bolt or a listener tripped over its shape. One short line, no traceback, no body.
            refusals.refused(400, f"malformed body ({_where(error)})")
            return BoltResponse(status=400, body={"error": "malformed body"})

        self.bolt = AsyncApp(
            name="warroom",
            # Our listeners only ack and hand the work to a task, so Bolt may run them inline and answer at once
            # (by default it runs them aside and polls for the ack every 10 ms).
            process_before_response=True,
            # Bolt's own client carries no token: requests get the bot's from `authorize`, Socket Mode its app token.
            client=web_client(None, settings.slack_api_url),
            signing_secret=settings.slack_signing_secret or "",
            # Every request over HTTP has been verified by the edge (SlackEdge.admit) before Bolt sees it, and
            # Socket Mode needs no signature: checking again would only hash every body twice.
            request_verification_enabled=False,
            authorize=authorize,
        )
        self.bolt.error(malformed)

        async def home_only(body: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Any]) -> Any:  # noqa: A002
            # Every request, over HTTP or Socket Mode, before any listener: one known to come from another workspace
            # is refused in its ack. Until auth.test has answered, nothing waits for it here: the work checks after.
            team = _team(body) or context.team_id or ""
            if not team or not slack.stranger(team_id=team, enterprise_id=context.enterprise_id):
                return await next()
            refusals.refused(200, "request from another workspace")
            if body.get("command"):
                return BoltResponse(status=200, body={"text": STRANGER, "response_type": "ephemeral"})
            return BoltResponse(status=200, body="")

        self.bolt.use(home_only)
        # Bolt logs the whole body of a badly signed request at INFO. The edge refuses those before Bolt sees them;
        # should one get through (a timestamp expiring between the two checks), its body still stays out of the log.
        logging.getLogger("slack_bolt.RequestVerification").setLevel(logging.WARNING)
        self.bolt.command("/incident")(self._on_command)
        self.bolt.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        self.bolt.view(OPEN_FORM)(self._on_form)
        self.bolt.event("app_mention")(self._on_mention)
        secret = settings.slack_signing_secret
        self.edge = SlackEdge(secret, refusals=refusals) if secret else None
        self._app: Runtime | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._identity: asyncio.Task[None] | None = None
        self._inbox_: Inbox | None = None
        self._worker: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._renders: OrderedDict[int, tuple[Reply, tuple[str, list[dict[str, Any]]] | None]] = OrderedDict()

    # --- the Surface protocol ------------------------------------------------------------------------

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        """POST /slack/events on the one aiohttp server (only with a signing secret to check requests against)."""
        self._app = app
        if self.edge is not None:
            web_application.router.add_post(EVENTS_PATH, self._http)

    async def start(self, app: Runtime) -> None:
        """Learn who the bot is in the background (no request waits for it); connect Socket Mode when configured."""
        self._app = app
        self._identity = asyncio.create_task(self._learn_identity(), name="slack-auth.test")
        # What another replica accepted and could not finish (or this one, before a restart) is carried out here.
        self._worker = asyncio.create_task(self._inbox.run_forever(self._carry_out, self._stop), name="slack-inbox")
        if self.socket_mode:
            self._socket = AsyncSocketModeHandler(
                self.bolt, app_token=self.settings.slack_app_token, web_client=self.bolt.client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # slack_bolt leaves it untyped

    async def close(self, *, grace: float = 30.0) -> None:
        """Disconnect Socket Mode, let running commands finish (``grace`` seconds at most), close the HTTP session."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        self._stop.set()
        until = asyncio.get_running_loop().time() + grace  # one deadline for all of it, whatever the work is doing
        if self._identity is not None:
            self._identity.cancel()
        running = {t for t in (self._worker, *self._tasks) if t is not None and not t.done()}
        if running:
            _done, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:  # what it held is handed back by the caller: another replica carries it out
                log.warning("a Slack command was still running at shutdown; cancelled (%s)", task.get_name())
                task.cancel()
            if pending:  # a cancelled task ends at its next await; one stuck in a dead connection is left behind
                await asyncio.wait(pending, timeout=max(0.5, until - asyncio.get_running_loop().time()))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.slack.close(), timeout=1.0)

    def lease_owners(self) -> list[str]:
        """The inbox's lease owner: what this replica claimed and did not finish is handed back at shutdown."""
        return [self._inbox_.owner] if self._inbox_ is not None else []

    async def idle(self) -> None:
        """Wait until every background command has finished (tests and benchmarks)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # --- inbound: the edge admits a request, Bolt acks and routes it ---------------------------------

    async def _http(self, request: web.Request) -> web.Response:
        if self.edge is None:
            raise web.HTTPNotFound()
        arrived = time.monotonic()
        admitted = await self.edge.admit(request)
        if isinstance(admitted, web.Response):
            return admitted  # refused (or Slack's certificate check): not an ack worth timing
        admitted.context[ARRIVED] = arrived  # the inbox's deadline counts from here
        try:
            return await self._ack(admitted)
        finally:  # from the request's arrival to its ack, the edge's own checks included
            self.observer.acked("slack", time.monotonic() - arrived)

    async def _ack(self, admitted: AsyncBoltRequest) -> web.Response:
        """The ack of a request the edge admitted: a kept answer at once, else whatever Bolt's listener acks."""
        if (kept := await self._kept_answer(admitted)) is not None:
            return kept
        try:
            response = await self.bolt.async_dispatch(admitted)
        except Exception as error:  # Bolt's own error path tripped over the payload's shape too
            self.refusals.refused(400, f"malformed body ({_where(error)})")
            return web.json_response({"error": "malformed body"}, status=400)
        return await to_aiohttp_response(response)

    async def _learn_identity(self) -> None:
        """auth.test until it answers, backing off while Slack is unreachable; a refused token is said once."""
        wait = 1.0
        while True:
            try:
                me = await self.slack.identity()
            except SlackCallError as err:
                if err.code in _BAD_TOKEN:
                    log.error("Slack refuses SLACK_BOT_TOKEN (%s): every command will fail until it is fixed", err.code)
                    return
                log.warning("cannot learn who the bot is yet (%s); trying again in %gs", err, wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, IDENTITY_RETRY_MAX)
            else:
                log.info("Slack: the bot is %s in %s", me.get("user_id"), me.get("team"))
                return

    async def _on_command(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        invocation, people = _slash_command(body)
        self.slack.remember(people)
        text, room = invocation.text, invocation.room
        to = ReplyTo(room.id, invocation.user.id, body.get("response_url"), _team(body), context.enterprise_id)
        if _wants_form(text) and body.get("trigger_id"):
            await ack()  # the form opens after the ack; submitting it comes back as a command
            trigger = str(body["trigger_id"])
            self._spawn(lambda: self._guarded(self._open_form(trigger, text, room, to), to), to, context)
            return
        await self._admit(invocation, to, context, ack, inline=True)

    async def _on_button(self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        action = (body.get("actions") or [{}])[0]
        channel, user = body.get("channel") or {}, body.get("user") or {}
        invocation = Invocation(
            str(action.get("value") or ""), _user(user), RoomRef(channel.get("id", ""), channel.get("name", ""))
        )
        to = ReplyTo(
            invocation.room.id, invocation.user.id, body.get("response_url"), _team(body), context.enterprise_id
        )
        await self._admit(invocation, to, context, ack, inline=False)

    async def _on_form(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        meta = await self._form_context(view)
        if meta is None:  # shown on the form itself: the person learns at once that nothing ran
            await ack(response_action="errors", errors={"title": FORM_LOST})
            return
        text = command_from_form(view.get("state", {}).get("values", {}), str(meta.get("extra", "")))
        try:
            c.parse(text)
        except BadInput as err:  # e.g. a customer with a mention in it: said next to the field, the form stays open
            await ack(response_action="errors", errors={_field_of(str(err)): str(err)[:300]})
            return
        room = RoomRef(str(meta.get("channel_id", "")), str(meta.get("channel_name", "")))
        invocation = Invocation(text, _user(body.get("user") or {}), room)
        to = ReplyTo(room.id, invocation.user.id, meta.get("response_url") or None, _team(body), context.enterprise_id)
        await self._admit(invocation, to, context, ack, inline=False)

    async def _on_mention(self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Bolt acks the event as soon as this returns; retries of one event share its event_id.
        to = ReplyTo(
            str(event.get("channel", "")), str(event.get("user", "")), None, _team(body), context.enterprise_id
        )
        text = _LEADING_MENTION.sub("", str(event.get("text") or ""))
        text, people = from_slack(re.sub(r"^/?incident\b", "", text.strip()))
        self.slack.remember(people)
        invocation = Invocation(text, UserRef(to.user, to.user), RoomRef(to.channel, to.channel))
        event_id = str(body.get("event_id") or "")
        if c.reads_only(text):
            self._spawn(lambda: self._guarded(self._mention(event_id, invocation, to), to), to, context)
            return
        key = f"slack:event:{event_id}" if event_id else _repeat_key(invocation, to.team)
        await self._accept(invocation, to, context, key=key, ttl=EVENT_TTL, mention=True)

    # --- into the inbox: accepted before the ack, carried out after by whichever replica is alive ----

    async def _admit(
        self, invocation: Invocation, to: ReplyTo, context: Mapping[str, Any], ack: AsyncAck, *, inline: bool
    ) -> None:
        """Ack a request: a read-only command is answered in the ack itself when it is quick; a command that
        changes something is written to the inbox first, and the ack says whether it was."""
        if c.reads_only(invocation.text):
            await self._answer_inline(invocation, to, context, ack, inline=inline)
            return
        key = _repeat_key(invocation, to.team)
        said = await self._accept(invocation, to, context, key=key, ttl=REPEAT_TTL)
        if said is not None and inline:
            await ack(text=said.title, response_type="ephemeral")
            return
        await ack()
        if said is not None:
            await self._tell(to, said.title)

    async def _accept(
        self,
        invocation: Invocation,
        to: ReplyTo,
        context: Mapping[str, Any],
        *,
        key: str,
        ttl: timedelta,
        mention: bool = False,
    ) -> Message | None:
        """Write the command to the inbox; None when accepted, else what to tell the person (nothing ran)."""
        signature = context.get(SIGNATURE)
        payload = {
            "text": invocation.text,
            "user": invocation.user.id,
            "user_name": invocation.user.name,
            "room": invocation.room.id,
            "room_name": invocation.room.name,
            "to": [to.channel, to.user, to.response_url, to.team],
            "enterprise": to.enterprise,
            "mention": mention,
        }
        try:
            outcome = await self._inbox.accept(
                key, payload, ttl=ttl, replay=replay_key(signature) if signature else None, arrived=context.get(ARRIVED)
            )
        except InboxUnavailable:  # known not committed
            return Message(NOTHING_RECORDED, tone=Tone.ERROR)
        except InboxUncertain:  # its commit did not answer in time: if it lands it runs; a resend is a double submit
            return Message(MAY_BE_RECORDED, tone=Tone.ERROR)
        if outcome is Accepted.REPLAY:
            self.refusals.refused(200, "replayed signature, acked and not run")
            return None
        if outcome is Accepted.REPEAT:
            return None if mention else _repeat_message(invocation.text)
        self._spawn_work()
        return None

    async def _answer_inline(
        self, invocation: Invocation, to: ReplyTo, context: Mapping[str, Any], ack: AsyncAck, *, inline: bool
    ) -> None:
        """Reading needs no write but the replay check: answer in the ack if both take under a second, else after
        it. A replayed read is acked empty and answers nothing, like a replayed write."""
        answer = asyncio.ensure_future(self._read_once(invocation, to, context))
        if inline:
            done, _ = await asyncio.wait({answer}, timeout=INLINE_ANSWER)
            if answer in done and not answer.exception():
                reply = answer.result()
                if reply is None:
                    await ack()
                    return
                if shown := self._rendered(reply):
                    await ack(text=shown[0], blocks=shown[1], response_type="ephemeral")
                    return
        await ack()

        async def later() -> None:
            reply = await answer
            if reply is not None:
                await self._reply(to, reply)

        self._spawn(lambda: self._guarded(later(), to), to, {})

    async def _read_once(self, invocation: Invocation, to: ReplyTo, context: Mapping[str, Any]) -> Reply | None:
        """The answer to a read, or None when its signed request was seen before (a replay: nothing is answered)."""
        if (away := await self._away(to)) is not None:
            return Reply((Message(away, tone=Tone.ERROR),), ok=False)
        claim = self._claim(context)
        if claim is not None:
            try:
                new = await claim
            except Exception as err:
                log.warning("cannot check a Slack request for a replay (%s: %s); not run", type(err).__name__, err)
                return Reply((Message(NOTHING_RECORDED, tone=Tone.ERROR),), ok=False)
            if not new:
                self.refusals.refused(200, "replayed signature, acked and not run")
                return None
        warroom = self._core.warroom
        return warroom.kept(invocation) or await warroom.handle(invocation)

    async def _kept_answer(self, admitted: AsyncBoltRequest) -> web.Response | None:
        """The ack of a signed `/incident <read-only command>` whose answer is kept in memory (bot/answers.py),
        straight from the edge. Bolt would route it to _on_command, which acks with the same body; nothing else of
        Bolt's applies to a slash command answered without a Web API call (no URL check, no events, no token) — but
        the workspace and the replay check do: a request from elsewhere, or whose check is not done within the
        inline budget, goes on to Bolt, whose listener awaits the same check."""
        body = admitted.body
        if self._app is None or body.get("command") != "/incident" or not body.get("trigger_id"):
            return None
        invocation, people = _slash_command(body)
        if _wants_form(invocation.text):
            return None
        reply = self._app.warroom.kept(invocation)
        shown = self._rendered(reply) if reply is not None else None
        if shown is None:
            return None
        if self.slack.stranger(team_id=_team(body), enterprise_id=admitted.context.enterprise_id) is not False:
            return None
        claim = self._claim(admitted.context)
        if claim is not None:
            done, _ = await asyncio.wait({claim}, timeout=INLINE_ANSWER)
            if claim not in done or claim.exception() is not None:
                return None
            if not claim.result():
                self.refusals.refused(200, "replayed signature, acked and not run")
                return web.Response(status=200)
        self.slack.remember(people)
        return web.json_response({"text": shown[0], "blocks": shown[1], "response_type": "ephemeral"})

    def _claim(self, context: Mapping[str, Any]) -> asyncio.Future[bool] | None:
        """The replay check of a signed request that reads (True: seen for the first time), made once per request
        whoever asks first, the edge or the listener; None for Socket Mode, whose requests carry no signature."""
        signature = context.get(SIGNATURE)
        if signature is None or not isinstance(context, dict):
            return None
        claim = context.get(CLAIM)
        if claim is None:
            claim = context[CLAIM] = asyncio.ensure_future(self._first_time(replay_key(signature), REPLAY_TTL))
        return claim

    async def _away(self, to: ReplyTo) -> str | None:
        """Why a request may not run for where it comes from (another workspace, or one that cannot be told yet),
        or None when it is at home. Waits for auth.test when the bot does not know its workspace yet: only after
        the ack, or within a read's inline budget."""
        verdict = self.slack.stranger(team_id=to.team, enterprise_id=to.enterprise)
        if verdict is None:
            with contextlib.suppress(Exception):  # the background task says why in the log, and keeps trying
                await asyncio.wait_for(asyncio.shield(self.slack.identity()), timeout=IDENTITY_WAIT_AFTER_ACK)
            verdict = self.slack.stranger(team_id=to.team, enterprise_id=to.enterprise)
        if verdict is None:
            return UNSURE
        if verdict:
            self.refusals.refused(200, "request from another workspace")
            return STRANGER
        return None

    def _rendered(self, reply: Reply) -> tuple[str, list[dict[str, Any]]] | None:
        """Block Kit for a reply that fits one Slack message (None when it does not: it goes as several answers
        after the ack); a kept answer (the same Reply object) is rendered once, not on every ack."""
        found = self._renders.get(id(reply))
        if found is not None and found[0] is reply:
            return found[1]
        shown = (fallback_text(reply.messages), blocks(reply.messages)) if len(payloads(reply.messages)) == 1 else None
        self._renders[id(reply)] = (reply, shown)  # holding the reply keeps its id from being reused
        while len(self._renders) > RENDERS_KEPT:
            self._renders.popitem(last=False)
        return shown

    def _spawn_work(self) -> None:
        """Carry out what was just accepted, here and now (the background loop covers other replicas' leftovers)."""

        async def work() -> None:
            await self._inbox.work(self._carry_out, claim=False)  # the accept leased it here: no claim

        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _carry_out(self, payload: Mapping[str, Any], already: bool) -> bool:
        """Run one accepted command and answer its person; True when it changed nothing."""
        channel, user_id, response_url, team = payload["to"]
        to = ReplyTo(channel, user_id, response_url, team, payload.get("enterprise"))
        if already:  # its first write committed before a replica died: it is not run again
            await self._reply(to, recorded_before_restart(payload, quote="`"))
            return False
        if (away := await self._away(to)) is not None:
            await self._tell(to, away)
            return True
        user = UserRef(str(payload["user"]), str(payload.get("user_name") or payload["user"]))
        if payload.get("mention"):
            user = (await self.slack.find_user(f"<@{user.id}>")) or user
        room = RoomRef(str(payload["room"]), str(payload.get("room_name") or payload["room"]))
        try:
            reply = await self._core.warroom.handle(Invocation(str(payload["text"]), user, room))
        except LeaseLost:  # another replica claimed it meanwhile: it answers
            raise
        except Exception:  # the core answers its own errors; this is a bug of ours, said truthfully
            reply = _broken()
        if (again := try_again(reply, payload)) is not None:
            await self._tell(to, again)
            raise TryAgainLater(f"{payload['text']!r} failed and recorded nothing")
        try:
            await self._reply(to, reply)
        except Exception as err:  # the command is recorded either way; only the answer is lost
            log.warning("could not answer %s after their command ran: %s", user.name, err)
        return not reply.ok

    @property
    def _inbox(self) -> Inbox:
        app = self._core
        if self._inbox_ is None or self._inbox_.db is not app.db:
            owner = f"{self.settings.replica}:slack" if self.settings.replica else None
            self._inbox_ = Inbox(app.db, app.warroom.core.clock, "slack", owner=owner)
        return self._inbox_

    # --- background work -----------------------------------------------------------------------------

    def _spawn(self, work: Callable[[], Coroutine[Any, Any, None]], to: ReplyTo, context: Mapping[str, Any]) -> None:
        task = asyncio.create_task(self._once(context.get(SIGNATURE), work, to))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _once(self, signature: str | None, work: Callable[[], Coroutine[Any, Any, None]], to: ReplyTo) -> None:
        """Run ``work`` unless its signed request was seen before, here or on another replica (a replay).

        This check needs the database, so it comes after the ack: on SQLite its write would queue behind whatever
        write transaction is open. A replay is acked like the original (an empty 200, which Slack takes as
        handled; a 4xx would make it retry an event or show a slash command as failed) and runs nothing.
        """
        if signature is not None:  # Socket Mode requests carry none: the WebSocket is their authentication
            try:
                new = await self._first_time(replay_key(signature), REPLAY_TTL)
            except Exception as err:
                log.warning("cannot check a Slack request for a replay (%s: %s); not run", type(err).__name__, err)
                await self._tell(to, NOTHING_RECORDED)
                return
            if not new:
                self.refusals.refused(200, "replayed signature, acked and not run")
                return
        await work()

    async def _mention(self, event_id: str, invocation: Invocation, to: ReplyTo) -> None:
        if event_id and not await self._first_time(f"slack:event:{event_id}", EVENT_TTL):
            log.info("Slack event %s seen before (a retry); skipped", event_id)
            return
        if (away := await self._away(to)) is not None:
            await self._tell(to, away)
            return
        user = (await self.slack.find_user(f"<@{to.user}>")) or invocation.user
        await self._reply(to, await self._core.warroom.handle(Invocation(invocation.text, user, invocation.room)))

    async def _tell(self, to: ReplyTo, text: str) -> None:
        """An error only the person sees; if Slack cannot take it either, the log is all that is left."""
        try:
            await self._reply(to, Reply((Message(text, tone=Tone.ERROR),), ok=False))
        except Exception as err:
            log.error("could not tell %s: %s", to.user, err)

    async def _guarded(self, work: Coroutine[Any, Any, None], to: ReplyTo) -> None:
        try:
            await work
        except Exception as error:
            ref = uuid.uuid4().hex[:8]
            log.exception("Slack request failed after its ack (ref %s)", ref)
            said = f"{error} (ref {ref})" if isinstance(error, WarroomError) else f"Something went wrong (ref {ref})"
            failed = Message(f"{said}; nothing was recorded, so you can simply try again.", tone=Tone.ERROR)
            try:
                await self._reply(to, Reply((failed,), ok=False))
            except Exception as err:  # Slack is unreachable: the log is all that is left
                log.error("could not tell %s about ref %s either: %s", to.user, ref, err)

    async def _open_form(self, trigger_id: str, text: str, room: RoomRef, to: ReplyTo) -> None:
        """The `open` form, offered only for options the parser takes; what it cannot hold stays server-side."""
        if (away := await self._away(to)) is not None:
            await self._tell(to, away)
            return
        tokens = c.tokenize(text)[1:]
        try:  # the same limits as a typed `open`: a form that could never run is not offered
            c.parse(" ".join(["open", '"a title"', *(text[t.start : t.end] for t in tokens)]))
        except BadInput as err:
            await self._tell(to, f"{err}. Nothing was recorded.")
            return
        asked = {t.key: t.text for t in tokens if t.key}
        sev = asked.get("sev", "3")
        extra = " ".join(text[t.start : t.end] for t in tokens if t.key not in FORM_FIELDS)
        key = uuid.uuid4().hex
        app = self._core
        async with app.db.transaction() as store:
            await store.save_form_draft(
                key, {"extra": extra, "channel_name": room.name}, now=app.warroom.core.clock.now()
            )
        metadata = {"channel_id": room.id, "response_url": to.response_url or "", "draft": key}
        view = open_form(
            metadata,
            severity=int(sev) if sev in ("1", "2", "3", "4") else 3,
            customer=asked.get("customer"),
            impact=asked.get("impact"),
        )
        self.slack.open_session()
        await self.slack.api("views.open", self.slack.client.views_open(trigger_id=trigger_id, view=view))

    async def _form_context(self, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """What a submitted form was opened with (channel, where to answer, the options typed), or None when it
        cannot be known: a form from before a restart that lost it, or older than a day."""
        try:
            meta = json.loads(view.get("private_metadata") or "")
        except ValueError:
            return None
        if not isinstance(meta, dict) or not isinstance(meta.get("draft"), str):
            return None
        app = self._core
        try:
            async with app.db.read() as store:
                draft = await store.form_draft(meta["draft"], now=app.warroom.core.clock.now())
        except Exception as err:  # the database: the person is told nothing ran
            log.warning("cannot read a submitted form's options (%s: %s)", type(err).__name__, err)
            return None
        return None if draft is None else {**draft, **meta}

    async def _reply(self, to: ReplyTo, reply: Reply) -> None:
        """Ephemeral, to the person only: through response_url when there is one, else chat.postEphemeral; an
        answer too big for one message goes as several, and one Slack refuses as it is goes in its short version."""
        if not reply.messages:
            return
        groups = payloads(reply.messages)
        rooms = [r.id for r in reply.rooms_opened if _SLACK_ID.fullmatch(r.id)]
        for n, group in enumerate(groups):
            rendered = blocks(group)
            if rooms and n == len(groups) - 1:
                links = ", ".join(f"<#{room}>" for room in rooms)
                rendered.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Jump in: {links}"}]})
            try:
                await self._answer(to, rendered, fallback_text(group))
            except SlackCallError as err:
                if not err.refused:
                    raise
                log.warning("Slack refused an answer to %s (%s); sending its short version", to.user, err)
                short = [short_version(m, str(err), None) for m in group]
                await self._answer(to, blocks(short), fallback_text(short))

    async def _answer(self, to: ReplyTo, rendered: list[dict[str, Any]], text: str) -> None:
        """One ephemeral payload: response_url first, chat.postEphemeral when that fails or there is none."""
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


def _where(error: Exception) -> str:
    """`AttributeError at surface.py:321`: enough to find a bug of ours, nothing of the request."""
    frames = traceback.extract_tb(error.__traceback__)
    return (
        f"{type(error).__name__} at {Path(frames[-1].filename).name}:{frames[-1].lineno}"
        if frames
        else type(error).__name__
    )


def _user(user: Mapping[str, Any]) -> UserRef:
    return UserRef(str(user.get("id", "")), str(user.get("username") or user.get("name") or user.get("id", "")))


def _slash_command(body: Mapping[str, Any]) -> tuple[Invocation, dict[str, str]]:
    """What a slash command's body says: the words (mentions as handles), who typed them, where; and the people
    its mentions name."""
    text, people = from_slack(str(body.get("text") or ""))
    user = UserRef(str(body.get("user_id", "")), str(body.get("user_name") or body.get("user_id", "")))
    room = RoomRef(str(body.get("channel_id", "")), str(body.get("channel_name") or body.get("channel_id", "")))
    return Invocation(text, user, room), people


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    return str(body.get("team_id") or (team.get("id") if isinstance(team, Mapping) else "") or "")


def _field_of(error: str) -> str:
    """The form field a parser error is about (its block id)."""
    if error.startswith("customer"):
        return "customer"
    return "impact" if error.startswith(("that text", "impact")) else "title"


def _wants_form(text: str) -> bool:
    """`open` with options but no title (or nothing at all) asks for the rest in a form."""
    try:
        tokens = c.tokenize(text)
    except BadInput:
        return False
    return bool(tokens) and tokens[0].text.lower() == "open" and all(t.key for t in tokens[1:])


def _broken() -> Reply:
    """A failure of ours after the ack, logged with a reference and said truthfully."""
    ref = uuid.uuid4().hex[:8]
    log.exception("an accepted Slack command failed (ref %s)", ref)
    claim = applying.get()
    said = "part of it was recorded; `status` shows what" if claim and claim.applied else "nothing was recorded"
    return Reply((Message(f"Something went wrong (ref {ref}); {said}. Try again.", tone=Tone.ERROR),), False, (), True)


def _repeat_key(invocation: Invocation, team: str) -> str:
    """The double-submit key of a command that changes something (callers have ruled out reading: reads_only)."""
    said = " ".join(invocation.text.split())
    digest = hashlib.sha256(f"{team}|{invocation.user.id}|{invocation.room.id}|{said}".encode()).hexdigest()
    return f"slack:command:{digest}"


def _repeat_message(text: str) -> Message:
    return Message(
        f"You sent `{' '.join(text.split())[:80]}` a moment ago and I ran it once; this copy was ignored."
        " Send it again after a minute if you really mean it twice.",
        tone=Tone.INFO,
    )
