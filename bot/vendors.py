"""Vendor follow-ups: ask, hear back, receive, escalate up the ladder, Plan B — and the chase that fires on time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import render
from bot.chat import Actions, Bullets, Button, Inline, Invocation, Message, Reply, Section, Strong, Tone
from bot.customer import Trigger
from bot.desk import Desk
from bot.domain import EventKind, Incident, Person
from bot.errors import BadInput
from bot.followups import FollowUp, FollowUpState
from bot.playbooks import DEFAULT_ESCALATE_AFTER, DEFAULT_REMIND_EVERY, LadderRung, VendorProfile
from bot.reminders import Reminder
from bot.store import Store
from bot.updates import CustomerDesk
from bot.when import format_duration, parse_duration, parse_when

CHASE = "follow_up"


def _rung(r: LadderRung | None) -> str:
    if r is None:
        return "nobody left on the ladder"
    return f"{r.name}" + (f" ({r.role})" if r.role else "") + f", {r.contact}"


def _buttons(f: FollowUp, *, email: bool = False) -> Actions:
    return Actions(
        (
            Button("Heard back", f"vendor heard {f.ref}", "primary"),
            Button("Received", f"vendor done {f.ref}"),
            Button("Escalate", f"vendor escalate {f.ref}", "danger"),
            Button("Snooze 1h", f"vendor snooze {f.ref} 1h"),
            *([Button("Send email", f"vendor email {f.ref}")] if email else []),
        )
    )


class ChaseMail(Protocol):
    """Email for chases (bot/mail): whether the current rung can be emailed, and the chase a playbook auto-sends."""

    def can_email(self, f: FollowUp) -> bool: ...

    async def chased(self, store: Store, incident: Incident, f: FollowUp, now: datetime) -> None: ...


def title(f: FollowUp) -> str:
    return f"{f.ref} {f.vendor}: {f.ask}" + (f" ({f.reference})" if f.reference else "")


def overdue_message(f: FollowUp, incident: Incident, now: datetime, *, email: bool = False) -> Message:
    """The chase: the owner is mentioned with the ask, how late it is and who to call."""
    left = max(f.escalate_after - f.unanswered, 0)
    after = (
        "Plan B was posted; keep chasing or cancel it."
        if f.plan_b_at
        else (
            f"{left} more unanswered reminder(s) before it climbs the ladder."
            if left
            else "Next reminder escalates it."
        )
    )
    return Message(
        f"⏰ {title(f)} is overdue",
        (
            Section.of(
                render.mention(f.owner),
                f" — nothing received from {f.vendor}. It was due "
                f"{render.when(f.due, incident)}, {format_duration(now - f.due)} ago; chase {f.chases}.",
            ),
            Section.of(Strong("Current contact: "), _rung(f.contact)),
            Section.of(after),
            _buttons(f, email=email),
        ),
        Tone.REMINDER,
    )


def escalation_draft(f: FollowUp, incident: Incident, previous: LadderRung | None, now: datetime) -> str:
    """The message to send the next contact, written for them to act on."""
    nxt = f.contact
    stake = incident.impact or incident.title
    cost = f" (costing them {render.money(incident.cost_per_hour)} an hour)" if incident.cost_per_hour else ""
    by = render.when(now + f.remind_every, incident)
    asked, due = render.when(f.asked_at, incident), render.when(f.due, incident)
    customer = f"Our customer {incident.customer}" if incident.customer else "Our customer"
    return (
        f"Hi {nxt.name.split()[0] if nxt else 'there'} — on {asked} we asked {f.vendor} for {f.ask}"
        + (f" ({f.reference})" if f.reference else "")
        + f", due {due}. We have chased {f.chases} time(s)"
        + (f" through {previous.name}" if previous else "")
        + f" without an answer. {customer} is affected: {stake}{cost}. "
        f"Can you get us {f.ask} by {by}? — {f.owner.name}"
    )


def escalation_message(
    f: FollowUp,
    incident: Incident,
    previous: LadderRung | None,
    commander: Person | None,
    now: datetime,
    *,
    email: bool = False,
) -> Message:
    who: list[Inline] = [render.mention(commander), " "] if commander and commander != f.owner else []
    return Message(
        f"🔺 {title(f)} escalated to rung {f.rung + 1} of {len(f.ladder)}",
        (
            Section.of(
                *who,
                render.mention(f.owner),
                f" — {f.vendor} has not answered since {render.when(f.last_heard_at or f.asked_at, incident)}"
                f" ({f.chases} chase(s)). Next contact:",
            ),
            Section.of(Strong(_rung(f.contact))),
            Section.of(Strong("Draft to send: "), escalation_draft(f, incident, previous, now)),
            _buttons(f, email=email),
        ),
        Tone.BAD_NEWS,
    )


def plan_b_message(f: FollowUp, incident: Incident, commander: Person | None, sponsor: Person | None) -> Message:
    who: list[Inline] = []
    for p in dict.fromkeys(x for x in (sponsor, commander) if x and x != f.owner):
        who += [render.mention(p), " "]
    return Message(
        f"🅱 {title(f)}: the ladder is exhausted — time for Plan B",
        (
            Section.of(
                *who,
                render.mention(f.owner),
                f" — nobody at {f.vendor} answered, up to {_rung(f.ladder[-1] if f.ladder else None)}.",
            ),
            Section.of(
                Strong("Plan B: "),
                f.plan_b
                or "the playbook has none for this vendor: decide one now and record it with `/incident note`.",
            ),
            Section.of("Tell the customer today; bad news early beats silence."),
            _buttons(f),
        ),
        Tone.BAD_NEWS,
    )


def follow_up_lines(follow_ups: list[FollowUp], incident: Incident, now: datetime) -> Bullets:
    def line(f: FollowUp) -> str:
        late = f", {format_duration(now - f.due)} late" if f.is_open and now > f.due else ""
        return (
            f"{title(f)} — {f.state.value}, owner {f.owner.name}, due {render.when(f.due, incident)}{late}; "
            f"chases {f.chases}, contact {_rung(f.contact) if f.is_open else '—'}"
        )

    return Bullets(tuple(line(f) for f in follow_ups))


class VendorDesk:
    """The `vendor`, `vendors` and `scorecard` verbs, and the chase the reminder engine fires."""

    def __init__(self, desk: Desk, customer: CustomerDesk) -> None:
        self.desk, self.customer = desk, customer
        self.mail: ChaseMail | None = None  # set by the service when email is wired in

    def _email(self, f: FollowUp) -> bool:
        return self.mail is not None and self.mail.can_email(f)

    def profile(self, incident: Incident, name: str) -> VendorProfile | None:
        """The vendor as the incident's playbook knows it, else as any playbook does."""
        books = self.desk.playbooks
        own = books.get(incident.playbook).vendor(name)
        return own or next((v for n in books.names if (v := books.get(n).vendor(name))), None)

    async def ask(self, cmd: c.AskVendor, inv: Invocation) -> Reply:
        now = self.desk.now
        owner = await self.desk.resolve_person(cmd.owner) if cmd.owner else Person(inv.user.id, inv.user.name)
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("ask a vendor")
            due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone))
            known = self.profile(incident, cmd.vendor)
            commander = await self.desk.commander(store, incident)
            draft = FollowUp(
                incident=incident.number,
                number=0,
                vendor=known.name if known else cmd.vendor,
                known_vendor=known is not None,
                ask=cmd.ask,
                reference=cmd.reference,
                owner=owner,
                due=due,
                asked_at=now,
                ladder=known.ladder
                if known
                else (
                    LadderRung(owner.name, "Owner", f"@{owner.name}"),
                    LadderRung(
                        commander.name if commander else "the commander",
                        "Incident commander",
                        f"@{commander.name}" if commander else "—",
                    ),
                ),
                plan_b=known.plan_b if known else None,
                customer_name=known.customer_name if known else None,
                timezone=known.timezone if known else incident.timezone,
                business_hours=known.business_hours if known else None,
                remind_every=known.remind_every if known else DEFAULT_REMIND_EVERY,
                escalate_after=known.escalate_after if known else DEFAULT_ESCALATE_AFTER,
            )
            f = await store.add_follow_up(draft)
            await store.schedule(incident.number, CHASE, f.number, f.first_reminder(), now=now)
            text = f"{f.ref} asked {f.vendor} for {f.ask}, due {render.when(due, incident)}, owner {owner.name}"
            await store.add_event(
                incident.number,
                now,
                EventKind.FOLLOW_UP,
                Person(inv.user.id, inv.user.name),
                text,
                {"follow_up": f.number, "vendor": f.vendor},
            )
        blocks: list[Section] = [
            Section.of(
                f"First contact {_rung(f.contact)}; reminders every {format_duration(f.remind_every)}"
                + (" in the vendor's business hours" if f.business_hours else "")
                + f", escalating after {f.escalate_after} unanswered."
            )
        ]
        if not known:
            blocks.append(
                Section.of(
                    f"⚠ No playbook knows '{cmd.vendor}': using a generic ladder (owner, then "
                    "commander). Add the vendor to a playbook for a real ladder and Plan B."
                )
            )
        await self.desk.announce(
            incident,
            Message(
                f"📦 {title(f)}",
                (Section.of("Owner ", render.mention(owner), f", due {render.when(due, incident)}."), *blocks),
            ),
        )
        return Reply((Message(f"{incident.ref}: {text}", tuple(blocks), Tone.SUCCESS if known else Tone.REMINDER),))

    async def heard(self, cmd: c.HeardFromVendor, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record vendor news")
            before = await store.follow_up(incident.number, cmd.number)
            new_due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone)) if cmd.due else None
            f = before.heard(now, new_due)
            await store.save_follow_up(f)
            next_at = f.first_reminder() if f.due > now else f.next_reminder(now)
            await store.schedule(incident.number, CHASE, f.number, next_at, now=now)
            slipped = new_due is not None and new_due > before.due
            text = (
                f"{f.ref} heard back from {f.vendor}"
                + (f": {cmd.note}" if cmd.note else "")
                + (
                    f"; ETA moved from {render.when(before.due, incident)} to {render.when(new_due, incident)}"
                    if slipped
                    else (f"; now due {render.when(new_due, incident)}" if new_due else "")
                )
            )
            await store.add_event(
                incident.number,
                now,
                EventKind.HEARD,
                Person(inv.user.id, inv.user.name),
                text,
                {"follow_up": f.number, "slipped": slipped, "from": before.due.isoformat(), "to": f.due.isoformat()},
            )
            prompt = None
            if slipped:
                moved = f"from {render.when(before.due, incident)} to {render.when(f.due, incident)}"
                prompt = await self.customer.follow_up_slipped(
                    store,
                    incident,
                    f,
                    Trigger.ETA_SLIPPED,
                    f"{f.ref} {f.vendor} moved its date for {f.ask} {moved}",
                    f"{f.named_for_customer} moved its date for {f.ask} {moved}",
                    now,
                )
        await self.desk.announce(incident, Message(f"📬 {text}", tone=Tone.REMINDER if slipped else Tone.INFO))
        if prompt:
            await self.desk.announce(incident, prompt)
        return self.desk.ack(incident, text + f". Next check {render.when(next_at, incident)}.")

    async def received(self, cmd: c.ReceivedFromVendor, inv: Invocation) -> Reply:
        return await self._finish(
            cmd, inv, lambda f, now: f.received(now, cmd.note), EventKind.RECEIVED, "received from", cmd.note
        )

    async def cancel(self, cmd: c.CancelFollowUp, inv: Invocation) -> Reply:
        return await self._finish(
            cmd,
            inv,
            lambda f, now: f.cancelled(now, cmd.reason),
            EventKind.FOLLOW_UP_CANCELLED,
            "cancelled with",
            cmd.reason,
        )

    async def _finish(
        self,
        cmd: c.FollowUpCommand,
        inv: Invocation,
        move: Callable[[FollowUp, datetime], FollowUp],
        kind: EventKind,
        words: str,
        note: str | None,
    ) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            f = move(await store.follow_up(incident.number, cmd.number), now)
            await store.save_follow_up(f)
            await store.cancel_reminders(incident.number, CHASE, f.number)
            text = (
                f"{f.ref} {words} {f.vendor}"
                + (f": {note}" if note else "")
                + (
                    f" after {format_duration(now - f.asked_at)}, {f.chases} chase(s)"
                    if kind is EventKind.RECEIVED
                    else ""
                )
            )
            await store.add_event(
                incident.number, now, kind, Person(inv.user.id, inv.user.name), text, {"follow_up": f.number}
            )
        await self.desk.announce(incident, Message(f"✅ {text}" if kind is EventKind.RECEIVED else f"✖ {text}"))
        return self.desk.ack(incident, text)

    async def escalate(self, cmd: c.EscalateFollowUp, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("escalate a follow-up")
            f = await store.follow_up(incident.number, cmd.number)
            f.escalated()  # refuses a closed follow-up before anything is posted
            messages = await self._climb(store, incident, f, now, Person(inv.user.id, inv.user.name), cmd.note)
        for message in messages:
            await self.desk.announce(incident, message)
        return self.desk.ack(incident, messages[0].title)

    async def snooze(self, cmd: c.SnoozeFollowUp, inv: Invocation) -> Reply:
        now = self.desk.now
        delta = parse_duration(cmd.duration)
        if delta > timedelta(days=7):
            raise BadInput(
                "snooze for a week at most; move the due time with `vendor heard` instead",
                example="vendor snooze V1 4h",
            )
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            f = await store.follow_up(incident.number, cmd.number)
            if not f.is_open:
                raise BadInput(f"{f.ref} is {f.state}; there is nothing to snooze")
            await store.schedule(incident.number, CHASE, f.number, now + delta, now=now)
            text = f"{f.ref} snoozed until {render.when(now + delta, incident)}"
            await store.add_event(
                incident.number,
                now,
                EventKind.SNOOZED,
                Person(inv.user.id, inv.user.name),
                text,
                {"follow_up": f.number},
            )
        return self.desk.ack(incident, text)

    async def list_follow_ups(self, cmd: c.Command, inv: Invocation) -> Reply:
        async with self.desk.db.read() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
            follow_ups = await store.follow_ups(incident.number)
        if not follow_ups:
            return Reply(
                (
                    render.info(
                        f"{incident.ref} waits on no vendor.",
                        Section.of("Open one with ", Strong(f"/incident {c.HELP['vendor'].example}")),
                    ),
                )
            )
        return Reply(
            (
                render.info(
                    f"{incident.ref}: {len(follow_ups)} follow-up(s)",
                    follow_up_lines(follow_ups, incident, self.desk.now),
                ),
            )
        )

    # --- the chase ---------------------------------------------------------------------------------

    async def _climb(
        self, store: Store, incident: Incident, f: FollowUp, now: datetime, actor: Person | None, note: str | None
    ) -> list[Message]:
        """One rung up, or Plan B at the top: recorded, rescheduled, and returned for posting with what it means
        for the customer (bad news when a promise needs it, else an internal notice)."""
        roles = await self.desk.roles(store, incident)
        commander = roles.get("commander")
        previous = f.contact
        if f.rung + 1 < len(f.ladder):
            f = f.escalated()
            message = escalation_message(f, incident, previous, commander, now, email=self._email(f))
            text = f"{f.ref} escalated to {_rung(f.contact)}" + (f": {note}" if note else "")
            kind, trigger = EventKind.ESCALATED, Trigger.VENDOR_ESCALATED
            what = (
                f"{f.ref} {f.vendor} has not delivered {f.ask} (due {render.when(f.due, incident)}); we escalated to "
                f"{f.contact.name if f.contact else 'the next contact'}"
            )
            tell = f"{f.named_for_customer} has not yet delivered {f.ask}, and we have escalated within their company"
        else:
            f = f.escalated().with_plan_b(now)
            message = plan_b_message(f, incident, commander, roles.get("exec_sponsor"))
            text = f"{f.ref} ran out of ladder at {f.vendor}; Plan B posted"
            kind, trigger = EventKind.PLAN_B, Trigger.VENDOR_PLAN_B
            what = f"{f.ref} {f.vendor} has not answered anyone up to its top contact about {f.ask}; Plan B"
            tell = f"{f.named_for_customer} has not delivered {f.ask}, so we are switching to another way to get it"
        await store.save_follow_up(f)
        await store.schedule(incident.number, CHASE, f.number, f.next_reminder(now), now=now)
        await store.add_event(
            incident.number, now, kind, actor, text, {"follow_up": f.number, "rung": f.rung, "vendor": f.vendor}
        )
        follow = await self.customer.follow_up_slipped(store, incident, f, trigger, what, tell, now)
        if self.mail is not None and f.plan_b_at is None:
            await self.mail.chased(store, incident, f, now)
        return [message, *([follow] if follow else [])]

    async def chase(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """Fire a follow-up's reminder, unless what it waits for has already happened."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.is_closed:
            return
        f = await store.follow_up(incident.number, reminder.subject)
        if not f.is_open:
            return
        if f.due > now:  # heard back with a later date; wait for that
            await store.schedule(incident.number, CHASE, f.number, f.first_reminder(), now=now)
            return
        if f.unanswered >= f.escalate_after and f.plan_b_at is None:
            messages = await self._climb(store, incident, f, now, None, None)
        else:
            first = f.state is FollowUpState.WAITING
            f = f.chased()
            await store.save_follow_up(f)
            await store.schedule(incident.number, CHASE, f.number, f.next_reminder(now), now=now)
            await store.add_event(
                incident.number,
                now,
                EventKind.CHASED,
                None,
                f"{f.ref} chased {f.owner.name} ({f.chases}): {f.vendor} is {format_duration(now - f.due)} late",
                {"follow_up": f.number},
            )
            messages = [overdue_message(f, incident, now, email=self._email(f))]
            if self.mail is not None:
                await self.mail.chased(store, incident, f, now)
            if first:  # overdue now: a promise that needs it is at risk at once
                slipped = await self.customer.follow_up_slipped(
                    store,
                    incident,
                    f,
                    Trigger.COMMITMENT_AT_RISK,
                    f"{f.ref} {f.vendor} is overdue with {f.ask} (due {render.when(f.due, incident)})",
                    f"{f.ask} from {f.named_for_customer} is late",
                    now,
                    notice=False,
                )
                messages += [slipped] if slipped else []
        for message in messages:
            await self.desk.post(store, incident, message)
