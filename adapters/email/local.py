"""Email without a mail server: the console's outbox (what would have been sent, shown as it is "sent") and an
in-memory mailbox that the console's `/reply` drops answers into."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.mail.port import Cursor, Fetched, MailError, OutgoingMail

FOLDER = "console"
UIDVALIDITY = 1


class LocalOutbox:
    """Keeps every email instead of sending it; ``show`` is told of each (the console prints it)."""

    name = "the console's outbox (no WARROOM_SMTP_URL)"

    def __init__(self, show: Callable[[OutgoingMail], None] | None = None) -> None:
        self.sent: list[OutgoingMail] = []
        self.show = show
        self.fail: MailError | None = None  # the next send raises this (tests: a mail server that is down)

    async def send(self, mail: OutgoingMail) -> None:
        if self.fail is not None:
            err, self.fail = self.fail, None
            raise err
        self.sent.append(mail)
        if self.show is not None:
            self.show(mail)


class LocalMailbox:
    """A folder in memory: messages get UIDs 1, 2, 3… as they are delivered."""

    name = "the console's mailbox"

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self._arrived = asyncio.Event()

    def deliver(self, raw: bytes) -> int:
        """Put a message in the folder; returns its UID."""
        self.messages.append(raw)
        self._arrived.set()
        return len(self.messages)

    async def fetch_new(self, after: Cursor, *, limit: int) -> list[Fetched]:
        last = await after(FOLDER, UIDVALIDITY)
        return [
            Fetched(FOLDER, UIDVALIDITY, uid, raw, len(raw))
            for uid, raw in enumerate(self.messages, start=1)
            if uid > last
        ][:limit]

    async def wait(self, at_most: float) -> None:
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout=at_most)
        except TimeoutError:
            return
