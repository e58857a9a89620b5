"""The read models (bot/views.py) over incidents driven through real commands, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import event

from bot import views
from bot.chat import RoomRef
from bot.errors import NotFound
from bot.store import Database
from tests.conftest import START
from tests.harness import LOBBY, Harness

SEV1 = 'open "Checkout down in every store" sev:1 customer:"Acme Retail" playbook:default cost:40k/h at-risk:2M'
RMA = 'open "Router dead" sev:3 playbook:hardware-rma customer:"Globex"'


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements the database runs inside the block."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def two_incidents(db: Database) -> Harness:
    h = Harness(db)
    await h.ok(SEV1)
    await h.ok('vendor "Contoso Payments" "terminal logs" due:3h')
    await h.ok('commit "workaround in every store" due:2h')
    h.room = LOBBY
    await h.ok(RMA)
    await h.ok('vendor northwind "replacement" due:"tue 09:00"')
    return h


async def page(h: Harness, **filters: Any) -> views.IncidentPage:
    async with h.db.read() as store:
        return await views.incident_list(store, playbooks=h.playbooks, now=h.clock.now(), **filters)


async def test_the_overview_shows_stakes_clock_and_what_waits_worst_first(db: Database) -> None:
    h = await two_incidents(db)
    await h.advance(timedelta(minutes=30))
    listed = await page(h)
    assert (listed.total, listed.limit, listed.offset) == (2, 50, 0)
    acme, globex = listed.items
    assert (acme.ref, acme.severity, acme.customer, acme.state, acme.playbook) == (
        "INC-1",
        1,
        "Acme Retail",
        "open",
        "default",
    )
    assert acme.age_seconds == 1800 and acme.opened_at == START
    assert acme.cost_per_hour == Decimal("40000") and acme.cost_so_far == Decimal("20000")
    assert acme.revenue_at_risk == Decimal("2000000")
    assert acme.last_update_at is None and acme.next_update_due == START + timedelta(hours=1)  # sev 1: every hour
    assert not acme.update_overdue
    assert acme.open_follow_ups == 1 and acme.untold_bad_news == 1  # the 2h promise is at risk at once
    assert acme.chat_link is None  # the in-memory chat has no links
    assert (globex.ref, globex.severity, globex.cost_so_far, globex.next_update_due) == (
        "INC-2",
        3,
        None,
        START + timedelta(days=1),
    )
    await h.advance(timedelta(minutes=31))  # past the hour: prompted, and overdue until an update is recorded
    assert (await page(h)).items[0].update_overdue
    h.room = RoomRef("R1", "inc-1")
    await h.ok('update "rolling back" next:1h', user="lee")
    acme = (await page(h)).items[0]
    assert acme.last_update_at == h.clock.now() and acme.next_update_due == h.clock.now() + timedelta(hours=1)
    assert not acme.update_overdue


async def test_filters_and_paging(db: Database) -> None:
    h = await two_incidents(db)
    assert [i.ref for i in (await page(h, severity=3)).items] == ["INC-2"]
    assert [i.ref for i in (await page(h, customer="acme retail")).items] == ["INC-1"]
    second = await page(h, limit=1, offset=1)
    assert [i.ref for i in second.items] == ["INC-2"] and second.total == 2
    await h.ok("resolve")
    await h.ok("close")
    assert [i.ref for i in (await page(h)).items] == ["INC-1"]  # closed incidents leave the default list
    closed = (await page(h, state="closed")).items
    assert [(i.ref, i.next_update_due, i.update_overdue) for i in closed] == [("INC-2", None, False)]
    assert (await page(h, state="all")).total == 2


async def test_a_page_of_incidents_takes_the_same_few_queries_however_long(db: Database) -> None:
    h = Harness(db)
    await h.ok(SEV1)
    await h.ok('vendor "Contoso Payments" "terminal logs" due:3h')
    with statements(db) as one:
        await page(h)
    for n in range(6):
        h.room = LOBBY
        await h.ok(f'open "Store {n} offline" sev:2 customer:"Acme Retail"')
        await h.ok('commit "a workaround" due:1h')
    with statements(db) as seven:
        assert len((await page(h)).items) == 7
    assert len(seven) == len(one) <= 9  # the ninth: the mitigations and reopenings the impact is read from


async def test_detail_has_everything_the_war_room_keeps(db: Database) -> None:
    h = Harness(db)
    await h.ok(RMA)
    await h.ok("role comms @lee")
    await h.ok('vendor northwind "replacement" due:"tue 09:00"')
    await h.ok('commit "unit on site" due:3d needs:V1')
    await h.ok("sev 2 second site affected")
    await h.ok('update "a second site is affected; a replacement is on its way" tells:B1', user="lee")
    await h.ok("rca northwind due:5bd ref:NW-1")
    await h.ok('lesson "keep a spare router at every DC"')
    await h.ok('action "qualify a second distributor" owner:@lee due:7d')
    await h.advance(timedelta(days=2))  # chased and escalated while we wait
    async with db.read() as store:
        detail = await views.incident_detail(store, 1, playbooks=h.playbooks, now=h.clock.now())
    assert (detail.ref, detail.severity, detail.customer) == ("INC-1", 2, "Globex")
    assert {(r.role, r.person) for r in detail.roles} >= {("commander", "dana"), ("comms", "lee")}
    [v1] = detail.follow_ups
    assert (v1.ref, v1.vendor, v1.ask, v1.overdue) == ("V1", "Northwind Distribution", "replacement", True)
    assert v1.chases >= 1 and v1.days_late >= 0
    assert [r.name for r in v1.ladder][:2] == ["Sam Ortiz", "Priya Raman"]
    assert 1 <= v1.rung <= len(v1.ladder)
    [c1] = detail.commitments
    assert (c1.ref, c1.promise, c1.state) in {("C1", "unit on site", "open"), ("C1", "unit on site", "at_risk")}
    [u1] = detail.updates
    assert (u1.ref, u1.author) == ("U1", "lee")
    told = [b for b in detail.bad_news if b.ref == "B1"]
    assert told and told[0].told_in == "U1" and told[0].told_at is not None
    assert detail.root_cause is not None and detail.root_cause.owner == "Northwind Distribution"
    assert detail.root_cause.delivered_at is None
    assert [(x.ref, x.text) for x in detail.lessons] == [("L1", "keep a spare router at every DC")]
    assert [(a.ref, a.owner, a.state) for a in detail.actions] == [("A1", "lee", "open")]
    async with db.read() as store:
        entries = await views.timeline(store, 1)
    assert entries[0].kind == "opened" and entries[0].actor == "dana"
    assert [e.at for e in entries] == sorted(e.at for e in entries)
    assert any(e.kind == "escalated" for e in entries) or any(e.kind == "chased" for e in entries)


async def test_unknown_incident_is_not_found(db: Database) -> None:
    async with db.read() as store:
        for call in (
            views.incident_detail(store, 9, playbooks=Harness(db).playbooks, now=START),
            views.timeline(store, 9),
        ):
            try:
                await call
            except NotFound as err:
                assert "INC-9" in str(err)
            else:
                raise AssertionError("no NotFound")


async def test_cross_incident_lists_oldest_first(db: Database) -> None:
    h = await two_incidents(db)
    await h.advance(timedelta(hours=4))  # Contoso's 3h ask is overdue; Northwind's is due tomorrow
    now = h.clock.now()
    async with db.read() as store:
        overdue = await views.follow_ups(store, now=now, state="overdue")
        by_vendor = await views.follow_ups(store, now=now, vendor="northwind distribution")
        at_risk = await views.commitments(store, now=now, state="missed")
        untold = await views.untold_bad_news(store, now=now)
        card = await views.scorecard(store, now=now)
    assert [(f.incident, f.ref, f.vendor) for f in overdue] == [(1, "V1", "Contoso Payments")]
    assert [(f.incident, f.ref) for f in by_vendor] == [(2, "V1")]
    assert [(c.incident, c.ref) for c in at_risk] == [(1, "C1")]  # due at 2h, missed at 4h
    assert [(b.incident, b.ref) for b in untold] == [(1, "B1"), (1, "B2")]
    assert untold[0].raised_at <= untold[1].raised_at and untold[0].age_seconds >= untold[1].age_seconds
    contoso = next(s for s in card.vendors if s.vendor == "Contoso Payments")
    assert contoso.asks == 1 and contoso.overdue_now == 1 and contoso.chases >= 1


async def test_the_overviews_lists_show_the_first_rows_and_count_the_rest_in_the_database(db: Database) -> None:
    h = await two_incidents(db)
    await h.advance(timedelta(days=7))  # both follow-ups overdue now
    now = h.clock.now()
    async with db.read() as store:
        everything = await views.follow_ups(store, now=now, state="overdue")
        first, late = await views.overdue_follow_ups(store, now=now, limit=1)
        untold = await views.untold_bad_news(store, now=now)
        oldest, told_not = await views.untold_bad_news_page(store, now=now, limit=1)
        promises, at_risk = await views.commitments_at_risk(store, now=now, limit=50)
        every_promise = await views.commitments(store, now=now)
    assert late == len(everything) == 2 and first == everything[:1]
    assert told_not == len(untold) >= 2 and oldest == untold[:1]
    assert promises == [c for c in every_promise if c.state == "at_risk" or c.overdue] and at_risk == len(promises)


def test_chat_links_for_slack_channels_and_teams_threads() -> None:
    assert views.chat_link("C0123ABCD", None) == "https://slack.com/app_redirect?channel=C0123ABCD"
    thread = {
        "kind": "thread",
        "tenant_id": "t1",
        "reference": {"conversation": {"id": "19:abc@thread.tacv2;messageid=1700"}},
    }
    assert views.chat_link("19:abc@thread.tacv2;messageid=1700", ("teams", thread)) == (
        "https://teams.microsoft.com/l/message/19%3Aabc%40thread.tacv2/1700?tenantId=t1"
    )
    assert views.chat_link("R1", None) is None and views.chat_link(None, None) is None
