"""What email adds to the lessons-learned summary: when each follow-up was first emailed and first answered, and
the findings only email can show (a vendor that sent nothing but out-of-office replies, an address that bounced)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.domain import EventKind, TimelineEvent
from bot.words import count


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 60, 1) if start and end and end >= start else None


def follow_up_figures(timeline: Sequence[TimelineEvent], follow_ups: list[dict[str, Any]]) -> None:
    """Add to each follow-up of the summary its first email, its first emailed answer, and the time between."""
    for f in follow_ups:
        number = int(f["ref"][1:])
        sent = [e.at for e in timeline if e.kind is EventKind.EMAIL_SENT and e.data.get("follow_up") == number]
        replies = [
            e.at
            for e in timeline
            if e.kind is EventKind.EMAIL_RECEIVED
            and e.data.get("follow_up") == number
            and e.data.get("mail") == "reply"
        ]
        first = sent[0] if sent else None
        reply = next((at for at in replies if first is None or at >= first), None)
        f["emails_sent"] = len(sent)
        f["first_email_at"] = first.isoformat() if first else None
        f["email_reply_at"] = reply.isoformat() if reply else None
        f["email_reply_minutes"] = _minutes(first, reply)


def email_findings(timeline: Sequence[TimelineEvent]) -> list[str]:
    """Vendors that answered only with robots, and addresses our email could not reach."""
    found: list[str] = []
    vendors: dict[str, dict[str, int]] = {}
    for e in timeline:
        vendor = e.data.get("vendor")
        if not vendor or e.kind not in (EventKind.EMAIL_SENT, EventKind.EMAIL_RECEIVED):
            continue
        counts = vendors.setdefault(str(vendor), {"sent": 0, "reply": 0, "auto_reply": 0, "bounce": 0})
        counts[str(e.data.get("mail"))] = counts.get(str(e.data.get("mail")), 0) + 1
    for vendor, n in vendors.items():
        if n["sent"] and n["auto_reply"] and not n["reply"]:
            robots = count(n["auto_reply"], "auto-reply")
            found.append(
                f"Only automatic replies came back from {vendor}: {count(n['sent'], 'email')}, {robots}, no answer."
            )
    for e in timeline:
        if e.kind is EventKind.EMAIL_RECEIVED and e.data.get("mail") == "bounce":
            whose = (
                f"V{e.data['follow_up']} {e.data.get('vendor')}" if e.data.get("follow_up") else "a customer contact"
            )
            for address in e.data.get("to") or ["an address"]:
                found.append(f"Email to {address} bounced ({whose}).")
    return found
