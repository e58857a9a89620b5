"""Every query on the reminder engine's firing path uses an index on PostgreSQL: no sequential scan of the tables
that grow with use (reminders, follow-ups, the outbox, the timeline), whatever is pending."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text

from adapters.memory import InMemoryChat, Room
from bot.chat import RoomRef
from bot.store import Database
from tests.harness import Harness

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
INCIDENTS = 100
PER_INCIDENT = 200  # 20,000 follow-ups, each with a reminder; 2 of each incident's are due
GROWING = ("reminders", "follow_ups", "outbox", "timeline")


class Sink(InMemoryChat):
    """Accepts posts to any room, like a workspace where every war room exists."""

    def _room(self, room: RoomRef) -> Room:
        return self.rooms.setdefault(room.id, Room(room, "", False))


SEED = [
    # incidents 1-100 own the follow-ups; 101-200 each hold a copy of one of their vendor tickets
    """INSERT INTO incidents (number, title, severity, state, playbook, timezone, opened_by_id, opened_by_name,
       opened_at, room_id, room_name, update_prompts)
       SELECT i, 'Site ' || i || ' down', 2, 'open', 'default', 'UTC', 'dana', 'dana', :t0, 'R' || i, 'inc-' || i, 0
       FROM generate_series(1, 2 * :incidents) AS i""",
    """INSERT INTO follow_ups (incident, number, vendor, known_vendor, ask, owner_id, owner_name, due, asked_at,
       first_due, ladder, timezone, remind_every_seconds, escalate_after, state, chases, unanswered, rung,
       escalations, kind, every_business_days, pushes, slips, reach_top_seconds, reach_top_business_days,
       lead_incident, lead_number)
       SELECT CASE WHEN k < :owned THEN k % :incidents + 1 ELSE k - :owned + :incidents + 1 END,
              CASE WHEN k < :owned THEN k / :incidents + 1 ELSE 1 END,
              'Northwind', true, 'a unit', 'lee', 'lee', :t0, :t0, :t0,
              '[{"name": "Sam", "role": "Rep", "contact": "sam@northwind.example"}]', 'UTC', 86400, 50, 'waiting',
              0, 0, 0, 0, 'vendor', 0, '[]', 0, 31536000, 0,
              CASE WHEN k < :owned THEN NULL ELSE k - :owned + 1 END,
              CASE WHEN k < :owned THEN NULL ELSE 1 END
       FROM generate_series(0, :owned + :incidents - 1) AS k""",
    """INSERT INTO reminders (incident, kind, subject, due_at, state, attempts, created_at)
       SELECT incident, 'follow_up', number, CASE WHEN number <= 2 THEN :t0 ELSE :t0 + interval '1 year' END,
              'pending', 0, :t0
       FROM follow_ups WHERE lead_incident IS NULL""",
    """INSERT INTO reminders (incident, kind, subject, due_at, state, attempts, created_at, fired_at)
       SELECT k % :incidents + 1, 'follow_up', 1, :t0 - interval '1 day', 'done', 1, :t0, :t0
       FROM generate_series(1, :owned) AS k""",
    """INSERT INTO timeline (incident, at, kind, text, data)
       SELECT k % :incidents + 1, :t0 - interval '1 day', 'note', 'a note', '{}'
       FROM generate_series(1, :owned) AS k""",
    """INSERT INTO outbox (key, incident, room_id, room_name, message, state, attempts, next_attempt_at, created_at,
       maybe_posted, form)
       SELECT 'old-' || k, k % :incidents + 1, 'R1', 'inc-1', '{}', 'sent', 1, :t0, :t0, false, 'full'
       FROM generate_series(1, :owned) AS k""",
]


async def test_the_claim_and_every_lookup_of_a_firing_use_an_index(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("query plans are PostgreSQL's")
    db = Database(database_url)
    await db.upgrade()
    values = {"t0": T0, "incidents": INCIDENTS, "owned": INCIDENTS * PER_INCIDENT}
    async with db.engine.begin() as conn:
        for statement in SEED:
            typed = statement.replace(":t0", "CAST(:t0 AS timestamptz)")
            for name in ("incidents", "owned"):
                typed = typed.replace(f":{name}", f"CAST(:{name} AS integer)")
            await conn.execute(text(typed), values)
    async with db.engine.connect() as conn:
        await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("ANALYZE")

    seen: dict[str, Any] = {}

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "INSERT", "DELETE", "WITH"):
            # an executemany's first row; a batched INSERT (insertmanyvalues) arrives with its rows already flat
            first = parameters[0] if many and parameters and isinstance(parameters[0], tuple | list) else None
            seen.setdefault(statement, first if first is not None else parameters)

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    h = Harness(db, chat=Sink(), start=T0 + timedelta(minutes=1))
    assert await h.engine.tick() == 2 * INCIDENTS
    # The posts a firing owes are handed to this replica's deliverer without a claim; the claim that takes over a
    # dead replica's posts is on the path too, once their lease runs out.
    async with db.transaction() as store:
        await store.claim_deliveries("another", T0 + timedelta(hours=1), timedelta(minutes=2), 25)
    event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    chased = [p for p in h.chat.posts if p.message.title.startswith("⏰")]
    assert len(chased) == 2 * INCIDENTS + INCIDENTS  # each lead's V1 chase is told in its copy's room too

    conn = await asyncpg.connect(database_url)
    plans: dict[str, str] = {}
    try:
        for statement, parameters in seen.items():
            if "pg_notify" in statement:
                continue
            rows = await conn.fetch("EXPLAIN " + statement, *(parameters or ()))
            plans[statement] = "\n".join(r[0] for r in rows)
    finally:
        await conn.close()
        await db.dispose()

    scans = {s: p for s, p in plans.items() if any(f"Seq Scan on {t}" in p for t in GROWING)}
    assert not scans, "\n\n".join(f"{s}\n{p}" for s, p in scans.items())
    claim = [p for s, p in plans.items() if s.startswith("UPDATE reminders SET lease_owner")]
    assert claim and all("ix_reminders_pending_due" in p for p in claim), claim
    lead = [p for s, p in plans.items() if re.search(r"follow_ups\.lead_incident (=|IN)", s)]  # one, or a batch's
    assert lead and all("ix_follow_ups_lead" in p for p in lead), lead
    outbox_claim = [p for s, p in plans.items() if s.startswith("UPDATE outbox SET attempts")]
    assert outbox_claim and all("ix_outbox_pending_next" in p for p in outbox_claim), outbox_claim
