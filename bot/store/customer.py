"""Storage of commitments, customer updates and bad news; mixed into Store, inside the caller's transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, update

from bot.customer import BadNews, Commitment, CommitmentState, CustomerUpdate, Trigger
from bot.domain import Person
from bot.errors import NotFound
from bot.store.base import StoreBase
from bot.store.tables import BadNewsRow, CommitmentRow, UpdateRow


def _commitment(r: CommitmentRow) -> Commitment:
    return Commitment(
        r.incident,
        r.number,
        r.promise,
        r.due,
        Person(r.author_id, r.author_name),
        r.made_at,
        CommitmentState(r.state),
        r.at_risk_at,
        r.closed_at,
        r.note,
    )


class CustomerStore(StoreBase):
    """Commitments, updates and bad news, mixed into bot.store.Store."""

    async def add_commitment(self, draft: Commitment) -> Commitment:
        c = replace(draft, number=await self.next_number(CommitmentRow, draft.incident))
        self.session.add(
            CommitmentRow(
                incident=c.incident,
                number=c.number,
                promise=c.promise,
                due=c.due,
                author_id=c.author.id,
                author_name=c.author.name,
                made_at=c.made_at,
                state=c.state.value,
            )
        )
        return c

    async def _commitment_row(self, incident: int, number: int) -> CommitmentRow:
        query = select(CommitmentRow).where(CommitmentRow.incident == incident, CommitmentRow.number == number)
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"INC-{incident} has no C{number}; `status` lists its commitments")
        return row

    async def commitment(self, incident: int, number: int) -> Commitment:
        return _commitment(await self._commitment_row(incident, number))

    async def save_commitment(self, c: Commitment) -> None:
        row = await self._commitment_row(c.incident, c.number)
        row.state, row.at_risk_at, row.closed_at, row.note = c.state.value, c.at_risk_at, c.closed_at, c.note

    async def commitments(self, incident: int) -> list[Commitment]:
        query = select(CommitmentRow).where(CommitmentRow.incident == incident).order_by(CommitmentRow.number)
        return [_commitment(r) for r in (await self.session.execute(query)).scalars()]

    async def add_update(
        self, incident: int, text: str, author: Person, at: datetime, next_due: datetime | None
    ) -> CustomerUpdate:
        number = await self.next_number(UpdateRow, incident)
        self.session.add(
            UpdateRow(
                incident=incident,
                number=number,
                text=text,
                author_id=author.id,
                author_name=author.name,
                at=at,
                next_due=next_due,
            )
        )
        return CustomerUpdate(incident, number, text, author, at, next_due)

    async def updates(self, incident: int) -> list[CustomerUpdate]:
        query = select(UpdateRow).where(UpdateRow.incident == incident).order_by(UpdateRow.number)
        return [
            CustomerUpdate(r.incident, r.number, r.text, Person(r.author_id, r.author_name), r.at, r.next_due)
            for r in (await self.session.execute(query)).scalars()
        ]

    async def add_bad_news(self, incident: int, trigger: Trigger, what: str, at: datetime) -> BadNews:
        row = BadNewsRow(incident=incident, trigger=trigger.value, what=what, at=at)
        self.session.add(row)
        await self.session.flush()
        return BadNews(incident, row.id, trigger, what, at)

    async def answer_bad_news(self, incident: int, update_number: int, at: datetime) -> int:
        """The customer was told: every bad news not yet answered is answered by this update."""
        query = (
            update(BadNewsRow)
            .where(BadNewsRow.incident == incident, BadNewsRow.answered_at.is_(None))
            .values(answered_at=at, update_number=update_number)
        )
        return int((await self.session.execute(query)).rowcount)  # type: ignore[attr-defined]

    async def bad_news(self, incident: int) -> list[BadNews]:
        query = select(BadNewsRow).where(BadNewsRow.incident == incident).order_by(BadNewsRow.at, BadNewsRow.id)
        return [
            BadNews(r.incident, r.id, Trigger(r.trigger), r.what, r.at, r.answered_at, r.update_number)
            for r in (await self.session.execute(query)).scalars()
        ]
