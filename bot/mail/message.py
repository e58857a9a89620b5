"""Emails built and read with the standard library's `email` package (policy `default`), never by hand.

Reading keeps only what the war room needs: who wrote, what they answer (threading headers, the subject's tag),
whether a person wrote it at all (an auto-reply, a bounce), and the new text — HTML reduced to plain text, quoted
parts and signatures trimmed, control characters dropped, cut at a length a chat post can carry.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser, HeaderParser
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

from email_reply_parser import EmailReplyParser

from bot.mail.port import OutgoingMail
from bot.render import printable

MAX_TEXT = 1500  # characters of a reply shown in the war room
_TAG = re.compile(r"\[INC-([0-9]{1,9})(?:\s+V([0-9]{1,9}))?\]", re.IGNORECASE)
_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_AUTO_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|auto:|autoreply|abwesen|"
    r"réponse automatique|respuesta automática|risposta automatica|vacation|away from (the )?office)",
    re.IGNORECASE,
)
_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"(undeliver|delivery status notification \(failure\)|delivery (has )?failed|mail delivery failed|"
    r"returned mail|failure notice)",
    re.IGNORECASE,
)
# Outlook and others quote the message below a header block instead of `>` lines.
_QUOTE_HEADERS = re.compile(
    r"^(-{2,}\s*original message\s*-{2,}|_{10,}|from:\s.+\n(sent|date):\s)", re.IGNORECASE | re.MULTILINE
)


class MailKind(StrEnum):
    REPLY = "reply"  # a person wrote it
    AUTO_REPLY = "auto_reply"  # an out-of-office or another robot: shown, never an answer
    BOUNCE = "bounce"  # a delivery status notification: the address did not take our message


@dataclass(frozen=True)
class Received:
    """What Warroom keeps of a message that came in."""

    message_id: str | None
    sender: str  # the From address, lower-cased
    sender_name: str
    subject: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    kind: MailKind
    text: str  # the new text only, plain, trimmed and cut
    date: str | None = None  # the Date header, ISO 8601, as the sender's machine claimed it
    bounced: tuple[str, ...] = ()  # the addresses a bounce reports as failed
    bounce_reason: str | None = None
    reported: tuple[str, ...] = ()  # a bounce: the Message-IDs of our message it reports on
    size: int = 0
    cut: bool = False  # only the first part of a large message was read
    html_only: bool = False
    tag: tuple[int, int | None] | None = field(default=None)  # `[INC-n Vm]` in the subject

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every Message-ID this message says it answers or reports on, nearest first."""
        return tuple(dict.fromkeys((*self.reported, *self.in_reply_to, *reversed(self.references))))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Received:
        tag = data.get("tag")
        return cls(
            **{
                **data,
                "kind": MailKind(data["kind"]),
                "in_reply_to": tuple(data["in_reply_to"]),
                "references": tuple(data["references"]),
                "bounced": tuple(data.get("bounced") or ()),
                "reported": tuple(data.get("reported") or ()),
                "tag": (int(tag[0]), None if tag[1] is None else int(tag[1])) if tag else None,
            }
        )


# --- out -------------------------------------------------------------------------------------------------


def new_message_id(sender: str, incident: int) -> str:
    """A Message-ID nobody can guess, on the sending address's domain: a reply quoting it threads back to us."""
    domain = sender.rsplit("@", 1)[-1].rstrip(">").strip() or "warroom.invalid"
    return make_msgid(idstring=f"warroom.inc{incident}", domain=domain)


