"""Input that fuzzing found crashing the core, and text that must never act on the surface it is shown on."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import Database
from bot.store.tables import ResponderRow
from tests.harness import Harness


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
