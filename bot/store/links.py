"""Storage of the customer's page links (`share`); mixed into Store, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from bot.domain import Person
from bot.share import LINK_DAYS, CustomerLink
from bot.store.base import StoreBase
from bot.store.tables import CustomerLinkRow, IncidentRow


def _link(r: CustomerLinkRow) -> CustomerLink:
    return CustomerLink(
        id=r.id,
        incident=r.incident,
        number=r.number,
        created_at=r.created_at,
        created_by=Person(r.created_by_id, r.created_by_name),
        emailed_to=tuple(json.loads(r.emailed_to or "[]")),
        revoked_at=r.revoked_at,
        last_opened_at=r.last_opened_at,
        opens=r.opens,
        days=r.days,
        asked=tuple(datetime.fromisoformat(t) for t in json.loads(r.asked or "[]")),
    )


class LinkStore(StoreBase):
    """The customer's page links, mixed into bot.store.Store."""

    async def add_link(
        self, incident: int, token_hash: str, by: Person, *, now: datetime, days: int = LINK_DAYS
    ) -> CustomerLink:
        """A new link of the incident (callers hold the incident's row lock, which numbers it)."""
        query = select(func.coalesce(func.max(CustomerLinkRow.number), 0)).where(CustomerLinkRow.incident == incident)
        number = int((await self.session.execute(query)).scalar_one()) + 1
        row = CustomerLinkRow(
            incident=incident,
            number=number,
            token_hash=token_hash,
            created_at=now,
            created_by_id=by.id,
            created_by_name=by.name,
            emailed_to="[]",
            opens=0,
            days=days,
            asked="[]",
        )
        self.session.add(row)
        await self.session.flush()
        return _link(row)

    async def links(self, incident: int) -> list[CustomerLink]:
        query = select(CustomerLinkRow).where(CustomerLinkRow.incident == incident).order_by(CustomerLinkRow.number)
        return [_link(r) for r in (await self.session.execute(query)).scalars()]

    async def link_by_hash(self, token_hash: str) -> tuple[CustomerLink, datetime | None] | None:
        """The link whose token has this hash (revoked or not) and when its incident closed: one indexed query,
        whatever the token, so an unknown, a revoked and an ended link cost the same."""
        query = (
            select(CustomerLinkRow, IncidentRow.closed_at)
            .join(IncidentRow, IncidentRow.number == CustomerLinkRow.incident)
            .where(CustomerLinkRow.token_hash == token_hash)
        )
        found = (await self.session.execute(query)).first()
        return (_link(found[0]), found[1]) if found else None

    async def revoke_links(self, incident: int, number: int | None, *, now: datetime) -> list[CustomerLink]:
        """End link ``number`` of the incident (every live one when None); returns those it ended."""
        query = (
            update(CustomerLinkRow)
            .where(CustomerLinkRow.incident == incident, CustomerLinkRow.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(CustomerLinkRow.id)
        )
        if number is not None:
            query = query.where(CustomerLinkRow.number == number)
        ids = list((await self.session.execute(query)).scalars())
        return [link for link in await self.links(incident) if link.id in ids]

    async def link_emailed(self, link_id: int, to: Sequence[str]) -> None:
        await self.session.execute(
            update(CustomerLinkRow).where(CustomerLinkRow.id == link_id).values(emailed_to=json.dumps(list(to)))
        )

    async def link_opened(self, link_id: int, *, now: datetime) -> None:
        """The page was opened now (the time only: never who or from where)."""
        await self.session.execute(
            update(CustomerLinkRow)
            .where(CustomerLinkRow.id == link_id)
            .values(last_opened_at=now, opens=CustomerLinkRow.opens + 1)
        )

    async def link_asked(self, link_id: int, times: Sequence[datetime]) -> None:
        """The times of the questions asked from the link that still count against its rate limit."""
        await self.session.execute(
            update(CustomerLinkRow)
            .where(CustomerLinkRow.id == link_id)
            .values(asked=json.dumps([t.isoformat() for t in times]))
        )
