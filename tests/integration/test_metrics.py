"""GET /metrics over real HTTP against the real app: gauges from the database without a query per scrape,
reminder lag, Slack API calls and acks, email, webhooks, the optional token; and /readyz behind the schema's head."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event

from adapters.email.local import LocalMailbox, LocalOutbox
from adapters.memory import InMemoryChat
from bot import __version__
from bot.app import App, running, web_app
from bot.chat import Invocation, RoomRef, UserRef
from bot.clock import SimClock
from bot.config import ConfigError, Settings
from bot.mail.message import reply_bytes
from bot.mail.port import MailError
from bot.metrics import Metrics
from bot.store import Database
from bot.store.migrations import config as alembic_config
from tests.adapters.fake_slack import BOT_TOKEN, FakeSlack
from tests.adapters.fake_teams_world import microsoft, teams_world
from tests.adapters.slack_world import SIGNING_SECRET, slack_world
from tests.conftest import PLAYBOOKS, START
from tests.integration.test_serve import post_open, warroom_serve

PATIENCE = aiohttp.ClientTimeout(total=15)
LOBBY = RoomRef("C-LOBBY", "general")
TOKEN = "metrics-token-0123456789abcdef"
RMA = 'open "Router dead on arrival" sev:2 customer:"Acme Retail" playbook:hardware-rma impact:"DC-3 on backup link"'
ASK = 'vendor northwind "tracking number" due:1h ref:RMA-4471 owner:@lee'
PROMISE = 'commit "replacement router on site at DC-3" due:"fri 17:00" needs:V1'


class Samples:
    """One scrape, parsed by prometheus-client's own parser: sample name and labels → value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def __call__(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def labelled(self, name: str) -> dict[frozenset[tuple[str, str]], float]:
        return {labels: value for (n, labels), value in self.samples.items() if n == name}


class Ticks:
    """A monotonic clock for the gauges' re-read limit that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def served(app: App) -> AsyncIterator[str]:
    """``app``'s HTTP surface on port 0; its base URL."""
    runner = web.AppRunner(web_app(app))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession(timeout=PATIENCE) as http, http.get(url, headers=headers) as response:
        return response.status, await response.text()


async def scrape(base: str, **headers: str) -> Samples:
    status, text = await get(f"{base}/metrics", **headers)
    assert status == 200, text
    return Samples(text)


