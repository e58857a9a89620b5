"""Bearer tokens of the HTTP API: made once, kept only as a hash, looked up on every request, revoked at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.errors import BadInput

PREFIX = "wr_"
API_USER = "api:"  # the id a token acts under: `api:<name>`, never a person on the chat platform
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_TOKEN = re.compile(r"^wr_[A-Za-z0-9_-]{43}$")  # the prefix and 32 random bytes, url-safe base64 without padding


class Scope(StrEnum):
    READ = "read"  # GET only
    WRITE = "write"  # GET, and POST: open incidents, run commands


@dataclass(frozen=True)
class ApiToken:
    """What is kept of a token: its name, what it may do, and when it was made, last used and revoked."""

    id: int
    name: str
    scope: Scope
    token_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def may(self, scope: Scope) -> bool:
        """Write tokens may do everything read tokens may."""
        return self.scope is Scope.WRITE or scope is Scope.READ


def new_token() -> str:
    """A fresh token: `wr_` and 32 bytes from the operating system's CSPRNG."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 in hex: enough for 256 random bits (there is nothing to guess, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(token: str) -> bool:
    """The shape of a token we issue; anything else is refused before the database is asked."""
    return bool(_TOKEN.match(token))


def same_hash(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


def api_user_id(name: str) -> str:
    """The id a token's commands and incidents are recorded under."""
    return API_USER + name


def is_api_user(user_id: str) -> bool:
    """True for a token's identity: nobody to invite into a room."""
    return user_id.startswith(API_USER)


def check_name(name: str) -> str:
    """A token's name: letters, digits, `.`, `_`, `-`; up to 80 characters."""
    if not _NAME.match(name):
        raise BadInput(
            f"'{name[:40]}' is not a token name: use letters, digits, '.', '_' or '-' (up to 80)",
            example="warroom token create pagerduty --scope write",
        )
    return name
