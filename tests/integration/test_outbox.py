"""Nothing lost, nothing twice: posts owed to rooms survive chat outages and go out once — SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from adapters.memory import InMemoryChat
from bot.chat import Message, MessageRef, RoomRef
from bot.errors import ChatError
from bot.outbox import Deliverer, backoff, message_from_json, message_to_json
from bot.reminders import Reminder
from bot.store import Database, Store
from tests.harness import Harness

RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma'


class FlakyChat(InMemoryChat):
    """A chat platform that can be down, or that stores a post and then loses the answer (a timeout, a 500)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.lose_answers = 0
        self.refused = 0

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        if self.down:
            self.refused += 1
            raise ChatError("Slack chat.postMessage failed: ClientConnectorError: cannot reach Slack")
        ref = await super().post(room, message, key=key, retry=retry, thread=thread)
        if self.lose_answers:
            self.lose_answers -= 1
            lost = ChatError("Slack chat.postMessage failed: HTTP 500")
            lost.unknown_outcome = True  # the platform took it; the answer never came back
            raise lost
        return ref


def overdue(n: int) -> str:
    return message_to_json(Message(f"⏰ V{n} is overdue"))


def chases(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith("⏰")]


async def test_a_two_hour_chat_outage_ends_in_one_catch_up_post_with_every_chase_once(db: Database) -> None:
    chat = FlakyChat()
    h = Harness(db, chat=chat)
    await h.ok(RMA)
    for n in range(6):
        await h.ok(f'vendor "Vendor {n}" "part {n}" due:{10 + n * 15}m')
    before = len(h.room_posts)
    chat.down = True
    await h.advance(timedelta(hours=2))
    assert chat.refused > 0 and len(h.room_posts) == before
    status = (await h.run("status")).messages[0]
    assert "for this room are waiting to be delivered" in "".join(
        str(p) for b in status.blocks for p in getattr(b, "parts", ())
    )
    chat.down = False
    await h.advance(timedelta(minutes=11))  # the ceiling of the backoff: every owed post is tried again by then
    [catch_up] = h.room_posts[before:]
    assert catch_up.text.startswith("⏪ Catching up:")
    for n in range(6):
        assert catch_up.text.count(f"⏰ V{n + 1} Vendor {n}: part {n} is overdue") == 1
    await h.warroom.desk.outbox.flush()  # what the engine posted is marked within a second; now here
    async with db.transaction() as store:
        assert await store.backlog() == (0, None)


async def test_a_post_whose_answer_was_lost_is_not_posted_twice(db: Database) -> None:
    chat = FlakyChat()
    h = Harness(db, chat=chat)
    await h.ok(RMA)
    await h.ok('vendor northwind "tracking number" due:1h')
    chat.lose_answers = 1  # the platform stores the chase, then the connection drops
    await h.advance(timedelta(days=1))
    await h.advance(timedelta(minutes=5))
    overdue = [t for t in chases(h) if "chase 1" in t]
    assert len(overdue) == 1


