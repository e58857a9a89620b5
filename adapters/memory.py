"""An in-memory chat platform that records everything: the console's base and the tests' fake."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.chat import Capability, Message, MessageRef, RoomRef, UserRef
from bot.errors import ChatError
from bot.pages import split
from bot.render import plain_text

_HANDLE = re.compile(r"^@?([\w.\-]{1,80})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Room:
    ref: RoomRef
    topic: str
    private: bool
    members: list[UserRef] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Posted:
    ref: MessageRef
    message: Message
    thread: MessageRef | None = None  # the post this one replies to, in its thread

    @property
    def text(self) -> str:
        return plain_text(self.message)


class InMemoryChat:
    """A chat platform in memory: ``directory`` limits who exists, ``fail`` makes a method's next call fail;
    ``limit`` (characters of plain text) makes it refuse bigger posts, as a real platform refuses, and split to it."""

    platform = "memory"
    capabilities = (
        Capability.CREATE_ROOM
        | Capability.INVITE
        | Capability.TOPIC
        | Capability.PIN
        | Capability.EDIT
        | Capability.BUTTONS
    )

    def __init__(self, directory: Mapping[str, UserRef] | None = None, *, limit: int | None = None) -> None:
        self.limit = limit
        self.directory = dict(directory) if directory is not None else None
        self.rooms: dict[str, Room] = {}
        self.posts: list[Posted] = []
        self.updates: list[Posted] = []
        self.fail: dict[str, ChatError] = {}
        self.keys: dict[str, MessageRef] = {}  # delivery key → the post made under it
        self.emails: dict[str, str] = {}  # user id → email address, for platforms that tell it
        self._ids = itertools.count(1)

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail.pop(method)

    def room_named(self, name: str) -> Room:
        return next(r for r in self.rooms.values() if r.ref.name == name)

    def posts_in(self, room: RoomRef | str) -> list[Posted]:
        room_id = room.id if isinstance(room, RoomRef) else self.room_named(room).ref.id
        return [p for p in self.posts if p.ref.room.id == room_id]

    async def open_room(
        self, name: str, *, topic: str, private: bool = False, origin: RoomRef | None = None
    ) -> RoomRef:
        self._maybe_fail("open_room")
        taken = {r.ref.name for r in self.rooms.values()}
        candidates = itertools.chain([name], (f"{name}-{i}" for i in itertools.count(2)))
        unique = next(n for n in candidates if n not in taken)
        ref = RoomRef(f"R{next(self._ids)}", unique)
        self.rooms[ref.id] = Room(ref, topic, private)
        return ref

    async def invite(self, room: RoomRef, users: Sequence[UserRef]) -> None:
        self._maybe_fail("invite")
        members = self._room(room).members
        members.extend(u for u in users if u not in members)

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        self._maybe_fail("post")
        self._room(room)
        if key is not None and key in self.keys:  # posted before under this delivery key: not again
            return self.keys[key]
        if self.limit is not None and len(plain_text(message)) > self.limit:
            refused = ChatError(f"post refused: {len(plain_text(message))} characters, over {self.limit}")
            refused.refused = True
            raise refused
        posted = Posted(MessageRef(room, f"M{next(self._ids)}"), message, thread)
        if key is not None:
            self.keys[key] = posted.ref
        self.posts.append(posted)
        self.on_post(posted)
        return posted.ref

    def split(self, message: Message) -> list[Message]:
        """Parts within ``limit`` characters of plain text (no limit: the message as it is)."""
        if self.limit is None:
            return [message]
        return split(message, measure=lambda m: (len(plain_text(m)),), budget=(self.limit,))

    async def update(self, ref: MessageRef, message: Message) -> None:
        self._maybe_fail("update")
        if not any(p.ref == ref for p in self.posts):
            raise ChatError(f"message {ref.id} not found")
        self.updates.append(Posted(ref, message))

    async def pin(self, ref: MessageRef) -> None:
        self._maybe_fail("pin")
        self._room(ref.room).pins.append(ref.id)

    async def find_user(self, handle: str) -> UserRef | None:
        handle = handle.strip()
        if self.directory is not None:
            return self.directory.get(handle.lstrip("@").lower())
        if _EMAIL.match(handle):
            return UserRef(handle.lower(), handle.split("@")[0])
        match = _HANDLE.match(handle)
        return UserRef(match.group(1).lower(), match.group(1)) if match else None

    async def email_of(self, user: UserRef) -> str | None:
        """A person's email address, when the directory has one (a chase copies its owner in)."""
        return self.emails.get(user.id)

    def on_post(self, posted: Posted) -> None:
        """Hook for subclasses that show posts as they happen."""

    def _room(self, room: RoomRef) -> Room:
        if room.id not in self.rooms:
            raise ChatError(f"channel_not_found: {room.name}")
        return self.rooms[room.id]
