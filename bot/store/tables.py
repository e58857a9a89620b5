"""The database schema as typed SQLAlchemy 2 models. Alembic migrations in bot/migrations own its evolution."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out — SQLite hands back naive datetimes, PostgreSQL aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("refusing to store a naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = Numeric(16, 2)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class IncidentRow(Base):
    __tablename__ = "incidents"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), index=True)
    customer: Mapped[str | None] = mapped_column(String(200))
    impact: Mapped[str | None] = mapped_column(Text)
    cost_per_hour: Mapped[Decimal | None] = mapped_column(Money)
    revenue_at_risk: Mapped[Decimal | None] = mapped_column(Money)
    playbook: Mapped[str] = mapped_column(String(80))
    timezone: Mapped[str] = mapped_column(String(64))
    opened_by_id: Mapped[str] = mapped_column(String(128))
    opened_by_name: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    room_id: Mapped[str | None] = mapped_column(String(256), index=True)
    room_name: Mapped[str | None] = mapped_column(String(256))
    room_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    kickoff_message_id: Mapped[str | None] = mapped_column(String(256))
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    update_prompts: Mapped[int] = mapped_column(default=0, server_default="0")  # unanswered since the last update
    doing: Mapped[str | None] = mapped_column(Text)  # the customer-facing "what we are doing" (`set doing:`)
    outcome: Mapped[str | None] = mapped_column(Text)  # what the crisis cost or won in the end
    unresolved_reason: Mapped[str | None] = mapped_column(Text)  # set by `close unresolved <reason>`
    customer_contacts: Mapped[str | None] = mapped_column(Text)  # JSON: the customer's email addresses
    headline: Mapped[str | None] = mapped_column(Text)  # what the customer calls the problem (`set headline:`)
    private: Mapped[bool | None] = mapped_column(Boolean)  # invisible outside its war room; NULL: as its playbook says


class RoleRow(Base):
    __tablename__ = "incident_roles"

    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(128))
    person_name: Mapped[str] = mapped_column(String(200))


class ResponderRow(Base):
    __tablename__ = "responders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), index=True)
    handle: Mapped[str] = mapped_column(String(200))
    team: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(String(200))
    person_id: Mapped[str | None] = mapped_column(String(128))
    person_name: Mapped[str | None] = mapped_column(String(200))
    invited: Mapped[bool]


class EventRow(Base):
    __tablename__ = "timeline"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_timeline_incident_at", "incident", "at"),)


class LessonRow(Base):
    __tablename__ = "lessons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    number: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(128))
    author_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("incident", "number"),)


class ActionRow(Base):
    __tablename__ = "action_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    number: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str | None] = mapped_column(String(128))
    owner_name: Mapped[str | None] = mapped_column(String(200))
    due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    author_id: Mapped[str] = mapped_column(String(128))
    author_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default="open", server_default="open")  # open | done
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("incident", "number"),)


class SummaryRow(Base):
    __tablename__ = "summaries"

    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), primary_key=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    markdown: Mapped[str] = mapped_column(Text)
    data: Mapped[str] = mapped_column(Text)


class FollowUpRow(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    number: Mapped[int]
    vendor: Mapped[str] = mapped_column(String(200), index=True)
    known_vendor: Mapped[bool]
    ask: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))
    owner_id: Mapped[str] = mapped_column(String(128))
    owner_name: Mapped[str] = mapped_column(String(200))
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ladder: Mapped[str] = mapped_column(Text)  # JSON: the vendor's ladder as it was when we asked
    plan_b: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))
    business_hours: Mapped[str | None] = mapped_column(Text)  # JSON
    remind_every_seconds: Mapped[int]
    escalate_after: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))
    chases: Mapped[int]
    unanswered: Mapped[int]
    rung: Mapped[int]
    escalations: Mapped[int]
    heard_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_heard_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    plan_b_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customer_name: Mapped[str | None] = mapped_column(String(200))  # how the customer hears of this vendor
    kind: Mapped[str] = mapped_column(String(16), default="vendor", server_default="vendor")  # vendor | team | rca
    every_business_days: Mapped[int] = mapped_column(default=0, server_default="0")  # `every:1bd`; 0: remind_every
    # One vendor ticket waited on by several incidents: the follow-up whose chase this one shares (None: its own).
    lead_incident: Mapped[int | None]
    lead_number: Mapped[int | None]
    pushes: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")  # JSON: what a root cause's owner
    # pushed onto us or the customer
    customer_text: Mapped[str | None] = mapped_column(Text)  # `customer:"…"`: what the customer hears of it
    first_due: Mapped[datetime] = mapped_column(UTCDateTime)  # the due time it was asked with, kept across slips
    slips: Mapped[int] = mapped_column(default=0, server_default="0")  # later ETAs once the first due time passed
    climbed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # its last climb up the ladder
    # `reach_top_within`: a duration (seconds), or business days when that is 0
    reach_top_seconds: Mapped[int] = mapped_column(default=0, server_default="0")
    reach_top_business_days: Mapped[int] = mapped_column(default=3, server_default="3")

    __table_args__ = (
        UniqueConstraint("incident", "number"),
        Index("ix_follow_ups_reference", "reference"),
        # Every chase looks up the copies of its vendor ticket in other incidents: without this, a scan of them all.
        Index("ix_follow_ups_lead", "lead_incident", "lead_number"),
    )


class ReminderRow(Base):
    """A durable timer: claimed under a lease so it fires once across replicas."""

    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[int]  # the follow-up or commitment number; 0 for incident-wide reminders
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))  # pending | done | cancelled
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # A tick reads only what is due: this index holds pending rows alone, ordered by time.
        Index(
            "ix_reminders_pending_due",
            "due_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # A subject's latest reminder, whatever its state (was it cancelled by close, or did it fire?).
        Index("ix_reminders_subject", "incident", "kind", "subject", "id"),
        # At most one pending reminder per thing it is about.
        Index(
            "uq_reminders_pending_subject",
            "incident",
            "kind",
            "subject",
            unique=True,
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


class CommitmentRow(Base):
    __tablename__ = "commitments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    number: Mapped[int]
    promise: Mapped[str] = mapped_column(Text)
    due: Mapped[datetime] = mapped_column(UTCDateTime)
    author_id: Mapped[str] = mapped_column(String(128))
    author_name: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    at_risk_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    needs: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")  # JSON: follow-up numbers it needs

    __table_args__ = (UniqueConstraint("incident", "number"),)


class UpdateRow(Base):
    __tablename__ = "customer_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"))
    number: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str] = mapped_column(String(128))
    author_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The text is exactly what the customer got (sent by the bot, or recorded as drafted): drafts may quote it.
    exact: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (UniqueConstraint("incident", "number"),)


class BadNewsRow(Base):
    __tablename__ = "bad_news"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # B<n> within the incident
    trigger: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(Text)  # for the war room
    tell: Mapped[str | None] = mapped_column(Text)  # the same news as the customer may hear it
    draft: Mapped[str | None] = mapped_column(Text)  # the drafted update that *Update sent* records
    repeats: Mapped[int] = mapped_column(default=0, server_default="0")  # prompts repeated while untold
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    update_number: Mapped[int | None]
    commitment: Mapped[int | None]  # the C<n> it is about
    follow_up: Mapped[int | None]  # the V<n> it is about
    moot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the promise was kept before it was told

    __table_args__ = (UniqueConstraint("incident", "number"),)


class IdempotencyRow(Base):
    """A request already seen (a Slack event retry, a double-clicked command), shared by every replica."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class RoomAddressRow(Base):
    """How to reach a room proactively (a Teams conversation reference), kept across restarts."""

    __tablename__ = "room_addresses"

    room_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    data: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxRow(Base):
    """A message Warroom owes a room: written in the transaction that decided it, delivered after, once."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)  # the delivery key the platform is told
    incident: Mapped[int | None] = mapped_column(Integer, index=True)
    room_id: Mapped[str] = mapped_column(String(256))
    room_name: Mapped[str] = mapped_column(String(256))
    message: Mapped[str] = mapped_column(Text)  # JSON: the platform-neutral Message
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | refused
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(256))  # the platform's id once delivered
    last_error: Mapped[str | None] = mapped_column(Text)
    maybe_posted: Mapped[bool] = mapped_column(default=False, server_default=false())  # an attempt's answer was lost
    batch_key: Mapped[str | None] = mapped_column(String(64))  # the catch-up post it went out in, once tried
    thread_of: Mapped[int | None] = mapped_column(Integer)  # the outbox row whose post this one replies to
    # full | short (the platform refused it in full: its short version is what is sent) | notice (a post given up on)
    form: Mapped[str] = mapped_column(String(8), default="full", server_default="full")

    __table_args__ = (
        Index(
            "ix_outbox_pending_next",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


class FormDraftRow(Base):
    """What was typed with a form-opening command (`open sev:1 products:…`), kept here while the form is open."""

    __tablename__ = "form_drafts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class InboxRow(Base):
    """A command acknowledged as accepted: written before the ack, carried out by whichever replica is alive."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the dedupe key: a double submit is one row
    # The signed request it came in (Slack): a replay of it, on any replica, conflicts with this row.
    replay: Mapped[str | None] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(32))
    payload: Mapped[str] = mapped_column(Text)  # JSON: what was typed, by whom, where, where to answer
    state: Mapped[str] = mapped_column(String(16))  # pending | applied (its first write committed) | done
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # Every replica claims what is still owed every few seconds; done rows stay a day and must not be scanned.
        Index(
            "ix_inbox_owed",
            "platform",
            "id",
            postgresql_where=text("state != 'done'"),
            sqlite_where=text("state != 'done'"),
        ),
        Index("ix_inbox_replay", "replay", unique=True),
        Index(
            "ix_inbox_done_at",
            "done_at",
            postgresql_where=text("state = 'done'"),
            sqlite_where=text("state = 'done'"),
        ),
    )