async def test_the_engine_never_gives_up_on_a_firing_that_keeps_failing(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('vendor northwind "tracking number" due:1h')
    real = h.engine.handlers["follow_up"]
    failures = {"left": 30}

    async def broken(store: Store, reminder: Reminder, now: object) -> None:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("the database hiccuped")
        await real(store, reminder, now)  # type: ignore[arg-type]

    h.engine.handlers = {**h.engine.handlers, "follow_up": broken}
    for _ in range(40):  # ~40 minutes of a broken firing: well past the old 20-attempt give-up
        await h.advance(timedelta(hours=2))
        if chases(h):
            break
    assert failures["left"] == 0 and len(chases(h)) >= 1


def test_backoff_doubles_up_to_ten_minutes_and_never_stops() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert backoff(50) == backoff(10_000) == timedelta(minutes=10)


async def test_a_post_made_just_before_its_replica_died_is_neither_lost_nor_repeated_in_a_catch_up(
    db: Database,
) -> None:
    chat = FlakyChat()
    h = Harness(db, chat=chat)
    await h.ok(RMA)
    now = h.clock.now()
    async with db.transaction() as store:
        rows = [
            await store.enqueue(
                h.room.id, h.room.name, message_to_json(Message(f"⏰ V{n} is overdue")), incident=1, now=now
            )
            for n in range(1, 7)
        ]
    dying = Deliverer(db, chat, h.clock, owner="dying")
    async with db.transaction() as store:  # V1 is claimed, posted, and its replica dies before recording it
        [first] = await store.claim_deliveries("dying", now, dying.lease, 1)
    await chat.post(h.room, message_from_json(first.message), key=first.key)
    chat.down = True  # the others fail while Slack is away (known failures: nothing was taken)
    h.later(timedelta(minutes=3))
    await h.warroom.desk.outbox.deliver()
    chat.down = False
    h.later(timedelta(minutes=11))
    await h.warroom.desk.outbox.deliver()
    texts = [p.text for p in h.room_posts]
    everything = "\n".join(texts)
    for n in range(1, 7):
        assert everything.count(f"⏰ V{n} is overdue") == 1, everything
    assert any(t.startswith("⏪ Catching up") for t in texts) and len(rows) == 6
    await h.warroom.desk.outbox.flush()
    async with db.transaction() as store:
        assert await store.backlog() == (0, None)


class Commits:
    """Counts the COMMITs the database is sent, and the statements, while it listens."""

    def __init__(self, db: Database) -> None:
        self.db, self.count, self.statements = db, 0, []

    def __enter__(self) -> Commits:
        event.listen(self.db.engine.sync_engine, "commit", self._commit)
        event.listen(self.db.engine.sync_engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.db.engine.sync_engine, "commit", self._commit)
        event.remove(self.db.engine.sync_engine, "before_cursor_execute", self._statement)

    def _commit(self, _conn: object) -> None:
        self.count += 1

    def _statement(self, _conn: object, _cursor: object, statement: str, *_: object) -> None:
        self.statements.append(statement)


async def sent(db: Database, row_id: int) -> bool:
    async with db.read() as store:
        row = await store.outbox_row(row_id)
    return row is not None and row.state == "sent"


async def test_a_post_owed_in_a_transaction_goes_out_without_a_claim_and_is_marked_with_the_next_write(
    db: Database,
) -> None:
    h = Harness(db)
    await h.ok(RMA)
    outbox, now = h.warroom.desk.outbox, h.clock.now()
    await outbox.deliver()
    await outbox.flush()
    async with db.transaction() as store:
        first = await outbox.owe(store, h.room.id, h.room.name, overdue(1), incident=1, now=now)
    with Commits(db) as commits:
        assert await outbox.deliver() == 1  # handed over by the commit: posted without a claim
    assert commits.count == 0 and chases(h) == ["⏰ V1 is overdue"]
    assert not await sent(db, first.id)  # posted; its mark waits for the next write (or a second at most)
    with Commits(db) as commits:
        async with db.transaction() as store:  # the next transaction that owes a post marks the first, in it
            second = await outbox.owe(store, h.room.id, h.room.name, overdue(2), incident=1, now=now)
    assert commits.count == 1 and await sent(db, first.id)
    assert not any("SELECT outbox.incident" in s for s in commits.statements)  # the mark names its incidents
    await outbox.deliver()
    with Commits(db) as commits:
        await outbox.flush()
    assert commits.count == 1 and await sent(db, second.id) and len(chases(h)) == 2


async def test_a_read_and_a_poll_that_finds_nothing_send_no_commit(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.warroom.desk.outbox.deliver()
    await h.warroom.desk.outbox.flush()
    with Commits(db) as commits:
        async with db.read() as store:
            assert await store.backlog() == (0, None)
        assert await h.warroom.desk.outbox.deliver() == 0
        assert await h.warroom.deliver() == 0
    assert commits.count == 0


async def test_a_post_owed_by_a_replica_that_died_is_taken_over_once_its_lease_runs_out(db: Database) -> None:
    chat = FlakyChat()
    h = Harness(db, chat=chat)
    await h.ok(RMA)
    now = h.clock.now()
    dying = Deliverer(db, chat, h.clock, owner="dying")
    async with db.transaction() as store:  # owed, never tried: its replica died right after the commit
        never = await dying.owe(store, h.room.id, h.room.name, overdue(1), incident=1, now=now)
        posted = await dying.owe(store, h.room.id, h.room.name, overdue(2), incident=1, now=now)
    dying._ready.pop(never.id)
    assert await dying.deliver() == 1  # V2 went out; the replica dies before marking it
    assert dying._flusher is not None
    dying._flusher.cancel()
    await h.warroom.desk.outbox.deliver()
    assert chases(h) == ["⏰ V2 is overdue"]  # still leased to the dead replica: nobody else posts it yet
    h.later(dying.lease + timedelta(seconds=1))
    await h.warroom.desk.outbox.deliver()
    await h.warroom.desk.outbox.flush()
    assert sorted(chases(h)) == ["⏰ V1 is overdue", "⏰ V2 is overdue"]  # V1 once; V2 looked up by its key
    assert await sent(db, never.id) and await sent(db, posted.id)
