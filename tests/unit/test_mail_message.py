"""Reading and writing email with the standard library: what is kept of a message, and what is sent."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from bot.config import ConfigError, MailServer, Settings
from bot.mail.message import MailKind, build, cut, html_to_text, parse, reply_bytes, trim_reply
from bot.mail.port import OutgoingMail

AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
SENT = OutgoingMail(
    sender="Warroom <warroom@acme.example>",
    to=("sam@northwind.example",),
    cc=(),
    subject="[INC-3 V2] tracking number (RMA-1)",
    text="Hi Sam — can you send it?",
    message_id="<1.warroom.inc3@acme.example>",
    automatic=True,
)


def test_a_built_message_carries_its_threading_headers_and_marks_an_automatic_send() -> None:
    msg = message_from_bytes(build(SENT, date=AT).as_bytes(), policy=policy.default)
    assert msg["Message-ID"] == SENT.message_id and msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"] == "Mon, 23 Nov 2026 15:00:00 +0000" and msg.get_content_type() == "text/plain"


def test_a_header_injection_in_a_subject_cannot_add_a_header() -> None:
    evil = OutgoingMail(**{**SENT.__dict__, "subject": "hi\r\nBcc: everyone@example.com"})
    with pytest.raises(ValueError):
        build(evil, date=AT)


def test_a_reply_is_read_with_its_thread_its_tag_and_its_new_text_only() -> None:
    raw = reply_bytes(SENT, sender="Sam Ortiz <Sam@Northwind.example>", text="Ships Friday.\n\n-- \nSam", date=AT)
    read = parse(raw)
    assert read.kind is MailKind.REPLY and read.sender == "sam@northwind.example" and read.sender_name == "Sam Ortiz"
    assert read.in_reply_to == (SENT.message_id,) and read.tag == (3, 2) and read.text == "Ships Friday."
    assert read.thread_ids == (SENT.message_id,)


def test_outlook_quotes_are_trimmed_too() -> None:
    text = "Shipped.\n\nFrom: Warroom <warroom@acme.example>\nSent: Monday\nTo: Sam\n\nHi Sam"
    assert trim_reply(text) == "Shipped."
    assert trim_reply("Yes.\n\n-----Original Message-----\nFrom: x") == "Yes."


def test_html_is_reduced_to_the_text_people_see() -> None:
    html = "<style>x{}</style><p>Ship&nbsp;date: <i>Friday</i></p><img src='http://x/t.png'><p>Sam</p>"
    assert html_to_text(html) == "Ship date: Friday\n\nSam"


def test_a_long_text_is_cut_and_controls_are_dropped() -> None:
    assert cut("a\x1b[31mb\x07" + "x" * 2000, 10) == "abxxxxxxx…"


def test_a_report_that_is_no_proper_dsn_is_still_a_bounce_when_a_mailer_daemon_sends_it() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example\r\nSubject: Undeliverable: [INC-3 V2] tracking\r\n\r\n"
        b"Delivery has failed. Original message id <1.warroom.inc3@acme.example>\r\n"
    )
    read = parse(raw)
    assert read.kind is MailKind.BOUNCE and read.reported == (SENT.message_id,)


def test_mail_settings_are_read_and_never_show_a_password() -> None:
    s = Settings.from_env(
        {
            "WARROOM_SMTP_URL": "smtps://bot%40acme.example:pa%3Ass@mail.acme.example",
            "WARROOM_IMAP_URL": ("imaps://bot:pw-123@imap.acme.example/Warroom%20replies"),
        }
    )
    assert (
        s.smtp is not None and s.smtp.password == "pa:ss" and s.smtp.port == 465 and s.mail_from == "bot@acme.example"
    )
    assert s.imap is not None and s.imap.folder == "Warroom replies" and s.imap.port == 993
    shown = str(s.describe()) + repr(s)
    assert "pa:ss" not in shown and "pa%3Ass" not in shown and "pw-123" not in shown


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WARROOM_SMTP_URL": "http://mail.example"}, "WARROOM_SMTP_URL must start smtp:// or smtps://"),
        ({"WARROOM_SMTP_URL": "smtp://mail.example"}, "set WARROOM_MAIL_FROM"),
        ({"WARROOM_MAIL_FROM": "not an address"}, "WARROOM_MAIL_FROM must be an email address"),
        ({"WARROOM_IMAP_URL": "imap://u:secret@imap.example"}, "use imaps:// for imap.example"),
        ({"WARROOM_SMTP_URL": "smtp://u:secret@mail.example:99999"}, "is not a URL"),
    ],
)
def test_bad_mail_settings_stop_the_start_with_a_reason_and_no_password(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        Settings.from_env(env)
    assert "secret" not in str(err.value)


def test_plain_imap_is_for_this_machine_only() -> None:
    assert MailServer.parse("X", "imap://u:p@127.0.0.1:1143/INBOX", ("imaps", "imap")).port == 1143
