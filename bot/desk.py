"""What every use case is handed: the core's parts and the few moves they all make (find, post, answer).

The service builds one ``Desk`` and gives it to the vendor and customer desks, which never see the whole
``Warroom``: they can read the clock, open a transaction, find the incident a command is about, resolve a
person, post in a war room, and answer the person who typed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot import commands as c
from bot.access import NOTHING_RECORDED, Access, Refused, no_such_incident, verb_of
from bot.chat import ChatPort, Invocation, Message, MessageRef, Reply, RoomRef, Tone
from bot.clock import Clock
from bot.domain import Incident, Person
from bot.errors import BadInput, ChatError, NotFound
from bot.mail.port import Mailbox, MailSender
from bot.outbox import Deliverer, explained, message_from_json, message_to_json, owed, short_version
from bot.playbooks import PlaybookLibrary
from bot.store import Database, Store
from bot.store.inbox import applying
from bot.store.outbox import PENDING, REFUSED, SENT, SHORT
from bot.store.tables import OutboxRow
from bot.voice.compose import Voice
from bot.words import count

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Core:
    """What every use case needs, passed down from the composition root."""

    db: Database
    chat: ChatPort
    playbooks: PlaybookLibrary
    clock: Clock
    default_tz: str
    mail: MailSender | None = None  # email out; None when email is not set up
    mailbox: Mailbox | None = None  # where replies are read from
    mail_from: str = "warroom@localhost"
    public_url: str | None = None  # WARROOM_PUBLIC_URL: where the customer's page links point
    replica: str | None = None  # WARROOM_REPLICA of a serving replica: its workers' leases carry stable names

    def lease_owner(self, worker: str) -> str | None:
        """The lease owner ``worker`` claims under: ``<replica>:<worker>`` when this replica has a stable name (a
        restart under it takes back its predecessor's leases at once), else None (a new random name each start)."""
        return f"{self.replica}:{worker}" if self.replica else None


@dataclass(frozen=True)
class Posted:
    """What became of a post made at once: where it is (None if nowhere), and anything short of the whole story."""

    ref: MessageRef | None
    trouble: str = ""


def person(invocation: Invocation) -> Person:
    """The person who typed the command."""
    return Person(invocation.user.id, invocation.user.name)


class Desk:
    """The narrow context a use case works through."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.outbox = Deliverer(core.db, core.chat, core.clock, owner=core.lease_owner("outbox"))
        self.voice = Voice(core.playbooks)  # every text for the customer is composed and guarded here
        self.access = Access(core.playbooks)  # who may do what, from where (bot/access.py)

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def playbooks(self) -> PlaybookLibrary:
        return self.core.playbooks

    @property
    def now(self) -> datetime:
        return self.core.clock.now()

    async def target(self, store: Store, command: c.Command, invocation: Invocation, *, lock: bool = True) -> Incident:
        """The incident a command is about (the one named, else the war room's own), once the policy lets this
        person run this command on it from where they typed it (bot/access.py); else Refused, nothing recorded."""
        if command.incident is not None:
            try:
                incident = await store.get_incident(command.incident, lock=lock)
            except NotFound:
                raise Refused(no_such_incident(command.incident)) from None
        else:
            found = await store.incident_in_room(invocation.room.id)
            if found is None:
                if isinstance(command, c.READ_ONLY):
                    raise BadInput("this is not a war room; name the incident", example="status INC-42")
                raise Refused(
                    f"this is not a war room: run `{verb_of(command)}` in the incident's own war room"
                    f" (here you can `open`, `list`, `help` or read one with `status INC-42`); {NOTHING_RECORDED}"
                )
            incident = await store.get_incident(found.number, lock=lock) if lock else found
        await self.access.check(command, invocation, incident, lambda: store.roles(incident.number))
        return incident

    async def resolve_person(self, handle: str) -> Person:
        user = await self.core.chat.find_user(handle)
        if user is None:
            raise BadInput(f"I can't find {handle[:60]}", example="role comms @dana")
        return Person(user.id, user.name)

    async def post(
        self, store: Store, incident: Incident, message: Message, *, replies: Sequence[Message] = ()
    ) -> int | None:
        """Owe a post to the war room, in the caller's transaction: delivered once it commits (the outbox).

        What does not fit one message of the platform continues in replies in its thread, each owed on its own,
        and so do ``replies``; returns the outbox row of the head."""
        if incident.room_id is None:
            return None
        head, *rest = self.core.chat.split(replace(message, zone=incident.timezone))
        first = await self._owe(store, incident, head)
        for part in [
            *rest,
            *(p for reply in replies for p in self.core.chat.split(replace(reply, zone=incident.timezone))),
        ]:
            await self._owe(store, incident, part, thread_of=first)
        return first

    async def post_many(self, store: Store, posts: Sequence[tuple[Incident, Message]]) -> None:
        """``post`` for many posts at once, as a batch of firings owes them: the heads written in one INSERT, then
        what continues them in their threads in another (each needs its head's id)."""
        split = [
            (incident, self.core.chat.split(replace(message, zone=incident.timezone)))
            for incident, message in posts
            if incident.room_id is not None
        ]
        heads = [await self._owe_row(store, incident, parts[0], flush=False) for incident, parts in split]
        if not heads:
            return
        await store.session.flush()
        rest = [
            await self._owe_row(store, incident, part, thread_of=head.id, flush=False)
            for (incident, parts), head in zip(split, heads, strict=True)
            for part in parts[1:]
        ]
        if rest:
            await store.session.flush()
        if (mine := owed.get()) is not None:
            mine += [row.id for row in (*heads, *rest)]

    async def _owe(self, store: Store, incident: Incident, message: Message, *, thread_of: int | None = None) -> int:
        row = await self._owe_row(store, incident, message, thread_of=thread_of)
        if (mine := owed.get()) is not None:
            mine.append(row.id)
        return row.id

    async def _owe_row(
        self, store: Store, incident: Incident, message: Message, *, thread_of: int | None = None, flush: bool = True
    ) -> OutboxRow:
        assert incident.room_id is not None
        row = await self.outbox.owe(
            store,
            incident.room_id,
            incident.room_name or incident.room_id,
            message_to_json(message),
            incident=incident.number,
            now=self.now,
            thread_of=thread_of,
            flush=flush,
        )
        return row

    async def announce(self, incident: Incident, message: Message, *, replies: Sequence[Message] = ()) -> int | None:
        """Owe a post to the war room after what it reports was committed; delivered by the outbox."""
        async with self.db.transaction() as store:
            return await self.post(store, incident, message, replies=replies)

    async def post_now(self, incident: Incident, message: Message) -> Posted:
        """Post at once, for the one post whose platform id is needed right away (the kickoff card, to pin it).

        What does not fit one message continues in its thread. A payload the platform refuses as it is falls back
        once to its short version; any failure is logged and said in what this returns: nothing recorded is lost."""
        if incident.room_id is None:
            return Posted(None, "there is no war room to post in")
        room = RoomRef(incident.room_id, incident.room_name or incident.room_id)
        head, *rest = self.core.chat.split(replace(message, zone=incident.timezone))
        try:
            ref = await self.core.chat.post(room, head)
            said = ""
        except ChatError as err:
            log.warning("could not post in %s for %s: %s", incident.room_name, incident.ref, err)
            if not err.refused:
                return Posted(None, f"it could not be posted ({err})")
            try:
                ref = await self.core.chat.post(room, short_version(head, str(err), incident.number))
            except ChatError as again:
                log.warning("its short version was refused too in %s: %s", incident.room_name, again)
                return Posted(None, f"the chat platform refused it, and its short version ({again})")
            said = f"the chat platform refused it in full ({err}), so a short version is posted"
        missing = 0
        for part in rest:
            try:
                await self.core.chat.post(room, part, thread=ref)
            except ChatError as err:
                log.warning("could not post part of a message in %s: %s", incident.room_name, err)
                missing += 1
        if missing:
            said = (
                f"{said + '; ' if said else ''}{missing} of its {count(len(rest), 'continuation')} could not be posted"
            )
        return Posted(ref, said)

    async def deliver_owed(self) -> None:
        """Deliver now what this command owes the rooms so far (its answer says what became of it)."""
        mine = list(owed.get() or [])
        token = applying.set(None)  # delivering is not the command's own write
        try:
            await self.outbox.deliver(only=mine)
        finally:
            applying.reset(token)

    async def troubles(self, rows: Sequence[int]) -> list[str]:
        """What went wrong with the posts a command owed and whose fate its answer does not already tell: each
        refused (and sent short, or given up on), or still waiting for the platform."""
        told = explained.get() or set()
        rows = [r for r in rows if r not in told]
        if not rows:
            return []
        async with self.db.read() as store:
            found = [row for r in rows if (row := await store.outbox_row(r)) is not None]
        said = []
        for row in found:
            title = message_from_json(row.message).title
            title = title if len(title) <= 80 else title[:79] + "…"
            if row.state == REFUSED:
                said.append(f"“{title}” was refused by the chat platform, even in short ({row.last_error})")
            elif row.form == SHORT:
                said.append(f"“{title}” was refused as it was ({row.last_error}); a short version is posted")
            elif row.state == PENDING:
                said.append(f"“{title}” is not posted yet (the chat platform cannot be reached); I keep trying")
        return said

    async def fate(self, outbox_id: int | None) -> str:
        """After the outbox was flushed: what became of an owed post and the replies in its thread, in words
        fit for the person who asked for it ("" when all of it is in the room)."""
        if outbox_id is None:
            return "there is no war room to post it in"
        async with self.db.read() as store:
            head = await store.outbox_row(outbox_id)
            replies = await store.thread_rows(outbox_id)
        if (told := explained.get()) is not None:
            told.update([outbox_id, *(r.id for r in replies)])
        if head is None:
            return "it was not posted"
        said = []
        if head.state == PENDING:
            said.append("it is not posted yet: the chat platform cannot be reached for now; I keep trying")
        elif head.state == REFUSED:
            said.append(f"the chat platform refused it, even in a short version ({head.last_error})")
        elif head.form == SHORT:
            said.append(f"the chat platform refused it as it was ({head.last_error}), so a short version is posted")
        waiting = sum(r.state == PENDING for r in replies)
        refused = sum(r.state == REFUSED for r in replies)
        short = sum(r.state == SENT and r.form == SHORT for r in replies)
        if waiting:
            said.append(f"{waiting} of the {len(replies)} replies in its thread are not posted yet; I keep trying")
        if refused:
            said.append(f"{refused} of the {len(replies)} replies in its thread were refused by the chat platform")
        if short:
            said.append(f"{short} of the {len(replies)} replies in its thread are posted in a short version only")
        return "; ".join(said)

    async def roles(self, store: Store, incident: Incident) -> dict[str, Person]:
        """Who holds which role in the incident (commander, comms, exec_sponsor, …)."""
        return {r.role: r.person for r in await store.roles(incident.number)}

    async def commander(self, store: Store, incident: Incident) -> Person | None:
        return (await self.roles(store, incident)).get("commander")

    def ack(self, incident: Incident, text: str, *, tone: Tone = Tone.SUCCESS) -> Reply:
        return Reply((Message(f"{incident.ref}: {text}", tone=tone),))
