"""The console as a new user tries it, with WARROOM_SMTP_URL and WARROOM_IMAP_URL pointing at real local servers:
aiosmtpd takes the chase and the customer update, a reply appended to a Dovecot mailbox comes back into the room."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from bot.app import console
from bot.clock import SimClock
from bot.config import Settings
from tests.conftest import PLAYBOOKS
from tests.mailservers import Dovecot, SmtpServer

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 09:00 in Chicago: Northwind's business hours


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = await SmtpServer.start()
    yield server
    await server.close()


def answer(sent: bytes, text: str, *, auto: bool = False) -> bytes:
    """Sam answering the email Warroom sent, from his own mail client."""
    original = message_from_bytes(sent, policy=policy.default)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = "Sam Ortiz <sam.ortiz@northwind.example>"
    msg["To"] = str(original["From"])
    msg["Subject"] = ("Automatic reply: " if auto else "Re: ") + str(original["Subject"])
    msg["Message-ID"] = f"<{'ooo' if auto else 'answer'}.1@northwind.example>"
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg["References"] = str(original["Message-ID"])
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    quoted = "\n".join(f"> {line}" for line in original.get_content().splitlines())
    msg.set_content(f"{text}\n\nOn Mon, Warroom wrote:\n{quoted}\n")
    return msg.as_bytes()


async def test_chase_by_email_and_the_reply_comes_back_while_an_out_of_office_does_not_stop_the_chase(
    tmp_path: Path, smtp: SmtpServer, dovecot: Dovecot
) -> None:
    user, password = dovecot.new_user()
    settings = Settings.from_env(
        {
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
            "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
            "WARROOM_TZ": "America/Chicago",
            "WARROOM_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "WARROOM_MAIL_FROM": "Warroom <warroom@acme.example>",
            "WARROOM_IMAP_URL": dovecot.url(user, password),
        }
    )
    out = io.StringIO()
    async with console(settings, out, SimClock(START), user="dana", echo=True) as (app, session):
        await session.run(
            [
                '/incident open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma',
                '/incident vendor northwind "tracking number" due:1h',
                "/clock +2h",
            ]
        )
        assert "[Send email]" in out.getvalue()
        await session.execute("/incident vendor email V1")
        [envelope] = smtp.messages
        assert envelope.rcpt_tos == ["sam.ortiz@northwind.example"]
        sent = envelope.original_content or b""
        assert "[INC-1 V1] tracking number" in str(message_from_bytes(sent, policy=policy.default)["Subject"])
        assert "V1 chase emailed to sam.ortiz@northwind.example" in out.getvalue()

        await dovecot.append(user, password, answer(sent, "I am out of the office until Thursday.", auto=True))
        await session.execute("/clock +1m")
        assert "an automatic reply from Sam Ortiz <sam.ortiz@northwind.example> — not an answer" in out.getvalue()
        async with app.db.read() as store:
            assert (await store.follow_up(1, 1)).heard_at is None
        before = out.getvalue().count("⏰ V1")
        await session.execute("/clock +1d")
        assert out.getvalue().count("⏰ V1") == before + 1  # the chase goes on

        await dovecot.append(user, password, answer(sent, "Tracking number 1Z999AA10123456784, ships today."))
        await session.execute("/clock +1m")
        text = out.getvalue()
        assert "Sam Ortiz <sam.ortiz@northwind.example> replied by email" in text
        assert "Tracking number 1Z999AA10123456784, ships today." in text
        async with app.db.read() as store:
            f = await store.follow_up(1, 1)
        assert f.heard_at is not None and f.state.value == "waiting"

        await session.execute("/incident set customer-contacts:it-ops@acme-retail.example")
        update = "We have escalated to the distributor's VP; next update Friday 12:00"
        await session.execute(f'/incident update send "{update}"')
        customer = smtp.messages[-1]
        assert customer.rcpt_tos == ["it-ops@acme-retail.example"]
        body = message_from_bytes(customer.original_content or b"", policy=policy.default).get_content()
        assert body.strip() == update
        async with app.db.read() as store:
            assert [u.text for u in await store.updates(1)] == [update]
        await session.execute("/outbox")
        assert "sent: to it-ops@acme-retail.example — [INC-1] Update: The disruption at Acme Retail since" in (
            out.getvalue()
        )

        # The customer answers with 20 MB of photos attached: the text comes back, the attachment is not read.
        update_mail = message_from_bytes(customer.original_content or b"", policy=policy.default)
        big = EmailMessage(policy=policy.SMTP)
        big["From"], big["To"] = "IT Ops <it-ops@acme-retail.example>", str(update_mail["From"])
        big["Subject"], big["In-Reply-To"] = "Re: " + str(update_mail["Subject"]), str(update_mail["Message-ID"])
        big.set_content("Thanks. Photos of the failed unit attached.")
        big.add_attachment(b"\xff\xd8" * 10_000_000, maintype="image", subtype="jpeg", filename="unit.jpg")
        await dovecot.append(user, password, big.as_bytes())
        await session.execute("/clock +1m")
        text = out.getvalue()
        assert "📨 INC-1: Acme Retail replied by email (IT Ops <it-ops@acme-retail.example>)" in text
        assert "Thanks. Photos of the failed unit attached." in text
        assert "MB message: only its beginning was read; attachments are not kept." in text


async def test_smtp_down_in_the_console_is_one_line_and_records_nothing(tmp_path: Path) -> None:
    from tests.mailservers import free_port

    settings = Settings.from_env(
        {
            "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
            "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
            "WARROOM_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
            "WARROOM_MAIL_FROM": "warroom@acme.example",
        }
    )
    out = io.StringIO()
    async with console(settings, out, SimClock(START), user="dana", echo=False) as (app, session):
        await session.run(
            [
                '/incident open "Router dead on arrival" sev:2 playbook:hardware-rma',
                '/incident vendor northwind "tracking number" due:1h',
                "/incident vendor email V1",
            ]
        )
        [line] = [x for x in out.getvalue().splitlines() if "could not send" in x]
        assert "cannot reach smtp://127.0.0.1:" in line and "Nothing was sent or recorded" in line
        async with app.db.read() as store:
            assert [e for e in await store.timeline(1) if e.kind.value == "email_sent"] == []
