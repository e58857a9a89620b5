"""The Microsoft Teams adapter: Bot Framework in (POST /api/messages), Adaptive Cards and Graph channels out."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from botbuilder.schema import Activity, ActivityTypes

from adapters.teams.cards import command_from_submit, command_from_text, split
from adapters.teams.connector import TEAMS_SERVICE_URL, Address, Connector, base_channel
from adapters.teams.graph import GRAPH_URL, LOGIN_URL, GraphClient, TokenSource, channel_name, graph_user_id
from adapters.teams.pacing import Backoff, Pacer
from bot import commands as c
from bot.addresses import is_loopback_url
from bot.chat import Capability, ChatPort, Invocation, Message, MessageRef, Reply, RoomRef, Section, Tone, UserRef
from bot.config import ConfigError, Settings
from bot.errors import ChatError
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
from bot.nesting import deeper_than
from bot.observe import QUIET, Observer
from bot.outbox import short_version
from bot.runtime import Runtime
from bot.store import Database

log = logging.getLogger(__name__)
PLATFORM = "teams"
ROSTER_TTL = 300.0  # seconds a team's member list is trusted before it is asked again
REDELIVERY_TTL = timedelta(days=1)  # a message Bot Framework delivers again within this is the same command
TURN_WAIT = 10.0  # seconds a request waits for its command, inside Bot Framework's 15 s before it redelivers
_HANDLE = re.compile(r"^@?([\w.\-]{1,80})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
STRANGER = "This Microsoft 365 tenant is not the one Warroom is installed in; nothing was recorded."
# Who typed the command being handled: Graph needs an owner for a private channel.
_speaker: ContextVar[UserRef | None] = ContextVar("teams_speaker", default=None)
# When the request being handled arrived (time.monotonic()): the inbox's deadline counts from then, not from the turn.
_arrived: ContextVar[float | None] = ContextVar("teams_arrived", default=None)


class TeamsChat:
    """The chat port on Teams: war rooms are reply threads, or Graph channels when a team id is configured."""

    platform = PLATFORM

    def __init__(
        self,
        connector: Connector,
        *,
        graph: GraphClient | None = None,
        team_id: str | None = None,
        service_url: str = TEAMS_SERVICE_URL,
        db: Database | None = None,
    ) -> None:
        self.connector, self.graph, self.team_id, self.service_url = connector, graph, team_id, service_url
        self.db = db
        self.capabilities = Capability.BUTTONS | Capability.EDIT
        if graph is not None:
            # Standard channels are open to the whole team; only private ones have members to add.
            self.capabilities |= Capability.CREATE_ROOM | Capability.INVITE | Capability.TOPIC
        self._people: dict[str, UserRef] = {}
        self._roster: tuple[float, list[dict[str, Any]]] | None = None
        self._home: Address | None = None

    def bind(self, db: Database) -> None:
        """Give the adapter the database where room addresses live (known only once the app is running)."""
        self.db = db

    # --- the port ----------------------------------------------------------------------------------

    async def open_room(
        self, name: str, *, topic: str, private: bool = False, origin: RoomRef | None = None
    ) -> RoomRef:
        where = await self._address(origin.id) if origin else None
        where = where or await self._home_address()
        if self.graph is not None and self.team_id is not None:
            return await self._open_channel(name, topic=topic, private=private, where=where)
        if where is None or where.channel_id is None:
            raise ChatError(
                "in Teams a war room is a new thread in a team channel: send `open` in a channel "
                "(or set WARROOM_TEAMS_TEAM_ID so I create channels)"
            )
        unique = await self._free_name(channel_name(name))
        header = Message(f"War room {unique}", (Section.of(topic),))
        thread, _ = await self.connector.start_thread(where, where.channel_id, header)
        address = where.moved_to(thread, kind="thread", name=unique)
        await self._save(thread, address)
        return RoomRef(thread, unique)

    async def invite(self, room: RoomRef, users: Sequence[UserRef]) -> None:
        address = await self._known(room)
        if self.graph is None or self.team_id is None or not address.private or address.channel_id is None:
            return  # threads and standard channels: everyone in the team can see them; mentions notify
        ids = [(u, graph_user_id(u.id) or await self._entra_id(u)) for u in users]
        missing = [u.name for u, uid in ids if uid is None]
        if missing:
            raise ChatError(f"Teams has no Entra id for {', '.join(missing)}, so I cannot add them")
        for _, uid in ids:
            await self.graph.add_member(self.team_id, address.channel_id, str(uid))

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        """Post in a thread or channel — as a reply to ``thread`` when given; Teams cannot look a delivery key up,
        so a retry may post twice. A 413 (too big) or 400 is a ChatError with ``refused`` set."""
        address = await self._known(room)
        if thread is not None and address.kind == "channel" and address.channel_id:
            # A war-room channel: the reply goes into the reply chain the post started.
            chain = address.moved_to(f"{address.channel_id};messageid={thread.id}", kind="thread", name=address.name)
            return MessageRef(room, await self.connector.send(chain, message))
        if address.kind == "channel" and address.channel_id:
            # Each post in a war-room channel starts its own reply chain, as a person's post would.
            _, activity_id = await self.connector.start_thread(address, address.channel_id, message)
        else:
            activity_id = await self.connector.send(address, message)
        return MessageRef(room, activity_id)

    def split(self, message: Message) -> list[Message]:
        """Cards that each fit one Teams message: 80 KB of activity as UTF-16."""
        return split(message)

    async def update(self, ref: MessageRef, message: Message) -> None:
        address = await self._known(ref.room)
        conversation = address.conversation_id
        if address.kind == "channel" and address.channel_id:
            conversation = f"{address.channel_id};messageid={ref.id}"
        await self.connector.update(address, conversation, ref.id, message)

    async def pin(self, ref: MessageRef) -> None:
        """Teams gives bots no way to pin; the kickoff card is the thread's first post instead."""

    async def find_user(self, handle: str) -> UserRef | None:
        handle = handle.strip()
        if handle.startswith("@") and handle[1:] in self._people:
            return self._people[handle[1:]]  # a real @mention, translated by the adapter
        is_email = bool(_EMAIL.match(handle))
        match = _HANDLE.match(handle)
        if not is_email and not match:
            return None
        wanted = handle.lower() if is_email else match.group(1).lower() if match else ""
        members = await self._members()
        for rank in range(3):
            found = [m for m in members if _matches(m, wanted, is_email=is_email, rank=rank)]
            if len(found) == 1 or (found and rank < 2):
                return self._person(found[0])
        return None

    # --- what the inbound side tells us ------------------------------------------------------------

    async def remember(self, activity: Any) -> RoomRef:
        """Store where an activity came from (so posts reach it after a restart); return its room."""
        cid = str(activity.conversation.id)
        fresh = Address.of(activity, kind="conversation", name=_conversation_name(activity))
        async with self._db().transaction() as store:
            room_id, known = cid, await store.room_address(cid)
            if known is None and base_channel(cid) != cid:
                channel = await store.room_address(base_channel(cid))
                if channel is not None and channel.get("kind") == "channel":
                    room_id, known = base_channel(cid), channel
            if known is None:
                address = fresh
            else:  # keep what we made of the room; follow Teams if it moved the conversation to another service
                address = Address.from_data(known)
                reference = dict(address.reference, serviceUrl=fresh.service_url)
                address = replace(address, reference=reference, team_id=address.team_id or fresh.team_id)
            await store.save_room_address(room_id, PLATFORM, address.to_data(), now=datetime.now(UTC))
        if fresh.channel_id and fresh.team_id:
            self._home = fresh
        sender = activity.from_property
        if sender is not None and sender.id:
            self.learn(
                [UserRef(sender.aad_object_id or sender.id, sender.name or sender.id)], alias=sender.id, sure=True
            )
        return RoomRef(room_id, address.name)

    def learn(self, people: Sequence[UserRef], *, alias: str | None = None, sure: bool = False) -> None:
        """Remember people seen, so `@<id>` handles resolve; ``sure`` (a sender, the roster) beats a mention."""
        for person in people:
            for key in filter(None, (person.id, alias)):
                if sure or key not in self._people:
                    self._people[key] = person

    # --- helpers -----------------------------------------------------------------------------------

    async def _open_channel(self, name: str, *, topic: str, private: bool, where: Address | None) -> RoomRef:
        assert self.graph is not None and self.team_id is not None
        owner = _speaker.get()
        owner_id = (graph_user_id(owner.id) or await self._entra_id(owner)) if owner else None
        channel_id, final = await self.graph.create_channel(
            self.team_id, name, description=topic, private=private, owner=owner_id
        )
        base = where or self._synthetic_address()
        address = base.moved_to(channel_id, kind="channel", name=final, channel_id=channel_id)
        await self._save(channel_id, replace(address, private=private))
        return RoomRef(channel_id, final)

    def _synthetic_address(self) -> Address:
        # No conversation seen yet: Teams' global service URL and our bot id are enough to reach a channel.
        bot = self.connector.bot_account()
        reference = {"bot": bot.serialize(), "channelId": "msteams", "serviceUrl": self.service_url}
        return Address(reference, "channel", "", tenant_id=None)

    async def _address(self, room_id: str) -> Address | None:
        # A read, not a transaction: posts happen inside the reminder engine's write transaction.
        async with self._db().read() as store:
            data = await store.room_address(room_id)
        return Address.from_data(data) if data else None

    async def _known(self, room: RoomRef) -> Address:
        address = await self._address(room.id)
        if address is None:
            raise ChatError(f"conversation_not_found: I have no address for {room.name or room.id}")
        return address

    async def _save(self, room_id: str, address: Address) -> None:
        async with self._db().transaction() as store:
            await store.save_room_address(room_id, PLATFORM, address.to_data(), now=datetime.now(UTC))

    async def _home_address(self) -> Address | None:
        """The team channel we last heard from: where threads open and whose roster names people."""
        if self._home is None:
            async with self._db().read() as store:
                stored = await store.room_addresses(PLATFORM)
            homes = [Address.from_data(d) for d in stored.values() if d.get("kind") == "conversation"]
            self._home = next((a for a in homes if a.channel_id and a.team_id), None)
        return self._home

    async def _free_name(self, name: str) -> str:
        async with self._db().read() as store:
            taken = {
                d.get("name")
                for d in (await store.room_addresses(PLATFORM)).values()
                if d.get("kind") != "conversation"
            }
        n = 1
        while (candidate := name if n == 1 else channel_name(name, f"-{n}")) in taken:
            n += 1
        return candidate

    async def _members(self) -> list[dict[str, Any]]:
        if self._roster and time.monotonic() - self._roster[0] < ROSTER_TTL:
            return self._roster[1]
        home = await self._home_address()
        if home is None or home.team_id is None:
            return []
        try:
            members = await self.connector.members(home, home.team_id)
        except ChatError as err:
            log.warning("could not list the team's members: %s", err)
            return self._roster[1] if self._roster else []
        self._roster = (time.monotonic(), members)
        for m in members:
            self._person(m)
        return members

    def _person(self, member: dict[str, Any]) -> UserRef:
        person = UserRef(str(member.get("aadObjectId") or member["id"]), str(member.get("name") or member["id"]))
        self.learn([person], alias=str(member["id"]), sure=True)
        return person

    async def email_of(self, user: UserRef) -> str | None:
        """A team member's email (else their UPN) from the roster: a chase copies its owner."""
        for m in await self._members():
            if user.id in (str(m.get("aadObjectId") or ""), str(m.get("id") or "")):
                found = str(m.get("email") or m.get("userPrincipalName") or "").lower()
                return found if "@" in found else None
        return None

    async def _entra_id(self, user: UserRef) -> str | None:
        await self._members()
        known = self._people.get(user.id)
        return graph_user_id(known.id) if known else None

    def _db(self) -> Database:
        if self.db is None:
            raise ChatError("the Teams adapter is not bound to a database yet")
        return self.db


