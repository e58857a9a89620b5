"""Storage the chat adapters need: idempotency keys, room addresses, open forms' options; mixed into Store."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.tables import FormDraftRow, IdempotencyRow, RoomAddressRow

_SWEEP_AFTER = timedelta(days=1)
FORM_TTL = timedelta(days=1)  # a form left open longer than this has to be opened again


class PlatformStore:
    """Idempotency keys and room addresses, mixed into bot.store.Store."""

    session: AsyncSession

    async def first_time(self, key: str, *, now: datetime, ttl: timedelta, sweep: bool = True) -> bool:
        """True the first time ``key`` is seen within ``ttl`` (across replicas); False for a repeat. ``sweep`` also
        drops every key past its day (callers on a hot path do it now and then)."""
        key = key[:200]
        # Expire this key only: a caller with a short ttl (a command, a minute) must not forget keys others keep
        # longer (Slack event ids, an hour). Anything older than a day goes, whatever its key.
        await self.session.execute(
            delete(IdempotencyRow).where(IdempotencyRow.key == key, IdempotencyRow.seen_at < now - ttl)
        )
        if sweep:
            await self.session.execute(
                delete(IdempotencyRow).where(IdempotencyRow.seen_at < now - max(ttl, _SWEEP_AFTER))
            )
        try:
            async with self.session.begin_nested():
                self.session.add(IdempotencyRow(key=key, seen_at=now))
        except IntegrityError:
            return False
        return True

    async def forget(self, key: str) -> None:
        """Drop ``key`` so that the next try counts as new (the first one changed nothing)."""
        await self.session.execute(delete(IdempotencyRow).where(IdempotencyRow.key == key[:200]))

    async def save_room_address(self, room_id: str, platform: str, data: dict[str, Any], *, now: datetime) -> None:
        row = await self.session.get(RoomAddressRow, room_id)
        payload = json.dumps(data, sort_keys=True)
        if row is None:
            self.session.add(RoomAddressRow(room_id=room_id, platform=platform, data=payload, updated_at=now))
        else:
            row.platform, row.data, row.updated_at = platform, payload, now

    async def room_address(self, room_id: str) -> dict[str, Any] | None:
        row = await self.session.get(RoomAddressRow, room_id)
        return json.loads(row.data) if row else None

    async def room_addresses(self, platform: str) -> dict[str, dict[str, Any]]:
        rows = (await self.session.execute(select(RoomAddressRow).where(RoomAddressRow.platform == platform))).scalars()
        return {r.room_id: json.loads(r.data) for r in rows}

    async def save_form_draft(self, key: str, payload: dict[str, Any], *, now: datetime) -> None:
        """Keep what a form was opened with (its channel, where to answer, the options typed) under ``key``."""
        await self.session.execute(delete(FormDraftRow).where(FormDraftRow.created_at < now - FORM_TTL))
        self.session.add(FormDraftRow(key=key, payload=json.dumps(payload), created_at=now))

    async def form_draft(self, key: str, *, now: datetime) -> dict[str, Any] | None:
        """What a form was opened with, or None once it is unknown or older than a day."""
        row = await self.session.get(FormDraftRow, key[:64])
        if row is None or row.created_at < now - FORM_TTL:
            return None
        data: dict[str, Any] = json.loads(row.payload)
        return data