def build(mail: OutgoingMail, *, date: datetime) -> EmailMessage:
    """The RFC 5322 message for ``mail``: plain UTF-8 text with threading headers."""
    msg = EmailMessage(policy=policy.default)
    msg["From"] = mail.sender
    msg["To"] = ", ".join(mail.to)
    if mail.cc:
        msg["Cc"] = ", ".join(mail.cc)
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        msg["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        msg["References"] = " ".join(mail.references)
    if mail.automatic:
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office robots should not answer it
    msg.set_content(mail.text)
    return msg


def subject_line(text: str) -> str:
    """A subject from user text: one line, no control characters, a sensible length."""
    line = " ".join(printable(text).split())
    return line if len(line) <= 180 else line[:179] + "…"


# --- in --------------------------------------------------------------------------------------------------


def parse(raw: bytes, *, size: int | None = None) -> Received:
    """Read a message (perhaps only its first part, for a large one) into what Warroom keeps."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    sender_name, sender = _first_address(msg, "From")
    subject = subject_line(_header(msg, "Subject"))
    kind = _kind(msg, sender, subject)
    bounced: tuple[str, ...] = ()
    reason = None
    reported: tuple[str, ...] = ()
    if kind is MailKind.BOUNCE:
        bounced, reason, reported = _delivery_status(msg)
    text, html_only = _body_text(msg)
    new = text if kind is MailKind.BOUNCE else trim_reply(text)
    tag = _TAG.search(subject)
    return Received(
        message_id=_ids(_header(msg, "Message-ID"))[0] if _ids(_header(msg, "Message-ID")) else None,
        sender=sender,
        sender_name=sender_name,
        subject=subject,
        in_reply_to=_ids(_header(msg, "In-Reply-To")),
        references=_ids(_header(msg, "References"))[-20:],
        kind=kind,
        text=cut(new),
        date=_date(msg),
        bounced=bounced,
        bounce_reason=reason,
        reported=reported,
        size=size if size is not None else len(raw),
        cut=size is not None and size > len(raw),
        html_only=html_only,
        tag=(int(tag.group(1)), int(tag.group(2)) if tag.group(2) else None) if tag else None,
    )


def _header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header the parser keeps as a defect: treat it as absent
        return ""
    return str(value) if value is not None else ""


def _first_address(msg: Message, name: str) -> tuple[str, str]:
    pairs = getaddresses([_header(msg, name)])
    for display, address in pairs:
        if "@" in address:
            return subject_line(display), address.strip().lower()
    return "", ""


def _ids(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(0) for m in _MSGID.finditer(value)))


def _date(msg: Message) -> str | None:
    try:
        return parsedate_to_datetime(_header(msg, "Date")).isoformat()
    except (TypeError, ValueError, IndexError):
        return None


def _kind(msg: Message, sender: str, subject: str) -> MailKind:
    """A bounce (a delivery status report), an auto-reply (RFC 3834 and the headers robots add), or a person."""
    if msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "delivery-status":
        return MailKind.BOUNCE
    if _BOUNCE_SENDER.match(sender) and _BOUNCE_SUBJECT.search(subject):
        return MailKind.BOUNCE
    auto = _header(msg, "Auto-Submitted").strip().lower()
    precedence = _header(msg, "Precedence").strip().lower()
    if (
        (auto and auto != "no")
        or _header(msg, "X-Autoreply")
        or _header(msg, "X-Autorespond")
        or precedence in ("auto_reply", "bulk", "junk", "list")
        or _AUTO_SUBJECT.match(subject)
    ):
        return MailKind.AUTO_REPLY
    return MailKind.REPLY


def _delivery_status(msg: Message) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """The failed recipients of a DSN (RFC 3464), its reason, and the Message-IDs of the message it returns."""
    failed: list[str] = []
    reason = None
    reported: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload():
                if not isinstance(block, Message):
                    continue
                action = _header(block, "Action").strip().lower()
                recipient = _header(block, "Final-Recipient") or _header(block, "Original-Recipient")
                if recipient and action in ("failed", ""):
                    failed.append(recipient.split(";", 1)[-1].strip().lower())
                    reason = reason or _header(block, "Diagnostic-Code") or _header(block, "Status") or None
        elif kind in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner_msg = inner[0] if isinstance(inner, list) and inner else None
            if isinstance(inner_msg, Message):
                reported += _ids(_header(inner_msg, "Message-ID"))
        elif kind == "text/rfc822-headers":
            headers = HeaderParser(policy=policy.default).parsestr(_part_text(part))
            reported += _ids(_header(headers, "Message-ID"))
    if not reported:  # a bounce that is no proper report still quotes our Message-ID somewhere in its text
        reported += [i for i in _ids(_body_text(msg)[0]) if "warroom." in i]
    cleaned = " ".join((reason or "").split())
    return tuple(dict.fromkeys(a for a in failed if "@" in a)), cleaned[:300] or None, tuple(dict.fromkeys(reported))


def _part_text(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload(decode=True)
    except (LookupError, ValueError, AssertionError, KeyError):
        content = part.get_payload(decode=True)
    if isinstance(content, bytes):
        return content.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _body_text(msg: Message) -> tuple[str, bool]:
    """The message's text: its plain-text part, else its HTML reduced to text; (text, came from HTML only)."""
    plain = html = None
    for part in msg.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = _part_text(part)
        elif kind == "text/html" and html is None:
            html = _part_text(part)
    if plain is not None and plain.strip():
        return plain, False
    if html is not None:
        return html_to_text(html), True
    return plain or "", False


def trim_reply(text: str) -> str:
    """The new part of a reply: without the quoted message below it and without the signature."""
    text = text.replace("\r\n", "\n")
    if m := _QUOTE_HEADERS.search(text):
        text = text[: m.start()]
    return str(EmailReplyParser.parse_reply(text)).strip()


def cut(text: str, limit: int = MAX_TEXT) -> str:
    """Printable text, blank lines squeezed, cut at ``limit`` characters."""
    text = printable(text)
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _Text(HTMLParser):
    """HTML to text: the words people see, block elements as line breaks; scripts, styles and heads dropped."""

    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table"})
    _HIDDEN = frozenset({"script", "style", "head", "title", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quoted = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag == "blockquote":
            self.quoted += 1  # a quoted earlier message: not new text
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self.quoted = max(0, self.quoted - 1)
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden and not self.quoted:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """What an HTML email says, as plain text (nothing in it is followed: links and images are dropped)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_bytes(original: OutgoingMail, *, sender: str, text: str, auto: bool = False, date: datetime) -> bytes:
    """A reply to ``original`` as ``sender`` would send it (threading headers, `Re:`): the console's way to answer."""
    msg = EmailMessage(policy=policy.default)
    msg["From"] = sender
    msg["To"] = original.sender
    msg["Subject"] = ("Automatic reply: " if auto else "Re: ") + original.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["In-Reply-To"] = original.message_id
    msg["References"] = " ".join((*original.references, original.message_id))
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    quoted = "\n".join(f"> {line}" for line in original.text.splitlines())
    msg.set_content(f"{text}\n\nOn {format_datetime(date)}, {original.sender} wrote:\n{quoted}\n")
    return msg.as_bytes()