def _matches(member: dict[str, Any], wanted: str, *, is_email: bool, rank: int) -> bool:
    """Rank 0: the UPN or email itself; 1: their local part; 2: the display name as a handle."""
    addresses = [str(member.get(k) or "").lower() for k in ("userPrincipalName", "email")]
    if is_email:
        return rank == 0 and wanted in addresses
    if rank == 1:
        return wanted in {a.split("@")[0] for a in addresses if a}
    if rank == 2:
        name = str(member.get("name") or "").lower()
        return wanted in {name, re.sub(r"\s+", ".", name), re.sub(r"\s+", "-", name), re.sub(r"\s+", "", name)}
    return False


def _conversation_name(activity: Any) -> str:
    channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    name = (channel_data.get("channel") or {}).get("name") or getattr(activity.conversation, "name", None)
    return str(name or ("chat" if activity.conversation.conversation_type == "personal" else "channel"))


class TeamsSurface:
    """Teams as the server sees it: the chat port, POST /api/messages, and the clients to close.

    Beyond the settings: ``login_url`` (Entra sign-in, per cloud), ``tls_verify`` (a CA bundle for it),
    ``service_url`` (where channel posts go before Teams has told us a regional one) and ``channel_auth``
    (botbuilder's channel-token settings for another cloud) — the defaults are Microsoft's public cloud.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        login_url: str = LOGIN_URL,
        tls_verify: bool | str = True,
        service_url: str = TEAMS_SERVICE_URL,
        backoff: Backoff | None = None,
        pacer: Pacer | None = None,
        channel_auth: Mapping[str, str] | None = None,
        observer: Observer = QUIET,
    ) -> None:
        app_id, secret, tenant = (
            settings.microsoft_app_id,
            settings.microsoft_app_password,
            settings.microsoft_app_tenant_id,
        )
        if app_id and not secret:
            raise ConfigError("MICROSOFT_APP_ID is set but MICROSOFT_APP_PASSWORD is not; set both, or neither")
        if settings.teams_team_id and not (app_id and tenant):
            raise ConfigError(
                "WARROOM_TEAMS_TEAM_ID needs MICROSOFT_APP_ID, MICROSOFT_APP_PASSWORD and MICROSOFT_APP_TENANT_ID "
                "(Graph creates channels only with a tenant's app-only token)"
            )
        backoff = backoff or Backoff()
        tokens = None
        if app_id and secret:
            authority = f"{login_url.rstrip('/')}/{tenant or 'botframework.com'}"
            tokens = TokenSource(client_id=app_id, secret=secret, authority=authority, verify=tls_verify)
        graph = None
        if settings.teams_team_id and tokens is not None:
            graph = GraphClient(
                base_url=settings.graph_api_url or GRAPH_URL, tokens=tokens, backoff=backoff, observer=observer
            )
        self.connector = Connector(
            app_id=app_id,
            tokens=tokens,
            backoff=backoff,
            pacer=pacer or Pacer(),
            channel_auth=channel_auth,
            observer=observer,
        )
        self.tenant = tenant  # the installed tenant: activities from any other are refused (None: not checked)
        self.observer = observer  # told each call to Teams (by the connector and Graph) and how long each turn took
        self.teams = TeamsChat(self.connector, graph=graph, team_id=settings.teams_team_id, service_url=service_url)
        self.chat: ChatPort = self.teams
        self.graph = graph

        self.replica = settings.replica
        self._inbox_: Inbox | None = None
        self._worker: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # Requests being served here, by inbox key: the command's answer goes back into its own turn.
        self._turns: dict[str, tuple[Any, asyncio.Event]] = {}
        self._app: Runtime | None = None

    def mount(self, web_application: web.Application, app: Runtime) -> None:
        self._app = app
        self.teams.bind(app.db)
        web_application.router.add_post("/api/messages", _Inbound(self, app).handle)
        if not self.connector.app_id:
            log.warning(
                "MICROSOFT_APP_ID is not set: POST /api/messages accepts unauthenticated requests (local use only)"
            )

    async def start(self, app: Runtime) -> None:
        """Carry out what another replica accepted and could not finish (or this one, before a restart)."""
        self._app = app
        self._worker = asyncio.create_task(self.inbox.run_forever(self.carry_out, self._stop), name="teams-inbox")

    def lease_owners(self) -> list[str]:
        """The inbox's lease owner: what this replica claimed and did not finish is handed back at shutdown."""
        return [self._inbox_.owner] if self._inbox_ is not None else []

    async def close(self, *, grace: float = 0.0) -> None:
        """Stop the inbox worker (``grace`` seconds for the command it runs), close the Graph client."""
        self._stop.set()
        if self._worker is not None and not self._worker.done():
            _done, pending = await asyncio.wait({self._worker}, timeout=max(grace, 0.1))
            for task in pending:  # what it held is handed back by the caller: another replica carries it out
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
        if self.graph is not None:
            await self.graph.close()

    @property
    def inbox(self) -> Inbox:
        app = self._runtime
        if self._inbox_ is None or self._inbox_.db is not app.db:
            owner = f"{self.replica}:{PLATFORM}" if self.replica else None
            self._inbox_ = Inbox(app.db, app.warroom.core.clock, PLATFORM, owner=owner)
        return self._inbox_

    @property
    def _runtime(self) -> Runtime:
        if self._app is None:
            raise RuntimeError("the Teams surface is not mounted")
        return self._app

    async def carry_out(self, payload: Mapping[str, Any], already: bool) -> bool:
        """Run one accepted command and answer its person: in their own turn when it is served here, else with a
        post in the conversation it came from (a replica that died left it; this one picked it up)."""
        key = str(payload.get("key", ""))
        turn = self._turns.get(key)
        room = RoomRef(str(payload["room"]), str(payload.get("room_name") or payload["room"]))
        user = UserRef(str(payload["user"]), str(payload.get("user_name") or payload["user"]))
        try:
            if already:  # its first write committed before a replica died: it is not run again
                await self._answer(turn, room, user, recorded_before_restart(payload))
                return False
            token = _speaker.set(user)
            try:
                reply = await self._runtime.warroom.handle(Invocation(str(payload["text"]), user, room))
            finally:
                _speaker.reset(token)
            if (again := try_again(reply, payload)) is not None:
                await self._answer(turn, room, user, Reply((Message(again),)))
                raise TryAgainLater(f"{payload['text']!r} failed and recorded nothing")
            await self._answer(turn, room, user, reply)
            return not reply.ok
        finally:
            if turn is not None:
                turn[1].set()

    async def _answer(self, turn: tuple[Any, asyncio.Event] | None, room: RoomRef, user: UserRef, reply: Reply) -> None:
        if turn is not None:
            context = turn[0]
            await answer(lambda message: self.connector.reply(context, message), reply, user, room)
        else:
            await answer(lambda message: self.teams.post(room, message), reply, user, room)


