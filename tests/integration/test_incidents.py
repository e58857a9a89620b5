"""Incident verbs end to end through the core, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from adapters.memory import InMemoryChat
from bot.chat import Capability, RoomRef, UserRef
from bot.errors import ChatError
from bot.render import plain_text
from bot.store import Database
from bot.store.tables import EventRow, IncidentRow
from tests.harness import LOBBY, Harness

OPEN_POS = 'open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" cost:40k/h'


async def count(db: Database, table: type[IncidentRow] | type[EventRow]) -> int:
    async with db.transaction() as store:
        return int((await store.session.execute(select(func.count()).select_from(table))).scalar_one())


async def test_open_creates_war_room_invites_playbook_responders_and_pins_kickoff(db: Database) -> None:
    h = Harness(db)
    reply = await h.ok(OPEN_POS)
    assert reply.startswith("Opened INC-1 in #inc-1-pos-registers-freeze-in-300-stores")
    room = h.chat.room_named("inc-1-pos-registers-freeze-in-300-stores")
    assert room.topic == "INC-1 sev 1: POS registers freeze in 300 stores — Acme Retail"
    members = {u.id for u in room.members}
    # interop-defect: the POS engineers, support, the account exec, and (sev 1) the exec sponsors
    assert {"dana", "pos-eng-oncall", "retail-support", "acct-exec", "vp-customer-success"} <= members
    kickoff = h.room_posts[0]
    assert kickoff.ref.id in room.pins
    assert kickoff.text.startswith("INC-1 · POS registers freeze in 300 stores")
    assert "commander @dana" in kickoff.text and "Kickoff checklist" in kickoff.text
    assert "Cost per hour: $40,000" in kickoff.text


async def test_open_without_high_stakes_leaves_exec_sponsor_out(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Router dead on arrival" sev:3 playbook:hardware-rma')
    members = {u.id for u in h.chat.room_named("inc-1-router-dead-on-arrival").members}
    assert "vp-customer-success" not in members and "logistics-desk" in members


async def test_open_invites_everyone_in_one_call(db: Database) -> None:
    calls: list[int] = []

    class CountingChat(InMemoryChat):
        async def invite(self, room: RoomRef, users: object) -> None:
            calls.append(len(users))  # type: ignore[arg-type]
            await super().invite(room, users)  # type: ignore[arg-type]

    h = Harness(db, chat=CountingChat())
    await h.ok(OPEN_POS)
    assert len(calls) == 1 and calls[0] >= 8


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("frobnicate now", "I don't know the verb 'frobnicate'"),
        ("open", "`open` needs a title"),
        ('open "Registers down" sev:9', "severity must be 1 (worst) to 4"),
        ('action "call the distributor" due:someday', "someday"),
        ('open "Registers down" playbook:nonsense', "no playbook 'nonsense'"),
        ("open " + "x" * 5000, "the limit is 200"),
        ('open "<!channel> registers down"', "cannot contain mentions"),
        ('open "registers down @here"', "cannot contain mentions"),
        ('open "Registers down" cost:lots', "as an amount"),
    ],
)
async def test_bad_input_gets_one_line_error_and_records_nothing(db: Database, command: str, reason: str) -> None:
    h = Harness(db)
    if command.startswith("action"):
        await h.ok('open "Registers down" sev:2')
    incidents, events, posts = await count(db, IncidentRow), await count(db, EventRow), len(h.chat.posts)
    reply = await h.run(command)
    assert not reply.ok
    [message] = reply.messages
    assert "\n" not in message.title and reason in message.title
    assert message.title.count("e.g.") == 1 or "no playbook" in message.title
    assert (await count(db, IncidentRow), await count(db, EventRow), len(h.chat.posts)) == (incidents, events, posts)


async def test_war_room_that_cannot_be_created_records_nothing(db: Database) -> None:
    h = Harness(db)
    h.chat.fail["open_room"] = ChatError("ratelimited")
    reply = await h.run(OPEN_POS)
    assert not reply.ok and "nothing was recorded, so just try again" in reply.messages[0].title
    assert await count(db, IncidentRow) == 0 and await count(db, EventRow) == 0
    await h.ok(OPEN_POS)  # the retry simply works
    assert await count(db, IncidentRow) == 1


async def test_responder_who_cannot_be_found_is_reported_in_the_room(db: Database) -> None:
    known = {u: UserRef(u.upper(), u) for u in ("dana", "csm-lead", "support-duty", "retail-support")}
    h = Harness(db, chat=InMemoryChat(directory=known))
    await h.ok(OPEN_POS)
    notice = h.room_posts[1].text
    assert notice.startswith("Some responders are not in the room yet")
    assert "@pos-eng-oncall (engineering" in notice
    assert {u.id for u in h.chat.room_named("inc-1-pos-registers-freeze-in-300-stores").members} == {
        "dana",
        "CSM-LEAD",
        "SUPPORT-DUTY",
        "RETAIL-SUPPORT",
    }


async def test_commands_in_war_room_imply_the_incident_and_elsewhere_need_its_number(db: Database) -> None:
    h = Harness(db)
    await h.ok(OPEN_POS)
    assert (await h.ok("note distributor confirmed the RMA")).startswith("INC-1: noted at Mon 23 Nov 2026 09:00 EST")
    elsewhere = await h.run("note hello", room=LOBBY)
    assert not elsewhere.ok and "this is not a war room" in elsewhere.messages[0].title
    status = await h.run("status INC-1", room=LOBBY)
    assert status.ok and status.messages[0].title.startswith("INC-1 · POS registers")
    missing = await h.run("status INC-99", room=LOBBY)
    assert not missing.ok and missing.messages[0].title == "there is no INC-99; nothing was recorded"


async def test_raising_severity_is_recorded_and_announced_as_bad_news(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow in some stores" sev:3')
    reply = await h.ok("sev 1 all 300 stores down now")
    post, prompt, sponsor = h.room_posts[-3:]
    assert post.message.tone == "bad_news"
    assert post.text.startswith("INC-1: Severity raised from 3 to 1: all 300 stores down now")
    assert prompt.text.startswith(
        "🚨 B1 · Bad news for the customer: the severity rose from 3 to 1 (all 300 stores down now)"
    )
    assert "all 300 stores" not in prompt.text[prompt.text.index("Draft: ") :]  # the reason is for the room
    assert sponsor.text.startswith("👔 INC-1: exec sponsor pulled in") and "Exec sponsor pulled in" in reply
    same = await h.run("sev 1")
    assert same.ok and "nothing changed" in same.messages[0].title


async def test_roles_invites_lessons_and_actions_are_numbered_and_timed_in_incident_zone(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Router dead on arrival" sev:2 playbook:hardware-rma')  # America/Chicago
    assert await h.ok("role comms @lee") == "INC-1: comms is now lee"
    assert h.room_posts[-1].message.mentions == (UserRef("lee", "lee"),)
    assert await h.ok("invite @sam @kim") == "INC-1: Invited sam, kim"
    assert await h.ok("lesson the partner has a single distributor") == "INC-1: lesson L1 recorded for the review"
    assert await h.ok("lesson nobody owned the RMA") == "INC-1: lesson L2 recorded for the review"
    action = await h.ok('action "qualify a second distributor" owner:@lee due:"tomorrow 09:00"')
    assert action == "INC-1: action A1: qualify a second distributor — owner lee, due Tue 24 Nov 2026 09:00 CST"
    async with db.transaction() as store:
        [item] = await store.actions(1)
    assert item.due == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


async def test_closed_incident_refuses_changes(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    await h.ok("resolve fixed")
    await h.ok("close")
    for command in ("note too late", "sev 1", "close", "resolve again", "set at-risk:2M", "update told them"):
        reply = await h.run(command)
        assert not reply.ok and "INC-1 is closed" in reply.messages[0].title, command
    # what the review still needs is taken after close, and the stored summary follows
    assert (await h.ok("lesson late")).endswith("the stored summary is updated (`warroom summary INC-1`)")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None and "L1: late" in stored[0]


async def test_state_moves_open_mitigated_resolved_reopened(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    await h.ok("mitigate stores on offline mode")
    await h.ok("resolve firmware rolled out")
    await h.ok("reopen freezing again in 12 stores")
    assert h.room_posts[-2].message.tone == "bad_news"
    assert h.room_posts[-1].text.startswith("🚨 B1 · Bad news for the customer: the fix did not hold")
    bad = await h.run("reopen")
    assert not bad.ok and "only a mitigated or resolved incident" in bad.messages[0].title
    listing = await h.ok("list")
    assert listing == "1 incident not closed"


async def test_close_posts_and_stores_the_lessons_learned_summary(db: Database) -> None:
    h = Harness(db)
    await h.ok(OPEN_POS)
    h.later(timedelta(minutes=30))
    await h.ok("sev 1 confirmed in every store")
    await h.ok("note POS 7.2 and terminal firmware 4.2 disagree on the handshake")
    await h.ok("lesson cost per hour made the urgency clear")
    await h.ok("action add cost per hour to the intake form owner:@lee")
    h.later(timedelta(hours=5, minutes=30))
    await h.ok("resolve firmware 4.2.1 rolled out")
    closed = await h.run("close")
    assert closed.ok and "posted in the war room, its details in the thread under it" in plain_text(closed.messages[0])
    head, details = h.room_posts[-2:]
    summary = head.text
    assert summary.startswith("Lessons learned · INC-1 · POS registers freeze in 300 stores")
    assert "Duration: 6h" in summary and "Cost of impact: $240,000 ($40,000/h over 6h of impact)" in summary
    assert details.thread == head.ref  # the rest continues in the head's thread
    assert (
        "L1: cost per hour made the urgency clear" in details.text
        and "A1: add cost per hour to the intake form — owner lee, no due date; open" in details.text
    )
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    markdown, data = stored
    assert markdown.startswith("# INC-1 — POS registers freeze in 300 stores")
    assert data["figures"]["time_to_resolve_minutes"] == 360.0 and data["cost_of_impact"] == "240000"
    assert [e["kind"] for e in data["timeline"]][:2] == ["opened", "room_opened"]


async def test_summary_finds_severity_that_rose_and_stakes_never_stated(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3')
    await h.ok("sev 1 every store down")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        _, data = await store.summary(1)  # type: ignore[misc]
    assert "Severity rose from 3 to 1 after opening: the stakes were not clear at the start." in data["findings"]
    assert any(f.startswith("No cost per hour or revenue at risk was stated") for f in data["findings"])


async def test_incidents_survive_a_restart(database_url: str) -> None:
    first = Database(database_url)
    await first.upgrade()
    h = Harness(first)
    await h.ok(OPEN_POS)
    await h.ok("note keep this")
    room = h.room
    await first.dispose()

    second = Database(database_url)
    h2 = Harness(second, chat=h.chat)
    assert (await h2.ok("list")) == "1 incident not closed"
    await h2.ok("lesson still here", room=room)
    async with second.transaction() as store:
        kinds = [e.kind.value for e in await store.timeline(1)]
    assert kinds.count("note") == 1 and "lesson" in kinds
    await second.dispose()


async def test_concurrent_lessons_get_distinct_numbers(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    replies = await asyncio.gather(*(h.run(f"lesson number {i}") for i in range(8)))
    assert all(r.ok for r in replies)
    async with db.transaction() as store:
        assert sorted(x.number for x in await store.lessons(1)) == list(range(1, 9))


async def test_platform_without_pins_still_opens(db: Database) -> None:
    class NoPins(InMemoryChat):
        capabilities = InMemoryChat.capabilities & ~Capability.PIN

    h = Harness(db, chat=NoPins())
    await h.ok(OPEN_POS)
    assert h.chat.room_named("inc-1-pos-registers-freeze-in-300-stores").pins == []


async def test_an_open_cut_short_after_its_room_exists_leaves_the_incident_in_that_room(db: Database) -> None:
    class DiesWhileStaffing(InMemoryChat):
        async def invite(self, room: RoomRef, users: object) -> None:
            raise RuntimeError("the replica died here")  # not a ChatError: nothing after this line ran

    h = Harness(db, chat=DiesWhileStaffing())
    reply = await h.run('open "Registers down" sev:2')
    assert not reply.ok and "part of it was recorded" in reply.messages[0].title
    room = h.chat.room_named("inc-1-registers-down").ref
    assert (await h.ok("note typed in the new channel", room=room)).startswith("INC-1: noted")
