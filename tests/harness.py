"""A war room on a recording chat and a simulated clock, driven the way an adapter drives the core."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from adapters.memory import InMemoryChat, Posted
from bot.chat import Invocation, Reply, RoomRef, UserRef
from bot.clock import SimClock
from bot.desk import Core
from bot.mail.port import Mailbox, MailSender
from bot.playbooks import PlaybookLibrary
from bot.reminders import ReminderEngine
from bot.service import Warroom
from bot.store import Database
from tests.conftest import PLAYBOOKS, START

LOBBY = RoomRef("C-LOBBY", "general")


@cache
def shipped_playbooks() -> PlaybookLibrary:
    """The shipped playbooks, read and validated once per test process (a library is immutable): reading them
    again for each of the suite's war rooms cost a large share of the fuzz test and of every Harness."""
    return PlaybookLibrary.load(PLAYBOOKS)


class Harness:
    """The core wired to fakes; ``run`` types a command as someone, in a room."""

    def __init__(
        self,
        db: Database,
        *,
        chat: InMemoryChat | None = None,
        start: datetime = START,
        default_tz: str = "UTC",
        mail: MailSender | None = None,
        mailbox: Mailbox | None = None,
        playbooks: Path = PLAYBOOKS,
    ) -> None:
        self.db = db
        self.chat = chat or InMemoryChat()
        self.clock = SimClock(start)
        self.playbooks = shipped_playbooks() if playbooks == PLAYBOOKS else PlaybookLibrary.load(playbooks)
        self.warroom = Warroom(
            Core(
                db=db,
                chat=self.chat,
                playbooks=self.playbooks,
                clock=self.clock,
                default_tz=default_tz,
                mail=mail,
                mailbox=mailbox,
                mail_from="Warroom <warroom@acme.example>",
            )
        )
        self.room = LOBBY
        self.engine = ReminderEngine(db, self.clock, self.warroom.reminder_handlers, deliver=self.warroom.deliver)

    async def run(self, text: str, *, user: str = "dana", room: RoomRef | None = None) -> Reply:
        reply = await self.warroom.handle(Invocation(text, UserRef(user, user), room or self.room))
        if reply.rooms_opened:
            self.room = reply.rooms_opened[-1]
        return reply

    async def ok(self, text: str, **kwargs: object) -> str:
        """Run a command that must succeed; return the reply as text."""
        reply = await self.run(text, **kwargs)  # type: ignore[arg-type]
        body = "\n".join(m.title for m in reply.messages)
        assert reply.ok, body
        return body

    def later(self, delta: timedelta) -> None:
        """Move time without running reminders (as if every replica were down)."""
        self.clock.advance(delta)

    async def advance(self, delta: timedelta) -> int:
        """Let time pass with the reminder engine running; returns how many reminders fired."""
        return await self.engine.run_until(self.clock.now() + delta, self.clock)

    @property
    def room_posts(self) -> list[Posted]:
        return self.chat.posts_in(self.room)
