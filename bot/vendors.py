"""Vendor follow-ups: ask, hear back, receive, escalate up the ladder, Plan B — and the chase that fires on time."""

from __future__ import annotations

from dataclasses import replace
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
from bot.followups import TEAM, US, FollowUp, FollowUpState, root_cause
from bot.ladders import FOR_VENDORS, OWNER, generic_ladder, is_generic, refreshed, rung
from bot.playbooks import LadderRung, VendorProfile
from bot.reminders import Reminder
from bot.store import Store
from bot.store.followups import FOLLOW_UP
from bot.tokens import is_api_user
from bot.updates import CustomerDesk
from bot.when import Every, format_duration, parse_duration, parse_when
from bot.words import count, plural, times

CHASE = FOLLOW_UP
MAX_NAME_WORDS = 6  # the longest vendor name (or alias) looked for among unquoted words


def _rung(r: LadderRung | None) -> str:
    if r is None:
        return "nobody left on the ladder"
    return f"{r.name}" + (f" ({r.role})" if r.role else "") + f", {r.contact}"


def _contact(r: LadderRung | None) -> tuple[Inline, ...]:
    """The contact to name in a post: one of our people (a team's ladder) is mentioned, so they are told."""
    if r is None or r.person_id is None:
        return (_rung(r),)
    return (render.mention(Person(r.person_id, r.name)), f" ({r.role})" if r.role else "")


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
    return f"{f.ref} {f.waits_on}: {f.ask}" + (f" ({f.reference})" if f.reference else "")


def _ago(late: timedelta) -> str:
    """How late, as people say it: "just now" rather than "0m ago"."""
    return "just now" if late < timedelta(minutes=1) else f"{format_duration(late)} ago"


def overdue_message(f: FollowUp, incident: Incident, now: datetime, *, email: bool = False) -> Message:
    """The chase: the owner is mentioned with the ask, how late it is and who to call."""
    return Message(
        f"⏰ {title(f)} is overdue",
        (
            Section.of(
                render.mention(f.owner),
                f" — nothing received from {f.waits_on}. It was due "
                f"{render.when(f.due, incident)}, {_ago(now - f.due)}; chase {f.chases}.",
            ),
            Section.of(Strong("Current contact: "), *_contact(f.contact)),
            Section.of(next_step(f, incident)),
            _buttons(f, email=email),
        ),
        Tone.REMINDER,
    )


def next_step(f: FollowUp, incident: Incident) -> str:
    """What happens if nobody answers: the next rung, by when at the latest, or Plan B at the top."""
    if f.plan_b_at:
        return "Plan B was posted; keep chasing or cancel it."
    left = max(f.escalate_after - f.unanswered, 0)
    climb = f.climb_by()
    if climb is None:
        return (
            f"{left} more {plural('unanswered reminder', left)} before Plan B."
            if left
            else "Next reminder posts Plan B."
        )
    if not left:
        return "Next reminder escalates it."
    above = f.ladder[f.rung + 1]
    return (
        f"It climbs to {above.name}" + (f" ({above.role})" if above.role else "")
        + f" after {left} more {plural('unanswered reminder', left)},"
        + f" and by {render.when(climb, incident)} at the latest."
    )  # fmt: skip


def shown_due(f: FollowUp, incident: Incident) -> str:
    """Its due time as the war room reads it: the current one, and the first beside it once the date moved."""
    if f.first_due == f.due:
        return render.when(f.due, incident)
    slips = f", {count(f.slips, 'slip')}" if f.slips else ""
    return f"{render.when(f.due, incident)} (first due {render.when(f.first_due, incident)}{slips})"


def signature(f: FollowUp, incident: Incident, commander: Person | None) -> str:
    """Who signs what is written about ``f``: its owner, by the name people see. An API token is nobody to sign an
    email (a vendor would read "— ci"), so then the commander signs, or, when that is a token too, the war room."""
    if not is_api_user(f.owner.id):
        return f.owner.name
    if commander is not None and not is_api_user(commander.id):
        return commander.name
    return f"the {incident.ref} war room" + (f" for {incident.customer}" if incident.customer else "")


