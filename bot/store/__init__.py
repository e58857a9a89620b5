"""Storage: the Database owns the engine and transactions; the Store reads and writes domain values, never commits."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from bot.customer import BadNews, Commitment, CustomerUpdate
from bot.domain import (
    ActionItem,
    EventKind,
    Incident,
    IncidentState,
    Lesson,
    Person,
    ResponderRecord,
    RoleAssignment,
    TimelineEvent,
)
from bot.errors import NotFound
from bot.followups import FollowUp
from bot.store.base import BOOKKEEPING
from bot.store.changes import CHANNEL as CHANGED
from bot.store.changes import NONE, Changes, payload
from bot.store.customer import CustomerStore, _commitment, bad_news_value, update_value
from bot.store.followups import PENDING as PENDING_REMINDER
from bot.store.followups import FollowUpStore, _follow_up
from bot.store.inbox import InboxStore, LeaseLost, applying
from bot.store.links import LinkStore
from bot.store.mail import MailStore
from bot.store.outbox import PENDING as OUTBOX_PENDING
from bot.store.outbox import OutboxStore
from bot.store.platform import PlatformStore
from bot.store.tables import (
    ActionRow,
    BadNewsRow,
    ChangeLogRow,
    CommitmentRow,
    EventRow,
    FollowUpRow,
    IncidentRow,
    LessonRow,
    OutboxRow,
    ReminderRow,
    ResponderRow,
    RoleRow,
    SummaryRow,
    UpdateRow,
    WebhookDeliveryRow,
)
from bot.store.together import Part, from_json, together
from bot.store.tokens import TokenStore
from bot.store.touched import changed_rows, count_changes, count_writes, wrote_rows
from bot.store.touched import watch as touched_by
from bot.store.views import BriefParts, ViewStore
from bot.store.webhooks import WebhookStore
from bot.store.zoned import in_zone_of_now, zone_of_now

CHILD_TABLES = (
    RoleRow,
    ResponderRow,
    EventRow,
    LessonRow,
    ActionRow,
    SummaryRow,
    FollowUpRow,
    ReminderRow,
    CommitmentRow,
    UpdateRow,
    BadNewsRow,
    OutboxRow,
    WebhookDeliveryRow,
)
_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg", "postgres": "postgresql+asyncpg"}

# Every wait on the database is bounded, so a database that stops answering becomes an error the caller reports
# instead of work that hangs. Constants, not settings: they bound failure, not work. Our statements take
# milliseconds; what can take longer is waiting for an incident's row lock behind a command or a reminder that is
# posting to a slow chat platform, and 30 s of that is already a failure worth telling. Migrations have no limit.
CONNECT_TIMEOUT = 5.0  # seconds to open a connection, TCP and authentication included (asyncpg's default is 60)
STATEMENT_TIMEOUT = 30.0  # seconds a statement may take, lock waits included (asyncpg's default: forever)
POOL_TIMEOUT = 10.0  # seconds to wait for a pooled connection when all ten are busy (SQLAlchemy's default: 30)
SQLITE_BUSY_TIMEOUT = 30.0  # seconds SQLite waits for another writer's lock before "database is locked"
ACK_BATCH = 64  # SQLite: INSERTs of acks written together in one transaction at most
KEEP_CHANGES = 5000  # change_log rows kept on SQLite: what a process that looks now and then still finds


def async_url(url: str) -> str:
    """`sqlite:///warroom.db` → the aiosqlite URL; `postgresql://…` → asyncpg; explicit drivers are kept."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


