"""What Warroom writes to a vendor or a customer, and who it is addressed to — words only, no sending."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from bot import render
from bot.domain import Incident
from bot.followups import EMAIL, FollowUp
from bot.mail.message import subject_line
from bot.mail.port import OutgoingMail
from bot.playbooks import LadderRung
from bot.store.tables import MailOutRow
from bot.vendors import escalation_draft
from bot.when import format_duration

MAX_REFERENCES = 10  # the References header keeps the thread's last ten messages


def address_of(rung: LadderRung | None) -> str | None:
    """The rung's email address, when its contact is one (a phone number or a name is not)."""
    if rung is None:
        return None
    contact = rung.contact.strip()
    return contact.lower() if EMAIL.match(contact) else None


def chase_subject(incident: Incident, f: FollowUp) -> str:
    """`[INC-1 V1] tracking number (RMA-4471)`: the tag a reply keeps, so it finds its way back."""
    return subject_line(f"[{incident.ref} {f.ref}] {f.ask}" + (f" ({f.reference})" if f.reference else ""))


def update_subject(incident: Incident, line: str) -> str:
    """The customer's subject (from the voice's `email_subject` template), tagged so replies find their incident."""
    return subject_line(f"[{incident.ref}] {line}")


def chase_draft(f: FollowUp, incident: Incident, now: datetime, *, signed: str) -> str:
    """The first rung's chase, written for the vendor to act on: a reminder before its due time, a chase after."""
    who = f.contact.name.split()[0] if f.contact and f.contact.name.strip() else "there"
    asked = f"Hi {who} — on {render.when(f.asked_at, incident)} we asked {f.vendor} for {f.ask}" + (
        f" ({f.reference})" if f.reference else ""
    )
    reach = f"A reply to this email reaches the whole team working on it. — {signed}"
    if now < f.due:  # sent ahead of its due time: a reminder, not a complaint that it has not come
        return (
            f"{asked}, due {render.when(f.due, incident)}, in {format_duration(f.due - now)}. A reminder: is it on "
            f"track for then? If not, tell us when it will come. {reach}"
        )
    late = f", {format_duration(now - f.due)} ago" if now > f.due else ""
    return (
        f"{asked}, due {render.when(f.due, incident)}{late}. We have not received it yet. Can you send it, or tell us "
        f"when it will come? {reach}"
    )


def vendor_text(f: FollowUp, incident: Incident, now: datetime, *, signed: str) -> str:
    """The drafted text `vendor email` sends: the escalation draft past the first rung, else the chase; signed by
    ``signed`` (bot.vendors.signature)."""
    if f.rung > 0:
        return escalation_draft(f, incident, f.ladder[f.rung - 1], now, signed=signed)
    return chase_draft(f, incident, now, signed=signed)


def thread(earlier: Sequence[MailOutRow]) -> tuple[str | None, tuple[str, ...]]:
    """In-Reply-To and References for the next message of a thread (the earlier ones, oldest first)."""
    if not earlier:
        return None, ()
    refs = json.loads(earlier[-1].refs or "[]") + [earlier[-1].message_id]
    return earlier[-1].message_id, tuple(dict.fromkeys(refs))[-MAX_REFERENCES:]


def outgoing(row: MailOutRow) -> OutgoingMail:
    """The row as the port sends it."""
    to = json.loads(row.recipients)
    return OutgoingMail(
        sender=row.sender,
        to=tuple(to["to"]),
        cc=tuple(to.get("cc") or ()),
        subject=row.subject,
        text=row.body,
        message_id=row.message_id,
        in_reply_to=row.in_reply_to,
        references=tuple(json.loads(row.refs or "[]")),
        automatic=row.automatic,
    )
