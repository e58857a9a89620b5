"""Storage of API tokens and of the Idempotency-Keys of API requests; mixed into Store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.errors import Conflict, NotFound
from bot.store.base import BOOKKEEPING, StoreBase
from bot.store.tables import ApiRequestRow, ApiTokenRow
from bot.tokens import ApiToken, Scope

KEY_TTL = timedelta(days=1)  # a retry comes within minutes; a day covers any client's backoff
USED_EVERY = timedelta(minutes=1)  # last used, to the minute: not a write on every request


@dataclass(frozen=True)
class SeenRequest:
    """An earlier request with the same Idempotency-Key: what it asked, and the incident once it made one."""

    fingerprint: str
    state: str  # pending | done | failed
    incident: int | None
    at: datetime  # when the first one came
    reply: str | None = None  # a command's reply, as JSON


def _token(r: ApiTokenRow) -> ApiToken:
    return ApiToken(r.id, r.name, Scope(r.scope), r.token_hash, r.created_at, r.last_used_at, r.revoked_at)


class TokenStore(StoreBase):
    """API tokens and request keys, mixed into bot.store.Store."""

    async def add_token(self, name: str, scope: Scope, token_hash: str, *, now: datetime) -> ApiToken:
        row = ApiTokenRow(name=name, scope=scope.value, token_hash=token_hash, created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise Conflict(
                f"there is already a token named {name}; names stay taken after a revoke: pick another"
            ) from None
        return _token(row)

    async def api_tokens(self) -> list[ApiToken]:
        return [
            _token(r) for r in (await self.session.execute(select(ApiTokenRow).order_by(ApiTokenRow.name))).scalars()
        ]

    async def token_by_hash(self, token_hash: str) -> ApiToken | None:
        """The token with this hash (revoked or not); an indexed lookup."""
        row = (await self.session.execute(select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash))).scalar()
        return _token(row) if row else None

    async def revoke_token(self, name: str, *, now: datetime) -> ApiToken:
        row = (await self.session.execute(select(ApiTokenRow).where(ApiTokenRow.name == name))).scalar()
        if row is None:
            raise NotFound(f"there is no token named {name}; `warroom token list` lists them")
        if row.revoked_at is None:
            row.revoked_at = now
        return _token(row)

    async def touch_token(self, token_id: int, *, now: datetime) -> None:
        """Note that a token was used, at most once a minute (bookkeeping: no change anyone is shown live)."""
        await self.session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == token_id)
            .where(or_(ApiTokenRow.last_used_at.is_(None), ApiTokenRow.last_used_at <= now - USED_EVERY))
            .values(last_used_at=now)
            .execution_options(**BOOKKEEPING)
        )

    async def claim_request(self, token_id: int, key: str, fingerprint: str, *, now: datetime) -> SeenRequest | None:
        """Record a request under its Idempotency-Key; None when it is the first, else what the earlier one was."""
        await self.session.execute(delete(ApiRequestRow).where(ApiRequestRow.created_at < now - KEY_TTL))
        try:
            async with self.session.begin_nested():
                self.session.add(
                    ApiRequestRow(token=token_id, key=key, fingerprint=fingerprint, state="pending", created_at=now)
                )
        except IntegrityError:
            row = await self.session.get(ApiRequestRow, (token_id, key))
            if row is None:  # expired and swept between the insert and this read: the next try is a first
                return SeenRequest(fingerprint, "pending", None, now)
            return SeenRequest(row.fingerprint, row.state, row.incident, row.created_at, row.reply)
        return None

    async def finish_request(
        self, token_id: int, key: str, incident: int | None, *, state: str, reply: str | None = None
    ) -> None:
        """What the request made (done: the incident, a command's reply), or that it broke midway and may have made
        something (failed)."""
        await self.session.execute(
            update(ApiRequestRow)
            .where(ApiRequestRow.token == token_id, ApiRequestRow.key == key)
            .values(state=state, incident=incident, reply=reply)
        )

    async def drop_request(self, token_id: int, key: str) -> None:
        """The request changed nothing: a retry with its key starts afresh."""
        await self.session.execute(
            delete(ApiRequestRow).where(ApiRequestRow.token == token_id, ApiRequestRow.key == key)
        )
