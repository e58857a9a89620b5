"""Customer updates on a cadence, commitments watched until kept, and bad news told early."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import render
from bot.chat import Actions, Button, Inline, Invocation, Message, Reply, Section, Strong, Tone
from bot.customer import Commitment, CommitmentState, Trigger
from bot.desk import Desk
from bot.domain import EventKind, Incident, IncidentState, Person
from bot.reminders import Reminder
from bot.store import Store
from bot.when import format_duration, parse_when

UPDATE_DUE = "update_due"
COMMITMENT = "commitment"
MIN_REPEAT = timedelta(minutes=15)


def _who(incident: Incident, actor: Invocation) -> Person:
    return Person(actor.user.id, actor.user.name)


class CustomerDesk:
    """The `update` and `commit` verbs, the update clock, and the bad-news prompt every trigger shares."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    # --- the clock ---------------------------------------------------------------------------------

    def cadence(self, incident: Incident) -> timedelta:
        """How often the customer hears from us at the incident's severity (the playbook's cadence)."""
        book = self.desk.playbooks.get(incident.playbook)
        return book.update_cadence.get(incident.severity) or timedelta(hours=4)

    def at_risk_window(self, incident: Incident) -> timedelta:
        return self.desk.playbooks.get(incident.playbook).at_risk_window

    async def comms(self, store: Store, incident: Incident) -> Person | None:
        roles = {r.role: r.person for r in await store.roles(incident.number)}
        return roles.get("comms") or roles.get("commander")

    async def start_clock(self, store: Store, incident: Incident, now: datetime) -> None:
        """The first update is due one cadence after opening."""
        await store.schedule(incident.number, UPDATE_DUE, 0, incident.opened_at + self.cadence(incident), now=now)

    async def restart_clock(self, store: Store, incident: Incident, now: datetime) -> datetime:
        """After a severity change or a reopen: due one cadence after the last update (or now, if that passed)."""
        updates = await store.updates(incident.number)
        last = updates[-1].at if updates else incident.opened_at
        due = max(now, last + self.cadence(incident))
        pending = await store.pending_reminder(incident.number, UPDATE_DUE, 0)
        if pending is None or pending.due_at > due:
            await store.schedule(incident.number, UPDATE_DUE, 0, due, now=now)
            return due
        return pending.due_at

    # --- drafts ------------------------------------------------------------------------------------

    async def draft(self, store: Store, incident: Incident, now: datetime, *, final: bool = False) -> str:
        """An update built from the incident's state: what happened, what we do, what we wait on, what next."""

        def when(at: datetime) -> str:
            return render.when(at, incident)

        latest = await self._latest_note(store, incident)
        waiting = [f for f in await store.follow_ups(incident.number) if f.is_open]
        promises = [p for p in await store.commitments(incident.number) if p.is_open]
        parts = [
            f"Update on {incident.title} ({incident.ref})"
            + (f" for {incident.customer}" if incident.customer else "")
            + "."
        ]
        parts.append(f"What happened: {incident.impact or incident.title}, since {when(incident.opened_at)}.")
        if final or incident.state is IncidentState.RESOLVED:
            parts.append("Service is restored" + (f": {latest}" if latest else "") + ".")
            parts.append("We will send the review of what happened and what we are changing.")
            return " ".join(parts)
        doing = latest or f"the incident is {incident.state.value} at severity {incident.severity}"
        parts.append(f"What we are doing: {doing}.")
        if waiting:
            parts.append(
                "What we are waiting on: "
                + "; ".join(
                    f"{f.ask} from {f.vendor} (due {when(f.due)}" + (", late" if now > f.due else "") + ")"
                    for f in waiting
                )
                + "."
            )
        if promises:
            parts.append("What we promised: " + "; ".join(f"{p.promise} by {when(p.due)}" for p in promises) + ".")
        parts.append(f"Next update: by {when(now + self.cadence(incident))}.")
        return " ".join(parts)

    def _sent_button(self) -> Actions:
        return Actions((Button("Update sent", "update sent as drafted", "primary"),))

    # --- bad news ----------------------------------------------------------------------------------

    async def bad_news(self, store: Store, incident: Incident, trigger: Trigger, what: str, now: datetime) -> Message:
        """Record a slip and return the prompt to tell the customer now, with a drafted message."""
        await store.add_bad_news(incident.number, trigger, what, now)
        await store.add_event(
            incident.number,
            now,
            EventKind.BAD_NEWS,
            None,
            f"Bad news ({trigger.value}): {what}",
            {"trigger": trigger.value},
        )
        who = await self.comms(store, incident)
        customer = incident.customer or "the customer"
        draft = (
            f"We need to tell you early: {what}. "
            + f"Impact: {incident.impact or incident.title}. "
            + "What we are doing about it: "
            + await self._doing(store, incident)
            + f" Next update: by {render.when(now + self.cadence(incident), incident)}."
        )
        mention: list[Inline] = [render.mention(who), " — "] if who else []
        return Message(
            f"🚨 Bad news for {customer}: {what}",
            (
                Section.of(
                    *mention,
                    "tell the customer now, before they find out. Bad-news latency runs until the "
                    "next recorded `update`.",
                ),
                Section.of(Strong("Draft: "), draft),
                self._sent_button(),
            ),
            Tone.BAD_NEWS,
        )

    async def _latest_note(self, store: Store, incident: Incident) -> str | None:
        """The newest `note`: what the war room says it is doing."""
        notes = [e for e in await store.timeline(incident.number) if e.kind is EventKind.NOTE]
        return notes[-1].text if notes else None

    async def _doing(self, store: Store, incident: Incident) -> str:
        latest = await self._latest_note(store, incident)
        return (latest.rstrip(".") + ".") if latest else "the war room is working it and will say more soon."

    # --- verbs -------------------------------------------------------------------------------------

    async def update(self, cmd: c.RecordUpdate, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record customer updates")
            next_due = parse_when(cmd.next, now=now, tz=ZoneInfo(incident.timezone)) if cmd.next else None
            stays_open = incident.state in (IncidentState.OPEN, IncidentState.MITIGATED)
            if stays_open:
                next_due = next_due or now + self.cadence(incident)
                await store.schedule(incident.number, UPDATE_DUE, 0, next_due, now=now)
            u = await store.add_update(incident.number, cmd.text, _who(incident, inv), now, next_due)
            answered = await store.answer_bad_news(incident.number, u.number, now)
            await store.save_incident(replace(incident, update_prompts=0))
            text = f"{u.ref} recorded: {cmd.text}"
            await store.add_event(
                incident.number,
                now,
                EventKind.UPDATE,
                _who(incident, inv),
                text,
                {"update": u.number, "answered_bad_news": answered},
            )
        tail = f" Next update due {render.when(next_due, incident)}." if next_due else " No further updates are due."
        if answered:
            tail += f" It answers {answered} piece(s) of bad news."
        await self.desk.announce(
            incident, Message(f"📣 {incident.ref}: customer updated ({u.ref})", (Section.of(cmd.text),))
        )
        return self.desk.ack(incident, text + "." + tail)

    async def commit(self, cmd: c.MakeCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("make commitments")
            due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone))
            promise = await store.add_commitment(
                Commitment(incident.number, 0, cmd.promise, due, _who(incident, inv), now)
            )
            watch_from = max(now, due - self.at_risk_window(incident))
            await store.schedule(incident.number, COMMITMENT, promise.number, watch_from, now=now)
            text = f"{promise.ref} promised: {cmd.promise}, by {render.when(due, incident)}"
            await store.add_event(
                incident.number, now, EventKind.COMMITMENT, _who(incident, inv), text, {"commitment": promise.number}
            )
        return self.desk.ack(incident, text + f"; watched from {render.when(watch_from, incident)}.")

    async def kept(self, cmd: c.KeepCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            promise = (await store.commitment(incident.number, cmd.number)).kept(now, cmd.note)
            await store.save_commitment(promise)
            await store.cancel_reminders(incident.number, COMMITMENT, promise.number)
            text = f"{promise.ref} kept: {promise.promise}" + (f" ({cmd.note})" if cmd.note else "")
            await store.add_event(
                incident.number,
                now,
                EventKind.COMMITMENT_KEPT,
                _who(incident, inv),
                text,
                {"commitment": promise.number},
            )
        await self.desk.announce(incident, Message(f"✅ {incident.ref}: {text}"))
        return self.desk.ack(incident, text)

    async def missed(self, cmd: c.MissCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            promise = await store.commitment(incident.number, cmd.number)
            prompt = await self._miss(store, incident, promise, now, _who(incident, inv), cmd.note)
        await self.desk.announce(incident, prompt)
        return self.desk.ack(incident, f"{promise.ref} missed: {promise.promise}", tone=Tone.BAD_NEWS)

    async def _miss(
        self,
        store: Store,
        incident: Incident,
        promise: Commitment,
        now: datetime,
        actor: Person | None,
        note: str | None,
    ) -> Message:
        promise = promise.missed(now, note)
        await store.save_commitment(promise)
        await store.cancel_reminders(incident.number, COMMITMENT, promise.number)
        await store.add_event(
            incident.number,
            now,
            EventKind.COMMITMENT_MISSED,
            actor,
            f"{promise.ref} missed: {promise.promise}" + (f" ({note})" if note else ""),
            {"commitment": promise.number},
        )
        return await self.bad_news(
            store,
            incident,
            Trigger.COMMITMENT_MISSED,
            f"we missed our promise of {promise.promise} by {render.when(promise.due, incident)}",
            now,
        )

    # --- what the reminder engine fires --------------------------------------------------------------

    async def prompt_update(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """The cadence: prompt comms with a draft; keep prompting, and bring in the commander, until an update."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.state not in (IncidentState.OPEN, IncidentState.MITIGATED):
            return
        cadence = self.cadence(incident)
        prompts = incident.update_prompts + 1
        await store.save_incident(replace(incident, update_prompts=prompts))
        # Nag soon after the first miss (and bring in the commander), then once per cadence: loud, not spam.
        repeat = max(MIN_REPEAT, cadence / 4) if prompts == 1 else cadence
        await store.schedule(incident.number, UPDATE_DUE, 0, now + repeat, now=now)
        updates = await store.updates(incident.number)
        since = updates[-1].at if updates else None
        who = await self.comms(store, incident)
        commander = await self.desk.commander(store, incident)
        mentions: list[Inline] = [render.mention(who), " "] if who else []
        if prompts > 1 and commander and commander != who:
            mentions += [render.mention(commander), " "]
        silence = (
            f"The last update was {format_duration(now - since)} ago"
            if since
            else f"No update has gone to {incident.customer or 'the customer'} since we opened "
            f"{format_duration(now - incident.opened_at)} ago"
        )
        title = (
            f"📣 {incident.ref}: customer update due"
            if prompts == 1
            else f"📣 {incident.ref}: customer update overdue — prompt {prompts}, escalated to the commander"
        )
        await store.add_event(incident.number, now, EventKind.UPDATE_PROMPTED, None, title[2:], {"prompt": prompts})
        await self.desk.post_or_raise(
            incident,
            Message(
                title,
                (
                    Section.of(
                        *mentions,
                        f"— {silence}; at severity {incident.severity} the customer hears from us every "
                        f"{format_duration(cadence)}. Send it, then record it with `/incident update …`.",
                    ),
                    Section.of(Strong("Draft: "), await self.draft(store, incident, now)),
                    self._sent_button(),
                ),
                Tone.REMINDER,
            ),
        )

    async def watch_commitment(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """At the at-risk window: bad news that it may slip. At the due time: missed, unless kept."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.is_closed:
            return
        promise = await store.commitment(incident.number, reminder.subject)
        if not promise.is_open:
            return
        if now >= promise.due:
            prompt = await self._miss(store, incident, promise, now, None, "due time passed without `commit kept`")
        elif promise.state is CommitmentState.OPEN:
            promise = promise.at_risk(now)
            await store.save_commitment(promise)
            await store.schedule(incident.number, COMMITMENT, promise.number, promise.due, now=now)
            left = format_duration(promise.due - now)
            await store.add_event(
                incident.number,
                now,
                EventKind.COMMITMENT_AT_RISK,
                None,
                f"{promise.ref} at risk: {promise.promise}, due in {left}",
                {"commitment": promise.number},
            )
            prompt = await self.bad_news(
                store,
                incident,
                Trigger.COMMITMENT_AT_RISK,
                f"our promise of {promise.promise} by {render.when(promise.due, incident)} is at risk ({left} left)",
                now,
            )
            prompt = replace(
                prompt,
                blocks=(
                    *prompt.blocks[:-1],
                    Actions(
                        (
                            Button("Kept", f"commit kept {promise.ref}", "primary"),
                            Button("Update sent", "update sent as drafted"),
                        )
                    ),
                ),
            )
        else:
            await store.schedule(incident.number, COMMITMENT, promise.number, promise.due, now=now)
            return
        await self.desk.post_or_raise(incident, prompt)

    # --- state changes elsewhere that concern the customer ------------------------------------------

    async def final_prompt(self, store: Store, incident: Incident, now: datetime) -> Message:
        """Service is restored: stop the cadence and prompt the final update."""
        await store.cancel_reminders(incident.number, UPDATE_DUE)
        who = await self.comms(store, incident)
        mention: list[Inline] = [render.mention(who), " — "] if who else []
        return Message(
            f"📣 {incident.ref}: send the final customer update",
            (
                Section.of(
                    *mention, "service is restored; tell the customer, then record it with `/incident update …`."
                ),
                Section.of(Strong("Draft: "), await self.draft(store, incident, now, final=True)),
                self._sent_button(),
            ),
            Tone.REMINDER,
        )
