"""Correcting the record as the crisis turns: root-cause ownership moved, promises marked at risk or delivered late,
a closed incident reopened, a duplicate ask refused, a vendor name of several words asked to be quoted — on SQLite
and PostgreSQL, through the core as an adapter drives it."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.store import Database
from bot.store.tables import BadNewsRow, CommitmentRow, EventRow, FollowUpRow, OutboxRow, ReminderRow
from tests.harness import Harness

RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma'
ASK = 'vendor northwind "tracking number for the replacement unit" due:1d ref:RMA-4471'


async def snapshot(db: Database) -> tuple[int, ...]:
    """Rows of every table a correction could touch: a refusal leaves them all as they were."""
    async with db.transaction() as store:
        return tuple(
            [
                int((await store.session.execute(select(func.count()).select_from(t))).scalar_one())
                for t in (EventRow, FollowUpRow, ReminderRow, CommitmentRow, BadNewsRow, OutboxRow)
            ]
        )


async def refused(h: Harness, command: str) -> str:
    """Run a command that must be refused in one line and change nothing; return the reason."""
    before = await snapshot(h.db)
    reply = await h.run(command)
    assert not reply.ok, command
    title = reply.messages[0].title
    assert "\n" not in title, title
    assert await snapshot(h.db) == before, command
    return title


# --- one ticket, one follow-up -------------------------------------------------------------------------


async def test_a_second_ask_of_the_same_vendor_about_the_same_ref_is_refused_with_its_v(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok(ASK)
    reason = await refused(h, 'vendor nwd "RMA status" due:2d ref:rma-4471')  # an alias, the ref in other case
    assert reason.startswith(
        "V1 already waits on Northwind Distribution for tracking number for the replacement unit (RMA-4471): one"
        " ticket is one follow-up; move V1 instead"
    )
    assert "vendor heard V1" in reason
    # another ref, or the same ref once V1 is received, is a new follow-up
    assert (await h.ok('vendor northwind "a second unit" due:2d ref:RMA-4480')).startswith("INC-1: V2 asked")
    await h.ok("vendor done V1 tracking 1Z999")
    assert (await h.ok('vendor northwind "return label" due:2d ref:RMA-4471')).startswith("INC-1: V3 asked")


# --- a vendor name of several words ---------------------------------------------------------------------


async def test_an_unknown_vendor_followed_by_unquoted_words_is_asked_to_be_quoted_not_guessed(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Voice lines down at HQ" sev:2 customer:Globex')
    reason = await refused(h, "vendor fourth coffee voice gateway logs due:4h")
    assert reason.startswith(
        "no playbook knows a vendor 'fourth'; a name of several words goes in quotes — did you mean \"fourth coffee\"?"
    )
    assert 'e.g. `vendor "fourth coffee" "voice gateway logs" due:2d`' in reason
    # an alias of several words a playbook knows is offered by its name, still not guessed
    reason = await refused(h, 'vendor adventure works "credit note" due:1d')
    assert 'did you mean "adventure works" (Adventure Works Distribution)?' in reason
    # the root cause's owner the same way
    reason = await refused(h, "rca fourth coffee due:3bd")
    assert 'did you mean "fourth coffee"?' in reason and 'e.g. `rca "fourth coffee" due:2d`' in reason
    # quoted, or followed by a quoted ask, or known: taken as typed
    quoted = await h.ok('vendor "fourth coffee" voice gateway logs due:4h')
    assert "V1 asked fourth coffee for voice gateway logs" in quoted
    assert "V2 asked fourth for coffee machine" in await h.ok('vendor fourth "coffee machine" due:4h')
    known = await h.ok("vendor northwind tracking number due:1d")
    assert "V3 asked Northwind Distribution for tracking number" in known
