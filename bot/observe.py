"""The observer port: what the core and the adapters report as they work, for whoever measures it.

The reminder engine, the chat adapters and the mail ports call an Observer; the composition root (bot/app.py)
hands them the Prometheus binding (bot/metrics.py), and everything else gets QUIET. Nothing here knows Prometheus,
and no call may raise or wait: reporting must never break the work it reports on.
"""

from __future__ import annotations

from typing import Protocol

from bot.mail.port import Cursor, Fetched, Mailbox, MailSender, OutgoingMail


class Observer(Protocol):
    """Events worth counting; each method returns at once and never raises."""

    def chat_request(self, platform: str, method: str, status: str) -> None:
        """One HTTP request to a chat platform's API answered ``status`` (`200`, `429`, `2xx`, `unreachable`)."""
        ...

    def chat_error(self, platform: str, method: str, error: str) -> None:
        """A chat API call failed in the end (after its client's retries): Slack's error code, `http_503`, …"""
        ...

    def acked(self, platform: str, seconds: float) -> None:
        """A request from a chat platform was answered ``seconds`` after it arrived."""
        ...

    def reminder_fired(self, lag_seconds: float) -> None:
        """A reminder fired ``lag_seconds`` after it was due."""
        ...

    def reminder_failed(self) -> None:
        """A reminder's firing failed (it is retried with backoff)."""
        ...

    def mail_sent(self) -> None:
        """The mail server took one email."""
        ...

    def mail_failed(self) -> None:
        """The mail server refused an email, or could not be reached (the outbox retries it)."""
        ...

    def mail_received(self, count: int) -> None:
        """``count`` messages were taken in from the mailbox."""
        ...


class Quiet:
    """The observer that observes nothing: the default wherever no one measures."""

    def chat_request(self, platform: str, method: str, status: str) -> None:
        pass

    def chat_error(self, platform: str, method: str, error: str) -> None:
        pass

    def acked(self, platform: str, seconds: float) -> None:
        pass

    def reminder_fired(self, lag_seconds: float) -> None:
        pass

    def reminder_failed(self) -> None:
        pass

    def mail_sent(self) -> None:
        pass

    def mail_failed(self) -> None:
        pass

    def mail_received(self, count: int) -> None:
        pass


QUIET: Observer = Quiet()


class ObservedSender:
    """A MailSender that reports each email taken or refused."""

    def __init__(self, sender: MailSender, observer: Observer) -> None:
        self.sender, self.observer = sender, observer
        self.name = sender.name

    async def send(self, mail: OutgoingMail) -> None:
        try:
            await self.sender.send(mail)
        except Exception:  # refused (MailError) or a bug: either way the server did not take it from us
            self.observer.mail_failed()
            raise
        self.observer.mail_sent()


class ObservedMailbox:
    """A Mailbox that reports how many messages it handed in."""

    def __init__(self, mailbox: Mailbox, observer: Observer) -> None:
        self.mailbox, self.observer = mailbox, observer
        self.name = mailbox.name

    async def fetch_new(self, after: Cursor, *, limit: int) -> list[Fetched]:
        fetched = await self.mailbox.fetch_new(after, limit=limit)
        if fetched:
            self.observer.mail_received(len(fetched))
        return fetched

    async def wait(self, at_most: float) -> None:
        await self.mailbox.wait(at_most)
