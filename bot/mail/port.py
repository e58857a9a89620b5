"""The email port: what the core needs from a mail server — send one message, read what came into a mailbox.

Adapters (adapters/email/) speak SMTP and IMAP; the console's outbox and mailbox keep everything in memory.
Messages cross the port as plain values; bot/mail/message.py turns them into RFC 5322 and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import WarroomError


@dataclass(frozen=True)
class OutgoingMail:
    """One email as Warroom sends it: plain text, threaded by its headers."""

    sender: str  # the From header: `Warroom <warroom@acme.example>`
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    message_id: str  # `<…@acme.example>`, the key a reply threads on
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    automatic: bool = False  # sent without a click: marked `Auto-Submitted: auto-generated` (RFC 3834)

    @property
    def recipients(self) -> tuple[str, ...]:
        return (*self.to, *self.cc)


class MailError(WarroomError):
    """The mail server refused or failed; the message says why, never with a password in it.

    ``unknown_outcome`` says the server may have taken the message anyway (it stopped answering mid-way)."""

    def __init__(self, reason: str, *, unknown_outcome: bool = False) -> None:
        super().__init__(reason)
        self.unknown_outcome = unknown_outcome


@runtime_checkable
class MailSender(Protocol):
    """Sends email: SMTP, or the console's outbox. Raises MailError when the message was not taken."""

    name: str  # where mail goes, safe to show and log (`smtp://warroom@mail.acme.example:587`)

    async def send(self, mail: OutgoingMail) -> None: ...


@dataclass(frozen=True)
class Fetched:
    """One message as a mailbox holds it: where it is (folder, UIDVALIDITY, UID) and its bytes, perhaps cut."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    size: int  # the whole message's size; ``raw`` holds at most the mailbox's read limit of it

    @property
    def cut(self) -> bool:
        return len(self.raw) < self.size


class Cursor(Protocol):
    """The highest UID already taken in (folder, UIDVALIDITY); 0 when none."""

    async def __call__(self, folder: str, uidvalidity: int) -> int: ...


@runtime_checkable
class Mailbox(Protocol):
    """A mailbox replies arrive in: IMAP, or the console's in-memory one. Raises MailError when unreachable."""

    name: str

    async def fetch_new(self, after: Cursor, *, limit: int) -> list[Fetched]:
        """Messages past the cursor, oldest first, at most ``limit``."""
        ...

    async def wait(self, at_most: float) -> None:
        """Return when new mail may have arrived (IMAP IDLE where the server has it), or after ``at_most`` seconds."""
        ...
