"""Generated command lines through the service layer and every renderer: no crash, no change when refused, and no
mention, broadcast, link or terminal control that came from what someone typed. `bench/fuzz.py` runs far more."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings

from bot.chat import RoomRef
from bot.store import Database
from tests.fuzzing import SETUP, Rig, SqliteWatch, console_sessions


@pytest.fixture(scope="module")
def war_room(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RoomRef]:
    """A migrated SQLite file holding an incident with a follow-up, a promise and bad news: copied per example."""
    path = tmp_path_factory.mktemp("fuzz") / "war-room.db"

    async def prepare() -> RoomRef:
        db = Database(f"sqlite:///{path}")
        await db.upgrade()
        watch = SqliteWatch(str(path))
        try:
            rig = Rig(db, state=watch.rows)
            await rig.run(SETUP)
            assert rig.problems == [] and rig.accepted == len(SETUP)
            return rig.session.room
        finally:
            watch.close()
            await db.dispose()

    return path, asyncio.run(prepare())


async def _run(path: Path, room: RoomRef, lines: list[str]) -> list[str]:
    db = Database(f"sqlite:///{path}")
    watch = SqliteWatch(str(path))
    try:
        rig = Rig(db, state=watch.rows, room=room)
        await rig.run(lines)
        return rig.problems
    finally:
        watch.close()
        await db.dispose()


# Built inside the test rather than from function-scoped fixtures: every example gets its own copy of the
# database, its own chat and its own event loop, so no state leaks from one example to the next. 30 examples keep it
# to seconds in the suite (later examples are long sessions whose `/clock +` lines run the reminder engine for
# days); `bench/fuzz.py` runs a hundred thousand lines, seeded, when the grammar or a renderer changes.
@settings(max_examples=30, deadline=None, print_blob=True)
@given(lines=console_sessions())
def test_generated_commands_never_crash_change_nothing_when_refused_and_never_mention_anyone(
    war_room: tuple[Path, RoomRef], lines: list[str]
) -> None:
    template, room = war_room
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "war-room.db"
        shutil.copyfile(template, path)
        problems = asyncio.run(_run(path, room, lines))
    assert problems == []
