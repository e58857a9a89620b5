"""Reshaping an incident as the crisis turns: another playbook, the stakes as people say them, a severity change
that keeps the update time promised to the customer — on SQLite and PostgreSQL, as an adapter drives the core."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot import render
from bot.domain import EventKind
from bot.store import Database
from bot.store.tables import EventRow, FollowUpRow, IncidentRow, ResponderRow, RoleRow
from tests.conftest import PLAYBOOKS
from tests.harness import Harness

# Two carrier keywords in the title, two POS keywords in the impact: no playbook is clearly the one.
MPLS = (
    'open "MPLS down - carrier core fault at Globex branches" sev:2 customer:Globex'
    ' impact:"card payments down in 40 stores"'
)
ROOM = "inc-1-mpls-down-carrier-core-fault-at-globex-b"


def members(h: Harness, room: str = ROOM) -> set[str]:
    return {u.id for u in h.chat.room_named(room).members}


def prompts(h: Harness) -> list[str]:
    return [
        p.text
        for p in h.room_posts
        if p.text.startswith(("📣 INC-1: customer update due", "📣 INC-1: customer update over"))
    ]


async def roles(db: Database) -> dict[str, str]:
    async with db.transaction() as store:
        return {r.role: r.person.id for r in await store.roles(1)}


async def snapshot(db: Database) -> tuple[object, ...]:
    """Row counts and the incident's own fields: what a refused command must leave as it was."""
    async with db.transaction() as store:
        counts = [
            int((await store.session.execute(select(func.count()).select_from(t))).scalar_one())
            for t in (EventRow, ResponderRow, RoleRow, FollowUpRow)
        ]
        row = (await store.session.execute(select(IncidentRow).where(IncidentRow.number == 1))).scalar_one()
        return (*counts, row.playbook, row.timezone, row.revenue_at_risk, row.cost_per_hour)


# --- the playbook picked at open, and switched later ------------------------------------------------------


async def test_a_tie_opens_with_the_default_playbook_and_names_the_candidates(db: Database) -> None:
    h = Harness(db)
    reply = await h.run(MPLS)
    answer = render.plain_text(reply.messages[0])
    assert reply.ok and "playbook default" in answer
    assert "⚠ Playbook default: the keywords match more than one playbook equally" in answer
    kickoff = h.room_posts[0].text
    assert "⚠ Playbook default: the keywords match more than one playbook equally" in kickoff
    assert "interop-defect (payment, store)" in kickoff and "service-provider-outage (carrier, mpls)" in kickoff
    assert "`set playbook:service-provider-outage`" in kickoff
    async with db.transaction() as store:
        assert (await store.get_incident(1)).playbook == "default"
        [opened] = [e for e in await store.timeline(1) if e.kind is EventKind.OPENED]
    assert opened.data["candidates"] == ["interop-defect", "service-provider-outage"]


async def test_a_single_keyword_outside_the_title_is_too_weak_to_pick_a_playbook(db: Database) -> None:
    h = Harness(db)
    reply = await h.run('open "Globex site down" sev:2 impact:"visitors see the outage page"')
    said = render.plain_text(reply.messages[0])
    assert "playbook default" in said
    assert "a single keyword, not in the title, is a weak match: service-provider-outage (outage)" in said


async def test_set_playbook_invites_its_responders_and_applies_its_cadence_from_now(db: Database) -> None:
    h = Harness(db)
    await h.ok(MPLS)  # default: a sev 2 update every 4h, in UTC
    before = members(h)
    await h.advance(timedelta(minutes=30))
    reply = await h.ok("set playbook:service-provider-outage")
    assert "Playbook switched from default to service-provider-outage" in reply
    assert "customer updates every 2h at severity 2 (was 4h)" in reply
    assert "time zone UTC → Europe/London" in reply
    # its people join and nobody leaves
    assert before < members(h)
    assert {"noc-duty", "noc-lead", "network-eng-oncall"} <= members(h)
    assert (await roles(db))["vendor_manager"] == "noc-lead" and (await roles(db))["rca_owner"] == "noc-lead"
    post = h.room_posts[-1]
    assert post.text.startswith("🔀 INC-1: now runs playbook service-provider-outage")
    assert (
        "Checklist (service-provider-outage)" in post.text and "Name the owner of the root-cause analysis" in post.text
    )
    status = render.plain_text((await h.run("status")).messages[0])
    assert "Playbook: service-provider-outage" in status
    assert "next due Mon 23 Nov 2026 16:00 GMT" in status  # its 2h cadence from the opening, shown in London time
    await h.advance(timedelta(minutes=89))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1 and "every 2h" in prompts(h)[0]
    async with db.transaction() as store:
        [switch] = [e for e in await store.timeline(1) if e.kind is EventKind.CHANGED]
    assert switch.data["fields"] == ["playbook"] and switch.actor is not None and switch.actor.id == "dana"
    assert (switch.data["from"], switch.data["to"]) == ("default", "service-provider-outage")