@contextmanager
def queries(db: Database) -> Iterator[list[str]]:
    """Every SQL statement ``db``'s engine sends while the block runs."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def say(app: App, text: str, room: RoomRef = LOBBY, *, user: str = "dana") -> RoomRef:
    """Run a command that must succeed; the war room it opened, else ``room``."""
    reply = await app.warroom.handle(Invocation(text, UserRef(user, user), room))
    assert reply.ok, [m.title for m in reply.messages]
    return reply.rooms_opened[-1] if reply.rooms_opened else room


def settings_for(database_url: str, **more: Any) -> Settings:
    return Settings(database_url=database_url, playbooks_dir=PLAYBOOKS, **more)


async def listening(db: Database) -> None:
    """Until the database can say whether it changed (PostgreSQL: once its LISTEN connection is up)."""
    for _ in range(300):
        if db.changes.version() is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the database never said whether it changed")


# --- the war-room gauges ------------------------------------------------------------------------------------


async def test_the_gauges_show_open_incidents_by_severity_follow_ups_bad_news_and_commitments_at_risk(
    database_url: str,
) -> None:
    clock = SimClock(START)
    async with running(settings_for(database_url), chat=InMemoryChat(), clock=clock) as app, served(app) as base:
        ticks = app.gauges.monotonic = Ticks()
        empty = await scrape(base)
        assert empty("warroom_build_info", version=__version__) == 1
        assert [empty("warroom_incidents_open", severity=s) for s in "1234"] == [0, 0, 0, 0]
        assert empty("warroom_follow_ups", state="waiting") == 0 and empty("warroom_bad_news_untold") == 0

        await say(app, 'open "POS registers freeze" sev:1')
        room = await say(app, RMA)
        await say(app, ASK, room)
        await say(app, PROMISE, room)
        # Within the re-read limit the last numbers stand, however much changed; they say how old they are.
        ticks.now += 1
        assert (await scrape(base))("warroom_incidents_open", severity="1") == 0
        ticks.now += 5
        seen = await scrape(base)
        assert [seen("warroom_incidents_open", severity=s) for s in "1234"] == [1, 1, 0, 0]
        assert seen("warroom_follow_ups", state="waiting") == 1 and seen("warroom_follow_ups", state="overdue") == 0
        assert seen("warroom_commitments_at_risk") == 0 and seen("warroom_gauges_age_seconds") == 0

        await app.engine.run_until(clock.now() + timedelta(hours=2), clock)  # V1 is late: the promise is at risk
        ticks.now += 5
        late = await scrape(base)
        assert late("warroom_follow_ups", state="waiting") == 0 and late("warroom_follow_ups", state="overdue") == 1
        assert late("warroom_commitments_at_risk") == 1 and late("warroom_bad_news_untold") == 1

        await say(app, 'close unresolved "customer went elsewhere"', room)
        ticks.now += 5
        after = await scrape(base)
        assert after("warroom_incidents_open", severity="2") == 0 and after("warroom_incidents_open", severity="1") == 1
        assert after("warroom_commitments_at_risk") == 0 and after("warroom_follow_ups", state="overdue") == 0


async def test_scraping_again_when_nothing_changed_runs_no_query(database_url: str) -> None:
    async with (
        running(settings_for(database_url), chat=InMemoryChat(), clock=SimClock(START)) as app,
        served(app) as base,
    ):
        ticks = app.gauges.monotonic = Ticks()
        await say(app, 'open "POS registers freeze" sev:1')
        await listening(app.db)
        with queries(app.db) as first:
            assert (await scrape(base))("warroom_incidents_open", severity="1") == 1
        assert first, "the first scrape reads the gauges"

        for _ in range(3):  # scrapes every 15 s for a while: well past the re-read limit, and nothing changed
            ticks.now += 15
            with queries(app.db) as sent:
                again = await scrape(base)
            assert sent == [] and again("warroom_incidents_open", severity="1") == 1
        assert again("warroom_gauges_age_seconds") == 45

        await say(app, 'open "Payments down" sev:1')  # a commit: the next scrape reads again
        ticks.now += 15
        with queries(app.db) as sent:
            assert (await scrape(base))("warroom_incidents_open", severity="1") == 2
        assert sent


async def test_a_database_that_cannot_be_read_leaves_the_last_gauges_and_the_scrape_answers(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'w.db'}")
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app:
        ticks = app.gauges.monotonic = Ticks()
        await say(app, 'open "POS registers freeze" sev:1')
        async with served(app) as base:
            assert (await scrape(base))("warroom_incidents_open", severity="1") == 1
            app.gauges.db = Database("postgresql://postgres@127.0.0.1:9/nowhere")  # gone away
            try:
                ticks.now += 60
                shown = await scrape(base)
            finally:
                await app.gauges.db.dispose()
        assert shown("warroom_incidents_open", severity="1") == 1 and shown("warroom_gauges_age_seconds") == 60


# --- reminders ------------------------------------------------------------------------------------------------


async def test_a_reminder_fired_late_is_in_the_lag_histogram_and_a_failing_one_is_counted(tmp_path: Path) -> None:
    clock = SimClock(START)
    async with running(settings_for(f"sqlite:///{tmp_path / 'w.db'}"), chat=InMemoryChat(), clock=clock) as app:
        room = await say(app, RMA)  # schedules the first customer-update prompt
        due = await app.engine.next_due()
        assert due is not None
        clock.set(due + timedelta(seconds=90))  # every replica was down for a minute and a half
        assert await app.engine.tick() == 1
        async with app.db.transaction() as store:  # a reminder nobody can fire: its handler is unknown
            await store.schedule(1, "no-such-kind", 0, clock.now(), now=clock.now())
        assert await app.engine.tick() == 0
        async with served(app) as base:
            seen = await scrape(base)
    assert room.id
    assert seen("warroom_reminder_lag_seconds_count") == 1 and seen("warroom_reminder_lag_seconds_sum") == 90
    assert seen("warroom_reminder_lag_seconds_bucket", le="60.0") == 0
    assert seen("warroom_reminder_lag_seconds_bucket", le="120.0") == 1
    assert seen("warroom_reminders_fired_total") == 1 and seen("warroom_reminders_failed_total") == 1


# --- Slack ----------------------------------------------------------------------------------------------------


async def test_slack_calls_are_counted_by_method_and_status_and_acks_are_timed(tmp_path: Path) -> None:
    fake = FakeSlack()
    fake.fail["conversations.setTopic"] = "too_long"  # refused; the room is opened all the same
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}", fake=fake) as world:
        await world.until(lambda: bool(fake.called("auth.test")), "the bot to learn who it is")
        fake.ratelimit(1, retry_after=0)  # the open's first call is told to wait, then retried
        await world.opened()
        assert await world.send("text=status", "application/x-www-form-urlencoded", signed=False) == 401
        await world.surface.idle()
        seen = await scrape(world.url.removesuffix("/slack/events"))

    made: dict[tuple[str, str], int] = {}
    for call in fake.calls:  # what Slack saw, call by call
        made[(call.method, str(call.status))] = made.get((call.method, str(call.status)), 0) + 1
    if fake.responses:  # answers to the person who typed the command
        made[("response_url", "200")] = len(fake.responses)
    counted = {
        (dict(labels)["method"], dict(labels)["status"]): value
        for labels, value in seen.labelled("warroom_chat_api_requests_total").items()
        if dict(labels)["platform"] == "slack"
    }
    assert counted == made
    assert sum(n for (_, status), n in counted.items() if status == "429") == 1
    refused = {"platform": "slack", "method": "conversations.setTopic", "error": "too_long"}
    assert seen("warroom_chat_api_errors_total", **refused) == 1
    assert seen("warroom_ack_latency_seconds_count", platform="slack") == 1  # the refused request is no ack
    assert seen("warroom_ack_latency_seconds_bucket", platform="slack", le="3.0") == 1


async def test_warroom_serve_wires_the_metrics_behind_its_token(tmp_path: Path) -> None:
    fake = FakeSlack()
    api = await fake.start()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api,
        "HOST": "127.0.0.1",
        "WARROOM_METRICS_TOKEN": TOKEN,
    }
    try:
        async with warroom_serve(tmp_path, env) as served:
            await post_open(served, fake)
            await served.until(lambda: bool(fake.called("pins.add")), "the kickoff to be pinned")
            assert (await get(f"{served.base}/metrics"))[0] == 401
            seen = await scrape(served.base, Authorization=f"Bearer {TOKEN}")
    finally:
        await fake.close()
    pinned = len(fake.called("pins.add"))
    assert seen("warroom_chat_api_requests_total", platform="slack", method="pins.add", status="200") == pinned
    assert seen("warroom_ack_latency_seconds_count", platform="slack") == 1
    assert seen("warroom_incidents_open", severity="2") == 1
    assert seen("warroom_build_info", version=__version__) == 1


# --- Teams ----------------------------------------------------------------------------------------------------

GRAPH_METHODS = {"create_channel", "add_channel_member"}


async def test_teams_connector_and_graph_calls_are_counted_and_turns_are_timed(tmp_path: Path) -> None:
    async with (
        microsoft(tmp_path, team=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world,
    ):
        assert fakes.graph is not None
        fakes.graph.fail_next(429, retry_after="0", matching="POST /v1.0/teams")  # throttled once, then created
        assert await world.say('incident open "Router dead on arrival" sev:2') == 200
        fakes.graph.fail_next(403, matching="POST /v1.0/teams")  # refused: nothing recorded, the person is told
        assert await world.say('incident open "Payments down" sev:1') == 200
        seen = await scrape(world.url)

    counted = {
        (dict(labels)["method"], dict(labels)["status"]): value
        for labels, value in seen.labelled("warroom_chat_api_requests_total").items()
        if dict(labels)["platform"] == "teams"
    }
    graph = {key: n for key, n in counted.items() if key[0] in GRAPH_METHODS}
    assert graph == {("create_channel", "429"): 1, ("create_channel", "201"): 1, ("create_channel", "403"): 1}
    assert sum(graph.values()) == len([c for c in fakes.graph.calls if c.method == "POST"])
    connector = sum(n for key, n in counted.items() if key[0] not in GRAPH_METHODS)
    assert connector == len(fakes.connector.calls) and connector >= 3  # the kickoff, the answers
    assert seen("warroom_chat_api_errors_total", platform="teams", method="create_channel", error="http_403") == 1
    assert seen("warroom_ack_latency_seconds_count", platform="teams") == 2


# --- email and webhooks ---------------------------------------------------------------------------------------


async def test_email_sent_refused_and_received_are_counted_where_email_is_configured(tmp_path: Path) -> None:
    out, box, chat, clock = LocalOutbox(), LocalMailbox(), InMemoryChat(), SimClock(START)
    chat.emails["lee"] = "lee@acme.example"
    settings = settings_for(f"sqlite:///{tmp_path / 'w.db'}")
    async with running(settings, chat=chat, clock=clock, mail=out, mailbox=box) as app, served(app) as base:
        room = await say(app, RMA)
        await say(app, ASK, room)
        await app.engine.run_until(clock.now() + timedelta(hours=1), clock)
        await say(app, "vendor email V1", room, user="lee")
        out.fail = MailError("the server said 451 try later")
        await app.warroom.handle(Invocation("vendor email V1", UserRef("lee", "lee"), room))
        box.deliver(reply_bytes(out.sent[0], sender="sam.ortiz@northwind.example", text="Shipped.", date=clock.now()))
        await app.warroom.mail.check()
        seen = await scrape(base)
    assert seen("warroom_emails_sent_total") == 1 and seen("warroom_email_send_failures_total") == 1
    assert seen("warroom_emails_received_total") == 1

    async with (
        running(settings, chat=InMemoryChat(), clock=clock) as app,
        served(app) as base,
    ):  # no email configured: no email counters to mislead anyone
        assert (await scrape(base))("warroom_emails_sent_total") is None


async def test_webhook_deliveries_are_counted_by_outcome() -> None:
    metrics = Metrics(process=False)
    for outcome in ("delivered", "delivered", "retried", "failed"):
        metrics.observe_webhook(outcome)
    with pytest.raises(ValueError, match="delivered, retried, failed"):
        metrics.observe_webhook("lost")
    got = {o: metrics.registry.get_sample_value("warroom_webhook_deliveries_total", {"outcome": o}) for o in "abc"}
    assert got == {"a": None, "b": None, "c": None}
    counts = [
        metrics.registry.get_sample_value("warroom_webhook_deliveries_total", {"outcome": o})
        for o in ("delivered", "retried", "failed")
    ]
    assert counts == [2, 1, 1]


def test_two_apps_in_one_process_keep_their_own_registries() -> None:
    one, two = Metrics(), Metrics()
    one.reminder_failed()
    assert one.registry.get_sample_value("warroom_reminders_failed_total") == 1
    assert two.registry.get_sample_value("warroom_reminders_failed_total") == 0


# --- the token ------------------------------------------------------------------------------------------------


async def test_with_a_metrics_token_a_scrape_without_it_is_refused(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'w.db'}", metrics_token=TOKEN)
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app, served(app) as base:
        with queries(app.db) as sent:
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789abcdef"}, {"Authorization": TOKEN}):
                status, body = await get(f"{base}/metrics", **headers)
                assert status == 401 and "warroom_" not in body
                assert json.loads(body)["error"].startswith("send the metrics token")
        assert sent == []  # refused before anything was read
        seen = await scrape(base, Authorization=f"Bearer {TOKEN}")
        assert seen("warroom_incidents_open", severity="1") == 0
        assert (await get(f"{base}/healthz"))[0] == 200  # the probes stay open: the kubelet has no token


async def test_without_a_token_only_this_machine_may_scrape(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path / 'w.db'}")
    async with running(settings, chat=InMemoryChat(), clock=SimClock(START)) as app, served(app) as base:
        with queries(app.db) as sent:
            for headers in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
                status, body = await get(f"{base}/metrics", **headers)  # a proxy on this machine passing it on
                assert status == 403 and "warroom_" not in body
                assert json.loads(body)["error"].startswith("set WARROOM_METRICS_TOKEN to scrape /metrics from")
        assert sent == []  # refused before anything was read
        seen = await scrape(base)  # Prometheus or an agent beside it, on loopback
        assert seen("warroom_incidents_open", severity="1") == 0


def test_the_metrics_token_is_read_from_the_environment_checked_and_never_shown() -> None:
    settings = Settings.from_env({"WARROOM_METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN
    assert settings.describe()["metrics_token"] == "set" and TOKEN not in repr(settings)
    assert Settings.from_env({}).metrics_token is None
    for bad in ("short", "has spaces in it, sixteen+", "tökén-0123456789abcdef"):
        with pytest.raises(ConfigError, match="WARROOM_METRICS_TOKEN must be at least 16") as refused:
            Settings.from_env({"WARROOM_METRICS_TOKEN": bad})
        assert bad not in str(refused.value)


# --- /readyz and /healthz -------------------------------------------------------------------------------------


async def test_readyz_is_503_for_a_schema_one_migration_behind_while_healthz_stays_200(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    async with running(settings_for(url), chat=InMemoryChat(), clock=SimClock(START)) as app, served(app) as base:
        assert (await get(f"{base}/readyz"))[0] == 200
        from alembic import command

        def downgrade(connection: Any) -> None:
            command.downgrade(alembic_config(connection), "-1")

        async with app.db.engine.begin() as conn:
            await conn.run_sync(downgrade)  # as if a newer release had not migrated this database yet
        status, body = await get(f"{base}/readyz")
        assert (status, json.loads(body)) == (
            503,
            {"status": "not ready", "database": "sqlite", "schema": "behind head: run `warroom db upgrade`"},
        )
        assert await get(f"{base}/healthz") == (200, json.dumps({"status": "ok"}))
