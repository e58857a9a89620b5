"""Email out through a real SMTP server (aiosmtpd on port 0): STARTTLS, TLS, authentication, refusals, outages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from adapters.email.smtp import SmtpSender
from bot.config import MailServer
from bot.mail.port import MailError, OutgoingMail
from tests.mailservers import SmtpServer, free_port, self_signed

MAIL = OutgoingMail(
    sender="Warroom <warroom@acme.example>",
    to=("sam.ortiz@northwind.example",),
    cc=("lee@acme.example",),
    subject="[INC-1 V1] tracking number (RMA-4471)",
    text="Hi Sam — can you send the tracking number? — lee",
    message_id="<abc.warroom.inc1@acme.example>",
    in_reply_to="<earlier.warroom.inc1@acme.example>",
    references=("<first.warroom.inc1@acme.example>", "<earlier.warroom.inc1@acme.example>"),
)


def server(url: str) -> MailServer:
    return MailServer.parse("WARROOM_SMTP_URL", url, ("smtp", "smtps"))


@pytest.fixture
async def plain() -> AsyncIterator[SmtpServer]:
    s = await SmtpServer.start()
    yield s
    await s.close()


async def test_a_message_goes_out_with_its_recipients_and_threading_headers(plain: SmtpServer) -> None:
    await SmtpSender(server(f"smtp://127.0.0.1:{plain.port}")).send(MAIL)
    [envelope] = plain.messages
    assert envelope.mail_from == "warroom@acme.example"
    assert sorted(envelope.rcpt_tos) == ["lee@acme.example", "sam.ortiz@northwind.example"]
    msg = message_from_bytes(envelope.original_content or b"", policy=policy.default)
    assert msg["Subject"] == "[INC-1 V1] tracking number (RMA-4471)"
    assert msg["Message-ID"] == MAIL.message_id and msg["In-Reply-To"] == MAIL.in_reply_to
    assert str(msg["References"]).split() == list(MAIL.references)
    assert msg["Cc"] == "lee@acme.example" and "Auto-Submitted" not in msg
    assert msg.get_content().strip() == MAIL.text


async def test_starttls_with_authentication(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    s = await SmtpServer.start(starttls=server_ctx, password="s3cret:@/x")
    try:
        url = f"smtp://warroom%40acme.example:s3cret%3A%40%2Fx@127.0.0.1:{s.port}"
        sender = SmtpSender(server(url), tls_context=client_ctx)
        await sender.send(MAIL)
        assert len(s.messages) == 1 and s.inbox.logins == [(b"warroom@acme.example", b"s3cret:@/x")]
        assert "s3cret" not in sender.name
    finally:
        await s.close()


async def test_starttls_is_required_of_a_server_that_is_not_on_this_machine() -> None:
    assert server("smtp://mail.acme.example").starttls is True
    assert server("smtp://127.0.0.1:25").starttls is None  # this machine: only if it is offered
    assert server("smtps://mail.acme.example").starttls is False and server("smtps://x.example").port == 465


async def test_implicit_tls(tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    s = await SmtpServer.start(tls=server_ctx)
    try:
        await SmtpSender(server(f"smtps://127.0.0.1:{s.port}"), tls_context=client_ctx).send(MAIL)
        assert len(s.messages) == 1
    finally:
        await s.close()


async def test_a_wrong_password_is_refused_without_repeating_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    s = await SmtpServer.start(starttls=server_ctx, password="right")
    try:
        url = f"smtp://warroom:wrong-pass-xyz@127.0.0.1:{s.port}"
        with caplog.at_level(logging.DEBUG), pytest.raises(MailError) as err:
            await SmtpSender(server(url), tls_context=client_ctx).send(MAIL)
        assert "refused" in str(err.value) and not err.value.unknown_outcome
        assert "wrong-pass-xyz" not in str(err.value) and "wrong-pass-xyz" not in caplog.text
        assert s.messages == []
    finally:
        await s.close()


async def test_a_refused_recipient_and_a_server_that_is_down_are_mail_errors(plain: SmtpServer) -> None:
    plain.inbox.refuse = {"sam.ortiz@northwind.example", "lee@acme.example"}
    with pytest.raises(MailError, match="refused every recipient"):
        await SmtpSender(server(f"smtp://127.0.0.1:{plain.port}")).send(MAIL)
    with pytest.raises(MailError, match="cannot reach") as err:
        await SmtpSender(server(f"smtp://127.0.0.1:{free_port()}"), timeout=5).send(MAIL)
    assert not err.value.unknown_outcome