class Database:
    """One engine per process; every unit of work is one transaction."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = async_url(url)
        self.echo = echo
        kwargs: dict[str, Any] = {"echo": echo, "connect_args": _connect_args(self.url, STATEMENT_TIMEOUT)}
        if not self.url.startswith("sqlite"):
            kwargs.update(pool_size=5, max_overflow=5, pool_timeout=POOL_TIMEOUT, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            _serialize_sqlite_writes(self.engine)
            count_changes(self.engine)
        else:
            count_writes(self.engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.changes = Changes(self.url)
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in SQLite's busy handler
        # (1, 2, 5 … 100 ms at a time) before it looks again. Writers of this process queue here instead, in
        # order and without sleeping; the busy timeout is left for writers in other processes.
        # Acks go first: an accepted command waits for the write in progress, never behind queued background ones.
        self._writers = _Writers() if self.dialect == "sqlite" else None
        # SQLite: acks queued while another batch of them commits, written together (group commit)
        self._acks: list[tuple[Any, list[str], asyncio.Future[Any]]] = []
        self._ack_writer: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Store]:
        """A Store inside one transaction: committed on success, rolled back on any error."""
        claim = applying.get()
        marked = False
        try:
            async with self._writing(urgent=False), self._sessions() as session, session.begin():
                store = Store(session, dialect=self.dialect)
                wrote = _watch_writes(session)
                touched = touched_by(session)
                yield store
                if not (session.new or session.dirty or session.deleted) and not await self._wrote(session):
                    session.expunge_all()  # what was read stays as it was read, as after a commit
                    raise _Unchanged  # a claim or poll that found nothing: rolled back, no COMMIT sent
                changed = wrote.seen or bool(session.new or session.dirty or session.deleted)  # flushed by the commit
                if claim is not None and not claim.applied and changed:
                    # The command's first write: it and "applied" commit together, or neither does — and only while
                    # this task's claim still holds the row (else the write is rolled back: no command runs twice).
                    if claim.row_id and not await store.mark_applied(claim.row_id, claim.attempt):  # 0: no inbox row
                        raise LeaseLost(f"inbox row {claim.row_id} was claimed by another replica")
                    marked = True
                if changed:
                    await session.flush()  # what is still pending: its incidents are told with the commit
                said = payload(touched.told) if changed else NONE
                if changed and self.dialect == "postgresql":
                    # Delivered to every listener when (and only if) this commits: answers kept in memory about the
                    # incidents it names are dropped.
                    await session.execute(text("SELECT pg_notify(:channel, :said)"), {"channel": CHANGED, "said": said})
                elif self.dialect == "sqlite" and await changed_rows(session):
                    # Other processes see the commit as a new data_version, and read here what it changed.
                    await store.log_change(said)
            if marked and claim is not None:
                claim.applied = True
            if changed:
                self.changes.committed(touched.told)
        except _Unchanged:
            return

    @asynccontextmanager
    async def _writing(self, *, urgent: bool) -> AsyncIterator[None]:
        if self._writers is None:  # PostgreSQL: writers run side by side
            yield
            return
        await self._writers.acquire(urgent=urgent)
        try:
            yield
        finally:
            self._writers.release()

    async def insert_now(self, statement: Any, progress: list[str]) -> Any:
        """One INSERT … RETURNING, committed at once; its first row, or None. ``progress`` gets "committing" once the
        INSERT may be committed: until then a caller that gives up knows nothing was recorded; after it, the outcome
        is unknown until the commit answers.

        PostgreSQL: a transaction of its own. SQLite (one writer): ahead of every queued background write, and the
        INSERTs that queued while the writer was busy go together in one transaction — one commit for all of them."""
        if self._writers is None:
            async with self.engine.connect() as conn:
                row = (await conn.execute(statement)).first()
                progress.append("committing")
                await conn.commit()
            return row
        landed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks.append((statement, progress, landed))
        if self._ack_writer is None or self._ack_writer.done():
            self._ack_writer = asyncio.ensure_future(self._write_acks())
        return await landed  # cancelled while queued: it is never written

    async def _write_acks(self) -> None:
        """Write the queued INSERTs, batch after batch, each batch one transaction ahead of background writes."""
        while self._acks:
            async with self._writing(urgent=True):
                batch, self._acks = self._acks[:ACK_BATCH], self._acks[ACK_BATCH:]
                batch = [a for a in batch if not a[2].done()]  # given up on before its turn: not written
                rows: list[list[Any]] = []  # [progress, future, row] of each INSERT sent
                sent = False  # the COMMIT was sent: from then on the outcome is unknown until it answers
                try:
                    async with self.engine.connect() as conn:
                        for statement, progress, landed in batch:
                            if landed.done():
                                continue
                            progress.append("committing")  # from here it commits with the batch, or nothing does
                            rows.append([progress, landed, None])
                            rows[-1][2] = (await conn.execute(statement)).first()
                        sent = True
                        await conn.commit()
                except BaseException as err:
                    for progress, landed, _row in rows:
                        if not sent:
                            progress.remove("committing")  # rolled back before any COMMIT: known not recorded
                        if not landed.done():
                            landed.set_exception(err if isinstance(err, Exception) else RuntimeError(str(err)))
                    if not isinstance(err, Exception):
                        raise
                    continue
                for _progress, landed, row in rows:
                    if not landed.done():
                        landed.set_result(row)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Store]:
        """A Store for reading only; on SQLite it reads beside a writer instead of queueing behind it.

        A chat adapter looks up where to post while the reminder engine's write transaction is open.
        """
        with contextlib.suppress(_Unchanged):
            async with self.engine.connect() as conn:
                await conn.execution_options(warroom_read_only=True)
                async with AsyncSession(bind=conn, expire_on_commit=False) as session, session.begin():
                    yield Store(session, dialect=self.dialect)
                    if not await self._wrote(session):
                        session.expunge_all()  # what was read stays as it was read
                        raise _Unchanged  # a read ends in a rollback: nothing to commit

    async def _wrote(self, session: AsyncSession) -> bool:
        """Whether the session's transaction changed a row (a statement that matched none changed nothing)."""
        if self.dialect == "sqlite":
            return await changed_rows(session)
        return await wrote_rows(session)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (safe to run from several replicas at once)."""
        from bot.store.migrations import upgrade

        if self.dialect != "postgresql":
            async with self.engine.begin() as conn:
                await conn.run_sync(upgrade)
            return
        # A migration may rewrite a large table, and replicas starting together queue on the lock below: both take
        # longer than any statement should, so migrations get a connection of their own without the limit.
        migrating = create_async_engine(
            self.url, echo=self.echo, poolclass=NullPool, connect_args=_connect_args(self.url, None)
        )
        try:
            async with migrating.begin() as conn:
                # Replicas starting together would race to create the same tables.
                await conn.execute(text("SELECT pg_advisory_xact_lock(775012)"))
                await conn.run_sync(upgrade)
        finally:
            await migrating.dispose()

    async def at_head(self) -> bool:
        """True when the schema is at the newest migration."""
        from bot.store.migrations import is_current

        async with self.engine.connect() as conn:
            return await conn.run_sync(is_current)

    async def dispose(self) -> None:
        await self.changes.close()
        await self.engine.dispose()


class _Unchanged(Exception):
    """Raised inside a transaction that changed nothing, so that it is rolled back instead of committed."""


class _Writes:
    seen = False


def _watch_writes(session: AsyncSession) -> _Writes:
    """Notice whether a transaction writes anything (ORM inserts, updates, deletes), reads not counting."""
    wrote = _Writes()

    def on_execute(state: Any) -> None:
        if (state.is_insert or state.is_update or state.is_delete) and not state.execution_options.get(
            "warroom_bookkeeping"
        ):
            wrote.seen = True

    def on_flush(sync_session: Any, _context: Any) -> None:
        if sync_session.new or sync_session.dirty or sync_session.deleted:
            wrote.seen = True

    event.listen(session.sync_session, "do_orm_execute", on_execute)
    event.listen(session.sync_session, "before_flush", lambda s, c, i: on_flush(s, c))
    return wrote


def _connect_args(url: str, statement_timeout: float | None) -> dict[str, Any]:
    """The driver's own limits: SQLite's busy timeout; asyncpg's connect and statement timeouts."""
    if url.startswith("sqlite"):
        return {"timeout": SQLITE_BUSY_TIMEOUT}
    args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT}
    if statement_timeout is not None:
        # asyncpg's limit is kept on our side, so it holds even when the server or the network goes silent (and
        # needs no startup parameter, which connection poolers such as PgBouncer refuse).
        args["command_timeout"] = statement_timeout
    return args


