"""What every use case is handed: the core's parts and the few moves they all make (find, post, answer).

The service builds one ``Desk`` and gives it to the vendor and customer desks, which never see the whole
``Warroom``: they can read the clock, open a transaction, find the incident a command is about, resolve a
person, post in a war room, and answer the person who typed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot import commands as c
from bot.chat import ChatPort, Invocation, Message, MessageRef, Reply, RoomRef, Tone
from bot.clock import Clock
from bot.domain import Incident, Person
from bot.errors import BadInput, ChatError
from bot.mail.port import Mailbox, MailSender
from bot.outbox import Deliverer, message_to_json, owed
from bot.playbooks import PlaybookLibrary
from bot.store import Database, Store

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


def person(invocation: Invocation) -> Person:
    """The person who typed the command."""
    return Person(invocation.user.id, invocation.user.name)


class Desk:
    """The narrow context a use case works through."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.outbox = Deliverer(core.db, core.chat, core.clock)

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
        """The incident a command is about: the one named, else the war room's own."""
        if command.incident is not None:
            return await store.get_incident(command.incident, lock=lock)
        incident = await store.incident_in_room(invocation.room.id)
        if incident is None:
            raise BadInput("this is not a war room; name the incident", example="status INC-42")
        return await store.get_incident(incident.number, lock=lock) if lock else incident

    async def resolve_person(self, handle: str) -> Person:
        user = await self.core.chat.find_user(handle)
        if user is None:
            raise BadInput(f"I can't find {handle[:60]}", example="role comms @dana")
        return Person(user.id, user.name)

    async def post(self, store: Store, incident: Incident, message: Message) -> int | None:
        """Owe a post to the war room, in the caller's transaction: delivered once it commits (the outbox)."""
        if incident.room_id is None:
            return None
        row = await store.enqueue(
            incident.room_id,
            incident.room_name or incident.room_id,
            message_to_json(message),
            incident=incident.number,
            now=self.now,
        )
        if (mine := owed.get()) is not None:
            mine.append(row.id)
        return row.id

    async def announce(self, incident: Incident, message: Message) -> int | None:
        """Owe a post to the war room after what it reports was committed; delivered by the outbox."""
        async with self.db.transaction() as store:
            return await self.post(store, incident, message)

    async def post_now(self, incident: Incident, message: Message) -> MessageRef | None:
        """Post at once, for the one post whose platform id is needed right away (the kickoff card, to pin it).

        A chat failure is logged and answered with None; nothing recorded is lost."""
        if incident.room_id is None:
            return None
        try:
            return await self.core.chat.post(RoomRef(incident.room_id, incident.room_name or incident.room_id), message)
        except ChatError as err:
            log.warning("could not post in %s for %s: %s", incident.room_name, incident.ref, err)
            return None

    async def delivered(self, outbox_id: int | None) -> bool:
        """Whether an owed post has reached the room (after the outbox was flushed)."""
        if outbox_id is None:
            return False
        async with self.db.read() as store:
            row = await store.outbox_row(outbox_id)
        return row is not None and row.state == "sent"

    async def roles(self, store: Store, incident: Incident) -> dict[str, Person]:
        """Who holds which role in the incident (commander, comms, exec_sponsor, …)."""
        return {r.role: r.person for r in await store.roles(incident.number)}

    async def commander(self, store: Store, incident: Incident) -> Person | None:
        return (await self.roles(store, incident)).get("commander")

    def ack(self, incident: Incident, text: str, *, tone: Tone = Tone.SUCCESS) -> Reply:
        return Reply((Message(f"{incident.ref}: {text}", tone=tone),))