class MailOutRow(Base):
    """An email Warroom owes: written in the transaction that decided it, sent after, recorded as sent only when the
    server took it. Claimed under a lease like every work queue, retried with backoff while the server is down."""

    __tablename__ = "mail_out"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)  # replies thread on it
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), index=True)
    follow_up: Mapped[int | None]  # V<n> it chases; None for a customer update
    purpose: Mapped[str] = mapped_column(String(16))  # chase | update
    sender: Mapped[str] = mapped_column(Text)
    recipients: Mapped[str] = mapped_column(Text)  # JSON: {"to": […], "cc": […]}
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str | None] = mapped_column(String(250))
    refs: Mapped[str] = mapped_column(Text, default="[]")  # JSON: the References header
    automatic: Mapped[bool] = mapped_column(default=False)  # sent without a click (a playbook's auto_send)
    actor_id: Mapped[str | None] = mapped_column(String(128))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    data: Mapped[str] = mapped_column(Text, default="{}")  # JSON: what recording it as sent needs (tells, next…)
    state: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "ix_mail_out_pending_next",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )


class MailInRow(Base):
    """A message taken in from the mailbox: kept (once, by its key) before it is handled, then handled once, under a
    lease, by whichever replica claims it — a restart between the two loses nothing and repeats nothing."""

    __tablename__ = "mail_in"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # its Message-ID, else folder/UIDVALIDITY/UID
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the mailbox gave it to us: the reply time
    mail: Mapped[str] = mapped_column(Text)  # JSON: what was read of it (bot.mail.message.Received)
    state: Mapped[str] = mapped_column(String(16))  # pending | done | failed (broke midway: may have made one)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident: Mapped[int | None] = mapped_column(Integer)  # what it was matched to, if anything
    outcome: Mapped[str | None] = mapped_column(Text)  # what was done with it, or why it was left alone
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_mail_in_folder_uid", "folder", "uidvalidity", "uid"),)


