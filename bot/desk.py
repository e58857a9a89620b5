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


def person(invocation: Invocation) -> Person:
    """The person who typed the command."""
    return Person(invocation.user.id, invocation.user.name)


class Desk:
    """The narrow context a use case works through."""

    def __init__(self, core: Core) -> None:
        self.core = core

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

    async def announce(self, incident: Incident, message: Message) -> MessageRef | None:
        """Post in the war room; a chat failure is logged and reported, never loses what was recorded."""
        if incident.room_id is None:
            return None
        try:
            return await self.core.chat.post(RoomRef(incident.room_id, incident.room_name or incident.room_id), message)
        except ChatError as err:
            log.warning("could not post in %s for %s: %s", incident.room_name, incident.ref, err)
            return None

    async def post_or_raise(self, incident: Incident, message: Message) -> MessageRef:
        """Post from the reminder engine: a failure must roll the firing back so it is retried."""
        if incident.room_id is None:
            raise ChatError(f"{incident.ref} has no war room to post in")
        return await self.core.chat.post(RoomRef(incident.room_id, incident.room_name or incident.room_id), message)

    async def commander(self, store: Store, incident: Incident) -> Person | None:
        return next((r.person for r in await store.roles(incident.number) if r.role == "commander"), None)

    def ack(self, incident: Incident, text: str, *, tone: Tone = Tone.SUCCESS) -> Reply:
        return Reply((Message(f"{incident.ref}: {text}", tone=tone),))
