"""The customer's private page: what a link is, how its token is made and kept, and when it is live.

A link's token is 32 bytes from the operating system's CSPRNG (256 bits); only its SHA-256 is stored, so a copy of
the database opens no page. A link is live until it is revoked, and until LINK_DAYS after the incident closed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain import Person

LINK_DAYS = 30  # a link ends by itself this many days after the incident closed (a playbook's `share_days`)
MAX_QUESTION = 2_000  # characters of one question from the page
QUESTIONS_PER_HOUR = 5  # questions one link may send in an hour
HOUR = timedelta(hours=1)
MAX_TOKEN = 200  # longer "tokens" are not ours; they are still looked up (same work, same 404)


@dataclass(frozen=True)
class CustomerLink:
    """One link to the customer's page: who made it, where it was emailed, when it was last opened, ended."""

    id: int
    incident: int
    number: int
    created_at: datetime
    created_by: Person
    emailed_to: tuple[str, ...] = ()
    revoked_at: datetime | None = None
    last_opened_at: datetime | None = None
    opens: int = 0
    asked: tuple[datetime, ...] = ()  # the questions sent in the last hour (the rate limit)
    days: int = LINK_DAYS  # it ends this many days after its incident closed (the playbook's `share_days`)

    @property
    def ref(self) -> str:
        return f"link {self.number}"

    def ends_at(self, closed_at: datetime | None) -> datetime | None:
        """When the link ends by itself: ``days`` after its incident closed (None while it is not closed)."""
        return closed_at + timedelta(days=self.days) if closed_at is not None else None

    def live(self, closed_at: datetime | None, now: datetime) -> bool:
        """Not revoked, and not ``days`` past its incident's close."""
        if self.revoked_at is not None:
            return False
        ends = self.ends_at(closed_at)
        return ends is None or now < ends

    def questions_left(self, now: datetime) -> tuple[int, tuple[datetime, ...]]:
        """How many more questions the link may send now, and the times that still count."""
        recent = tuple(t for t in self.asked if now - t < HOUR)
        return QUESTIONS_PER_HOUR - len(recent), recent


def new_token() -> str:
    """A fresh page token: 32 random bytes, url-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 in hex: the stored form, and the key of the one lookup every page view makes."""
    return hashlib.sha256(token[:MAX_TOKEN].encode("utf-8", "replace")).hexdigest()


def page_url(public_url: str | None, token: str) -> str:
    """The link to send: on WARROOM_PUBLIC_URL when set, else this machine's dashboard address."""
    origin = (public_url or "http://127.0.0.1:8080").rstrip("/")
    return f"{origin}/c/{token}"
