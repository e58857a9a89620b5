"""Storage of commitments, customer updates and bad news; mixed into Store, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, update

from bot.customer import BadNews, Commitment, CommitmentState, CustomerUpdate, Trigger
from bot.domain import Person
from bot.errors import NotFound
from bot.store.base import StoreBase
from bot.store.tables import BadNewsRow, CommitmentRow, UpdateRow
from bot.store.zoned import in_zone_of_now


def bad_news_value(r: BadNewsRow) -> BadNews:
    """A bad-news row as the domain value."""
    return BadNews(
        r.incident,
        r.number,
        Trigger(r.trigger),
        r.what,
        r.tell or "",  # never the war room's words in place of the customer's
        r.at,
        r.draft or "",
        r.repeats,
        r.answered_at,
        r.update_number,
        r.commitment,
        r.follow_up,
        r.moot_at,
    )


def update_value(r: UpdateRow) -> CustomerUpdate:
    """A customer-update row as the domain value."""
    return CustomerUpdate(r.incident, r.number, r.text, Person(r.author_id, r.author_name), r.at, r.next_due, r.exact)


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
        tuple(json.loads(r.needs or "[]")),
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
                needs=json.dumps(list(c.needs)),
            )
        )
        return c

    async def _commitment_row(self, incident: int, number: int) -> CommitmentRow:
        for loaded in self.commitment_rows.get(incident, ()):  # read with a batch of firings
            if loaded.number == number:
                return loaded
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
        row.promise, row.needs = c.promise, json.dumps(list(c.needs))

    async def commitments(self, incident: int) -> list[Commitment]:
        if incident in self.commitment_rows:  # read with a batch of firings, which holds the incident's lock
            return [_commitment(r) for r in self.commitment_rows[incident]]
        query = select(CommitmentRow).where(CommitmentRow.incident == incident).order_by(CommitmentRow.number)
        return [_commitment(r) for r in (await self.session.execute(query)).scalars()]

    async def add_update(
        self, incident: int, text: str, author: Person, at: datetime, next_due: datetime | None, *, exact: bool = False
    ) -> CustomerUpdate:
        """Record U<n>; ``exact`` when the text is exactly what the customer got (drafts may then quote it)."""
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
                exact=exact,
            )
        )
        return CustomerUpdate(incident, number, text, author, at, next_due, exact)

    async def updates(self, incident: int) -> list[CustomerUpdate]:
        query = select(UpdateRow).where(UpdateRow.incident == incident).order_by(UpdateRow.number)
        return [update_value(r) for r in (await self.session.execute(query)).scalars()]

    async def add_bad_news(self, news: BadNews) -> BadNews:
        """Record a slip as the next B<n> of the incident (callers hold the incident's row lock)."""
        news = replace(news, number=await self.next_number(BadNewsRow, news.incident))
        self.session.add(
            BadNewsRow(
                incident=news.incident,
                number=news.number,
                trigger=news.trigger.value,
                what=news.what,
                tell=news.tell,
                draft=news.draft,
                at=news.at,
                commitment=news.commitment,
                follow_up=news.follow_up,
            )
        )
        return news

    async def save_bad_news_draft(self, incident: int, number: int, tell: str, draft: str) -> None:
        """The customer's words for B<n>, composed once its number exists."""
        await self.session.execute(
            update(BadNewsRow)
            .where(BadNewsRow.incident == incident, BadNewsRow.number == number)
            .values(tell=tell, draft=draft)
        )

    async def make_moot(self, incident: int, numbers: Sequence[int], at: datetime) -> None:
        """These untold pieces of bad news have nothing left to tell (the promise they were about was kept)."""
        if numbers:
            await self.session.execute(
                update(BadNewsRow)
                .where(BadNewsRow.incident == incident, BadNewsRow.number.in_(list(numbers)))
                .where(BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None))
                .values(moot_at=at)
            )

    async def retell_bad_news(self, incident: int, numbers: Sequence[int], update_number: int, at: datetime) -> None:
        """An update that really says it replaces the one that was marked as telling these but did not."""
        if numbers:
            await self.session.execute(
                update(BadNewsRow)
                .where(BadNewsRow.incident == incident, BadNewsRow.number.in_(list(numbers)))
                .values(answered_at=at, update_number=update_number)
            )

    async def tell_bad_news(self, incident: int, numbers: Sequence[int], update_number: int, at: datetime) -> None:
        """The customer was told these: the update ``update_number`` answers them."""
        if numbers:
            await self.session.execute(
                update(BadNewsRow)
                .where(BadNewsRow.incident == incident, BadNewsRow.number.in_(list(numbers)))
                .where(BadNewsRow.answered_at.is_(None))
                .values(answered_at=at, update_number=update_number)
            )

    async def count_repeat(self, incident: int, numbers: Sequence[int]) -> None:
        """One more prompt went out for these untold pieces of bad news."""
        if numbers:
            await self.session.execute(
                update(BadNewsRow)
                .where(BadNewsRow.incident == incident, BadNewsRow.number.in_(list(numbers)))
                .values(repeats=BadNewsRow.repeats + 1)
            )

    async def bad_news(self, incident: int) -> list[BadNews]:
        query = select(BadNewsRow).where(BadNewsRow.incident == incident).order_by(BadNewsRow.number)
        shown = await in_zone_of_now(self.session, incident)  # `what` and `tell` name times: in the zone of now
        return [
            replace(b, what=shown(b.what), tell=shown(b.tell))
            for b in (bad_news_value(r) for r in (await self.session.execute(query)).scalars())
        ]
