"""The reminder engine under replicas: each reminder fires once, a dying replica loses nothing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from adapters.memory import InMemoryChat
from bot.chat import Message, MessageRef, RoomRef
from bot.domain import Person
from bot.followups import FollowUp
from bot.playbooks import LadderRung
from bot.reminders import ReminderEngine
from bot.store import Database
from bot.vendors import CHASE
from tests.conftest import START
from tests.harness import LOBBY, Harness


async def seed(db: Database, *, incidents: int, per_incident: int) -> InMemoryChat:
    """Open incidents through the core, then give each many follow-ups due right now."""
    h = Harness(db)
    for i in range(incidents):
        await h.ok(f'open "Site {i} down" sev:2', room=LOBBY)
    async with db.transaction() as store:
        for number in range(1, incidents + 1):
            for _ in range(per_incident):
                f = await store.add_follow_up(
                    FollowUp(
                        incident=number,
                        number=0,
                        vendor="Northwind",
                        known_vendor=True,
                        ask="a unit",
                        reference=None,
                        owner=Person("lee", "lee"),
                        due=START,
                        asked_at=START - timedelta(days=1),
                        ladder=(LadderRung("Sam", "Rep", "sam@northwind.example"),),
                        plan_b=None,
                        timezone="UTC",
                        business_hours=None,
                        remind_every=timedelta(days=1),
                        escalate_after=5,
                    )
                )
                await store.schedule(number, CHASE, f.number, START, now=START)
    return h.chat


def fired(chat: InMemoryChat) -> Counter[tuple[str, str]]:
    """(room, V<n>) of every chase posted, alone or inside a catch-up post after an outage."""
    seen: Counter[tuple[str, str]] = Counter()
    for p in chat.posts:
        if p.message.title.startswith("⏰"):
            seen[(p.ref.room.id, p.message.title.split()[1])] += 1
        elif p.message.title.startswith("⏪ Catching up"):
            for block in p.message.blocks:
                for item in getattr(block, "items", ()):
                    if "⏰ V" in item:
                        seen[(p.ref.room.id, item.split("⏰ ", 1)[1].split()[0])] += 1
    return seen


async def test_three_engines_racing_post_each_of_1000_reminders_exactly_once(database_url: str) -> None:
    # SQLite has one writer at a time, so the race there is smaller; PostgreSQL gets the full thousand.
    total = 1000 if database_url.startswith("postgresql") else 200
    seed_db = Database(database_url)
    await seed_db.upgrade()
    chat = await seed(seed_db, incidents=20, per_incident=total // 20)
    await seed_db.dispose()
    replicas = [Database(database_url) for _ in range(3)]
    harnesses = [Harness(db, chat=chat, start=START + timedelta(minutes=5)) for db in replicas]
    engines = [
        ReminderEngine(h.db, h.clock, h.warroom.reminder_handlers, batch=25, deliver=h.warroom.desk.outbox.deliver)
        for h in harnesses
    ]
    counts = await asyncio.gather(*(e.tick() for e in engines))
    posts = fired(chat)
    assert sum(counts) == total and len(posts) == total and set(posts.values()) == {1}
    if database_url.startswith("postgresql"):
        # SKIP LOCKED lets replicas claim side by side; SQLite's single writer may let one replica take all.
        assert sum(c > 0 for c in counts) >= 2, counts
    assert sum(await asyncio.gather(*(e.tick() for e in engines))) == 0
    for db in replicas:
        await db.dispose()


class StallingChat(InMemoryChat):
    """A replica's chat that hangs on its first post, so the replica can be killed mid-tick."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        self.stalled.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_replica_killed_mid_tick_loses_nothing(database_url: str) -> None:
    db = Database(database_url)
    await db.upgrade()
    chat = await seed(db, incidents=2, per_incident=25)
    doomed = Harness(db, chat=StallingChat(), start=START + timedelta(minutes=1))
    doomed.chat.rooms = chat.rooms
    dying = ReminderEngine(
        db, doomed.clock, doomed.warroom.reminder_handlers, batch=50, deliver=doomed.warroom.desk.outbox.deliver
    )
    task = asyncio.create_task(dying.tick())
    await doomed.chat.stalled.wait()  # it fired all 50 and is in the middle of posting what they decided
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    survivor = Harness(db, chat=chat, start=START + timedelta(minutes=1))
    assert await survivor.engine.tick() == 0  # every reminder fired once; the dead replica's deliveries are leased
    assert fired(chat) == Counter()
    survivor.clock.advance(timedelta(minutes=3))  # the lease runs out
    await survivor.engine.tick()
    posts = fired(chat)
    assert len(posts) == 50 and set(posts.values()) == {1}
    await db.dispose()


async def test_a_reminder_claimed_before_the_vendor_delivered_does_not_post(db: Database) -> None:
    chat = await seed(db, incidents=1, per_incident=2)
    h = Harness(db, chat=chat, start=START + timedelta(minutes=1))
    claimed = await h.engine.claim(h.clock.now())
    assert len(claimed) == 2
    await h.ok("vendor done V1 arrived", room=RoomRef(chat.room_named("inc-1-site-0-down").ref.id, "x"))
    assert [await h.engine.fire(r, h.clock.now()) for r in claimed] == [False, True]
    await h.warroom.desk.outbox.deliver()
    assert list(fired(chat)) == [(chat.room_named("inc-1-site-0-down").ref.id, "V2")]


async def test_a_tick_fires_only_what_is_due(db: Database) -> None:
    chat = await seed(db, incidents=1, per_incident=3)
    async with db.transaction() as store:
        await store.schedule(1, CHASE, 3, START + timedelta(hours=1), now=START)
    h = Harness(db, chat=chat, start=START + timedelta(minutes=1))
    assert await h.engine.tick() == 2
    assert await h.engine.next_due() == START + timedelta(hours=1)


async def test_the_engine_inside_serve_fires_on_its_own(db: Database) -> None:
    chat = await seed(db, incidents=1, per_incident=3)
    h = Harness(db, chat=chat, start=START + timedelta(minutes=1))
    stop = asyncio.Event()
    running = asyncio.create_task(h.engine.run_forever(stop, interval=timedelta(milliseconds=50)))
    try:
        for _ in range(200):  # wait on the condition, bounded
            if len(fired(chat)) == 3:
                break
            await asyncio.sleep(0.02)
        assert len(fired(chat)) == 3
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=5)
