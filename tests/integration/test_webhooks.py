"""Outbound webhooks over real HTTP, on SQLite and PostgreSQL: signed, owed with the event in one transaction,
retried with backoff for 24 hours, at least once and in order per incident, shared safely between replicas."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver
from sqlalchemy import event, func, select

from adapters.web.webhooks import HttpWebhookPoster
from bot.domain import EventKind, Person
from bot.errors import ChatError
from bot.store import Database
from bot.store.tables import WebhookDeliveryRow
from bot.webhook_delivery import Answer, WebhookWorker
from bot.webhooks import EVENTS
from tests.conftest import PLAYBOOKS, ROOT
from tests.harness import LOBBY, Harness
from tests.webhook_receiver import Receiver, expected_signature

SECRET = "whsec_test_0123456789abcdef0123456789"
RMA = 'open "Router dead" sev:3 playbook:hardware-rma customer:"Acme Retail"'


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(SECRET)
    await r.start()
    yield r
    await r.close()


@pytest.fixture
async def poster() -> AsyncIterator[HttpWebhookPoster]:
    p = HttpWebhookPoster(timeout=5, allow_private=True)  # the receiver listens on 127.0.0.1
    yield p
    await p.close()


async def subscribe(db: Database, url: str, *events: str) -> None:
    async with db.transaction() as store:
        await store.add_webhook(url, events, secret=SECRET, now=Harness(db).clock.now())


def worker(h: Harness, poster: HttpWebhookPoster, outcomes: list[str] | None = None, **kw: object) -> WebhookWorker:
    tell = outcomes.append if outcomes is not None else None
    return WebhookWorker(h.db, poster, h.clock, jitter=lambda: 0.5, on_outcome=tell, **kw)  # type: ignore[arg-type]


async def owed(db: Database) -> int:
    async with db.read() as store:
        query = select(func.count()).select_from(WebhookDeliveryRow).where(WebhookDeliveryRow.state == "pending")
        return int((await store.session.execute(query)).scalar_one())


async def test_incident_opened_is_signed_retried_with_the_same_id_and_the_next_event_waits_its_turn(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    outcomes: list[str] = []
    hooks = worker(h, poster, outcomes)
    failures = {"left": 2}

    def answer(got: object) -> tuple[int, dict[str, str]]:
        if getattr(got, "body")["incident"]["number"] == 1 and failures["left"]:  # noqa: B009
            failures["left"] -= 1
            return 500, {}
        return 200, {}

    receiver.answer = answer
    await h.ok(RMA)
    await hooks.deliver_due()
    [first] = receiver.received
    assert first.signed and first.type == "incident.opened"
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["Warroom-Event-Type"] == "incident.opened"
    assert first.headers["Warroom-Event-Id"] == first.event_id == first.body["id"]
    assert first.headers["Warroom-Timestamp"] == str(int(h.clock.now().timestamp()))
    assert first.body["occurred_at"] == h.clock.now().isoformat()
    assert first.body["incident"] == {
        "number": 1,
        "ref": "INC-1",
        "title": "Router dead",
        "severity": 3,
        "customer": "Acme Retail",
        "state": "open",
    }
    assert first.body["data"]["actor"] == {"id": "dana", "name": "dana"} and first.body["data"]["severity"] == 3

    await h.ok("sev 2 second site down")  # INC-1's next event: waits behind the opened that failed
    await h.ok('open "Checkout slow" sev:3', room=LOBBY)  # another incident is not held up by INC-1
    await hooks.deliver_due()
    assert receiver.types() == ["incident.opened", "incident.opened"]
    assert receiver.received[1].body["incident"]["ref"] == "INC-2"

    h.later(timedelta(seconds=5))  # the retry is due 10 s (±20 %) after the first attempt, not yet
    await hooks.deliver_due()
    assert len(receiver.received) == 2
    h.later(timedelta(seconds=10))
    await hooks.deliver_due()  # the retry, answered 500 again; the severity change still waits
    assert [r.event_id for r in receiver.received if r.body["incident"]["number"] == 1] == [first.event_id] * 2
    h.later(timedelta(seconds=25))
    await hooks.deliver_due()  # delivered at last, and then what waited behind it, in order
    inc1 = [r for r in receiver.received if r.body["incident"]["number"] == 1]
    assert [r.event_id for r in inc1[:3]] == [first.event_id] * 3
    assert [r.type for r in inc1[3:]] == ["incident.severity_changed", "bad_news.raised"]
    assert all(r.signed for r in receiver.received)
    assert inc1[2].raw == first.raw  # every retry sends (and signs) the same bytes
    assert inc1[2].headers["Warroom-Timestamp"] == str(int(h.clock.now().timestamp()))  # signed when sent
    assert inc1[3].body["data"]["from"] == 3 and inc1[3].body["incident"]["severity"] == 2
    assert sorted(outcomes) == ["delivered"] * 4 + ["retried"] * 2
    assert await owed(db) == 0


async def test_every_event_type_fires_where_its_timeline_event_is_written(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    await h.ok(RMA)
    await h.ok('vendor northwind "replacement" due:2h')
    await h.ok('commit "unit on site" due:2d needs:V1')
    await h.ok('commit "status call" due:1d')
    await h.advance(timedelta(hours=3))  # V1 goes overdue: C1 needs it, so it is at risk and bad news is raised
    await h.ok("vendor heard V1 backorder due:6h")
    for _ in range(6):  # up the ladder until Plan B
        await h.ok("vendor escalate V1")
        async with db.read() as store:
            if any(e.kind is EventKind.PLAN_B for e in await store.timeline(1)):
                break
    await h.ok("vendor done V1 arrived")
    await h.ok("commit kept C2")
    await h.ok("commit missed C1 courier lost it")
    await h.ok("sev 2")
    await h.ok("update told Acme everything tells:all")
    await h.ok("resolve")
    await h.ok("close")
    await worker(h, poster).deliver_due()
    types = receiver.types()
    assert set(types) == set(EVENTS)
    assert types == [
        "incident.opened",
        *("follow_up.overdue", "commitment.at_risk", "bad_news.raised"),  # V1 late; C1 needs it
        # a later date given after the due time is a slip: it climbs a rung, with the bad news of the new date
        *("follow_up.heard", "follow_up.escalated", "bad_news.raised"),
        *("follow_up.escalated", "bad_news.raised"),
        *("follow_up.plan_b", "bad_news.raised"),
        "follow_up.received",
        "commitment.kept",
        *("commitment.missed", "bad_news.raised"),
        *("incident.severity_changed", "bad_news.raised"),
        "update.recorded",
        *("bad_news.told",) * 2,  # B1…B4 went moot when V1 arrived untold; tells:all told B5 and B6
        "incident.resolved",
        "incident.closed",
    ]
    told = [r.body["data"] for r in receiver.received if r.type == "bad_news.told"]
    assert [(d["bad_news"], d["update"], d["text"]) for d in told] == [(n, 1, f"B{n} told in U1") for n in (5, 6)]
    assert told[0]["actor"] == {"id": "dana", "name": "dana"}
    stamps = [r.body["occurred_at"] for r in receiver.received]
    assert stamps == sorted(stamps)  # in the order they happened
    assert len({r.event_id for r in receiver.received}) == len(types)  # each event once


async def test_a_rolled_back_command_and_a_forgotten_incident_send_nothing(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    await h.ok(RMA)
    with pytest.raises(RuntimeError):
        async with db.transaction() as store:
            await store.add_event(1, h.clock.now(), EventKind.RESOLVED, Person("dana", "dana"), "Resolved")
            assert await owed(db) == 1  # (only the opened, committed; this one is not visible outside)
            raise RuntimeError("the command failed after writing its event")
    h.chat.fail["open_room"] = ChatError("Slack conversations.create failed: HTTP 500")
    reply = await h.run('open "Printer on fire" sev:2', room=LOBBY)
    assert not reply.ok and "nothing was recorded" in reply.messages[0].title
    await worker(h, poster).deliver_due()
    assert receiver.types() == ["incident.opened"]
    assert receiver.received[0].body["incident"]["title"] == "Router dead"
    assert await owed(db) == 0


async def test_after_24_hours_of_failures_the_delivery_is_failed_listed_and_can_be_sent_again(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url, "incident.opened")
    h = Harness(db)
    outcomes: list[str] = []
    hooks = worker(h, poster, outcomes)
    receiver.answer = lambda _r: (429, {"Retry-After": "600"})
    await h.ok(RMA)
    opened = h.clock.now()
    await hooks.deliver_due()
    assert await hooks.next_due() == opened + timedelta(seconds=600)  # the receiver's Retry-After, not our 10 s
    receiver.answer = lambda _r: (500, {})
    for _ in range(60):
        due = await hooks.next_due()
        if due is None:
            break
        h.clock.set(max(due, h.clock.now()))
        await hooks.deliver_due()
    assert await hooks.next_due() is None
    assert h.clock.now() == opened + timedelta(hours=24)  # the last try is at the deadline, then it gives up
    assert outcomes[-1] == "failed" and set(outcomes[:-1]) == {"retried"}
    assert len(receiver.received) == len(outcomes) < 40  # backed off: doubling, up to an hour apart
    assert {r.event_id for r in receiver.received} == {receiver.received[0].event_id}
    async with db.read() as store:
        [failed] = await store.failing_webhooks()
    assert failed.state == "failed" and failed.last_error == "HTTP 500" and failed.last_status == 500
    assert failed.type == "incident.opened" and failed.url == receiver.url

    await h.ok("sev 2")  # not subscribed to it: nothing owed
    assert await owed(db) == 0
    async with db.transaction() as store:
        await store.retry_webhook(failed.id, h.clock.now())
    receiver.answer = lambda _r: (200, {})
    await hooks.deliver_due()
    assert receiver.received[-1].event_id == failed.event_id and outcomes[-1] == "delivered"
    async with db.read() as store:
        assert await store.failing_webhooks() == []


async def test_an_event_queued_behind_a_failing_one_waits_without_spinning_and_gets_its_own_24_hours(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url, "incident.opened", "incident.severity_changed")
    h = Harness(db)
    hooks = worker(h, poster)
    receiver.answer = lambda _r: (500, {})
    await h.ok(RMA)
    await h.ok("sev 2")  # queued behind `opened`, which keeps failing
    opened = h.clock.now()
    await hooks.deliver_due()
    # the next claimable moment is the failing event's retry: not "now" because the one behind it is due
    assert await hooks.next_due() == opened + timedelta(seconds=10)
    for _ in range(60):  # `opened` fails for its 24 hours; nothing is ever "due now" that cannot be sent
        if h.clock.now() >= opened + timedelta(hours=24):
            break
        due = await hooks.next_due()
        assert due is not None and due > h.clock.now()
        h.clock.set(due)
        await hooks.deliver_due()
    await hooks.deliver_due()  # `opened` gave up: the event behind it is first in line now
    tries = [r.type for r in receiver.received]
    assert tries.count("incident.severity_changed") == 1  # its first attempt, once `opened` gave up
    for _ in range(3):  # …and it is retried from then, not failed at once for the time it waited in line
        due = await hooks.next_due()
        assert due is not None
        h.clock.set(due)
        await hooks.deliver_due()
    assert [r.type for r in receiver.received].count("incident.severity_changed") == 4
    async with db.read() as store:
        states = {f.type: f.state for f in await store.failing_webhooks()}
    assert states == {"incident.opened": "failed", "incident.severity_changed": "pending"}


async def test_delivered_events_are_forgotten_after_a_week_and_failed_ones_stay_listed(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    hooks = worker(h, poster)
    await h.ok(RMA)
    await hooks.deliver_due()
    async with db.read() as store:
        kept = (await store.session.execute(select(func.count()).select_from(WebhookDeliveryRow))).scalar_one()
    assert kept > 0 and await owed(db) == 0
    h.clock.advance(timedelta(days=8))
    await hooks.deliver_due()  # the hourly sweep runs with the next round
    async with db.read() as store:
        left = (await store.session.execute(select(func.count()).select_from(WebhookDeliveryRow))).scalar_one()
    assert left == 0


class Hanging:
    """A replica that claims a delivery and dies before its POST ends: the POST never answers."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def post(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> Answer:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_delivery_claimed_by_a_killed_replica_is_delivered_after_its_lease_once(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    await h.ok(RMA)
    dying = Hanging()
    killed = asyncio.create_task(WebhookWorker(db, dying, h.clock, lease=timedelta(minutes=1)).deliver_due())
    await asyncio.wait_for(dying.started.wait(), timeout=10)
    killed.cancel()  # kill -9: the lease is never released
    with pytest.raises(asyncio.CancelledError):
        await killed
    other = worker(h, poster)
    await other.deliver_due()
    assert receiver.received == []  # the lease still holds
    h.later(timedelta(seconds=61))
    await other.deliver_due()
    assert receiver.types() == ["incident.opened"] and receiver.received[0].signed