def escalation_draft(
    f: FollowUp, incident: Incident, previous: LadderRung | None, now: datetime, *, signed: str
) -> str:
    """The message to send the next contact, written for them to act on: a contact at the vendor is asked for what
    we wait on; one of our own people on a generic ladder is asked to take it up with the vendor."""
    nxt = f.contact
    stake = incident.impact or incident.title
    cost = f" (costing them {render.money(incident.cost_per_hour)} an hour)" if incident.cost_per_hour else ""
    by = render.when(f.due if f.due > now else now + f.every.approximate, incident)
    asked, first = render.when(f.asked_at, incident), render.when(f.first_due, incident)
    customer = f"Our customer {incident.customer}" if incident.customer else "Our customer"
    moved = (
        f" The date has slipped {times(f.slips)} since; it is now {render.when(f.due, incident)}." if f.slips else ""
    )
    if previous is not None and previous.holds == OWNER:
        chased = f" {f.owner.name} has chased {f.vendor} {times(f.chases)} without an answer."
    elif f.chases:
        through = f" through {previous.name}" if previous else ""
        chased = f" We have chased {times(f.chases)}{through} without an answer."
    else:
        chased = ""
    return (
        f"Hi {nxt.name.split()[0] if nxt else 'there'} — on {asked} we asked {f.waits_on} for {f.ask}"
        + (f" ({f.reference})" if f.reference else "")
        + f", due {first}.{moved}{chased} {customer} is affected: {stake}{cost}. "
        + _the_ask(f, nxt, by)
        + f" — {signed}"
    )


def _the_ask(f: FollowUp, nxt: LadderRung | None, by: str) -> str:
    """What the next contact is asked to do: deliver, if they are the vendor's (or the team's); else push for it."""
    if nxt is None or nxt.holds is None or nxt.holds == OWNER:
        return f"Can you get us {f.ask} by {by}?"
    if f.kind == TEAM:
        return f"Can you make sure {f.vendor} can deliver it by {by}, or tell us who can?"
    if f.vendor == US:
        return f"Can you make sure we deliver it by {by}?"
    return f"Can you take it up with {f.vendor}'s management, or decide our Plan B, by {by}?"


def escalation_message(
    f: FollowUp,
    incident: Incident,
    previous: LadderRung | None,
    commander: Person | None,
    now: datetime,
    *,
    email: bool = False,
    slipped_from: datetime | None = None,
) -> Message:
    contact = f.contact
    tells = commander and commander != f.owner and (contact is None or contact.person_id != commander.id)
    who: list[Inline] = [render.mention(commander), " "] if commander and tells else []
    again = " again" if f.slips > 1 else ""
    why = (
        f" — {f.waits_on} moved its date{again}, from {render.when(slipped_from, incident)} to "
        f"{render.when(f.due, incident)}: slip {f.slips} since it was first due {render.when(f.first_due, incident)}."
        if slipped_from
        else f" — {f.waits_on} has not answered since {render.when(f.last_heard_at or f.asked_at, incident)}"
        f" ({count(f.chases, 'chase')})."
    )
    to = f"{contact.name}" + (f" ({contact.role})" if contact.role else "") if contact else "the next contact"
    return Message(
        f"🔺 {title(f)} escalated to rung {f.rung + 1} of {len(f.ladder)}",
        (
            Section.of(*who, render.mention(f.owner), why + " Next contact:"),
            Section.of(*_contact(contact)) if contact and contact.person_id else Section.of(Strong(_rung(contact))),
            Section.of(
                Strong(f"Draft to send to {to}: "),
                escalation_draft(f, incident, previous, now, signed=signature(f, incident, commander)),
            ),
            _buttons(f, email=email),
        ),
        Tone.BAD_NEWS,
    )


