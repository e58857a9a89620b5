"""Input that fuzzing found crashing the core, and text that must never act on the surface it is shown on."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.store import Database
from bot.store.tables import ResponderRow
from bot.summary import build_summary, to_markdown, to_message
from tests.harness import Harness
from tests.integration.test_cli import warroom


async def invited_handles(db: Database) -> list[str]:
    async with db.transaction() as store:
        rows = (await store.session.execute(select(ResponderRow).where(ResponderRow.team == "invited"))).scalars()
        return [r.handle for r in rows]


async def test_inviting_the_same_person_twice_invites_them_once(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    assert await h.ok("invite @lee @sam @lee") == "INC-1: Invited lee, sam"
    assert await h.ok("invite @kim @Kim") == "INC-1: Invited kim"
    assert await invited_handles(db) == ["@lee", "@sam", "@kim"]


@pytest.mark.parametrize(
    "command",
    [
        "status INC-99999999999999999999",
        "outcome INC-2147483648 the renewal was lost",
        "vendor heard V99999999999999999999 ships friday",
        "commit kept C3000000000",
        'commit "unit on site" due:1d needs:V99999999999',
        "update told them tells:B99999999999",
    ],
)
async def test_a_number_past_any_database_column_is_bad_input(db: Database, command: str) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    reply = await h.run(command)
    assert not reply.ok
    assert "numbers stop at 999,999,999" in reply.messages[0].title


def test_summary_export_of_a_number_past_any_column_is_one_line(tmp_path: Path) -> None:
    result = warroom("summary", "INC-99999999999999999999", env={"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"})
    assert result.returncode == 2
    assert result.stderr.startswith("warroom: there is no INC-99999999999999999999")
    assert "Traceback" not in result.stderr


async def test_the_largest_cost_the_parser_takes_closes_with_its_exact_cost(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 cost:1000000000000/h')  # the parser's cap: 10^12 an hour
    h.later(timedelta(days=300, seconds=1))
    await h.ok("resolve")
    assert (await h.ok("close")).startswith("INC-1 closed")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    assert stored[1]["cost_of_impact"] == str(10**12 * 300 * 24 + 277_777_778)  # one second is $277,777,777.78


async def test_a_cost_past_decimal_precision_still_summarises(db: Database) -> None:
    # Rows written before amounts were capped can hold any amount on SQLite; the summary must still come out.
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    h.later(timedelta(hours=1, minutes=30))
    await h.ok("resolve")
    huge = Decimal("99999999999999999999999999999e6")  # `cost:99999999999999999999999999999m/h`
    async with db.transaction() as store:
        incident = replace(await store.get_incident(1), cost_per_hour=huge)
        data = await build_summary(store, incident, {})
    assert data["cost_of_impact"] == "149999999999999999999999999998500000"  # 1.5 × 99…9 million, to the unit
    assert "- **Cost of impact:** $149,999,999,999,999,999,999,999,999,998,500,000 (" in to_markdown(data)
    assert to_message(data).title == "Lessons learned · INC-1 · Registers down"
