"""Prometheus metrics: the observer port (bot/observe.py) bound to prometheus-client, and the war-room gauges.

Every App has its own CollectorRegistry, built by the composition root: several apps in one process (tests, the
console beside a server) never share or collide, and nothing is registered at import time.

The gauges (incidents open, follow-ups, untold bad news, commitments at risk) come from a snapshot of the
database, not a query per scrape: ``Gauges.refresh`` reads again only when bot/store/changes.py says the database
changed since the last read (any commit, by any replica or process), and never more often than every
``REREAD`` seconds. When the database cannot tell (PostgreSQL's LISTEN connection is down), it reads at most every
``REREAD`` seconds. `warroom_gauges_age_seconds` says how old the numbers shown are.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select

from bot import __version__
from bot.customer import CommitmentState
from bot.domain import IncidentState
from bot.followups import FollowUpState
from bot.store import Database
from bot.store.tables import BadNewsRow, CommitmentRow, FollowUpRow, IncidentRow

log = logging.getLogger(__name__)
REREAD = 5.0  # seconds: the gauges are read at most this often, however often they are scraped or things change
READ_TIMEOUT = 2.0  # seconds a read of the gauges may take before the scrape answers with what it had
SEVERITIES = (1, 2, 3, 4)
# A reminder is due to the minute; a lag of seconds is the engine's tick, minutes a backlog, an hour an outage.
LAG_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# Slack wants its ack within 3 s, Bot Framework within 15 s; most should be in the tens of milliseconds.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0)
WEBHOOK_OUTCOMES = ("delivered", "retried", "failed")
# Label values come from our own code or from the platform's error codes; anything else is folded into `other`,
# so an unexpected answer can never grow a series per request.
_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


def label(value: str) -> str:
    """``value`` if it is a short, plain word; else `other`."""
    return value if _LABEL.fullmatch(value) else "other"


class Metrics:
    """The instruments of one App, on its own registry; the Observer the engine and adapters report to."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        if process:  # CPU, memory, open files, Python's version and garbage collector, as every Python exporter has
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            GCCollector(registry=r)
        Info("warroom_build", "The Warroom version serving these metrics.", registry=r).info({"version": __version__})
        self.reminder_lag = Histogram(
            "warroom_reminder_lag_seconds",
            "How late reminders fired: seconds from when each was due to when it fired.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.reminders_fired = Counter("warroom_reminders_fired", "Reminders fired.", registry=r)
        self.reminders_failed = Counter(
            "warroom_reminders_failed", "Reminder firings that failed (each is retried with backoff).", registry=r
        )
        self.chat_requests = Counter(
            "warroom_chat_api_requests",
            "HTTP requests to a chat platform's API, retries included, by the HTTP status answered "
            "(`2xx`: a Teams connector call that succeeded; `unreachable`: no answer).",
            ["platform", "method", "status"],
            registry=r,
        )
        self.chat_errors = Counter(
            "warroom_chat_api_errors",
            "Chat API calls that failed in the end (after retries), by Slack's error code or `http_<status>`.",
            ["platform", "method", "error"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "warroom_ack_latency_seconds",
            "Seconds from a chat platform's request arriving to its answer (Slack's ack, Teams' turn).",
            ["platform"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.webhooks = Counter(
            "warroom_webhook_deliveries", "Outbound webhook delivery attempts, by outcome.", ["outcome"], registry=r
        )
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)
        self._mail: tuple[Counter, Counter, Counter] | None = None

    def enable_mail(self) -> None:
        """Count email too (only where email is configured: elsewhere the counters would say nothing)."""
        if self._mail is None:
            r = self.registry
            self._mail = (
                Counter("warroom_emails_sent", "Emails the mail server took.", registry=r),
                Counter("warroom_email_send_failures", "Emails the mail server refused or did not answer.", registry=r),
                Counter("warroom_emails_received", "Messages taken in from the mailbox.", registry=r),
            )

    def watch(self, db: Database, *, reread: float = REREAD) -> Gauges:
        """Register the war-room gauges of ``db`` (read from a snapshot; see Gauges)."""
        gauges = Gauges(db, reread=reread)
        self.registry.register(gauges)
        return gauges

    # --- the Observer port -------------------------------------------------------------------------

    def chat_request(self, platform: str, method: str, status: str) -> None:
        self.chat_requests.labels(platform, label(method), label(status)).inc()

    def chat_error(self, platform: str, method: str, error: str) -> None:
        self.chat_errors.labels(platform, label(method), label(error)).inc()

    def acked(self, platform: str, seconds: float) -> None:
        self.ack_latency.labels(platform).observe(max(0.0, seconds))

    def reminder_fired(self, lag_seconds: float) -> None:
        self.reminders_fired.inc()
        self.reminder_lag.observe(max(0.0, lag_seconds))

    def reminder_failed(self) -> None:
        self.reminders_failed.inc()

    def mail_sent(self) -> None:
        if self._mail is not None:
            self._mail[0].inc()

    def mail_failed(self) -> None:
        if self._mail is not None:
            self._mail[1].inc()

    def mail_received(self, count: int) -> None:
        if self._mail is not None:
            self._mail[2].inc(count)

    def observe_webhook(self, outcome: str) -> None:
        """One webhook delivery attempt: `delivered`, `retried` (failed, will try again) or `failed` (gave up)."""
        if outcome not in WEBHOOK_OUTCOMES:
            raise ValueError(f"a webhook outcome is one of {', '.join(WEBHOOK_OUTCOMES)}, not {outcome!r}")
        self.webhooks.labels(outcome).inc()


@dataclass(frozen=True)
class Snapshot:
    """The war-room gauges as read at one moment."""

    incidents_open: Mapping[int, int]  # severity → incidents not closed
    follow_ups: Mapping[str, int]  # state → follow-ups of incidents not closed
    bad_news_untold: int
    commitments_at_risk: int


async def read_snapshot(db: Database) -> Snapshot:
    """Four counts in one read transaction; closed incidents are history, not the war room's state."""
    live = IncidentRow.state != IncidentState.CLOSED.value
    async with db.read() as store:
        run = store.session.execute
        severities = await run(select(IncidentRow.severity, func.count()).where(live).group_by(IncidentRow.severity))
        states = await run(
            select(FollowUpRow.state, func.count())
            .join(IncidentRow, IncidentRow.number == FollowUpRow.incident)
            .where(live)
            .group_by(FollowUpRow.state)
        )
        untold = await run(
            select(func.count())
            .select_from(BadNewsRow)
            .join(IncidentRow, IncidentRow.number == BadNewsRow.incident)
            .where(live, BadNewsRow.answered_at.is_(None), BadNewsRow.moot_at.is_(None))
        )
        at_risk = await run(
            select(func.count())
            .select_from(CommitmentRow)
            .join(IncidentRow, IncidentRow.number == CommitmentRow.incident)
            .where(live, CommitmentRow.state == CommitmentState.AT_RISK.value)
        )
        return Snapshot(
            incidents_open={int(sev): int(n) for sev, n in severities.all()},
            follow_ups={str(state): int(n) for state, n in states.all()},
            bad_news_untold=int(untold.scalar_one()),
            commitments_at_risk=int(at_risk.scalar_one()),
        )


class Gauges:
    """A Prometheus collector over a snapshot of the database, refreshed by ``refresh`` before each scrape."""

    def __init__(
        self,
        db: Database,
        *,
        reread: float = REREAD,
        timeout: float = READ_TIMEOUT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db, self.reread, self.timeout, self.monotonic = db, reread, timeout, monotonic
        self.snapshot: Snapshot | None = None
        self._version: Hashable | None = None
        self._read_at = float("-inf")  # when the last read was tried (monotonic), whether or not it succeeded
        self._shown_at = float("-inf")  # when the snapshot shown was read
        self._lock = asyncio.Lock()

    def _fresh(self, version: Hashable | None) -> bool:
        if self.snapshot is not None and version is not None and version == self._version:
            return True  # nothing was committed anywhere since the snapshot was read
        return self.monotonic() - self._read_at < self.reread

    async def refresh(self) -> None:
        """Read the gauges again if the database changed (or cannot say) and the last read is ``reread`` old.
        A read that fails or hangs keeps what was shown before, and is logged; the scrape still answers."""
        if self._fresh(self.db.changes.version()):
            return
        async with self._lock:  # scrapes that come together read once
            version = self.db.changes.version()  # before the read: a commit during it shows at the next scrape
            if self._fresh(version):
                return
            self._read_at = self.monotonic()
            try:
                self.snapshot = await asyncio.wait_for(read_snapshot(self.db), timeout=self.timeout)
            except Exception as err:  # the database is away or slow: /readyz says so; the metrics keep answering
                log.warning("could not read the war-room gauges (%s); showing the last ones read", err or type(err))
                return
            self._version, self._shown_at = version, self._read_at

    def describe(self) -> Iterable[Metric]:
        """The gauges' names and help, without reading anything (the registry checks names on register)."""
        return list(self._families(None))

    def collect(self) -> Iterable[Metric]:
        """The gauges as of the last snapshot (none before the first read succeeded); never reads the database."""
        return list(self._families(self.snapshot))

    def _families(self, snap: Snapshot | None) -> Iterable[Metric]:
        incidents = GaugeMetricFamily(
            "warroom_incidents_open",
            "Incidents not closed (open, mitigated or resolved), by severity.",
            labels=["severity"],
        )
        follow_ups = GaugeMetricFamily(
            "warroom_follow_ups", "Follow-ups of incidents not closed, by state.", labels=["state"]
        )
        untold = GaugeMetricFamily("warroom_bad_news_untold", "Bad news the customer has not been told yet.")
        at_risk = GaugeMetricFamily("warroom_commitments_at_risk", "Commitments to customers that are at risk.")
        age = GaugeMetricFamily(
            "warroom_gauges_age_seconds",
            f"Seconds since the war-room gauges were read from the database (re-read on a change, at most every "
            f"{self.reread:g}s).",
        )
        if snap is not None:
            for sev in sorted({*SEVERITIES, *snap.incidents_open}):
                incidents.add_metric([str(sev)], snap.incidents_open.get(sev, 0))
            for state in sorted({*(s.value for s in FollowUpState), *snap.follow_ups}):
                follow_ups.add_metric([state], snap.follow_ups.get(state, 0))
            untold.add_metric([], snap.bad_news_untold)
            at_risk.add_metric([], snap.commitments_at_risk)
            age.add_metric([], max(0.0, self.monotonic() - self._shown_at))
        return [incidents, follow_ups, untold, at_risk, age]
