"""A post the chat platform refuses is never resent unchanged, never lost silently, and the right person hears of it.

On SQLite and PostgreSQL, with a recording chat that refuses what a real platform would (too big, malformed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from adapters.memory import InMemoryChat, Posted
from bot.chat import Message, MessageRef, RoomRef
from bot.errors import ChatError
from bot.render import plain_text
from bot.store import Database
from bot.store.tables import OutboxRow
from tests.harness import Harness

OPEN = 'open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" cost:40k/h'


class RefusingChat(InMemoryChat):
    """Refuses every post ``refuse`` picks, as Slack refuses `msg_blocks_too_long` — and records what it refused."""

    def __init__(self, refuse: Callable[[Message], bool], *, limit: int | None = None) -> None:
        super().__init__(limit=limit)
        self.refuse = refuse
        self.refused: list[Message] = []

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        if self.refuse(message):
            self.refused.append(message)
            refused = ChatError("Slack chat.postMessage failed: msg_blocks_too_long")
            refused.refused = True
            raise refused
        return await super().post(room, message, key=key, retry=retry, thread=thread)


def short(message: Message) -> bool:
    return "(A short version:" in plain_text(message)


async def outbox(db: Database) -> list[OutboxRow]:
    from sqlalchemy import select

    async with db.read() as store:
        return list((await store.session.execute(select(OutboxRow).order_by(OutboxRow.id))).scalars())


async def test_a_refused_reminder_goes_once_in_short_and_the_next_one_is_still_scheduled(db: Database) -> None:
    chat = RefusingChat(lambda m: m.title.startswith("📣") and not short(m))
    h = Harness(db, chat=chat)
    await h.ok(OPEN)
    assert await h.advance(timedelta(hours=1)) >= 1  # sev 1: an update is due every hour
    assert len(chat.refused) == 1
    [sent] = [p for p in h.room_posts if p.text.startswith("📣")]
    assert short(sent.message) and "INC-1: customer update due" in sent.text and "msg_blocks_too_long" in sent.text
    assert "`status INC-1` shows where things stand" in sent.text

    await h.advance(timedelta(hours=3))  # the update clock still runs: a prompt every hour, each refused once
    prompts = [p for p in h.room_posts if p.text.startswith("📣")]
    assert len(prompts) == len(chat.refused) == 4 and all(short(p.message) for p in prompts)
    assert len({m.title for m in chat.refused}) == 4  # never the same payload twice
    async with db.read() as store:
        assert await store.pending_reminder(1, "update_due", 0) is not None
    await h.warroom.desk.outbox.flush()  # what the engine posted is marked within a second; now here
    assert [r.state for r in await outbox(db) if r.form == "short"] == ["sent"] * 4


async def test_a_post_refused_in_full_and_in_short_is_given_up_and_the_commander_told(db: Database) -> None:
    chat = RefusingChat(lambda m: m.title.startswith("⏰"))
    h = Harness(db, chat=chat)
    await h.ok(OPEN)
    await h.ok('vendor fabrikam "terminal firmware logs" due:1h')
    await h.advance(timedelta(hours=20))
    first_chase = [m for m in chat.refused if m.title.startswith("⏰ V1")][:2]
    assert len(first_chase) == 2 and not short(first_chase[0]) and short(first_chase[1])
    notices = [p for p in h.room_posts if p.text.startswith("⚠ I could not post")]
    assert notices and notices[0].message.mentions[0].id == "dana"  # the commander, who opened it
    assert "refused it in full and in a short version" in notices[0].text
    rows = await outbox(db)
    given_up = [r for r in rows if r.state == "refused"]
    assert given_up and all(r.form == "short" for r in given_up)
    refused_keys = [r.key for r in given_up]
    await h.advance(timedelta(hours=2))
    assert [r.key for r in await outbox(db) if r.state == "refused"][: len(refused_keys)] == refused_keys
    assert sum(1 for m in chat.refused if m == first_chase[0]) == 1  # never the identical payload twice
    async with db.read() as store:
        [follow_up] = await store.follow_ups(1)
    assert follow_up.chases >= 2  # the chase went on whatever its posts did


async def test_an_escalation_whose_post_is_refused_climbs_once_and_says_so_once(db: Database) -> None:
    chat = RefusingChat(lambda m: "escalat" in m.title.lower() and not short(m))
    h = Harness(db, chat=chat)
    await h.ok(OPEN)
    await h.ok('vendor fabrikam "terminal firmware logs" due:1h')
    await h.ok("vendor escalate V1 nothing for a day")
    async with db.read() as store:
        [follow_up] = await store.follow_ups(1)
    assert follow_up.rung == 1
    escalations = [p for p in h.room_posts if "escalat" in p.message.title.lower()]
    assert escalations and all(short(p.message) for p in escalations)
    assert len(chat.refused) == len(escalations)  # each refused once, then posted once in short
    assert len({m.title for m in chat.refused}) == len(chat.refused)


async def test_a_refused_kickoff_card_falls_back_and_the_opener_is_told_the_truth(db: Database) -> None:
    chat = RefusingChat(lambda m: m.title.startswith("INC-1 ·") and not short(m))
    h = Harness(db, chat=chat)
    reply = await h.run(OPEN)
    said = plain_text(reply.messages[0])
    assert reply.ok and said.startswith("Opened INC-1")
    assert "The kickoff card: the chat platform refused it in full" in said and "a short version is posted" in said
    [kickoff] = [p for p in h.room_posts if p.text.startswith("INC-1 ·")]
    assert short(kickoff.message) and kickoff.ref.id in h.chat.rooms[h.room.id].pins

    everything = RefusingChat(lambda m: m.title.startswith("INC-2 ·"))
    h2 = Harness(db, chat=everything)
    said = plain_text((await h2.run(OPEN.replace("POS", "Kiosks"))).messages[0])
    assert "The kickoff card: the chat platform refused it, and its short version" in said
    assert "The incident is recorded" in said


async def test_a_summary_too_big_for_one_message_continues_in_its_thread_with_nothing_dropped(db: Database) -> None:
    chat = InMemoryChat(limit=4000)
    h = Harness(db, chat=chat)
    await h.ok(OPEN)
    lessons = [f"lesson {n}: " + "the distributor was a single point of failure " * 6 for n in range(40)]
    for text in lessons:
        await h.ok(f'lesson "{text}"')
    for n in range(40):
        await h.ok(f'action "action {n}: add a second distributor for the region {n}" owner:@lee')
    await h.ok("resolve fixed")
    reply = await h.run("close")
    assert "its details in the thread under it" in plain_text(reply.messages[0])
    head, *thread = [p for p in h.room_posts if p.text.startswith("Lessons learned")]
    assert head.thread is None and len(thread) > 1 and all(p.thread == head.ref for p in thread)
    assert all(len(p.text) <= 4000 for p in [head, *thread])
    posted = "\n".join(p.text for p in thread)
    for text in lessons:
        assert text.strip() in posted
    assert all(f"A{n + 1}: action {n}: add a second distributor" in posted for n in range(40))


async def test_the_closer_is_told_when_the_summary_is_refused(db: Database) -> None:
    chat = RefusingChat(lambda m: m.title.startswith("Lessons learned"))
    h = Harness(db, chat=chat)
    await h.ok(OPEN)
    await h.ok("resolve fixed")
    reply = await h.run("close")
    said = plain_text(reply.messages[0])
    assert reply.ok and "is posted" not in said
    assert "The lessons-learned summary is stored, but in the war room the chat platform refused it" in said
    assert "warroom summary INC-1" in said
    notices: list[Posted] = [p for p in h.room_posts if p.text.startswith("⚠ I could not post")]
    assert len(notices) == 2  # the head and its thread reply, each given up on and said once
    assert "`warroom summary INC-1`" in notices[0].text
