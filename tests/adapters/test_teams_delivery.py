"""Getting posts to Teams: within its rate limits, through throttling, and proactively after a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.teams.pacing import Backoff, Pacer, Retryable, retry_after, with_retries
from bot.chat import Message, RoomRef
from bot.errors import ChatError
from bot.followups import FollowUpState
from bot.store import Database
from tests.adapters.fake_teams import DANA, card_of, card_text
from tests.adapters.fake_teams_world import Sleeps, TeamsWorld, eventually, fast_backoff, microsoft, teams_world
from tests.conftest import START

OPEN = 'incident open "Router dead on arrival" sev:2'


class FakeTime:
    """A monotonic clock that moves only when a paced sender sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def opened(world: TeamsWorld) -> RoomRef:
    assert await world.say(OPEN) == 200
    room = await world.incident_room()
    return RoomRef(room, "inc-1-router-dead-on-arrival")


@pytest.mark.parametrize(("status", "header"), [(429, "3"), (412, None), (502, None), (504, None)])
async def test_throttled_and_failed_posts_are_retried(tmp_path: Path, status: int, header: str | None) -> None:
    sleeps = Sleeps()
    async with (
        microsoft(tmp_path) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}", backoff=fast_backoff(sleeps)) as world,
    ):
        room = await opened(world)
        fakes.connector.fail_next(status, times=2, retry_after=header, matching=f"POST /v3/conversations/{room.id}/")
        ref = await world.surface.chat.post(room, Message("ping after a hiccup"))

        assert [card_text(a) for a in fakes.connector.posts_in(room.id)].count("ping after a hiccup") == 1
        assert ref.id in fakes.connector.activities
        assert len(sleeps.asked) == 2
        if header:
            assert sleeps.asked == [3.0, 3.0]  # exactly what Retry-After asked for


async def test_a_post_that_keeps_failing_is_a_chat_error_so_the_reminder_is_retried(tmp_path: Path) -> None:
    async with microsoft(tmp_path) as fakes, teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world:
        room = await opened(world)
        fakes.connector.fail_next(502, times=5, matching=f"POST /v3/conversations/{room.id}/")
        with pytest.raises(ChatError, match="502"):
            await world.surface.chat.post(room, Message("never lands"))
        fakes.connector.fail_next(403, matching=f"POST /v3/conversations/{room.id}/")
        with pytest.raises(ChatError, match="403"):  # not worth retrying
            await world.surface.chat.post(room, Message("refused"))


async def test_posts_to_one_thread_are_paced(tmp_path: Path) -> None:
    time = FakeTime()
    pacer = Pacer(((1.0, 2),), clock=time, sleep=time.sleep)  # a tight window, so three posts must wait
    async with (
        microsoft(tmp_path) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}", pacer=pacer) as world,
    ):
        room = await opened(world)
        time.slept.clear()
        for n in range(3):
            await world.surface.chat.post(room, Message(f"update {n}"))
        assert [t for t in fakes.connector.texts_in(room.id) if t.startswith("update")] == [
            "update 0",
            "update 1",
            "update 2",
        ]
        assert sum(time.slept) >= 1.0 - 1e-9


async def test_the_pacer_keeps_within_seven_a_second_and_sixty_in_thirty_seconds() -> None:
    time = FakeTime()
    pacer = Pacer(clock=time, sleep=time.sleep)
    sent: list[float] = []
    for _ in range(130):
        await pacer.wait("19:room;messageid=1")
        sent.append(time.now)
    for i, t in enumerate(sent):
        assert sum(1 for s in sent[i:] if s < t + 1.0) <= 7
        assert sum(1 for s in sent[i:] if s < t + 30.0) <= 60
    assert sent[-1] - sent[0] < 70  # and no slower than the limits make it
    before = time.now
    await pacer.wait("another thread")  # other conversations are not held up
    assert time.now == before


async def test_concurrent_posts_to_one_thread_queue_up_in_order() -> None:
    pacer = Pacer(((0.05, 1),))
    order: list[int] = []

    async def post(n: int) -> None:
        await pacer.wait("thread")
        order.append(n)

    await asyncio.gather(*(post(n) for n in range(4)))
    assert order == [0, 1, 2, 3]


async def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert retry_after({"Retry-After": "12"}) == 12.0
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past: go now
    assert retry_after({}) is None
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Retryable(429, "throttled", retry_after=3600)
        return "ok"

    sleeps = Sleeps()
    with pytest.raises(ChatError, match="429"):  # an hour is longer than a reminder's lease: give up now
        await with_retries(flaky, backoff=Backoff(sleep=sleeps), what="post")
    assert sleeps.asked == []


async def test_an_overdue_follow_up_is_chased_proactively_after_a_restart(tmp_path: Path, database_url: str) -> None:
    async with microsoft(tmp_path) as fakes:
        async with teams_world(fakes, database_url) as world:
            room = (await opened(world)).id
            asked = await world.say('vendor "Contoso Logistics" "replacement router" due:2h', conversation=room)
            assert asked == 200
            assert "V1" in fakes.connector.texts_in(room)[-1]
            opened_at = world.clock.now()

        # The process is gone. A new one — new Database, adapter, surface and engine — on the same database.
        async with teams_world(fakes, database_url, start=opened_at + timedelta(hours=3)) as world:
            before = len(fakes.connector.posts_in(room))
            stop = asyncio.Event()
            engine = asyncio.create_task(world.app.engine.run_forever(stop, interval=timedelta(milliseconds=50)))
            try:
                chased = await eventually(
                    lambda: [a for a in fakes.connector.posts_in(room)[before:] if "is overdue" in card_text(a)],
                    what="the overdue reminder in the war-room thread",
                )
            finally:
                stop.set()
                await engine

            card = card_of(chased[0])
            assert card_text(chased[0]).startswith("⏰ V1 Contoso Logistics: replacement router is overdue")
            assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == [DANA["aadObjectId"]]
            received = next(
                a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"] if a["title"] == "Received"
            )
            assert await world.click(received["data"], conversation=room) == 200
            async with world.app.db.transaction() as store:
                assert (await store.follow_up(1, 1)).state is FollowUpState.RECEIVED


async def test_where_to_post_is_readable_while_the_reminder_engine_holds_a_write_transaction(db: Database) -> None:
    async with db.transaction() as store:
        await store.save_room_address("19:c@thread.tacv2;messageid=1", "teams", {"kind": "thread"}, now=START)
    async with db.transaction() as firing:  # as the engine does while a reminder's handler posts
        await firing.save_room_address("elsewhere", "teams", {"kind": "conversation"}, now=START)
        await firing.session.flush()
        async with asyncio.timeout(10), db.read() as store:
            assert await store.room_address("19:c@thread.tacv2;messageid=1") == {"kind": "thread"}
            assert await store.room_address("elsewhere") is None  # not committed yet
