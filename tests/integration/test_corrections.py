"""Correcting the record as the crisis turns: root-cause ownership moved, promises marked at risk or delivered late,
a closed incident reopened, a duplicate ask refused, a vendor name of several words asked to be quoted — on SQLite
and PostgreSQL, through the core as an adapter drives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.chat import Reply
from bot.domain import TimelineEvent
from bot.render import plain_text
from bot.store import Database
from bot.store.tables import BadNewsRow, CommitmentRow, EventRow, FollowUpRow, OutboxRow, ReminderRow
from tests.harness import Harness

RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma'
ASK = 'vendor northwind "tracking number for the replacement unit" due:1d ref:RMA-4471'


async def snapshot(db: Database) -> tuple[int, ...]:
    """Rows of every table a correction could touch: a refusal leaves them all as they were."""
    async with db.transaction() as store:
        return tuple(
            [
                int((await store.session.execute(select(func.count()).select_from(t))).scalar_one())
                for t in (EventRow, FollowUpRow, ReminderRow, CommitmentRow, BadNewsRow, OutboxRow)
            ]
        )


def plain(reply: Reply) -> str:
    return "\n".join(plain_text(m) for m in reply.messages)


async def timeline(db: Database, incident: int = 1) -> list[TimelineEvent]:
    async with db.transaction() as store:
        return await store.timeline(incident)


async def refused(h: Harness, command: str) -> str:
    """Run a command that must be refused in one line and change nothing; return the reason."""
    before = await snapshot(h.db)
    reply = await h.run(command)
    assert not reply.ok, command
    title = reply.messages[0].title
    assert "\n" not in title, title
    assert await snapshot(h.db) == before, command
    return title


# --- one ticket, one follow-up -------------------------------------------------------------------------


async def test_a_second_ask_of_the_same_vendor_about_the_same_ref_is_refused_with_its_v(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok(ASK)
    reason = await refused(h, 'vendor nwd "RMA status" due:2d ref:rma-4471')  # an alias, the ref in other case
    assert reason.startswith(
        "V1 already waits on Northwind Distribution for tracking number for the replacement unit (RMA-4471): one"
        " ticket is one follow-up; move V1 instead"
    )
    assert "vendor heard V1" in reason
    # another ref, or the same ref once V1 is received, is a new follow-up
    assert (await h.ok('vendor northwind "a second unit" due:2d ref:RMA-4480')).startswith("INC-1: V2 asked")
    await h.ok("vendor done V1 tracking 1Z999")
    assert (await h.ok('vendor northwind "return label" due:2d ref:RMA-4471')).startswith("INC-1: V3 asked")


# --- a vendor name of several words ---------------------------------------------------------------------


async def test_an_unknown_vendor_followed_by_unquoted_words_is_asked_to_be_quoted_not_guessed(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Voice lines down at HQ" sev:2 customer:Globex')
    reason = await refused(h, "vendor fourth coffee voice gateway logs due:4h")
    assert reason.startswith(
        "no playbook knows a vendor 'fourth'; a name of several words goes in quotes — did you mean \"fourth coffee\"?"
    )
    assert 'e.g. `vendor "fourth coffee" "voice gateway logs" due:2d`' in reason
    # an alias of several words a playbook knows is offered by its name, still not guessed
    reason = await refused(h, 'vendor adventure works "credit note" due:1d')
    assert 'did you mean "adventure works" (Adventure Works Distribution)?' in reason
    # the root cause's owner the same way
    reason = await refused(h, "rca fourth coffee due:3bd")
    assert 'did you mean "fourth coffee"?' in reason and 'e.g. `rca "fourth coffee" due:2d`' in reason
    # quoted, or followed by a quoted ask, or known: taken as typed
    quoted = await h.ok('vendor "fourth coffee" voice gateway logs due:4h')
    assert "V1 asked fourth coffee for voice gateway logs" in quoted
    assert "V2 asked fourth for coffee machine" in await h.ok('vendor fourth "coffee machine" due:4h')
    known = await h.ok("vendor northwind tracking number due:1d")
    assert "V3 asked Northwind Distribution for tracking number" in known


# --- promises: at risk by hand, delivered late ------------------------------------------------------------


def bad_news(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith("🚨")]


async def test_commit_at_risk_by_hand_is_bad_news_at_once_and_on_the_timeline(db: Database) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 14:00 UTC; Chicago for the hardware playbook
    await h.ok(RMA)
    await h.ok('commit "replacement unit on site" due:3d')
    reply = await h.run('commit at-risk C1 "parts delayed"')
    assert reply.ok and reply.messages[0].tone == "bad_news"
    assert reply.messages[0].title == (
        "INC-1: C1 at risk: replacement unit on site, due Thu 26 Nov 2026 08:00 CST (parts delayed); B1 prompts comms"
        " to tell the customer now"
    )
    [news] = bad_news(h)
    assert news.startswith(
        "🚨 B1 · Bad news for Acme Retail: our promise of replacement unit on site by Thu 26 Nov 2026 08:00 CST is at"
        " risk (parts delayed)"
    )
    assert "[Kept]  [Update sent]" in news
    draft = news[news.index("Draft: ") :]
    assert "parts delayed" not in draft  # the reason is the war room's; the customer hears the promise
    async with db.transaction() as store:
        [promise] = await store.commitments(1)
        [event] = [e for e in await store.timeline(1) if e.kind.value == "commitment_at_risk"]
    assert promise.state == "at_risk" and promise.at_risk_at == h.clock.now()
    assert event.text == "C1 at risk: replacement unit on site (parts delayed)" and event.actor is not None
    assert "C1 replacement unit on site — by Thu 26 Nov 2026 08:00 CST, at risk" in plain(await h.run("status"))
    # the watch still misses it at its due time
    await h.advance(timedelta(days=3))
    assert bad_news(h)[-1].startswith("🚨 B2 · Bad news for Acme Retail: we missed our promise")
    # `at risk` in two words, and every refusal in one line that changes nothing
    await h.ok('commit "a loaner router" due:2d')
    assert "C2 at risk" in await h.ok("commit at risk C2")
    assert (await refused(h, "commit at-risk C2 again")).startswith("C2 is already at risk, since ")
    missed = "C1 is already missed; you cannot put it at risk — nothing changed"
    assert (await refused(h, "commit at-risk C1")) == missed
    assert "has no C9" in await refused(h, "commit at-risk C9")
    assert "needs a commitment number like C1" in await refused(h, "commit at-risk parts delayed")
    assert "takes no options" in await refused(h, "commit at-risk C2 due:1d")


async def test_commit_kept_late_records_the_delivery_after_an_automatic_miss(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('commit "replacement unit on site" due:1d')
    await h.advance(timedelta(days=1))  # missed by the watch at its due time
    h.later(timedelta(days=1, hours=2))
    plain_kept = await refused(h, "commit kept C1")
    assert plain_kept.startswith(
        "C1 was missed Tue 24 Nov 2026 08:00 CST; if it was delivered since, record it with `commit kept C1 late`"
    )
    reply = await h.ok("commit kept C1 late courier came this morning")
    assert reply == (
        "INC-1: C1 delivered late: replacement unit on site, 1d 2h after its due time Tue 24 Nov 2026 08:00 CST"
        " (courier came this morning)"
    )
    assert h.room_posts[-1].text.startswith("📦 INC-1: C1 delivered late")
    assert (await refused(h, "commit kept C1 late")).startswith("C1 was already recorded delivered late, ")
    async with db.transaction() as store:
        [promise] = await store.commitments(1)
        news = await store.bad_news(1)
    assert promise.state == "missed"  # the promise was broken; the delivery is recorded beside it
    assert [b.pending for b in news] == [True, True]  # what the customer must hear of the miss stays theirs
    # late on a promise not yet due is refused; a promise kept past its due time says by how much
    await h.ok('commit "a loaner router" due:2h')
    assert "C2 is due Wed 25 Nov 2026 12:00 CST, so it is not late" in await refused(h, "commit kept C2 late")
    h.later(timedelta(hours=3))  # as if no replica ran the watch
    assert (await h.ok("commit kept C2 late")).startswith("INC-1: C2 kept: a loaner router, 1h after its due time")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    markdown, data = stored
    assert data["figures"]["commitments_delivered_late"] == 1
    c1 = data["commitments"][0]
    assert c1["state"] == "missed" and c1["late_minutes"] == 26 * 60.0 and c1["delivered_at"] is not None
    assert "C1 (replacement unit on site) was missed, then delivered 1d 2h after its due time." in data["findings"]
    assert "Commitments kept / missed: 1 / 1 (1 of them delivered late)" in markdown


# --- the root cause changes hands -------------------------------------------------------------------------

OUTAGE = 'open "Carrier outage at Globex stores" sev:2 customer:Globex playbook:service-provider-outage'
PUSH = 'rca pushed "asked Globex\'s network lead to pull their own router logs"'


async def test_rca_owner_moves_the_root_cause_and_keeps_who_had_it_before(db: Database) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 14:00 UTC; London
    await h.ok(OUTAGE)
    await h.ok("rca tailspin due:1d ref:TS-5521")
    await h.ok('commit "root-cause report to Globex" due:1w needs:V1')
    await h.ok(PUSH)
    moved = await h.ok("rca owner us due:2d")
    assert moved == (
        "INC-1: R: the root cause moved from Tailspin Telecom (V1) to us, due Wed 25 Nov 2026 14:00 GMT; tracked as"
        " V2, chased every 1bd; V1 is no longer chased for it; C1 now needs V2"
    )
    assert any(
        p.text.startswith("🔎 INC-1: R: the root cause moved from Tailspin Telecom (V1) to us") for p in h.room_posts
    )
    async with db.transaction() as store:
        v1, v2 = await store.follow_up(1, 1), await store.follow_up(1, 2)
        [promise] = await store.commitments(1)
        [event] = [e for e in await store.timeline(1) if e.data.get("moved_from")]
    assert v1.state == "cancelled" and v1.closed_note == "root-cause ownership moved to us"
    assert len(v1.pushes) == 1  # what Tailspin pushed stays Tailspin's
    assert v2.vendor == "us" and v2.is_root_cause and v2.owner.name == "dana" and v2.ask == v1.ask
    assert promise.needs == (2,)
    assert event.kind.value == "root_cause" and event.data["follow_up"] == 2 and event.actor is not None
    status = plain(await h.run("status"))
    assert "Owned by us (owner dana), tracked as V2" in status
    assert (
        "before: Tailspin Telecom (V1), Mon 23 Nov 2026 14:00 GMT to Mon 23 Nov 2026 14:00 GMT — root-cause" in status
    )
    # the same owner again is refused; another owner without a due time keeps the current one
    assert "INC-1 already has its root cause: V2 owned by us" in await refused(h, "rca us due:1d")
    back = await h.ok("rca tailspin")  # as typed before `rca owner` existed
    assert back.startswith("INC-1: R: the root cause moved from us (V2) to Tailspin Telecom, due Wed 25 Nov 2026 14:00")
    await h.advance(timedelta(days=3))
    chased = {e.data["follow_up"] for e in await timeline(db) if e.kind.value == "chased"}
    assert chased == {3}  # neither earlier owner is chased again
    await h.ok("rca done report in: fibre cut at the Leeds exchange")
    reason = await refused(h, "rca owner us due:2d")
    assert reason.startswith("Tailspin Telecom delivered the root cause (V3) ")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    markdown, data = stored
    before = data["root_cause"]["before"]
    assert [(b["ref"], b["owner"]) for b in before] == [("V1", "Tailspin Telecom"), ("V2", "us")]
    assert (
        "Tailspin Telecom pushed its root-cause analysis onto the customer: asked Globex's network lead to pull"
        " their own router logs." in data["findings"]
    )
    assert "- Before: Tailspin Telecom, V1, asked Mon 23 Nov 2026 14:00 GMT until Mon 23 Nov 2026 14:00 GMT" in markdown


async def test_moving_the_root_cause_refuses_what_it_cannot_do_in_one_line(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    assert "a root cause needs a due time, so it can be chased" in await refused(h, "rca tailspin")
    assert "`rca owner` needs who owns the root cause now" in await refused(h, "rca owner")
    await h.ok("rca tailspin due:1h")
    h.later(timedelta(hours=2))
    reason = await refused(h, "rca owner us")
    assert reason.startswith("V1 was due Mon 23 Nov 2026 15:00 GMT, which has passed: say by when we should deliver")
    assert "e.g. `rca owner us due:2d`" in reason
    assert 'did you mean "fourth coffee"?' in await refused(h, "rca owner fourth coffee due:2d")
    moved = await h.ok("rca owner us due:2d owner:@lee")
    assert moved.startswith("INC-1: R: the root cause moved from Tailspin Telecom (V1) to us (owner lee), due Wed")


# --- reopened after close ----------------------------------------------------------------------------------


async def pending(db: Database, incident: int = 1) -> dict[tuple[str, int], datetime]:
    """The reminders waiting to fire for an incident: (kind, subject) → when."""
    async with db.transaction() as store:
        rows = (
            await store.session.execute(
                select(ReminderRow).where(ReminderRow.incident == incident, ReminderRow.state == "pending")
            )
        ).scalars()
        return {(r.kind, r.subject): r.due_at for r in rows}


async def test_reopen_after_close_reopens_the_room_and_its_reminders_as_bad_news(db: Database) -> None:
    h = Harness(db)  # Monday 23 Nov 2026 08:00 CST
    await h.ok(RMA)
    room = h.room
    await h.ok(ASK)
    await h.ok('commit "replacement unit on site" due:1w')
    await h.ok('action "qualify a second distributor" owner:@lee due:2w')
    await h.ok("resolve router swapped")
    await h.ok("close")
    assert await pending(db) == {}
    h.later(timedelta(days=2))  # Wednesday: the router drops again
    reply = await h.ok("reopen the router dropped again")
    assert reply == (
        "INC-1: Reopened after close: the router dropped again; its reminders are back: 1 follow-up chase, 1"
        " promise watch, 1 action item reminder; the next customer update is due Wed 25 Nov 2026 08:00 CST"
    )
    posts = [p.text for p in h.chat.posts_in(room)][-2:]
    assert posts[0].startswith("INC-1: Reopened after close: the router dropped again")
    assert posts[1].startswith(
        "🚨 B1 · Bad news for Acme Retail: the fix did not hold and the incident is open again: the router dropped"
    )
    now = h.clock.now()
    assert set(await pending(db)) == {("follow_up", 1), ("commitment", 1), ("action_due", 1), ("update_due", 0)}
    back = await pending(db)
    assert back[("follow_up", 1)] == now  # its chase was due on Tuesday, while the incident was closed: now
    assert back[("commitment", 1)] == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # when it was to be watched from
    [event] = [e for e in await timeline(db) if e.kind.value == "reopened"]
    assert event.data == {"after_close": True} and event.actor is not None
    async with db.transaction() as store:
        incident = await store.get_incident(1)
        stored = await store.summary(1)
    assert incident.state == "open" and incident.closed_at is None and incident.resolved_at is None
    assert stored is not None and stored[1]["state"] == "open"  # `warroom summary` no longer says closed
    assert "1 incident not closed" in await h.ok("list")
    await h.ok("note swapping the PSU too")  # the room takes commands again
    await h.advance(timedelta(minutes=1))
    assert any(p.text.startswith("⏰ V1 Northwind Distribution") for p in h.chat.posts_in(room))
    await h.ok("resolve PSU swapped")
    await h.ok("close")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None and stored[1]["figures"]["reopened"] == 1 and stored[1]["state"] == "closed"


async def test_reopen_is_refused_thirty_days_after_close_and_for_an_open_incident(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    assert "only a mitigated or resolved incident (or one closed in the last 30 days)" in await refused(h, "reopen")
    await h.ok("close unresolved the vendor could not deliver")
    h.later(timedelta(days=31))
    reason = await refused(h, "reopen it is back")
    assert reason == (
        "INC-1 closed 31 days ago; it can be reopened for 30 days after close — open a new incident that names INC-1"
    )
    async with db.transaction() as store:
        assert (await store.get_incident(1)).is_closed


async def test_a_closed_unresolved_incident_reopened_is_open_again_without_its_reason(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok("close unresolved the vendor could not deliver")
    reply = await h.ok("reopen a second unit was found")
    assert reply.startswith("INC-1: Reopened after close: a second unit was found; its reminders are back;")
    async with db.transaction() as store:
        incident = await store.get_incident(1)
    assert incident.state == "open" and incident.unresolved_reason is None
    await h.ok("resolve")
    assert (await h.ok("close")).startswith("INC-1 closed")  # plain close: the fix came


async def test_a_reopened_incident_takes_back_a_shared_ticket_nobody_chases_any_more(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    first = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    await h.ok('open "Voice down at Globex HQ" sev:2 customer:Globex playbook:service-provider-outage')
    second = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    for room in (first, second):  # the first hands the chase to the second, which closes too
        await h.ok("resolve", room=room)
        await h.ok("close", room=room)
    await h.ok("reopen the carrier dropped again", room=first)
    assert ("follow_up", 1) in await pending(db, 1)
    async with db.transaction() as store:
        assert (await store.follow_up(1, 1)).lead is None
    await h.advance(timedelta(days=1))
    assert [p.text[:2] for p in h.chat.posts_in(first) if p.text.startswith("⏰")] == ["⏰ "]
    assert not [p for p in h.chat.posts_in(second) if p.text.startswith("⏰")]


async def test_a_reopened_incident_joins_the_chase_another_incident_started_meanwhile(db: Database) -> None:
    h = Harness(db)
    await h.ok(OUTAGE)
    first = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')
    await h.ok("resolve", room=first)
    await h.ok("close", room=first)
    await h.ok('open "Voice down at Globex HQ" sev:2 customer:Globex playbook:service-provider-outage')
    second = h.room
    await h.ok('vendor tailspin "RCA" due:1d ref:TS-5521')  # nobody else waits on it now: this one chases it
    await h.ok("reopen the carrier dropped again", room=first)
    assert ("follow_up", 1) not in await pending(db, 1)
    async with db.transaction() as store:
        assert (await store.follow_up(1, 1)).lead == (2, 1)
    await h.advance(timedelta(days=1))  # one chase, shown in both rooms
    assert len([p for p in h.chat.posts_in(first) if p.text.startswith("⏰")]) == 1
    assert len([p for p in h.chat.posts_in(second) if p.text.startswith("⏰")]) == 1