class _Writers:
    """SQLite's one writer at a time, in this process: whoever waits is woken in order, acks before the rest."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._rest: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, *, urgent: bool) -> None:
        if not self._held and not self._urgent and not self._rest:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._rest
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed the lock as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it already
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._rest):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the lock passes to it, still held
                    return
        self._held = False


def _serialize_sqlite_writes(engine: AsyncEngine) -> None:
    # pysqlite's deferred BEGIN lets two writers deadlock on upgrade; BEGIN IMMEDIATE queues them instead,
    # which also makes the reminder engine's claim atomic across processes sharing the file.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # Database.read takes no write lock: with WAL a reader sees the last commit while a writer works.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("warroom_read_only") else "BEGIN IMMEDIATE")


def _person(pid: str | None, name: str | None) -> Person | None:
    return Person(pid, name or pid) if pid else None


def _action(r: ActionRow) -> ActionItem:
    owner = _person(r.owner_id, r.owner_name)
    return ActionItem(r.number, r.text, owner, r.due, Person(r.author_id, r.author_name), r.at, r.done_at)


def _incident(row: IncidentRow) -> Incident:
    return Incident(
        number=row.number,
        title=row.title,
        severity=row.severity,
        state=IncidentState(row.state),
        customer=row.customer,
        impact=row.impact,
        cost_per_hour=row.cost_per_hour,
        revenue_at_risk=row.revenue_at_risk,
        playbook=row.playbook,
        timezone=row.timezone,
        opened_by=Person(row.opened_by_id, row.opened_by_name),
        opened_at=row.opened_at,
        room_id=row.room_id,
        room_name=row.room_name,
        room_opened_at=row.room_opened_at,
        kickoff_message_id=row.kickoff_message_id,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        update_prompts=row.update_prompts,
        doing=row.doing,
        outcome=row.outcome,
        unresolved_reason=row.unresolved_reason,
        customer_contacts=tuple(json.loads(row.customer_contacts or "[]")),
        headline=row.headline,
        private=row.private,
    )


_INCIDENT_FIELDS = [
    "update_prompts",
    "title",
    "severity",
    "customer",
    "impact",
    "cost_per_hour",
    "revenue_at_risk",
    "playbook",
    "timezone",
    "opened_at",
    "room_id",
    "room_name",
    "room_opened_at",
    "kickoff_message_id",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "doing",
    "outcome",
    "unresolved_reason",
    "headline",
    "private",
]


@dataclass(frozen=True)
class StatusParts:
    """What `status` shows of an incident beyond its own row."""

    roles: list[RoleAssignment]
    actions: list[ActionItem]
    follow_ups: list[FollowUp]
    commitments: list[Commitment]
    updates: list[CustomerUpdate]
    prompt_due: datetime | None  # when the pending prompt for the next customer update fires
    owed: int  # posts for the room waiting to be delivered
    owed_since: datetime | None
    bad_news: list[BadNews]


class Store(
    FollowUpStore,
    CustomerStore,
    PlatformStore,
    OutboxStore,
    InboxStore,
    MailStore,
    WebhookStore,
    ViewStore,
    TokenStore,
    LinkStore,
):
    """Reads and writes domain values inside the caller's transaction."""

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self.init_firing()

    # incidents ------------------------------------------------------------------------------------

    async def add_incident(self, incident: Incident) -> Incident:
        """Insert a new incident; its number is assigned by the database."""
        row = IncidentRow(
            state=incident.state.value,
            opened_by_id=incident.opened_by.id,
            opened_by_name=incident.opened_by.name,
            customer_contacts=json.dumps(list(incident.customer_contacts)) if incident.customer_contacts else None,
            **{f: getattr(incident, f) for f in _INCIDENT_FIELDS},
        )
        self.session.add(row)
        await self.session.flush()
        return _incident(row)

    async def save_incident(self, incident: Incident) -> None:
        row = await self._row(incident.number)
        row.state = incident.state.value
        for name in _INCIDENT_FIELDS:
            setattr(row, name, getattr(incident, name))
        row.customer_contacts = json.dumps(list(incident.customer_contacts)) if incident.customer_contacts else None

    async def get_incident(self, number: int, *, lock: bool = False) -> Incident:
        """The incident; with ``lock`` its row is held until commit so commands on it run one at a time."""
        return _incident(await self._row(number, lock=lock))

    async def _row(self, number: int, *, lock: bool = False) -> IncidentRow:
        if number in self.locked:  # held since earlier in this transaction: the session has the row already
            held = await self.session.get(IncidentRow, number)
            if held is not None:
                return held
        query = select(IncidentRow).where(IncidentRow.number == number)
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"there is no INC-{number}")
        if lock:
            self.locked.add(number)
            self.held.append(row)
        return row

    async def incident_in_room(self, room_id: str) -> Incident | None:
        query = select(IncidentRow).where(IncidentRow.room_id == room_id).order_by(IncidentRow.number.desc()).limit(1)
        row = (await self.session.execute(query)).scalar_one_or_none()
        return _incident(row) if row else None

    async def incidents(self, *, include_closed: bool = False) -> list[Incident]:
        query = select(IncidentRow).order_by(IncidentRow.severity, IncidentRow.number)
        if not include_closed:
            query = query.where(IncidentRow.state != IncidentState.CLOSED.value)
        return [_incident(r) for r in (await self.session.execute(query)).scalars()]

    async def incident_page(self, **filters: Any) -> tuple[list[tuple[Incident, BriefParts]], int]:
        """One page of incidents, each with what a list shows of it, and the total matching (ViewStore.incident_rows
        takes the filters)."""
        rows, total = await self.incident_rows(**filters)
        return [(_incident(r), parts) for r, parts in rows], total

    async def delete_incident(self, number: int) -> None:
        """Forget an incident whose war room could not be opened (everything under it cascades)."""
        for table in CHILD_TABLES:
            await self.session.execute(delete(table).where(table.incident == number))
        await self.session.execute(delete(IncidentRow).where(IncidentRow.number == number))

    # roles and responders -------------------------------------------------------------------------

    async def set_role(self, number: int, role: str, person: Person) -> None:
        row = await self.session.get(RoleRow, (number, role))
        if row is None:
            self.session.add(RoleRow(incident=number, role=role, person_id=person.id, person_name=person.name))
        else:
            row.person_id, row.person_name = person.id, person.name

    async def roles(self, number: int) -> list[RoleAssignment]:
        rows = (await self.session.execute(select(RoleRow).where(RoleRow.incident == number))).scalars()
        return [RoleAssignment(r.role, Person(r.person_id, r.person_name)) for r in rows]

    async def log_change(self, said: str) -> None:
        """SQLite: what this transaction changed (bot.store.changes.payload), for other processes' kept answers; the
        log keeps the last KEEP_CHANGES rows (a process that fell further behind drops all it kept)."""
        add = insert(ChangeLogRow).values(incidents=said).returning(ChangeLogRow.seq).execution_options(**BOOKKEEPING)
        seq = int((await self.session.execute(add)).scalar_one())
        if seq % 100 == 0:
            old = delete(ChangeLogRow).where(ChangeLogRow.seq <= seq - KEEP_CHANGES).execution_options(**BOOKKEEPING)
            await self.session.execute(old)

    async def status_parts(self, incident: Incident, *, prompt: str) -> StatusParts:
        """What `status` shows of ``incident`` beyond its own row, read in one statement (bot/store/together.py);
        ``prompt``: the kind of reminder that prompts the next customer update."""
        n = incident.number
        parts = {
            "roles": Part(RoleRow, [RoleRow.incident == n], ("role",)),
            "actions": Part(ActionRow, [ActionRow.incident == n], ("number",)),
            "follow_ups": Part(FollowUpRow, [FollowUpRow.incident == n], ("number",)),
            "commitments": Part(CommitmentRow, [CommitmentRow.incident == n], ("number",)),
            "updates": Part(UpdateRow, [UpdateRow.incident == n], ("number",)),
            "prompt": Part(
                ReminderRow,
                [
                    ReminderRow.incident == n,
                    ReminderRow.kind == prompt,
                    ReminderRow.subject == 0,
                    ReminderRow.state == PENDING_REMINDER,
                ],
            ),
            "bad_news": Part(BadNewsRow, [BadNewsRow.incident == n], ("number",)),
            "changes": Part(EventRow, [EventRow.incident == n, EventRow.kind == EventKind.CHANGED.value], ("id",)),
        }
        owed = (OutboxRow.state == OUTBOX_PENDING, OutboxRow.incident == n)
        scalars = {
            "owed": select(func.count()).where(*owed).scalar_subquery(),
            "owed_since": select(func.min(OutboxRow.created_at)).where(*owed).scalar_subquery(),
        }
        row = (await self.session.execute(together(self.dialect, parts, scalars))).one()
        read = {name: from_json(part, getattr(row, name)) for name, part in parts.items()}
        shown = zone_of_now(incident.timezone, [(e.text, e.data) for e in read["changes"]])
        since = row.owed_since
        if isinstance(since, str):  # SQLite hands an aggregate of a time back as its stored text
            since = datetime.fromisoformat(since)
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return StatusParts(
            roles=[RoleAssignment(r.role, Person(r.person_id, r.person_name)) for r in read["roles"]],
            actions=[_action(r) for r in read["actions"]],
            follow_ups=[_follow_up(r) for r in read["follow_ups"]],
            commitments=[_commitment(r) for r in read["commitments"]],
            updates=[update_value(r) for r in read["updates"]],
            prompt_due=read["prompt"][0].due_at if read["prompt"] else None,
            owed=int(row.owed),
            owed_since=since,
            bad_news=[
                replace(b, what=shown(b.what), tell=shown(b.tell)) for b in map(bad_news_value, read["bad_news"])
            ],
        )

    async def add_responders(self, number: int, records: Sequence[ResponderRecord]) -> None:
        for r in records:
            self.session.add(
                ResponderRow(
                    incident=number,
                    handle=r.handle,
                    team=r.team,
                    reason=r.reason,
                    person_id=r.person.id if r.person else None,
                    person_name=r.person.name if r.person else None,
                    invited=r.invited,
                )
            )

    async def responders(self, number: int) -> list[ResponderRecord]:
        query = select(ResponderRow).where(ResponderRow.incident == number).order_by(ResponderRow.id)
        return [
            ResponderRecord(r.handle, r.team, r.reason, _person(r.person_id, r.person_name), r.invited)
            for r in (await self.session.execute(query)).scalars()
        ]

    # timeline, lessons, action items --------------------------------------------------------------

    async def add_event(
        self,
        number: int,
        at: datetime,
        kind: EventKind,
        actor: Person | None,
        text: str,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            EventRow(
                incident=number,
                at=at,
                kind=kind.value,
                actor_id=actor.id if actor else None,
                actor_name=actor.name if actor else None,
                text=text,
                data=json.dumps(data or {}, sort_keys=True),
            )
        )
        # Webhook deliveries are owed in the same transaction: sent if and only if the event is recorded.
        who = {"id": actor.id, "name": actor.name} if actor else None
        await self.owe_webhooks(number, at, kind, actor=who, text=text, data=data or {})

    async def latest_event_at(self) -> datetime | None:
        """When anything last happened, in any incident (simulated clocks resume from there)."""
        return (await self.session.execute(select(func.max(EventRow.at)))).scalar_one_or_none()

    async def timeline(self, number: int) -> list[TimelineEvent]:
        """The incident's events, oldest first; the instants their text names read in the incident's zone of now."""
        query = select(EventRow).where(EventRow.incident == number).order_by(EventRow.at, EventRow.id)
        shown = await in_zone_of_now(self.session, number)
        return [
            TimelineEvent(r.at, EventKind(r.kind), _person(r.actor_id, r.actor_name), shown(r.text), json.loads(r.data))
            for r in (await self.session.execute(query)).scalars()
        ]

    async def add_lesson(self, number: int, text: str, author: Person, at: datetime) -> Lesson:
        n = await self.next_number(LessonRow, number)
        self.session.add(
            LessonRow(incident=number, number=n, text=text, author_id=author.id, author_name=author.name, at=at)
        )
        return Lesson(n, text, author, at)

    async def lessons(self, number: int) -> list[Lesson]:
        query = select(LessonRow).where(LessonRow.incident == number).order_by(LessonRow.number)
        return [
            Lesson(r.number, r.text, Person(r.author_id, r.author_name), r.at)
            for r in (await self.session.execute(query)).scalars()
        ]

    async def add_action(
        self, number: int, text: str, *, owner: Person | None, due: datetime | None, author: Person, at: datetime
    ) -> ActionItem:
        n = await self.next_number(ActionRow, number)
        self.session.add(
            ActionRow(
                incident=number,
                number=n,
                text=text,
                owner_id=owner.id if owner else None,
                owner_name=owner.name if owner else None,
                due=due,
                author_id=author.id,
                author_name=author.name,
                at=at,
            )
        )
        return ActionItem(n, text, owner, due, author, at)

    async def actions(self, number: int) -> list[ActionItem]:
        query = select(ActionRow).where(ActionRow.incident == number).order_by(ActionRow.number)
        return [_action(r) for r in (await self.session.execute(query)).scalars()]

    async def action(self, incident: int, number: int) -> ActionItem:
        return _action(await self._action_row(incident, number))

    async def save_action(self, item: ActionItem, incident: int) -> None:
        row = await self._action_row(incident, item.number)
        row.state, row.done_at = ("open" if item.is_open else "done"), item.done_at

    async def _action_row(self, incident: int, number: int) -> ActionRow:
        query = select(ActionRow).where(ActionRow.incident == incident, ActionRow.number == number)
        row = (await self.session.execute(query)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"INC-{incident} has no A{number}; `status` lists its action items")
        return row

    # summaries ------------------------------------------------------------------------------------

    async def save_summary(self, number: int, at: datetime, markdown: str, data: dict[str, Any]) -> None:
        row = await self.session.get(SummaryRow, number)
        payload = json.dumps(data, sort_keys=True)
        if row is None:
            self.session.add(SummaryRow(incident=number, written_at=at, markdown=markdown, data=payload))
        else:
            row.written_at, row.markdown, row.data = at, markdown, payload

    async def summary(self, number: int) -> tuple[str, dict[str, Any]] | None:
        row = await self.session.get(SummaryRow, number)
        return (row.markdown, json.loads(row.data)) if row else None
