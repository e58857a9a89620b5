"""Replies read from a real IMAP server (a throwaway Dovecot): new messages past a cursor, IDLE, large messages."""

from __future__ import annotations

import asyncio
import logging
from email import policy
from email.message import EmailMessage

import pytest

from adapters.email.imap import ImapMailbox
from bot.config import MailServer
from bot.mail.message import parse
from bot.mail.port import MailError
from tests.mailservers import Dovecot


def message(subject: str, body: str = "hello", *, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sam Ortiz <sam.ortiz@northwind.example>"
    msg["To"] = "warroom@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@northwind.example>"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename="logs.bin")
    return msg.as_bytes(policy=policy.SMTP)  # CRLF, as a mailbox stores it


def mailbox(server: Dovecot, user: str, password: str, folder: str = "INBOX") -> ImapMailbox:
    return ImapMailbox(MailServer.parse("WARROOM_IMAP_URL", server.url(user, password, folder), ("imaps", "imap")))


class Cursor:
    def __init__(self) -> None:
        self.last: dict[tuple[str, int], int] = {}

    async def __call__(self, folder: str, uidvalidity: int) -> int:
        return self.last.get((folder, uidvalidity), 0)

    def take(self, fetched: list) -> None:  # type: ignore[type-arg]
        for f in fetched:
            self.last[(f.folder, f.uidvalidity)] = max(self.last.get((f.folder, f.uidvalidity), 0), f.uid)


async def test_new_messages_come_once_each_past_the_cursor_and_are_left_unread(dovecot: Dovecot) -> None:
    user, password = dovecot.new_user()
    box, cursor = mailbox(dovecot, user, password), Cursor()
    assert await box.fetch_new(cursor, limit=10) == []
    await dovecot.append(user, password, message("first"))
    await dovecot.append(user, password, message("second"))
    got = await box.fetch_new(cursor, limit=10)
    assert [parse(f.raw).subject for f in got] == ["first", "second"]
    assert [f.uid for f in got] == [1, 2] and not any(f.cut for f in got)
    cursor.take(got)
    assert await box.fetch_new(cursor, limit=10) == []  # `3:*` would answer UID 2 again: it is filtered out
    await dovecot.append(user, password, message("third"))
    again = await box.fetch_new(cursor, limit=10)
    assert [parse(f.raw).subject for f in again] == ["third"]


async def test_the_folder_setting_reads_another_folder(dovecot: Dovecot) -> None:
    user, password = dovecot.new_user()
    await dovecot.append(user, password, message("in the inbox"))
    await dovecot.append(user, password, message("filed by a rule"), folder="Warroom")
    got = await mailbox(dovecot, user, password, "Warroom").fetch_new(Cursor(), limit=10)
    assert [parse(f.raw).subject for f in got] == ["filed by a rule"] and got[0].folder == "Warroom"


async def test_a_20_mb_message_is_read_up_to_the_limit_with_its_text(dovecot: Dovecot) -> None:
    user, password = dovecot.new_user()
    big = message("logs attached", "The logs you asked for are attached.", attachment=b"\x00\x01" * 10_000_000)
    assert len(big) > 20_000_000
    await dovecot.append(user, password, big)
    [fetched] = await mailbox(dovecot, user, password).fetch_new(Cursor(), limit=10)
    assert fetched.size == len(big) and len(fetched.raw) == 1_000_000 and fetched.cut
    read = parse(fetched.raw, size=fetched.size)
    assert read.text == "The logs you asked for are attached." and read.cut and read.size == len(big)


async def test_idle_wakes_the_wait_when_mail_arrives(dovecot: Dovecot) -> None:
    user, password = dovecot.new_user()
    box = mailbox(dovecot, user, password)
    await box.fetch_new(Cursor(), limit=10)
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(box.wait(60))
    await asyncio.sleep(0.5)  # let IDLE begin
    assert not waiting.done()
    await dovecot.append(user, password, message("wake up"))
    await asyncio.wait_for(waiting, timeout=30)  # far sooner than the 60 s it would otherwise wait
    assert loop.time() - started < 59


async def test_a_wrong_password_is_a_mail_error_that_does_not_repeat_it(
    dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    user, _password = dovecot.new_user()
    box = mailbox(dovecot, user, 'not-the-"password"-xyz')
    with caplog.at_level(logging.DEBUG), pytest.raises(MailError) as err:
        await box.fetch_new(Cursor(), limit=10)
    assert "refused the login" in str(err.value) and "password" not in str(err.value)
    assert "password" not in box.name and "LOGIN" in caplog.text  # aioimaplib logged the command…
    assert "not-the-" not in caplog.text  # …without the password, as typed or as quoted on the wire
