"""WARROOM_REPLICA: a replica restarted under the same name takes back at once what its predecessor had claimed and
never finished (a kill -9 leaves its leases in the database); a replica under another name waits for the leases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from adapters.memory import InMemoryChat
from adapters.web.webhooks import HttpWebhookPoster
from bot.actions import ACTION_DUE
from bot.app import App, running, take_back, webhook_worker
from bot.chat import Invocation, Message, RoomRef, UserRef
from bot.clock import SimClock
from bot.config import Settings
from bot.domain import Incident
from bot.store import Database
from bot.store.tables import OutboxRow, ReminderRow
from tests.conftest import PLAYBOOKS, START
from tests.harness import LOBBY
from tests.integration.test_serve import warroom_serve

DANA = UserRef("dana", "dana")
NEWS = "Router swapped at the Leeds store"
LEFT = timedelta(minutes=10)  # of the killed replica's lease on the reminder it claimed


@asynccontextmanager
async def replica(database_url: str, name: str | None, clock: SimClock, chat: InMemoryChat) -> AsyncIterator[App]:
    """One replica's process under ``name``, started as `serve` starts it, on the one chat platform; leaving the
    block without any shutdown is its kill -9 (nothing handed back)."""
    settings = Settings(database_url=database_url, playbooks_dir=PLAYBOOKS)
    async with running(settings, chat=chat, clock=clock, replica=name) as app:
        await take_back(app)
        yield app


async def war_room(app: App) -> Incident:
    reply = await app.warroom.handle(Invocation('open "Registers down" sev:2', DANA, LOBBY))
    assert reply.ok, reply.messages[0].title
    async with app.db.read() as store:
        (incident,) = await store.incidents()
    assert incident.room_id is not None
    return incident


async def war_room_of(app: App) -> Incident:
    async with app.db.read() as store:
        (incident,) = await store.incidents()
    return incident


def room_of(incident: Incident) -> RoomRef:
    assert incident.room_id is not None
    return RoomRef(incident.room_id, incident.room_name or incident.room_id)


async def due_and_leased_to(app: App, owner: str) -> int:
    """Reminders due now, not fired, and leased to ``owner``."""
    now = app.clock.now()
    async with app.db.read() as store:
        query = select(func.count()).where(
            ReminderRow.state == "pending", ReminderRow.due_at <= now, ReminderRow.lease_owner == owner
        )
        return int((await store.session.execute(query)).scalar_one())


async def owed_and_leased_to(app: App, owner: str) -> int:
    """Posts owed, not delivered, and leased to ``owner``."""
    async with app.db.read() as store:
        query = select(func.count()).where(OutboxRow.state == "pending", OutboxRow.lease_owner == owner)
        return int((await store.session.execute(query)).scalar_one())


async def r1_claims_reminders_and_dies(database_url: str, clock: SimClock, chat: InMemoryChat) -> int:
    """r1 claims what is due (its tick's claim: the action item's reminder among them) and is killed before firing
    any of it; returns how many it claimed."""
    async with replica(database_url, "r1", clock, chat) as app:
        incident = await war_room(app)
        reply = await app.warroom.handle(Invocation('action "swap the edge router" due:1h', DANA, room_of(incident)))
        assert reply.ok, reply.messages[0].title
        clock.advance(timedelta(hours=2))
        claimed = len(await app.engine.claim_by_incident(clock.now()))
        assert claimed >= 1 and await due_and_leased_to(app, "r1:reminders") == claimed
        return claimed


@pytest.mark.parametrize(("name", "takes_back"), [("r1", True), ("r2", False), (None, False)])
async def test_reminders_a_killed_replica_claimed_fire_at_once_under_its_name_only(
    database_url: str, name: str | None, takes_back: bool
) -> None:
    clock, chat = SimClock(START), InMemoryChat()
    claimed = await r1_claims_reminders_and_dies(database_url, clock, chat)
    async with replica(database_url, name, clock, chat) as app:  # the clock is not moved past the lease
        assert await app.engine.tick() == (claimed if takes_back else 0)
        assert await due_and_leased_to(app, "r1:reminders") == (0 if takes_back else claimed)
        reminded = [p.text for p in chat.posts_in(room_of(await war_room_of(app))) if "swap the edge router" in p.text]
        assert bool(reminded) is takes_back


@pytest.mark.parametrize(("name", "posted"), [("r1", True), ("r2", False)])
async def test_a_post_a_killed_replica_owed_goes_out_at_once_under_its_name_only(
    database_url: str, name: str, posted: bool
) -> None:
    clock, chat = SimClock(START), InMemoryChat()
    async with replica(database_url, "r1", clock, chat) as app:
        incident = await war_room(app)
        await app.warroom.desk.announce(incident, Message(NEWS))  # committed, born leased to r1; killed before posting
        assert NEWS not in [p.message.title for p in chat.posts_in(room_of(incident))]
        assert await owed_and_leased_to(app, "r1:outbox") >= 1
    async with replica(database_url, name, clock, chat) as app:
        await app.warroom.deliver()
        titles = [p.message.title for p in chat.posts_in(room_of(incident))]
        assert titles.count(NEWS) == (1 if posted else 0)
        if not posted:  # still owed, and still r1's until its lease runs out
            assert await owed_and_leased_to(app, "r1:outbox") >= 1


async def test_every_worker_of_a_named_replica_claims_under_a_name_derived_from_it(database_url: str) -> None:
    clock, chat = SimClock(START), InMemoryChat()
    async with replica(database_url, "pod-0", clock, chat) as app:
        poster = HttpWebhookPoster()
        try:
            hooks = await webhook_worker(app, poster, clock)
        finally:
            await poster.close()
        owners = [app.engine.owner, app.warroom.desk.outbox.owner, app.warroom.mail.owner, hooks.owner]
        assert owners == ["pod-0:reminders", "pod-0:outbox", "pod-0:mail", "pod-0:webhooks"]


async def test_a_replica_without_a_name_claims_under_a_new_one_each_start(database_url: str) -> None:
    clock, chat = SimClock(START), InMemoryChat()
    async with replica(database_url, None, clock, chat) as first, replica(database_url, None, clock, chat) as second:
        assert first.engine.owner != second.engine.owner
        assert first.warroom.desk.outbox.owner != second.warroom.desk.outbox.owner
        assert first.warroom.mail.owner != second.warroom.mail.owner


async def test_warroom_serve_under_the_name_of_a_killed_replica_fires_what_it_had_claimed(tmp_path: Path) -> None:
    """The real `warroom serve` (WARROOM_REPLICA=pod-0): a reminder its killed predecessor had claimed, with 10 minutes
    of lease left, fires as soon as it starts, and it says how many leases it took back."""
    url = f"sqlite:///{tmp_path / 'served.db'}"
    now = datetime.now(UTC)  # `serve` runs on the wall clock: the lease must still be running then
    async with replica(url, "pod-0", SimClock(now), InMemoryChat()) as app:
        incident = await war_room(app)
        reply = await app.warroom.handle(Invocation('action "swap the edge router" due:1h', DANA, room_of(incident)))
        assert reply.ok, reply.messages[0].title
        async with app.db.transaction() as store:  # due now, and claimed by the predecessor for 10 more minutes
            claimed = (
                update(ReminderRow)
                .where(ReminderRow.kind == ACTION_DUE)
                .values(due_at=now - timedelta(minutes=1), lease_owner="pod-0:reminders", lease_until=now + LEFT)
                .returning(ReminderRow.id)
            )
            (reminder,) = (await store.session.execute(claimed)).scalars().all()

    db = Database(url)

    async def fired() -> bool:
        async with db.read() as store:
            row = await store.session.get(ReminderRow, reminder)
            return row is not None and row.state != "pending"

    try:
        async with warroom_serve(tmp_path, {"WARROOM_REPLICA": "pod-0"}, patience=180) as served:
            await served.until(fired, "the reminder the killed replica had claimed to fire", within=60)
            assert "took back 1 item(s) this replica (pod-0) held before it restarted" in served.log
    finally:
        await db.dispose()