def plan_b_message(
    f: FollowUp, incident: Incident, commander: Person | None, sponsor: Person | None, *, slipped: bool = False
) -> Message:
    who: list[Inline] = []
    for p in dict.fromkeys(x for x in (sponsor, commander) if x and x != f.owner):
        who += [render.mention(p), " "]
    top = _rung(f.ladder[-1] if f.ladder else None)
    return Message(
        f"🅱 {title(f)}: the ladder is exhausted — time for Plan B",
        (
            Section.of(
                *who,
                render.mention(f.owner),
                f" — {f.waits_on} moved its date{' again' if f.slips > 1 else ''} (slip {f.slips}, now "
                f"{render.when(f.due, incident)}), with "
                f"its top contact already asked: {top}."
                if slipped
                else f" — nobody at {f.vendor} answered, up to {top}.",
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
            f"{title(f)} — {f.state.value}, owner {f.owner.name}, due {shown_due(f, incident)}{late}; "
            f"chases {f.chases}, contact {_rung(f.contact) if f.is_open else '—'}"
            + (f"; one ticket with INC-{f.lead[0]} V{f.lead[1]}, which chases it" if f.lead and f.is_open else "")
        )

    return Bullets(tuple(line(f) for f in follow_ups))


Ticket = list[tuple[Incident, FollowUp]]  # every open incident waiting on one vendor ticket, the one chasing first


class VendorDesk:
    """The `vendor`, `vendors` and `scorecard` verbs, and the chase the reminder engine fires.

    Several incidents can wait on one vendor ticket (the same vendor and `ref:`): each has its own V<n>, but only
    the first chases; every move on any of them is copied to all, and every post goes to every room waiting.
    """

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

    def named(self, incident: Incident, name: str, trailing: tuple[str, ...], *, verb: str) -> VendorProfile | None:
        """The vendor a typed name names. A name no playbook knows, followed by more unquoted words, may be a name
        of several words typed without quotes: it is asked for ("did you mean …?"), never guessed."""
        known = self.profile(incident, name)
        if known is not None or not trailing:
            return known
        words = [name, *trailing[:MAX_NAME_WORDS]]
        size = next((n for n in range(len(words), 1, -1) if self.profile(incident, " ".join(words[:n]))), 2)
        guess, rest = " ".join(words[:size])[:60], " ".join([*words, *trailing[MAX_NAME_WORDS:]][size:])
        found = self.profile(incident, guess)
        also = f" ({found.name})" if found and found.name.casefold() != guess.casefold() else ""
        ask = f' "{rest[:60]}"' if rest else ' "…"' if verb == "vendor" else ""
        raise BadInput(
            f"no playbook knows a vendor '{name[:60]}'; a name of several words goes in quotes — did you mean "
            f'"{guess}"{also}? (or quote the ask)',
            example=f'{verb} "{guess}"{ask} due:2d',
        )

    async def ask(self, cmd: c.AskVendor, inv: Invocation) -> Reply:
        now = self.desk.now
        owner = await self.desk.resolve_person(cmd.owner) if cmd.owner else Person(inv.user.id, inv.user.name)
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("ask a vendor")
            due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone))
            known = self.named(incident, cmd.vendor, cmd.trailing, verb="vendor")
            roles = await self.desk.roles(store, incident)
            book = self.desk.playbooks.get(incident.playbook)
            rhythm = book.rhythm("vendor")
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
                else generic_ladder(rung(owner, OWNER), roles, owner=owner, climb=FOR_VENDORS),
                plan_b=known.plan_b if known else None,
                customer_name=known.customer_name if known else None,
                timezone=known.timezone if known else incident.timezone,
                business_hours=known.business_hours if known else None,
                remind_every=known.remind_every if known else rhythm.every.approximate,
                escalate_after=known.escalate_after if known else rhythm.escalate_after,
                every_business_days=0 if known else rhythm.every.business_days,
                customer_text=cmd.customer_text,
                reach_top=known.reach_top if known else book.reach_top,
            )
            f, ticket = await self.open_follow_up(
                store, incident, with_rhythm(draft, cmd.every, cmd.escalate_after), inv
            )
        warning = (
            None
            if known
            else (
                f"⚠ No playbook knows '{cmd.vendor}': it climbs a ladder of our own people, "
                + " → ".join(f"{r.name} ({r.role.lower()})" for r in f.ladder)
                + ". Add the vendor to a playbook for its real contacts and a Plan B."
            )
        )
        return await self.opened(incident, f, ticket, warning=warning)

    async def open_follow_up(
        self, store: Store, incident: Incident, draft: FollowUp, inv: Invocation
    ) -> tuple[FollowUp, FollowUp | None]:
        """Record a follow-up and start its chase — or, when another open incident already chases the same vendor
        ticket (vendor and `ref:`), join that chase. Returns the follow-up and the one it joined, if any."""
        now = self.desk.now
        if draft.reference and (same := await self._same_open_ask(store, incident, draft)) is not None:
            raise BadInput(
                f"{same.ref} already waits on {same.waits_on} for {same.ask} ({same.reference}): one ticket is one "
                f"follow-up; move {same.ref} instead",
                example=f"vendor heard {same.ref} they confirmed the ticket",
            )
        # A private incident does not exist outside its room: it shares no ticket (a shared one names each incident
        # in the other's room and timeline), and chases its own.
        private = self.desk.access.is_private
        lead = (
            await store.open_ticket(draft.vendor, draft.reference, besides=incident.number)
            if draft.reference and draft.kind != TEAM and not private(incident)
            else None
        )
        if lead is not None and private(await store.get_incident(lead.incident)):
            lead = None
        if lead is not None:
            draft = replace(
                draft,
                ladder=lead.ladder,
                plan_b=lead.plan_b,
                timezone=lead.timezone,
                business_hours=lead.business_hours,
                remind_every=lead.remind_every,
                every_business_days=lead.every_business_days,
                escalate_after=lead.escalate_after,
                reach_top=lead.reach_top,
                lead=(lead.incident, lead.number),
            ).mirror(lead)
        f = await store.add_follow_up(draft)
        if lead is None:
            await store.schedule(incident.number, CHASE, f.number, f.first_reminder(), now=now)
        text = (
            f"{f.ref} asked {f.waits_on} for {f.ask}"
            + (" (the root cause)" if f.is_root_cause else "")
            + f", due {render.when(f.due, incident)}, owner {f.owner.name}"
        )
        if lead is not None:
            text += f"; one ticket with INC-{lead.incident} {lead.ref}, which chases it for both"
        await store.add_event(
            incident.number,
            now,
            EventKind.FOLLOW_UP,
            Person(inv.user.id, inv.user.name),
            text,
            {"follow_up": f.number, "vendor": f.vendor, "kind": f.kind},
        )
        if lead is not None:
            await store.add_event(
                lead.incident,
                now,
                EventKind.JOINED,
                None,
                f"{lead.ref} {lead.vendor} ({lead.reference}) is waited on by INC-{incident.number} too, as {f.ref}",
                {"follow_up": lead.number},
            )
        return f, lead

    async def _same_open_ask(self, store: Store, incident: Incident, draft: FollowUp) -> FollowUp | None:
        """The incident's open follow-up already waiting on this vendor (or team) about this `ref:`, if any."""
        ref = (draft.reference or "").strip().casefold()
        return next(
            (
                f
                for f in await store.follow_ups(incident.number)
                if f.is_open
                and f.vendor.casefold() == draft.vendor.casefold()
                and (f.reference or "").strip().casefold() == ref
            ),
            None,
        )

    async def opened(
        self, incident: Incident, f: FollowUp, ticket: FollowUp | None, *, warning: str | None = None
    ) -> Reply:
        """Announce a new follow-up in its war room and answer with what was understood."""
        blocks: list[Section] = [
            Section.of(
                "First contact ",
                *_contact(f.contact),
                f"; reminders every {f.every}"
                + (" in the vendor's business hours" if f.business_hours else "")
                + f", escalating after {f.escalate_after} unanswered.",
            )
        ]
        if ticket is not None:
            blocks.insert(
                0,
                Section.of(
                    f"INC-{ticket.incident} already waits on {ticket.vendor} ticket {ticket.reference} as "
                    f"{ticket.ref}: one chase for both, posted in both rooms, answered from either; due "
                    f"{render.when(f.due, incident)}."
                ),
            )
        if warning:
            blocks.append(Section.of(warning))
        await self.desk.announce(
            incident,
            Message(
                f"📦 {title(f)}",
                (Section.of("Owner ", render.mention(f.owner), f", due {render.when(f.due, incident)}."), *blocks),
            ),
        )
        text = f"{f.ref} asked {f.waits_on} for {f.ask}, due {render.when(f.due, incident)}, owner {f.owner.name}"
        return Reply((Message(f"{incident.ref}: {text}", tuple(blocks), Tone.REMINDER if warning else Tone.SUCCESS),))

    # --- one vendor ticket, several incidents --------------------------------------------------------

    async def ticket(self, store: Store, incident: Incident, f: FollowUp) -> Ticket:
        """Every open incident waiting on ``f``'s vendor ticket with its copy, the follow-up that chases first.

        The chasing follow-up's incident is locked (the caller holds its own), so moves on one ticket from two
        rooms, and its chase, run one at a time."""
        if f.lead is None:
            lead_incident, lead = incident, f
        else:
            lead_incident = await store.get_incident(f.lead[0], lock=True)
            lead = await store.follow_up(*f.lead)
        ticket: Ticket = [(lead_incident, lead)]
        for copy in await store.ticket_copies(lead.incident, lead.number):
            copy_incident = incident if copy.incident == incident.number else await store.get_incident(copy.incident)
            if copy.is_open and not copy_incident.is_closed:
                ticket.append((copy_incident, copy))
        return ticket

    async def save_ticket(self, store: Store, ticket: Ticket, moved: FollowUp) -> Ticket:
        """The chasing follow-up moved: save it, and bring every copy level with it."""
        saved: Ticket = []
        for i, (incident, f) in enumerate(ticket):
            f = moved if i == 0 else f.mirror(moved)
            await store.save_follow_up(f)
            saved.append((incident, f))
        return saved

    async def _leave(self, store: Store, ticket: Ticket, leaving: FollowUp, now: datetime) -> None:
        """An incident stops waiting on a shared ticket (it cancelled its ask, or closed): if it was the one chasing,
        the next incident waiting takes the chase over, at the same next reminder."""
        others = [(i, f) for i, f in ticket if (i.number, f.number) != (leaving.incident, leaving.number)]
        if not others:
            return
        if leaving.lead is not None:  # a copy leaves: the chase goes on as it was
            return
        heir_incident, heir = others[0]
        pending = await store.pending_reminder(leaving.incident, CHASE, leaving.number)
        await store.cancel_reminders(leaving.incident, CHASE, leaving.number)
        heir = replace(heir, lead=None)
        await store.save_follow_up(heir)
        at = pending.due_at if pending is not None else heir.next_reminder(now)
        await store.schedule(heir.incident, CHASE, heir.number, max(at, now), now=now)
        for _, f in others[1:]:
            await store.save_follow_up(replace(f, lead=(heir.incident, heir.number)))
        # The leaving follow-up stays as it is, pointing at the ticket's new chaser (the scorecard counts it once).
        await store.save_follow_up(
            replace(await store.follow_up(leaving.incident, leaving.number), lead=(heir.incident, heir.number))
        )
        await store.add_event(
            heir.incident,
            now,
            EventKind.JOINED,
            None,
            f"{heir.ref} now chases {heir.vendor} ticket {heir.reference} (INC-{leaving.incident} stopped waiting)",
            {"follow_up": heir.number},
        )

    async def leave_tickets(self, store: Store, incident: Incident, now: datetime) -> None:
        """A closing incident hands the chase of every vendor ticket it shares to the next incident waiting."""
        for f in await store.follow_ups(incident.number):
            if f.is_open and f.lead is None and f.reference:
                await self._leave(store, await self.ticket(store, incident, f), f, now)

    # --- the verbs ---------------------------------------------------------------------------------

    async def heard(self, cmd: c.HeardFromVendor, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record vendor news")
            return await self.hear(store, incident, cmd.number, cmd.note, cmd.due, inv, now)

    async def hear(
        self,
        store: Store,
        incident: Incident,
        number: int,
        note: str | None,
        due_text: str | None,
        inv: Invocation,
        now: datetime,
    ) -> Reply:
        """The vendor answered (typed in any room waiting on the ticket): chasing starts again from the due time —
        unless it gave a later date once the first due time had passed: that is a slip, and it climbs a rung."""
        mine = await store.follow_up(incident.number, number)
        mine.heard(now, None)  # refuses a received or cancelled follow-up before the ticket it shared is touched
        ticket = await self.ticket(store, incident, mine)
        before = ticket[0][1]
        new_due = parse_when(due_text, now=now, tz=ZoneInfo(incident.timezone)) if due_text else None
        slip = before.slipped_to(new_due, now)
        moved = before.heard(now, new_due)
        moved = replace(moved, slips=moved.slips + 1) if slip else moved
        ticket = await self.save_ticket(store, ticket, moved)
        next_at = moved.first_reminder() if moved.due > now else moved.next_reminder(now)
        later = new_due is not None and new_due > before.due
        climbs = slip and moved.plan_b_at is None  # the slip's bad news comes with the climb
        posts: list[tuple[Incident, Message]] = []
        answer = ""
        for room, f in ticket:
            text = (
                f"{f.ref} heard back from {f.waits_on}"
                + (f": {note}" if note else "")
                + (
                    f"; ETA moved from {render.when(before.due, room)} to {render.when(f.due, room)}"
                    if later
                    else (f"; now due {render.when(f.due, room)}" if new_due else "")
                )
                + (f" — slip {f.slips} since it was first due {render.when(f.first_due, room)}" if slip else "")
            )
            await store.add_event(
                room.number,
                now,
                EventKind.HEARD,
                Person(inv.user.id, inv.user.name),
                text,
                {
                    "follow_up": f.number, "slipped": later, "slip": slip, "from": before.due.isoformat(),
                    "to": f.due.isoformat(),
                },
            )  # fmt: skip
            posts.append((room, Message(f"📬 {text}", tone=Tone.REMINDER if later else Tone.INFO)))
            answer = text if room.number == incident.number else answer
            if later and not climbs:
                moved_text = f"from {render.when(before.due, room)} to {render.when(f.due, room)}"
                prompt = await self.customer.follow_up_slipped(
                    store,
                    room,
                    f,
                    Trigger.ETA_SLIPPED,
                    f"{f.ref} {f.waits_on} moved its date for {f.ask} {moved_text}",
                    now,
                )
                posts += [(room, prompt)] if prompt else []
        if climbs:
            actor = Person(inv.user.id, inv.user.name)
            climbing, climbed = await self._climb(store, ticket, now, actor, None, slipped_from=before.due)
            posts += climbing
            answer += (
                f"; it climbs to {_rung(climbed.contact)}" if climbed.contact else "; its ladder is exhausted: Plan B"
            )
        else:
            await store.schedule(moved.incident, CHASE, moved.number, next_at, now=now)
        for room, message in posts:
            await self.desk.post(store, room, message)
        return self.desk.ack(incident, answer + f". Next check {render.when(next_at, incident)}.")

    async def received(self, cmd: c.ReceivedFromVendor, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record vendor news")  # its shared tickets went to the incidents still waiting
            return await self.receive(store, incident, cmd.number, cmd.note, inv, now)

    async def receive(
        self, store: Store, incident: Incident, number: int, note: str | None, inv: Invocation, now: datetime
    ) -> Reply:
        """Received (in any room waiting on the ticket): the chase stops for every incident waiting on it."""
        mine = await store.follow_up(incident.number, number)
        ticket = await self.ticket(store, incident, mine) if mine.is_open else [(incident, mine)]
        moved = ticket[0][1].received(now, note)
        ticket = await self.save_ticket(store, ticket, moved)
        await store.cancel_reminders(moved.incident, CHASE, moved.number)
        answer = ""
        for room, f in ticket:
            f = replace(f, closed_note=note, closed_at=now)
            await store.save_follow_up(f)
            text = (
                f"{f.ref} received from {f.waits_on}"
                + (f": {note}" if note else "")
                + f" after {format_duration(now - f.asked_at)}, {count(f.chases, 'chase')}"
            )
            await store.add_event(
                room.number, now, EventKind.RECEIVED, Person(inv.user.id, inv.user.name), text, {"follow_up": f.number}
            )
            if moot := await self.customer.arrived(store, room, f, now):
                text += f"; {moot} no longer to tell (moot: it arrived before the customer heard it was late)"
            await self.desk.post(store, room, Message(f"✅ {text}"))
            answer = text if room.number == incident.number else answer
        return self.desk.ack(incident, answer)

    async def cancel(self, cmd: c.CancelFollowUp, inv: Invocation) -> Reply:
        """Cancelled: this incident stops waiting; another incident sharing the ticket keeps chasing it."""
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("cancel a follow-up")
            f, shared = await self.withdraw(
                store, incident, await store.follow_up(incident.number, cmd.number), cmd.reason
            )
            text = f"{f.ref} cancelled with {f.waits_on}: {cmd.reason}"
            if shared:
                text += "; the other incidents waiting on the ticket keep chasing it"
            await store.add_event(
                incident.number,
                now,
                EventKind.FOLLOW_UP_CANCELLED,
                Person(inv.user.id, inv.user.name),
                text,
                {"follow_up": f.number},
            )
        await self.desk.announce(incident, Message(f"✖ {text}"))
        return self.desk.ack(incident, text)

    async def withdraw(self, store: Store, incident: Incident, mine: FollowUp, note: str) -> tuple[FollowUp, bool]:
        """This incident stops waiting on ``mine`` (cancelled, with why) and its chase stops; other incidents sharing
        the ticket keep chasing it. Returns the cancelled follow-up and whether others share the ticket."""
        now = self.desk.now
        f = mine.cancelled(now, note)
        ticket = await self.ticket(store, incident, mine)
        await self._leave(store, ticket, mine, now)
        await store.save_follow_up(replace(f, lead=(await store.follow_up(incident.number, mine.number)).lead))
        await store.cancel_reminders(incident.number, CHASE, f.number)
        return f, len(ticket) > 1

    async def customer_text(self, cmd: c.SetCustomerText, inv: Invocation) -> Reply:
        """What the customer hears of an ask (`vendor customer V<n> …`, `rca customer …`); None: a neutral phrase."""
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("change what the customer hears")
            if cmd.number is None:
                f = root_cause(await store.follow_ups(incident.number))
                if f is None:
                    raise BadInput(f"{incident.ref} has no root cause yet", example=c.HELP["rca"].example)
            else:
                f = await store.follow_up(incident.number, cmd.number)
            await store.save_follow_up(replace(f, customer_text=cmd.text))
            shown = f'"{cmd.text}"' if cmd.text else "a neutral phrase (no customer text)"
            text = f"{f.ref}: the customer hears of it as {shown}"
            await store.add_event(
                incident.number, now, EventKind.CHANGED, Person(inv.user.id, inv.user.name), text,
                {"follow_up": f.number, "fields": ["customer_text"]},
            )  # fmt: skip
            if cmd.text and (names := await self.desk.voice.screen(store, incident, cmd.text)):
                text += (
                    f". ⚠ It names '{names[0].text}' ({names[0].what}): drafts fall back to a safe skeleton until "
                    "you change it"
                )
        return self.desk.ack(incident, text)

    async def escalate(self, cmd: c.EscalateFollowUp, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("escalate a follow-up")
            mine = await store.follow_up(incident.number, cmd.number)
            mine.escalated(now)  # refuses a closed follow-up before anything is posted
            posts, _ = await self._climb(
                store, await self.ticket(store, incident, mine), now, Person(inv.user.id, inv.user.name), cmd.note
            )
            for room, message in posts:
                await self.desk.post(store, room, message)
        title_ = next(m.title for r, m in posts if r.number == incident.number)
        return self.desk.ack(incident, title_)

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
            incident.require_open("snooze a follow-up")
            f = await store.follow_up(incident.number, cmd.number)
            if not f.is_open:
                raise BadInput(f"{f.ref} is {f.state}; there is nothing to snooze")
            lead = (await self.ticket(store, incident, f))[0][1]
            await store.schedule(lead.incident, CHASE, lead.number, now + delta, now=now)
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
                    f"{incident.ref}: {count(len(follow_ups), 'follow-up')}",
                    follow_up_lines(follow_ups, incident, self.desk.now),
                ),
            )
        )

    # --- the chase ---------------------------------------------------------------------------------

    async def _climb(
        self,
        store: Store,
        ticket: Ticket,
        now: datetime,
        actor: Person | None,
        note: str | None,
        *,
        slipped_from: datetime | None = None,
    ) -> tuple[list[tuple[Incident, Message]], FollowUp]:
        """One rung up, or Plan B at the top: recorded, rescheduled, and returned for posting in every room waiting,
        with what it means for each room's customer (bad news when a promise needs it, else an internal notice).

        ``slipped_from``: it climbs because the vendor moved its date past that due time (a slip); it then waits for
        the new date before it is chased again."""
        lead = ticket[0][1]
        previous = lead.contact
        if is_generic(lead.ladder):  # whoever holds each role now: a sponsor pulled in since the ask is on it
            lead = replace(lead, ladder=refreshed(lead, await self._roles(store, ticket)))
        top = lead.rung + 1 >= len(lead.ladder)
        moved = lead.escalated(now).with_plan_b(now) if top else lead.escalated(now)
        if slipped_from is not None:
            moved = replace(moved, state=FollowUpState.WAITING)  # for its new date, which is still ahead
        ticket = await self.save_ticket(store, ticket, moved)
        next_at = moved.first_reminder() if moved.due > now else moved.next_reminder(now)
        await store.schedule(moved.incident, CHASE, moved.number, next_at, now=now)
        posts: list[tuple[Incident, Message]] = []
        for incident, f in ticket:
            roles = await self.desk.roles(store, incident)
            commander = roles.get("commander")
            slip = (
                f"moved its date for {f.ask} from {render.when(slipped_from, incident)} to "
                f"{render.when(f.due, incident)} (slip {f.slips})"
                if slipped_from
                else None
            )
            if not top:
                message = escalation_message(
                    f, incident, previous, commander, now, email=self._email(f), slipped_from=slipped_from
                )
                text = f"{f.ref} escalated to {_rung(f.contact)}" + (f": {note}" if note else "")
                kind, trigger = EventKind.ESCALATED, Trigger.VENDOR_ESCALATED
                reached = f.contact.name if f.contact else "the next contact"
                late = slip or f"has not delivered {f.ask} (due {render.when(f.due, incident)})"
                what = f"{f.ref} {f.waits_on} {late}; we escalated to {reached}"
            else:
                message = plan_b_message(f, incident, commander, roles.get("exec_sponsor"), slipped=slip is not None)
                text = f"{f.ref} ran out of ladder at {f.waits_on}; Plan B posted"
                kind, trigger = EventKind.PLAN_B, Trigger.VENDOR_PLAN_B
                what = f"{f.ref} {f.waits_on} has not answered anyone up to its top contact about {f.ask}; Plan B"
                if slip:
                    what = f"{f.ref} {f.waits_on} {slip}, past its top contact; Plan B"
            if slip:
                text += f" ({f.waits_on} {slip})"
                trigger = Trigger.ETA_SLIPPED  # what endangers a promise is the new date: only if it overshoots it
            await store.add_event(
                incident.number,
                now,
                kind,
                actor,
                text,
                {"follow_up": f.number, "rung": f.rung, "vendor": f.vendor, "slip": slip is not None},
            )
            follow = await self.customer.follow_up_slipped(store, incident, f, trigger, what, now)
            posts += [(incident, message), *([(incident, follow)] if follow else [])]
        if self.mail is not None and not top:  # the ticket is chased once, by email too: from its first incident
            await self.mail.chased(store, ticket[0][0], ticket[0][1], now)
        return posts, moved

    async def _roles(self, store: Store, ticket: Ticket) -> dict[str, Person]:
        """Who holds which role in the incident that chases the ticket (its generic ladder is that room's people)."""
        return await self.desk.roles(store, ticket[0][0])

    async def chase(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """Fire a follow-up's reminder, unless what it waits for has already happened.

        At its due time it goes overdue, and a promise that needs it is at risk at once, even when the vendor is
        closed; the chase itself waits for the vendor's business hours. Overdue, it climbs a rung after
        ``escalate_after`` unanswered chases, or sooner when its ladder must climb to reach the top in time."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.is_closed:
            return
        f = await store.follow_up(incident.number, reminder.subject)
        if not f.is_open or f.lead is not None:  # a copy of a shared ticket is chased by the follow-up it copies
            return
        if f.due > now:  # heard back with a later date; wait for that
            await store.schedule(incident.number, CHASE, f.number, f.first_reminder(), now=now)
            return
        ticket = await self.ticket(store, incident, f)
        hours = f.business_hours
        if f.must_climb(now):  # its deadline is in the vendor's working time (at the latest, its closing time)
            posts, _ = await self._climb(store, ticket, now, None, None)
        elif hours is not None and hours.next_open(now) > now:  # the vendor is closed: only the chase waits
            posts = await self._overdue(store, ticket, now) if f.state is FollowUpState.WAITING else []
            await store.schedule(incident.number, CHASE, f.number, hours.next_open(now), now=now)
        elif f.plan_b_at is None and f.unanswered >= f.escalate_after:
            posts, _ = await self._climb(store, ticket, now, None, None)
        else:
            posts = await self._chase(store, ticket, now)
        for room, message in posts:  # in a batch of firings, after the batch's other writes (one INSERT for all)
            if not store.post_later(self.desk, room, message):
                await self.desk.post(store, room, message)

    async def _chase(self, store: Store, ticket: Ticket, now: datetime) -> list[tuple[Incident, Message]]:
        """One more reminder to the owner, in every room waiting; the first one also makes it overdue."""
        f = ticket[0][1]
        first = f.state is FollowUpState.WAITING
        moved = f.chased()
        ticket = await self.save_ticket(store, ticket, moved)
        await store.schedule(f.incident, CHASE, f.number, moved.next_reminder(now), now=now)
        posts: list[tuple[Incident, Message]] = []
        for room, g in ticket:
            await store.add_event(
                room.number,
                now,
                EventKind.CHASED,
                None,
                f"{g.ref} chased {g.owner.name} ({g.chases}): {g.waits_on} is {format_duration(now - g.due)} late",
                {"follow_up": g.number, "overdue": first},  # the chase that made it overdue (webhooks tell it)
            )
            posts.append((room, overdue_message(g, room, now, email=self._email(g))))
            if first:  # overdue now: a promise that needs it is at risk at once
                posts += await self._at_risk(store, room, g, now)
        if self.mail is not None:
            await self.mail.chased(store, ticket[0][0], ticket[0][1], now)
        return posts

    async def _overdue(self, store: Store, ticket: Ticket, now: datetime) -> list[tuple[Incident, Message]]:
        """Due while the vendor is closed: overdue now, and a promise that needs it at risk now; the first chase
        goes when the vendor opens."""
        f = ticket[0][1]
        ticket = await self.save_ticket(store, ticket, f.went_overdue())
        opens = f.business_hours.next_open(now) if f.business_hours else now
        posts: list[tuple[Incident, Message]] = []
        for room, g in ticket:
            await store.add_event(
                room.number,
                now,
                EventKind.OVERDUE,
                None,
                f"{g.ref} is overdue: {g.waits_on} owed {g.ask} by {render.when(g.due, room)}; it is closed until "
                f"{render.when(opens, room)}, when the chase starts",
                {"follow_up": g.number},
            )
            posts += await self._at_risk(store, room, g, now)
        return posts

    async def _at_risk(
        self, store: Store, room: Incident, f: FollowUp, now: datetime
    ) -> list[tuple[Incident, Message]]:
        """A follow-up just went overdue: the promises that need it are at risk (bad news); else nothing to say."""
        slipped = await self.customer.follow_up_slipped(
            store,
            room,
            f,
            Trigger.COMMITMENT_AT_RISK,
            f"{f.ref} {f.waits_on} is overdue with {f.ask} (due {render.when(f.due, room)})",
            now,
            notice=False,
        )
        return [(room, slipped)] if slipped else []


def with_rhythm(draft: FollowUp, every: Every | None, escalate_after: int | None) -> FollowUp:
    """A follow-up with the cadence its command asked for (`every:`, `escalate-after:`) over the defaults."""
    if every is not None:
        draft = replace(draft, remind_every=every.approximate, every_business_days=every.business_days)
    return replace(draft, escalate_after=escalate_after) if escalate_after is not None else draft
