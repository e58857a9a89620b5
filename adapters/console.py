"""The console adapter: the whole product in a terminal, on simulated time, typed or piped."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from adapters.memory import InMemoryChat, Posted, Room
from bot.chat import Invocation, Reply, RoomRef, UserRef
from bot.clock import Clock, SimClock
from bot.errors import BadInput, ChatError
from bot.render import plain_text, printable
from bot.when import format_duration, format_when, parse_duration

LOBBY = "console"
MAX_CLOCK_STEP = timedelta(days=366)
_HANDLE = re.compile(r"@?([A-Za-z0-9][A-Za-z0-9._-]{0,79})")
CONSOLE_HELP = """Console commands:
  /incident <verb> …   talk to the bot (`/incident help` lists the verbs); `incident …` works too
  /clock               show the simulated time;  /clock +2h  move it forward (reminders fire as it passes)
  /as @name            type as someone else;     /join #room  move to another channel
  /rooms               list channels;            /quit        leave (Ctrl-D works too)
  /outbox              the emails sent (or kept, without WARROOM_SMTP_URL)
  /reply <address> [auto] <text>   that address answers the last email sent to it (`auto`: an out-of-office)
Lines starting with # are comments."""


class ConsoleChat(InMemoryChat):
    """In-memory rooms named like channels; every post is printed as it happens.

    Everything the console prints goes through ``write``, which removes ANSI escapes and control characters:
    a note typed with ESC or BEL in it cannot recolour, retitle, clear or ring the terminal.
    """

    platform = "console"

    def __init__(self, out: TextIO, clock: Clock, tz: ZoneInfo) -> None:
        super().__init__()
        self.out, self.clock, self.tz = out, clock, tz
        self.zones: dict[str, ZoneInfo] = {}  # a war room's zone, as its latest post said it

    async def open_room(
        self, name: str, *, topic: str, private: bool = False, origin: RoomRef | None = None
    ) -> RoomRef:
        self._maybe_fail("open_room")
        taken = {r.ref.name for r in self.rooms.values()}
        unique, i = name, 1
        while unique in taken:
            i += 1
            unique = f"{name}-{i}"
        ref = RoomRef(unique, unique)  # the name is the id, so war rooms survive a restart of the console
        self.rooms[ref.id] = Room(ref, topic, private)
        self.write(f"\n  ** #{unique} created — {topic}\n")
        return ref

    def remember(self, room: RoomRef, topic: str) -> None:
        """A war room an earlier run of the console opened (its incidents are in the database): `/join` finds it."""
        self.rooms.setdefault(room.id, Room(room, topic, False))

    def write(self, text: str) -> None:
        """Print on the terminal, as text only (at once, even when the output is a pipe)."""
        self.out.write(printable(text))
        self.out.flush()

    def zone(self, room: RoomRef) -> ZoneInfo:
        """The zone times are shown in there: the incident's inside a war room, else the console's `--tz`."""
        return self.zones.get(room.id, self.tz)

    def _room(self, room: RoomRef) -> Room:
        return self.rooms.setdefault(room.id, Room(room, "", False))

    def on_post(self, posted: Posted) -> None:
        # A war room's posts speak the incident's zone: their header does too, so one post shows one zone
        if posted.message.zone:
            self.zones[posted.ref.room.id] = ZoneInfo(posted.message.zone)
        stamp = format_when(self.clock.now(), self.zone(posted.ref.room))
        body = plain_text(posted.message).replace("\n", "\n    ")
        where = " (in the thread)" if posted.thread else ""
        self.write(f"\n[{stamp}] #{posted.ref.room.name}{where} · warroom:\n    {body}\n")