class WebhookSubscriptionRow(Base):
    """Where webhook events are sent: added by `warroom webhook add`, or recorded from WARROOM_WEBHOOKS by `serve`."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(Text)  # JSON: the event types it wants; [] for every one
    # The signing secret generated by `warroom webhook add`; None for a subscription from the settings, whose secret
    # stays in the environment and is looked up by URL when a delivery is signed.
    secret: Mapped[str | None] = mapped_column(String(256))
    origin: Mapped[str] = mapped_column(String(16))  # cli | settings
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Added with `--allow-private`: delivered to this machine or its network (loopback, private, link-local) even
    # without WARROOM_WEBHOOKS_ALLOW_PRIVATE, which opens it for every subscription.
    allow_private: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (UniqueConstraint("url", "origin", name="uq_webhook_subscriptions_url_origin"),)


class WebhookDeliveryRow(Base):
    """One event owed to one subscription: written in the transaction the event happened in, sent after, retried."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # the order events happened in
    event_id: Mapped[str] = mapped_column(String(64))  # the body's id: the same in every retry and subscription
    subscription: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    incident: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent (and signed) in every attempt
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)  # retried until then, then failed
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's last HTTP status, if it answered
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        UniqueConstraint("event_id", "subscription", name="uq_webhook_deliveries_event_id_subscription"),
        # The claim: pending and due, oldest first…
        Index(
            "ix_webhook_deliveries_pending_next",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # …and only the first still pending of its incident for its subscription (in order per incident).
        Index(
            "ix_webhook_deliveries_pending_queue",
            "subscription",
            "incident",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_webhook_deliveries_incident", "incident"),
    )


class ApiTokenRow(Base):
    """A bearer token of the HTTP API: only its SHA-256 is kept; the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    scope: Mapped[str] = mapped_column(String(8))  # read | write
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # every request looks it up by this
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiRequestRow(Base):
    """A POST sent with an Idempotency-Key: what it asked (its fingerprint) and what it made, so a retry made on any
    replica answers with the same incident instead of opening another."""

    __tablename__ = "api_requests"

    token: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the method, path and body
    state: Mapped[str] = mapped_column(String(16))  # pending | done | failed (broke midway: may have made one)
    incident: Mapped[int | None]
    reply: Mapped[str | None] = mapped_column(Text)  # a command's reply (JSON), given again to a retry
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ChangeLogRow(Base):
    """Which incidents each committed transaction changed, for kept answers (bot/answers.py) on SQLite: another
    process's commit is seen as a new `PRAGMA data_version`, and this says whose answers it makes stale. Only the
    last few thousand are kept. (PostgreSQL tells the same in the payload of its NOTIFY; this stays empty there.)"""

    __tablename__ = "change_log"
    __table_args__ = {"sqlite_autoincrement": True}  # never reused, so a reader can tell it missed some

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incidents: Mapped[str] = mapped_column(Text)  # bot.store.changes.payload: "1,2", "*" (any), "-" (none shown)


class CustomerLinkRow(Base):
    """A private link to the customer's page (`share`): only the SHA-256 of its token is kept, the token itself is
    shown once. Opening the page writes the time only, never the address."""

    __tablename__ = "customer_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident: Mapped[int] = mapped_column(ForeignKey("incidents.number", ondelete="CASCADE"), index=True)
    number: Mapped[int]  # the incident's link 1, 2, … (`share revoke 2`)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # every page view looks it up by this
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[str] = mapped_column(String(200))
    created_by_name: Mapped[str] = mapped_column(String(200))
    emailed_to: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of addresses `share to:` sent it to
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")  # it ends this long after close
    asked: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of the last hour's question times (rate limit)

    __table_args__ = (UniqueConstraint("incident", "number"),)
