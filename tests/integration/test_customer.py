"""Customer updates on a cadence, commitments, and bad news told early — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.chat import UserRef
from bot.store import Database
from tests.harness import Harness

SEV1 = 'open "Checkout down in every store" sev:1 customer:"Acme Retail" playbook:default impact:"no sales"'


def prompts(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith("📣 INC-1: customer update")]


def bad_news(h: Harness) -> list[str]:
    return [p.text for p in h.room_posts if p.text.startswith("🚨")]


async def summary(h: Harness) -> dict[str, Any]:
    async with h.db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    return stored[1]


async def sev1(db: Database, **kwargs: Any) -> Harness:
    h = Harness(db, **kwargs)
    await h.ok(SEV1)
    await h.ok("role comms @lee")
    return h


async def test_sev1_without_an_update_is_prompted_on_its_cadence_with_a_usable_draft(db: Database) -> None:
    h = await sev1(db)
    await h.ok('set doing:"rolling back POS release 7.2 in the pilot stores"')
    await h.ok('vendor "Contoso Payments" "terminal logs" due:3h')
    await h.advance(timedelta(minutes=59))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))  # the default playbook's cadence at sev 1 is 1h
    [prompt] = [p for p in h.room_posts if p.text.startswith("📣")]
    assert prompt.message.mentions == (UserRef("lee", "lee"),)
    assert "No update has gone to Acme Retail since we opened 1h ago; at severity 1 the customer hears from us" in (
        prompt.text
    )
    draft = prompt.text[prompt.text.index("Draft: ") :]
    assert draft.startswith(
        "Draft: Here is our latest update on the disruption at Acme Retail since Monday, November 23, 2026."
    )
    assert "What we are doing: rolling back POS release 7.2 in the pilot stores." in draft
    # what we wait on, as the customer may hear it: never the vendor's name, never the team's words for the ask
    waiting = "What we need from a supplier is expected by Monday, November 23, 2026 at 5:00 PM (UTC)."
    assert waiting in draft
    assert "Contoso" not in draft and "terminal logs" not in draft
    assert "We will update you again by Monday, November 23, 2026 at 4:00 PM (UTC)." in draft


async def test_unanswered_prompts_escalate_to_the_commander(db: Database) -> None:
    h = await sev1(db)
    await h.advance(timedelta(hours=2))  # one prompt per cadence (1h at sev 1)
    first, second = [p for p in h.room_posts if p.text.startswith("📣")]
    assert first.message.mentions == (UserRef("lee", "lee"),)
    assert second.message.mentions == (UserRef("lee", "lee"), UserRef("dana", "dana"))
    assert second.text.startswith("📣 INC-1: customer update overdue — prompt 2, escalated to the commander")


async def test_a_third_prompt_says_the_commander_when_there_is_no_exec_sponsor_to_escalate_to(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "POS app crashes on checkout" sev:2 customer:Globex playbook:interop-defect')  # below the line
    await h.advance(timedelta(hours=6))  # three prompts at the 2h cadence of severity 2
    third = prompts(h)[-1]
    async with db.read() as store:
        assert "exec_sponsor" not in {r.role for r in await store.roles(1)}
    assert third.startswith("📣 INC-1: customer update overdue — prompt 3, escalated to the commander")


async def test_an_update_silences_prompts_until_the_next_one_is_due(db: Database) -> None:
    h = await sev1(db)
    await h.advance(timedelta(minutes=50))
    reply = await h.ok('update "we are rolling back; next update at 17:00" next:"17:00"', user="lee")
    assert reply.endswith("Next update due Mon 23 Nov 2026 17:00 UTC.")
    await h.advance(timedelta(hours=2, minutes=9))
    assert prompts(h)[0].startswith("📣 INC-1: customer updated (U1)") and len(prompts(h)) == 1
    await h.advance(timedelta(minutes=1))
    assert prompts(h)[-1].startswith("📣 INC-1: customer update due")
    await h.ok("update still rolling back", user="lee")  # no next: → one cadence later
    await h.advance(timedelta(minutes=59))
    assert prompts(h)[-1].startswith("📣 INC-1: customer updated (U2)")


async def test_commitment_due_in_two_hours_is_at_risk_before_it_is_due_and_bad_news_once_missed(db: Database) -> None:
    h = await sev1(db)
    reply = await h.ok('commit "workaround in every store" due:2h')
    assert reply == (
        "INC-1: C1 promised: workaround in every store, by Mon 23 Nov 2026 16:00 UTC; "
        "watched from Mon 23 Nov 2026 14:00 UTC."
    )  # inside the 4h at-risk window already
    await h.advance(timedelta(minutes=1))
    [at_risk] = bad_news(h)
    assert at_risk.startswith(
        "🚨 B1 · Bad news for Acme Retail: our promise of workaround in every store by "
        "Mon 23 Nov 2026 16:00 UTC is at risk (2h left)"
    )
    assert "[Kept]" in at_risk
    await h.advance(timedelta(hours=2))
    missed = bad_news(h)[-1]
    assert missed.startswith("🚨 B2 · Bad news for Acme Retail: we missed our promise of workaround in every store")
    async with db.transaction() as store:
        [c] = await store.commitments(1)
    assert c.state == "missed"


async def test_kept_commitment_stops_being_watched(db: Database) -> None:
    h = await sev1(db)
    await h.ok('commit "workaround in every store" due:6h')
    await h.advance(timedelta(hours=1))
    await h.ok("commit kept C1 done early")
    await h.advance(timedelta(hours=8))
    assert bad_news(h) == []
    again = await h.run("commit missed C1")
    assert not again.ok and again.messages[0].title == "C1 is already kept; you cannot mark it missed — nothing changed"


async def test_every_trigger_raises_bad_news_naming_what_slipped(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Router dead" sev:3 playbook:hardware-rma customer:"Acme Retail"')
    await h.ok('vendor northwind "replacement" due:"tue 09:00"')
    await h.ok('commit "unit on site" due:3d needs:V1')
    await h.ok('vendor heard V1 backorder due:"thu 09:00"')
    await h.ok("vendor escalate V1")
    await h.ok("sev 2 second site affected")
    await h.ok("commit missed C1 courier lost it")
    await h.ok("resolve")
    await h.ok("reopen failed again")
    whats = [b.split("\n")[0] for b in bad_news(h)]
    assert whats == [
        "🚨 B1 · Bad news for Acme Retail: V1 Northwind Distribution moved its date for replacement from "
        "Tue 24 Nov 2026 09:00 CST to Thu 26 Nov 2026 09:00 CST — needed by C1 unit on site by "
        "Thu 26 Nov 2026 08:00 CST",
        "🚨 B2 · Bad news for Acme Retail: V1 Northwind Distribution has not delivered replacement (due "
        "Thu 26 Nov 2026 09:00 CST); we escalated to Priya Raman — needed by C1 unit on site by "
        "Thu 26 Nov 2026 08:00 CST",
        "🚨 B3 · Bad news for Acme Retail: the severity rose from 3 to 2 (second site affected)",
        "🚨 B4 · Bad news for Acme Retail: we missed our promise of unit on site by Thu 26 Nov 2026 08:00 CST",
        "🚨 B5 · Bad news for Acme Retail: the fix did not hold and the incident is open again: failed again",
    ]


async def test_resolve_prompts_the_final_update_and_stops_the_cadence(db: Database) -> None:
    h = await sev1(db)
    await h.ok("resolve stores back online")
    final = h.room_posts[-1]
    assert final.text.startswith("📣 INC-1: send the final customer update")
    good = "Draft: Good news about the disruption at Acme Retail since Monday, November 23, 2026: service is "
    assert good in final.text
    await h.advance(timedelta(hours=6))
    assert not any(p.text.startswith("📣 INC-1: customer update due") for p in h.room_posts)
    reply = await h.ok("update told them it is fixed", user="lee")
    assert reply.endswith("No further updates are due.")


async def test_bad_news_latency_and_customer_figures_reach_the_summary(db: Database) -> None:
    h = await sev1(db)
    await h.advance(timedelta(minutes=20))
    await h.ok("update first word to the customer", user="lee")
    await h.ok('commit "workaround in every store" due:3h')
    await h.advance(timedelta(hours=1))  # at risk now, nobody tells the customer …
    await h.advance(timedelta(hours=2))  # … and it is missed
    await h.advance(timedelta(minutes=30))
    await h.ok("update told them the workaround slipped tells:all", user="lee")
    await h.ok("resolve")
    await h.ok("close")
    data = await summary(h)
    figures = data["figures"]
    assert figures["time_to_first_update_minutes"] == 20.0 and figures["updates_sent"] == 2
    assert figures["commitments_missed"] == 1 and figures["commitments_kept"] == 0
    assert figures["longest_silence"]["minutes"] == 210.0 and figures["longest_silence"]["cadence_minutes"] == 60.0
    latencies = {b["trigger"]: b["latency_minutes"] for b in data["bad_news"]}
    assert latencies == {"commitment_at_risk": 210.0, "commitment_missed": 30.0}
    findings = data["findings"]
    assert any(
        f.startswith("Silence longer than the cadence: the customer heard nothing for 3h 30m (cadence 1h")
        for f in findings
    )
    assert "C1 (workaround in every store) was missed with no warning to the customer before it was due." in findings


async def test_a_warned_customer_is_not_a_finding(db: Database) -> None:
    h = await sev1(db)
    await h.ok('commit "workaround in every store" due:3h')
    await h.advance(timedelta(minutes=5))
    await h.ok("update the workaround may slip", user="lee")
    await h.advance(timedelta(hours=3))
    await h.ok("resolve")
    await h.ok("close")
    assert not any("no warning" in f for f in (await summary(h))["findings"])


async def test_cadence_and_commitments_keep_their_instants_across_the_eu_dst_change(db: Database) -> None:
    # Saturday 24 October 2026, 10:00 in London; Europe leaves summer time on Sunday the 25th.
    h = Harness(db, start=datetime(2026, 10, 24, 9, 0, tzinfo=UTC))
    await h.ok('open "Carrier outage at the Leeds site" sev:3 playbook:service-provider-outage')
    await h.ok('commit "circuit restored" due:"tomorrow 12:00"')  # noon GMT on Sunday = 12:00 UTC
    await h.advance(timedelta(days=1, hours=4))
    async with db.transaction() as store:
        events = {e.kind.value: e.at for e in await store.timeline(1)}
    assert events["commitment_at_risk"] == datetime(2026, 10, 25, 10, 0, tzinfo=UTC)  # 2h window
    assert events["commitment_missed"] == datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    assert events["update_prompted"] == datetime(2026, 10, 25, 9, 0, tzinfo=UTC)  # 1d cadence = 24 hours


@pytest.mark.parametrize(
    ("severity", "cadence"),
    [(1, timedelta(hours=1)), (2, timedelta(hours=4)), (3, timedelta(days=1)), (4, timedelta(days=3))],
)
async def test_each_severity_is_prompted_on_its_own_cadence(db: Database, severity: int, cadence: timedelta) -> None:
    h = Harness(db)
    await h.ok(f'open "Checkout slow" sev:{severity} playbook:default')
    await h.advance(cadence - timedelta(minutes=1))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    async with db.transaction() as store:
        [event] = [e for e in await store.timeline(1) if e.kind.value == "update_prompted"]
    assert event.at == h.clock.now() == datetime(2026, 11, 23, 14, 0, tzinfo=UTC) + cadence


async def test_raising_severity_brings_the_next_prompt_forward(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Checkout slow" sev:3 playbook:default')  # next prompt in 1d
    await h.advance(timedelta(minutes=30))
    await h.ok("sev 1 every store down")  # cadence 1h, counted from opening: due at 15:00, not tomorrow
    await h.advance(timedelta(minutes=29))
    assert prompts(h) == []
    await h.advance(timedelta(minutes=1))
    assert len(prompts(h)) == 1


async def test_the_next_draft_never_quotes_how_the_team_wrote_an_update_down(db: Database) -> None:
    h = await sev1(db)
    await h.ok("update told Acme Retail that the rollback starts in the pilot stores tonight", user="lee")
    await h.advance(timedelta(hours=1))  # the next one is due: the team's own record is not customer text
    draft = prompts(h)[-1]
    draft = draft[draft.index("Draft: ") :]
    assert "told Acme Retail" not in draft and "rollback" not in draft
    assert "Our team is working on it, and we will tell you more as soon as we know it." in draft