class ConsoleSession:
    """One person at a terminal: a current channel, a name, and a clock they can move."""

    def __init__(
        self,
        handle: Callable[[Invocation], Awaitable[Reply]],
        chat: ConsoleChat,
        clock: SimClock,
        *,
        user: str,
        on_clock: Callable[[datetime], Awaitable[object]] | None = None,
        echo: bool = False,
        extra: Mapping[str, Callable[[str], Awaitable[None]]] | None = None,
    ) -> None:
        self.handle, self.chat, self.clock = handle, chat, clock
        self.user = UserRef(user.lstrip("@").lower(), user.lstrip("@"))
        self.on_clock, self.echo = on_clock, echo
        self.extra = dict(extra or {})  # console commands the composition root adds (email's /outbox, /reply)
        self.room = RoomRef(LOBBY, LOBBY)
        chat.rooms.setdefault(LOBBY, Room(self.room, "where you type before a war room exists", False))

    async def run(self, lines: AsyncIterator[str] | Iterable[str]) -> None:
        """Execute lines until they run out or `/quit`."""
        if isinstance(lines, AsyncIterator):
            async for line in lines:
                if not await self.execute(line):
                    return
        else:
            for line in lines:
                if not await self.execute(line):
                    return

    async def run_terminal(self, stream: TextIO, *, interactive: bool) -> None:
        """Read a terminal (with a prompt) or a pipe until it ends or `/quit`."""

        def prompt() -> None:
            self.chat.write(f"{self.user.name}@#{self.room.name}> ")
            self.chat.out.flush()

        await self.run(read_lines(stream, prompt=prompt if interactive else None))

    async def execute(self, line: str) -> bool:
        """Run one line; False means quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if self.echo:
            self.chat.write(f"\n{self.user.name}@#{self.room.name}> {line}\n")
        typed, _, rest = line.partition(" ")
        word = typed.lower()  # `/INCIDENT STATUS` is `/incident status`
        try:
            if word in ("/incident", "incident"):
                await self._incident(rest)
            elif word == "/clock":
                await self._clock(rest.strip())
            elif word == "/as":
                self._as(rest.strip())
            elif word == "/join":
                self._join(rest.strip().lstrip("#"))
            elif word == "/rooms":
                self.chat.write("".join(f"  #{r.ref.name} — {r.topic}\n" for r in self.chat.rooms.values()))
            elif word in ("/quit", "/exit"):
                return False
            elif word in self.extra:
                await self.extra[word](rest.strip())
            elif word == "/help":
                self.chat.write(CONSOLE_HELP + "\n")
            else:
                self.chat.write(f"  ✖ '{typed[:40]}' is not a console command; try /help or /incident help\n")
        except (BadInput, ChatError) as err:
            self.chat.write(f"  ✖ {err}\n")
        self.chat.out.flush()
        return True

    async def _incident(self, text: str) -> None:
        reply = await self.handle(Invocation(text, self.user, self.room))
        if self.on_clock:
            await self.on_clock(self.clock.now())
        for message in reply.messages:
            mark = "✔" if reply.ok else "✖"
            self.chat.write(f"  {mark} (only you see this) " + plain_text(message).replace("\n", "\n    ") + "\n")
        for room in reply.rooms_opened:
            self.room = room
            self.chat.write(f"  → you are now in #{room.name}\n")

    async def _clock(self, arg: str) -> None:
        if arg:
            if not re.fullmatch(r"\+\S+", arg):
                raise BadInput(f"I can't move the clock by '{arg[:40]}'", example="/clock +2h")
            delta = parse_duration(arg[1:])
            if delta > MAX_CLOCK_STEP:
                raise BadInput("the clock moves a year at most at once", example="/clock +30d")
            self.chat.write(f"  (clock moves {format_duration(delta)} forward)\n")
            target = self.clock.now() + delta
            if self.on_clock:
                await self.on_clock(target)  # reminders fire at their own times on the way
            else:
                self.clock.set(target)
        self.chat.write(f"  (it is now {format_when(self.clock.now(), self.chat.zone(self.room))})\n")

    def _as(self, handle: str) -> None:
        handle = printable(handle).strip()  # escape codes typed into a name are not part of it
        match = _HANDLE.fullmatch(handle)
        if match is None:
            raise BadInput(f"'{handle[:40]}' is not a handle; type as someone with a name", example="/as @lee")
        self.user = UserRef(match.group(1).lower(), match.group(1))
        self.chat.write(f"  (you are now @{self.user.name})\n")

    def _join(self, name: str) -> None:
        room = next((r.ref for r in self.chat.rooms.values() if r.ref.name == name), None)
        if room is None:
            known = ", ".join(f"#{r.ref.name}" for r in self.chat.rooms.values())
            raise BadInput(
                f"there is no #{name[:60]}; the rooms are {known} (/rooms lists them)", example="/join #console"
            )
        self.room = room
        self.chat.write(f"  → you are now in #{self.room.name}\n")


async def read_lines(stream: TextIO, *, prompt: Callable[[], object] | None = None) -> AsyncIterator[str]:
    """Lines from a terminal or a pipe, read off the event loop so reminders keep firing while you think.

    ``prompt`` is called before each line (it prints the prompt).
    """
    while True:
        if prompt is not None:
            prompt()
        line = await asyncio.to_thread(stream.readline)
        if not line:
            return
        yield line