async def test_a_replica_stopping_gracefully_hands_its_claims_back_at_once(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    await h.ok(RMA)
    dying = Hanging()
    stopping = WebhookWorker(db, dying, h.clock)
    cut = asyncio.create_task(stopping.deliver_due())
    await asyncio.wait_for(dying.started.wait(), timeout=10)
    cut.cancel()  # SIGTERM's grace ran out mid-POST
    with pytest.raises(asyncio.CancelledError):
        await cut
    async with db.transaction() as store:
        assert await store.hand_back_webhooks(stopping.owner) == 1
    await worker(h, poster).deliver_due()  # no waiting for the lease
    assert receiver.types() == ["incident.opened"]


async def test_replicas_delivering_side_by_side_send_each_event_once_and_in_order(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    await subscribe(db, receiver.url)
    h = Harness(db)
    for n in range(4):
        await h.ok(f'open "Outage {n}" sev:3', room=LOBBY)
        await h.ok("sev 2")
        await h.ok("resolve")
    replicas = [worker(h, poster, batch=2) for _ in range(3)]
    await asyncio.gather(*(r.deliver_due() for r in replicas))
    for _ in range(3):  # what a replica found still waiting its turn is picked up on the next pass
        await asyncio.gather(*(r.deliver_due() for r in replicas))
    ids = [r.event_id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 4 * 4  # opened, severity_changed, bad_news.raised, resolved: once each
    for number in range(1, 5):
        mine = [r.type for r in receiver.received if r.body["incident"]["number"] == number]
        assert mine == ["incident.opened", "incident.severity_changed", "bad_news.raised", "incident.resolved"]


async def test_the_webhook_tables_are_what_the_migration_builds(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.store.tables import Base

    def diff(conn: Any) -> list[Any]:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)

    async with db.engine.connect() as conn:
        found = await conn.run_sync(diff)
    assert [d for d in found if "webhook" in str(d)] == []


def test_bodies_are_json_with_the_documented_fields() -> None:
    from datetime import UTC, datetime

    from bot.webhooks import body

    text = body(
        event_id="evt_1",
        event_type="incident.opened",
        at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        incident={"number": 7, "title": "t", "severity": 1, "customer": None, "state": "open"},
        data={"severity": 1},
    )
    assert json.loads(text) == {
        "id": "evt_1",
        "type": "incident.opened",
        "occurred_at": "2026-11-23T14:00:00+00:00",
        "incident": {"number": 7, "ref": "INC-7", "title": "t", "severity": 1, "customer": None, "state": "open"},
        "data": {"severity": 1},
    }


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str]:
    """`warroom webhook …` in this process: its exit code, and what it printed (stdout, then stderr)."""
    from bot.cli import main

    monkeypatch.setenv("WARROOM_DATABASE_URL", url)
    monkeypatch.setenv("WARROOM_PLAYBOOKS", str(PLAYBOOKS))
    code = main(["webhook", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_the_webhook_command_refuses_bad_input_in_one_line_and_changes_nothing(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_migrate(database_url))
    code, said = cli(monkeypatch, capsys, database_url, "add", "ftp://files.example/hook")
    assert code == 2 and said.count("\n") == 1
    assert said.startswith("warroom: webhooks go to http:// or https:// URLs only, not 'ftp://files.example/hook'")
    code, said = cli(monkeypatch, capsys, database_url, "add", "https://h.example/a", "--events", "incident.exploded")
    assert code == 2 and said.count("\n") == 1 and "unknown webhook event 'incident.exploded'" in said
    code, said = cli(monkeypatch, capsys, database_url, "add", "https://h.example/a", "--secret", "short")
    assert code == 2 and said.count("\n") == 1 and "--secret must be at least 32 characters" in said
    assert cli(monkeypatch, capsys, database_url, "list") == (
        0,
        "no webhooks: `warroom webhook add URL` or WARROOM_WEBHOOKS adds one\n",
    )

    code, said = cli(monkeypatch, capsys, database_url, "add", "https://h.example/a", "--events", "incident.opened")
    assert code == 0 and said.startswith("webhook 1: https://h.example/a gets incident.opened\n")
    secret = said.split("give it to the receiver): ")[1].strip()
    assert secret.startswith("whsec_") and len(secret) == 6 + 64
    code, said = cli(monkeypatch, capsys, database_url, "add", "https://h.example/a")
    assert code == 2 and said == (
        "warroom: https://h.example/a is already subscribed as webhook 1; remove it first to change it\n"
    )
    code, listed = cli(monkeypatch, capsys, database_url, "list")
    assert listed == "1  https://h.example/a  incident.opened  (added here; 0 owed, 0 failed)\n"
    assert secret not in listed
    assert cli(monkeypatch, capsys, database_url, "failed") == (0, "no webhook delivery is failing\n")
    code, said = cli(monkeypatch, capsys, database_url, "retry", "9")
    assert code == 2 and said == "warroom: no webhook delivery 9; `warroom webhook failed` lists them\n"
    code, said = cli(monkeypatch, capsys, database_url, "remove", "https://h.example/a")
    assert code == 0 and said.startswith("removed webhook 1 (https://h.example/a)")
    code, said = cli(monkeypatch, capsys, database_url, "remove", "1")
    assert code == 2 and said == "warroom: no webhook 1; `warroom webhook list` shows them\n"


async def _migrate(url: str) -> None:
    db = Database(url)
    await db.upgrade()
    await db.dispose()


async def test_warroom_serve_delivers_to_the_subscribers_its_settings_name(tmp_path: Path, receiver: Receiver) -> None:
    from tests.integration.test_serve import warroom_serve

    settings = {
        "WARROOM_WEBHOOKS": f"{receiver.url} events=incident.opened",
        "WARROOM_WEBHOOK_SECRET": SECRET,
        "WARROOM_WEBHOOKS_ALLOW_PRIVATE": "1",  # the receiver listens on 127.0.0.1
    }
    async with warroom_serve(tmp_path, settings) as served:
        db = Database(f"sqlite:///{tmp_path / 'served.db'}")
        try:
            async with db.read() as store:
                [sub] = await store.webhooks()
            assert (sub.url, sub.events, sub.origin) == (receiver.url, ("incident.opened",), "settings")
            h = Harness(db, start=datetime.now(UTC))  # another process (a chat command) opens an incident
            await h.ok(RMA)
            await served.until(lambda: bool(receiver.received), "the server to deliver incident.opened")
        finally:
            await db.dispose()
        served.process.send_signal(signal.SIGTERM)
        assert await served.exit_code() == 0
    [got] = receiver.received
    assert got.signed and got.type == "incident.opened" and got.body["incident"]["ref"] == "INC-1"
    assert SECRET not in served.log and "Traceback" not in served.log
    verify = documented_verify()  # the documented recipe, run as a receiver would run it
    seen: set[str] = set()
    assert verify(SECRET, got.headers, got.raw, seen) == got.body
    assert verify(SECRET, got.headers, got.raw, seen) is None  # the same event again: already handled
    assert verify(SECRET, got.headers, got.raw.replace(b"Router", b"Rooter"), set()) is None  # tampered
    assert verify("another-secret-entirely", got.headers, got.raw, set()) is None
    old = str(int(got.headers["Warroom-Timestamp"]) - 301)
    replayed = got.headers | {"Warroom-Timestamp": old, "Warroom-Signature": expected_signature(SECRET, old, got.raw)}
    assert verify(SECRET, replayed, got.raw, set()) is None  # rightly signed, but more than five minutes old


def documented_verify() -> Callable[..., Any]:
    """The `verify` function the Webhooks page (docs/WEBHOOKS.md) tells receivers to use."""
    readme = (ROOT / "docs" / "WEBHOOKS.md").read_text()
    start = readme.index("```python\nimport hashlib, hmac, json, time")
    code = readme[start + len("```python\n") : readme.index("```", start + 10)]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/WEBHOOKS.md", "exec"), scope)  # noqa: S102 - our own documentation
    verify: Callable[..., Any] = scope["verify"]
    return verify


def test_webhook_add_refuses_this_machine_and_network_unless_allowed_and_list_masks_credentials(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_migrate(database_url))
    for url in ("http://127.0.0.1:5432/", "http://0x7f000001/", "http://[::1]/x", "http://169.254.169.254/latest"):
        code, said = cli(monkeypatch, capsys, database_url, "add", url)
        assert code == 2 and said.count("\n") == 1 and "not the internet" in said and "--allow-private" in said, said
    assert cli(monkeypatch, capsys, database_url, "list")[1].startswith("no webhooks")

    code, said = cli(monkeypatch, capsys, database_url, "add", "http://127.0.0.1:9000/hook", "--allow-private")
    assert code == 0 and "`warroom serve` delivers there (--allow-private)" in said
    monkeypatch.setenv("WARROOM_WEBHOOKS_ALLOW_PRIVATE", "1")
    code, said = cli(monkeypatch, capsys, database_url, "add", "http://10.0.0.5/hook")
    assert code == 0 and "ALLOW_PRIVATE" not in said
    secret = "https://ops:hunter2-password@hooks.example/in?token=query-secret-123"
    code, said = cli(monkeypatch, capsys, database_url, "add", secret)
    assert code == 0 and said.startswith("webhook 3: https://***@hooks.example/in?*** gets every event")
    code, listed = cli(monkeypatch, capsys, database_url, "list")
    assert "1  http://127.0.0.1:9000/hook  every event  (added here, --allow-private;" in listed
    assert "2  http://10.0.0.5/hook  every event  (added here;" in listed  # the switch opened it, not the flag
    assert "3  https://***@hooks.example/in?***  every event" in listed
    assert "hunter2" not in listed + said and "query-secret" not in listed + said


class Rebinding(AbstractResolver):
    """A DNS server that answers every name with this machine's address (as a rebinding attacker's would)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]  # fmt: skip

    async def close(self) -> None:
        pass


async def test_delivery_checks_the_address_a_name_resolves_to_and_sends_nothing_there(
    db: Database, receiver: Receiver
) -> None:
    h = Harness(db)
    port = receiver.url.split(":")[2].split("/")[0]
    async with db.transaction() as store:  # subscribed while the name still pointed elsewhere
        await store.add_webhook(f"http://hooks.example:{port}/hook", (), secret=SECRET, now=h.clock.now())
        await store.add_webhook(f"http://0x7f000001:{port}/hook", (), secret=SECRET, now=h.clock.now())
    await h.ok(RMA)
    guarded = HttpWebhookPoster(timeout=5, resolver=Rebinding())  # the default: no private addresses
    try:
        assert await worker(h, guarded).deliver_due() == 0
    finally:
        await guarded.close()
    assert receiver.received == []
    async with db.read() as store:
        errors = {f.url: f.last_error or "" for f in await store.failing_webhooks()}
    assert "hooks.example resolves to a loopback address" in errors[f"http://hooks.example:{port}/hook"]
    assert errors[f"http://0x7f000001:{port}/hook"].startswith("not sent: ")

    trusting = HttpWebhookPoster(timeout=5, resolver=Rebinding(), allow_private=True)  # the same name, allowed
    try:
        assert await trusting.post(f"http://hooks.example:{port}/hook", b"{}", {}) == Answer(200, None, None)
    finally:
        await trusting.close()


async def test_a_subscription_added_with_allow_private_is_delivered_there_and_only_it(
    db: Database, receiver: Receiver
) -> None:
    """`webhook add --allow-private` is kept with the subscription: serve's poster (no global switch) delivers to it
    on this machine, while another subscription to the same receiver, added without the flag, is still refused."""
    h = Harness(db)
    port = receiver.url.split(":")[2].split("/")[0]
    async with db.transaction() as store:
        await store.add_webhook(receiver.url, (), secret=SECRET, now=h.clock.now(), allow_private=True)
        await store.add_webhook(f"http://localhost:{port}/hook", (), secret=SECRET, now=h.clock.now())
    await h.ok(RMA)
    guarded = HttpWebhookPoster(timeout=5)  # what serve runs without WARROOM_WEBHOOKS_ALLOW_PRIVATE
    try:
        delivered = await worker(h, guarded).deliver_due()
    finally:
        await guarded.close()
    assert delivered == len(receiver.received) and "incident.opened" in receiver.types()
    assert all(r.signed for r in receiver.received)
    async with db.read() as store:
        failing = {f.url: f.last_error or "" for f in await store.failing_webhooks()}
    assert list(failing) == [f"http://localhost:{port}/hook"]
    assert "goes to a name for this machine" in failing[f"http://localhost:{port}/hook"]


async def test_the_running_worker_claims_nothing_while_nothing_is_owed_and_delivers_once_something_is(
    db: Database, receiver: Receiver, poster: HttpWebhookPoster
) -> None:
    """Every commit wakes the worker; a wake-up that finds nothing owed is one read, not a claim (a write
    transaction, which on SQLite would hold the writer an ack waits for)."""
    h = Harness(db)
    claims: list[str] = []

    def capture(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        said = statement.lstrip()
        if said.upper().startswith("UPDATE WEBHOOK_DELIVERIES SET") and "lease_owner=" in said.replace(" ", ""):
            claims.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    stop = asyncio.Event()
    running = asyncio.create_task(worker(h, poster).run_forever(stop, interval=timedelta(milliseconds=50)))
    try:
        await asyncio.sleep(0.3)  # its first round (the sweep, one claim) is over
        before = len(claims)
        await h.ok(RMA)  # commits, and nobody subscribed: nothing is owed
        await h.ok("note the courier is on his way")
        await asyncio.sleep(0.3)
        assert len(claims) == before
        async with db.transaction() as store:
            await store.add_webhook(receiver.url, (), secret=SECRET, now=h.clock.now())
        await h.ok('open "Second site down" sev:3 playbook:hardware-rma customer:"Acme Retail"', room=LOBBY)
        for _ in range(200):  # bounded: 10 s at most
            if receiver.received:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert receiver.types() == ["incident.opened"] and receiver.received[0].signed
    assert len(claims) > before
