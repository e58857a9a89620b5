"""Databases made before storage moved into bot/store/ keep working: revision ids are unchanged."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory

from adapters.memory import Room
from bot.chat import RoomRef
from bot.store import Database
from bot.store.migrations import config
from tests.harness import Harness

DATA = Path(__file__).resolve().parent.parent / "data"


def test_revision_ids_are_the_ones_existing_databases_carry() -> None:
    script = ScriptDirectory.from_config(config())
    assert [r.revision for r in reversed(list(script.walk_revisions()))][:4] == ["0001", "0002", "0003", "0004"]


async def test_database_written_by_the_old_layout_opens_upgrades_and_takes_commands(tmp_path: Path) -> None:
    # warroom-0004.db was written by `warroom console` at revision 0004, when migrations lived in bot/migrations:
    # one incident with a vendor follow-up, a commitment, a customer update and pending reminders.
    copy = tmp_path / "old.db"
    shutil.copy(DATA / "warroom-0004.db", copy)
    db = Database(f"sqlite:///{copy}")
    try:
        await db.upgrade()
        assert await db.at_head()
        async with db.transaction() as store:
            incident = await store.get_incident(1)
            assert incident.title == "Router dead at DC-3" and incident.customer == "Acme Retail"
            assert [f.reference for f in await store.follow_ups(1)] == ["RMA-4471"]
            assert [u.text for u in await store.updates(1)] == ["told Acme the RMA is filed"]
            latest = await store.latest_event_at()
        assert latest is not None
        h = Harness(db, start=latest)
        assert incident.room_id is not None
        room = RoomRef(incident.room_id, incident.room_name or "")
        h.chat.rooms[room.id] = Room(room, "", False)  # the console's war room, as a restarted console has it
        assert (await h.ok("note INC-1 still nothing from the distributor", room=room)).startswith("INC-1: noted")
        assert await h.advance(timedelta(days=1)) > 0  # its pending reminders still fire
    finally:
        await db.dispose()


async def test_the_email_migration_builds_what_the_models_describe(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.store.tables import Base

    def diff(conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    async with db.engine.connect() as conn:
        found = await conn.run_sync(diff)
    mine = [d for d in found if any(t in str(d) for t in ("mail_out", "mail_in", "customer_contacts"))]
    assert mine == []
