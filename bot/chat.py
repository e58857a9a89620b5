"""The chat port: what the core needs from Slack, Teams or a terminal, in a chat-neutral vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Flag, StrEnum, auto
from typing import Protocol, runtime_checkable


class Capability(Flag):
    """What a platform can do; the core asks for a capability, never for a platform."""

    NONE = 0
    CREATE_ROOM = auto()
    INVITE = auto()
    TOPIC = auto()
    PIN = auto()
    ARCHIVE = auto()
    EDIT = auto()
    BUTTONS = auto()


@dataclass(frozen=True)
class UserRef:
    """A person on the platform: its stable id and the name people see."""

    id: str
    name: str


@dataclass(frozen=True)
class RoomRef:
    """A channel, a thread or a terminal pane."""

    id: str
    name: str


@dataclass(frozen=True)
class MessageRef:
    room: RoomRef
    id: str


# --- messages: platform-neutral, rendered by each adapter ------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A real mention of a person (it notifies them); user text can never become one."""

    user: UserRef


@dataclass(frozen=True)
class Strong:
    text: str

    def padded(self) -> tuple[str, str, str]:
        """(leading space, the words, trailing space): markups bold only when the marks hug the words."""
        core = self.text.strip()
        lead = self.text[: len(self.text) - len(self.text.lstrip())]
        return lead, core, self.text[len(lead) + len(core) :]


Inline = str | Mention | Strong


@dataclass(frozen=True)
class Section:
    """A paragraph. Strings are plain text: adapters escape them for their markup."""

    parts: tuple[Inline, ...]

    @classmethod
    def of(cls, *parts: Inline) -> Section:
        return cls(tuple(parts))


@dataclass(frozen=True)
class Fields:
    """Label/value pairs, shown as a compact grid where the platform has one."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Button:
    """A button that runs a command as the person who clicks it."""

    label: str
    command: str
    style: str = "default"  # default | primary | danger


@dataclass(frozen=True)
class Actions:
    buttons: tuple[Button, ...]


Block = Section | Fields | Bullets | Actions


class Tone(StrEnum):
    INFO = "info"
    SUCCESS = "success"
    REMINDER = "reminder"
    BAD_NEWS = "bad_news"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    """What the core says: a heading, blocks, and a tone adapters may colour."""

    title: str
    blocks: tuple[Block, ...] = ()
    tone: Tone = Tone.INFO
    # Where the whole of it can be read when a platform refuses to show it (`warroom summary INC-1`); a short
    # version that points there is posted instead. Empty: `status` is where things stand.
    elsewhere: str = ""
    # The IANA zone its times are shown in (the incident's), so a platform stamps it in the same one; empty: none
    zone: str = ""

    @property
    def mentions(self) -> tuple[UserRef, ...]:
        return tuple(p.user for b in self.blocks if isinstance(b, Section) for p in b.parts if isinstance(p, Mention))


@dataclass(frozen=True)
class Invocation:
    """One command as every adapter hands it to the core."""

    text: str
    user: UserRef
    room: RoomRef


@dataclass(frozen=True)
class Reply:
    """The core's answer to the person who typed the command (ephemeral where the platform can)."""

    messages: tuple[Message, ...]
    ok: bool = True
    rooms_opened: tuple[RoomRef, ...] = field(default=())
    failed: bool = False  # not the person's input: something broke (the log has the reference)
    room_refused: bool = False  # `open`: the chat platform would not open the war room, so nothing was recorded


@runtime_checkable
class ChatPort(Protocol):
    """Everything the core asks of a chat platform. Adapters raise bot.errors.ChatError on failure."""

    platform: str
    capabilities: Capability

    async def open_room(
        self, name: str, *, topic: str, private: bool = False, origin: RoomRef | None = None
    ) -> RoomRef:
        """Create a war room (a channel, or a thread under ``origin`` without CREATE_ROOM); dedupe the name."""
        ...

    async def invite(self, room: RoomRef, users: Sequence[UserRef]) -> None:
        """Pull people into a room, in one call where the platform allows."""
        ...

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        """Post a message in a room, or as a reply in the thread of ``thread`` where the platform has threads.

        ``key`` is the outbox's delivery key; ``retry`` says an earlier attempt's outcome is unknown (a timeout, a
        5xx, a crash). A platform that can look a posted key up returns the message already posted under it
        instead of posting twice. A payload the platform refuses as it is (too big, malformed) raises a ChatError
        whose ``refused`` is true: sending it again unchanged would be refused again."""
        ...

    def split(self, message: Message) -> list[Message]:
        """The message as parts that each fit one post on this platform, counted as the platform counts (after
        escaping), in order, nothing dropped: ``[message]`` when it fits."""
        ...

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Replace a posted message (EDIT)."""
        ...

    async def pin(self, ref: MessageRef) -> None:
        """Pin a posted message (PIN); a no-op without the capability."""
        ...

    async def find_user(self, handle: str) -> UserRef | None:
        """Resolve `@name`, an email or a platform mention to a person, or None when nobody matches."""
        ...