async def test_a_role_and_a_zone_given_by_hand_stay_through_a_switch(db: Database) -> None:
    h = Harness(db)
    await h.ok(MPLS)
    await h.ok("role vendor_manager @priya")
    await h.ok("set tz:Asia/Tokyo")
    reply = await h.ok("set playbook:service-provider-outage")
    assert "time zone" not in reply
    held = await roles(db)
    assert held["vendor_manager"] == "priya" and held["scribe"] == "noc-duty"
    async with db.transaction() as store:
        assert (await store.get_incident(1)).timezone == "Asia/Tokyo"


async def test_a_switch_and_other_fields_in_one_set_count_the_zone_as_set_by_hand(db: Database) -> None:
    h = Harness(db)
    await h.ok(MPLS)
    reply = await h.ok("set playbook:service-provider-outage tz:America/Chicago at-risk:300k")
    assert 'time zone: "UTC" → "America/Chicago"' in reply and "Playbook switched" in reply
    assert "Exec sponsor pulled in: vp-operations" in reply  # past its revenue line ($250,000)
    async with db.transaction() as store:
        incident = await store.get_incident(1)
    assert (incident.timezone, incident.playbook) == ("America/Chicago", "service-provider-outage")


async def test_a_switch_brings_the_new_playbooks_ladder_for_a_vendor_it_knows(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    major = (PLAYBOOKS / "service-provider-outage.yaml").read_text()
    major = major.replace("name: service-provider-outage", "name: carrier-major").replace(
        "{name: Tailspin NOC, role: Network operations centre", "{name: Tailspin Major Incident Desk, role: MID"
    )
    (folder / "carrier-major.yaml").write_text(major)
    h = Harness(db, playbooks=folder)
    await h.ok('open "Carrier outage" sev:2 customer:Globex playbook:service-provider-outage')
    await h.ok('vendor tailspin "restore the core" due:2h ref:TS-1')
    reply = await h.ok("set playbook:carrier-major")
    assert "its ladders for V1 Tailspin Telecom" in reply
    status = render.plain_text((await h.run("status")).messages[0])
    assert "contact Tailspin Major Incident Desk (MID)" in status


async def test_the_summary_measures_silence_against_the_playbook_in_force_and_shows_the_switch(db: Database) -> None:
    h = Harness(db)
    await h.ok(MPLS)  # default: sev 2 every 4h
    h.later(timedelta(hours=3))
    await h.ok("set playbook:service-provider-outage")  # every 2h from here: three hours of silence overrun it
    h.later(timedelta(minutes=30))
    await h.ok("update told them tells:all")
    await h.ok("resolve")
    await h.ok("close")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    longest = stored[1]["figures"]["longest_silence"]
    assert (longest["minutes"], longest["cadence_minutes"], longest["over_minutes"]) == (210.0, 120.0, 90.0)
    assert any(e["text"].startswith("Playbook switched from default") for e in stored[1]["timeline"])


async def test_a_bad_playbook_switch_changes_nothing(db: Database) -> None:
    h = Harness(db)
    await h.ok(MPLS)
    before = await snapshot(db)
    for command in ("set playbook:nope", "set playbook:../default", "set playbook:nope tz:Europe/Paris"):
        reply = await h.run(command)
        assert not reply.ok and "\n" not in reply.messages[0].title, command
        assert await snapshot(db) == before, command
    assert "known: billing-dispute, default" in (await h.run("set playbook:nope")).messages[0].title
    same = await h.ok("set playbook:default")
    assert "already runs playbook default; nothing changed" in same and await snapshot(db) == before
    await h.ok("resolve")
    await h.ok("close")
    closed = await h.run("set playbook:service-provider-outage")
    assert not closed.ok and "INC-1 is closed" in closed.messages[0].title


# --- the stakes as people type them -----------------------------------------------------------------------


async def test_the_stakes_as_people_say_them_are_the_same_as_set(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Logs for RCA" sev:3 playbook:hardware-rma customer:"Acme Retail"')
    assert "revenue at risk: not stated → $70,000" in await h.ok("at-risk 70k")
    assert "cost per hour: not stated → $2,500/h" in await h.ok("cost 2500/h")
    assert "revenue at risk: $70,000 → $90,000" in await h.ok("at-risk:90k")
    both = await h.ok('at-risk:95k cost:"3k an hour"')
    assert "$95,000" in both and "$3,000/h" in both
    async with db.transaction() as store:
        incident = await store.get_incident(1)
        changed = [e for e in await store.timeline(1) if e.kind is EventKind.CHANGED]
    assert (incident.revenue_at_risk, incident.cost_per_hour) == (95000, 3000)
    assert len(changed) == 4 and all(e.data["stakes"] for e in changed)
    for bad in ("at-risk", "cost lots", "at-risk 5k extra words"):
        reply = await h.run(bad)
        assert not reply.ok and "\n" not in reply.messages[0].title, bad


async def test_a_cost_per_hour_past_the_line_pulls_in_the_sponsor_in_the_same_minute(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS registers freeze in 300 stores" sev:2 customer:"Acme Retail"')  # interop-defect
    assert "vp-engineering" not in members(h, "inc-1-pos-registers-freeze-in-300-stores")
    reply = await h.ok("cost 45k/h")
    assert "Exec sponsor pulled in: vp-engineering, vp-customer-success" in reply
    [sponsor] = [p for p in h.room_posts if p.text.startswith("👔")]
    assert "cost per hour $45,000/h is at or past the line ($25,000/h)" in sponsor.text
    assert {"vp-engineering", "vp-customer-success"} <= members(h, "inc-1-pos-registers-freeze-in-300-stores")
    async with db.transaction() as store:
        [pulled] = [e for e in await store.timeline(1) if e.kind is EventKind.EXEC_SPONSOR]
        [changed] = [e for e in await store.timeline(1) if e.kind is EventKind.CHANGED]
    assert pulled.at == changed.at == h.clock.now()
    assert (await roles(db))["exec_sponsor"] == "vp-engineering"


async def test_a_cost_per_hour_past_the_line_at_open_brings_the_sponsor_with_the_room(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS registers freeze in 300 stores" sev:2 cost:40k/h')
    assert (await roles(db))["exec_sponsor"] == "vp-engineering"
    assert "vp-engineering" in members(h, "inc-1-pos-registers-freeze-in-300-stores")


# --- severity keeps the promises made to the customer -------------------------------------------------------


async def test_a_lower_severity_keeps_the_next_update_time_promised_to_the_customer(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:2 customer:"Acme Retail" playbook:default')
    await h.advance(timedelta(minutes=30))
    await h.ok('update "we found the cause; next update tomorrow morning" next:"tomorrow 09:00"')
    reply = await h.ok("sev 3 workaround in place")  # a day's cadence would bring it at 14:30 tomorrow
    assert "next customer update due Tue 24 Nov 2026 09:00 UTC (the time promised to the customer)" in reply
    await h.advance(timedelta(hours=18, minutes=29))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1 and h.clock.now() == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


async def test_a_higher_severity_brings_the_prompt_sooner_than_a_later_promise(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3 customer:"Acme Retail" playbook:default')
    await h.ok('update "next update friday" next:"fri 17:00"')
    await h.ok("sev 2 more stores hit")  # every 4h now: sooner than friday
    await h.advance(timedelta(hours=3, minutes=59))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1


async def test_a_higher_severity_keeps_a_sooner_promise(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3 customer:"Acme Retail" playbook:default')
    await h.ok('update "we call you back in two hours" next:2h')
    await h.ok("sev 2 more stores hit")  # its 4h cadence would wait past the promise
    await h.advance(timedelta(hours=2))
    assert len(prompts(h)) == 1


async def test_after_lowering_from_1_to_3_no_prompt_comes_at_the_old_cadence(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS freeze" sev:1 customer:"Acme Retail" playbook:default')
    await h.advance(timedelta(hours=1))  # prompt 1, unanswered
    assert len(prompts(h)) == 1
    await h.advance(timedelta(minutes=10))
    reply = await h.ok("sev 3 stores back on a workaround")
    assert "next customer update due Tue 24 Nov 2026 15:00 UTC" in reply  # a day after the unanswered prompt
    await h.advance(timedelta(hours=23, minutes=49))
    assert len(prompts(h)) == 1  # no "prompt 2" an hour later at the severity-1 cadence
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 2
    assert "customer update overdue — prompt 2" in prompts(h)[-1] and "every 1d" in prompts(h)[-1]