async def answer(send: Callable[[Message], Awaitable[object]], reply: Reply, user: UserRef, room: RoomRef) -> None:
    """A reply as cards that each fit one Teams message; one Teams refuses as it is goes in its short version. The
    command is recorded either way: a failure here loses only the answer, and is logged."""
    for message in (part for m in reply.messages for part in split(m)):
        try:
            await send(message)
        except ChatError as err:
            if not err.refused:
                log.warning("could not answer %s in %s: %s", user.name, room.name, err)
                continue
            log.warning("Teams refused an answer to %s (%s); sending its short version", user.name, err)
            try:
                await send(short_version(message, str(err), None))
            except ChatError as again:
                log.warning("could not answer %s in %s even in short: %s", user.name, room.name, again)


# Headers a proxy adds: a request carrying one came from elsewhere, whatever address it arrived from.
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP", "Via")


def from_this_machine(request: web.Request) -> bool:
    """True when the caller is on this machine: a loopback peer address and no proxy in between."""
    try:
        peer = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer.is_loopback and not any(header in request.headers for header in PROXY_HEADERS)


class _Inbound:
    """POST /api/messages: authenticate with botbuilder, dedupe, hand the command to the core, reply in cards."""

    def __init__(self, surface: TeamsSurface, app: Runtime) -> None:
        self.surface, self.app = surface, app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        if not self.surface.connector.app_id and not from_this_machine(request):
            # Unauthenticated (local) mode: `serve` may listen beyond this machine for the dashboard's sign-in, but
            # nobody checks who sends these, so only a caller on this machine, not through a proxy, is answered.
            log.warning(
                "refused POST /api/messages from %s: without MICROSOFT_APP_ID only this machine", request.remote
            )
            return web.json_response(
                {"error": "without MICROSOFT_APP_ID only callers on this machine (loopback) are answered"}, status=403
            )
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "send the activity as application/json"}, status=415)
        try:
            body = await request.json()
            if deeper_than(body):  # msrest walks the activity recursively: a deep body must not reach it
                return web.json_response({"error": "the activity is nested too deeply"}, status=400)
            activity = Activity().deserialize(body)
        except RecursionError:  # deeper than the JSON parser's own stack
            return web.json_response({"error": "the activity is nested too deeply"}, status=400)
        except Exception:  # malformed JSON or an activity msrest cannot read
            return web.json_response({"error": "that is not a Bot Framework activity"}, status=400)
        if not activity.type or activity.conversation is None or not activity.service_url:
            return web.json_response({"error": "an activity needs a type, a conversation and a serviceUrl"}, status=400)
        connector = self.surface.connector
        if not connector.app_id and not is_loopback_url(activity.service_url):
            # Unauthenticated (local) mode answers this machine only: a stranger must not make it post anywhere.
            log.info("refused an unauthenticated Bot Framework request whose serviceUrl is not on this machine")
            return web.json_response(
                {"error": "without MICROSOFT_APP_ID only a serviceUrl on this machine (loopback) is answered"},
                status=403,
            )
        try:
            authenticated = await connector.authenticate(activity, request.headers.get("Authorization", ""))
        except Exception as err:  # botbuilder raises PermissionError, JWT errors or lookup errors: all mean no
            log.info("refused an unauthenticated Bot Framework request: %s", type(err).__name__)
            return web.json_response({"error": "unauthorized"}, status=401)
        token = _arrived.set(arrived)  # the turn runs in this task: the accept sees when the request came in
        try:
            invoke = await connector.run_turn(authenticated, activity, self.on_turn)
        finally:  # an authenticated turn, from its arrival to its answer (a command's reply is sent within it)
            _arrived.reset(token)
            self.surface.observer.acked("teams", time.monotonic() - arrived)
        if invoke is not None:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=200)

    async def on_turn(self, turn_context: Any) -> None:
        activity = turn_context.activity
        chat, connector = self.surface.teams, self.surface.connector
        connector.prepare(turn_context)
        if self._stranger(activity):  # another organisation's Teams: nothing is remembered, nothing runs
            log.info("refused a Bot Framework activity from another tenant")
            if activity.type == ActivityTypes.message:
                with contextlib.suppress(ChatError):
                    await connector.reply(turn_context, Message(STRANGER, tone=Tone.ERROR))
            return
        if activity.type in (ActivityTypes.conversation_update, ActivityTypes.installation_update):
            await chat.remember(activity)  # installed in a team or chat: now we know where to post
            return
        sender = activity.from_property
        if activity.type != ActivityTypes.message or sender is None or not sender.id:
            return
        room = await chat.remember(activity)
        key = (
            f"teams:{activity.conversation.id}:{activity.id}"
            if activity.id
            else f"teams:{activity.conversation.id}:{uuid.uuid4().hex}"  # nothing to recognise a redelivery by
        )
        command = command_from_submit(activity.value)
        if command is None:
            entities = [{"type": e.type, **(e.additional_properties or {})} for e in activity.entities or []]
            bot_id = activity.recipient.id if activity.recipient else None
            incoming = command_from_text(activity.text, entities, bot_id=bot_id)
            chat.learn(incoming.people)
            command = incoming.text
        user = UserRef(sender.aad_object_id or sender.id, sender.name or sender.id)
        if c.reads_only(command):  # reading records nothing: answered here and now
            token = _speaker.set(user)
            try:
                reply = await self.app.warroom.handle(Invocation(command, user, room))
            finally:
                _speaker.reset(token)
            await answer(lambda message: connector.reply(turn_context, message), reply, user, room)
            return
        await self._accept(turn_context, command, user, room, key)

    def _stranger(self, activity: Activity) -> bool:
        """Whether an activity comes from another tenant than MICROSOFT_APP_TENANT_ID (when it is set)."""
        home = self.surface.tenant
        if not home:
            return False
        channel_data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
        tenant = (channel_data.get("tenant") or {}).get("id") or getattr(activity.conversation, "tenant_id", None)
        return str(tenant or "").lower() != home.lower()

    async def _accept(self, turn_context: Any, command: str, user: UserRef, room: RoomRef, key: str) -> None:
        """Write the command down first (a redelivery finds it there), then carry it out, answering in this turn.

        A replica that dies after the write loses nothing: Bot Framework's redelivery is recognised as the same
        command, and whichever replica's inbox worker is alive carries it out once the lease runs out."""
        surface = self.surface
        payload = {"text": command, "user": user.id, "user_name": user.name, "room": room.id, "room_name": room.name}
        try:
            outcome = await surface.inbox.accept(
                key, {**payload, "key": key}, ttl=REDELIVERY_TTL, arrived=_arrived.get()
            )
        except (InboxUnavailable, InboxUncertain) as err:  # known not committed, or its commit did not answer
            said = NOTHING_RECORDED if isinstance(err, InboxUnavailable) else MAY_BE_RECORDED
            with contextlib.suppress(ChatError):
                await surface.connector.reply(turn_context, Message(said, tone=Tone.ERROR))
            return
        if outcome is not Accepted.NEW:
            return  # Bot Framework redelivered a message already accepted: carried out once, by whoever holds it
        finished = asyncio.Event()
        surface._turns[key] = (turn_context, finished)
        try:
            await surface.inbox.work(surface.carry_out, claim=False)  # the accept leased it here: no claim
            # The background worker may have claimed it first: wait for it, within Bot Framework's patience.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), timeout=TURN_WAIT)
        finally:
            surface._turns.pop(key, None)
