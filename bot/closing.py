"""Closing honestly: `close` only what was fixed, `close unresolved` what never was, and the outcome, later too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from bot import commands as c
from bot import render
from bot.actions import ACTION_DUE
from bot.chat import Actions, Button, Inline, Invocation, Message, Reply, Section, Strong, Tone
from bot.customer import CommitmentState
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, IncidentState
from bot.reminders import Reminder
from bot.store import Store
from bot.summary import write_summary
from bot.updates import COMMITMENT
from bot.vendors import CHASE, VendorDesk
from bot.when import format_duration
from bot.words import count

WATCH = "watch"  # `resolve … watch:3d`: at its end, comms confirms with the customer that all is well


class ClosingDesk:
    """`close`, `close unresolved`, `outcome`, and the stored summary kept true after close."""

    def __init__(self, desk: Desk, vendors: VendorDesk) -> None:
        self.desk, self.vendors = desk, vendors

    async def close(self, cmd: c.CloseIncident, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            before = await self.desk.target(store, cmd, inv)
            if cmd.unresolved is not None:
                incident = before.close_unresolved(now, cmd.unresolved, outcome=cmd.outcome)
                words = f"Closed unresolved: {cmd.unresolved}"
            else:
                incident = before.close(now, outcome=cmd.outcome)
                words = "Closed"
            await store.save_incident(incident)
            await self.vendors.leave_tickets(store, incident, now)  # other incidents keep chasing shared tickets
            stopped = await store.cancel_reminders(incident.number)
            await store.add_event(
                incident.number,
                now,
                EventKind.CLOSED,
                person(inv),
                words
                + (f"; outcome: {cmd.outcome}" if cmd.outcome else "")
                + (f"; {count(stopped, 'pending reminder')} stopped" if stopped else ""),
                {"unresolved": cmd.unresolved is not None},
            )
            head, details = await write_summary(store, incident, now=now, cadence=self._cadence(incident))
            summary_post = await self.desk.post(store, incident, head, replies=(details,))
        await self.desk.deliver_owed()
        trouble = await self.desk.fate(summary_post)
        where = (
            f"The lessons-learned summary is stored, but in the war room {trouble}"
            if trouble
            else "The lessons-learned summary is posted in the war room, its details in the thread under it"
        )
        return Reply(
            (
                Message(
                    f"{incident.ref} {words[0].lower() + words[1:]}",
                    (
                        Section.of(
                            f"{where}; export it with ",
                            Strong(f"warroom summary {incident.ref}"),
                            ". It still takes `outcome`, `lesson` and `action`, and `reopen` for 30 days.",
                        ),
                    ),
                    Tone.SUCCESS,
                ),
            ),
            ok=True,
        )

    async def outcome(self, cmd: c.RecordOutcome, inv: Invocation) -> Reply:
        """What the crisis cost or won, recorded when it is known; a closed incident's summary follows."""
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            before = incident.outcome
            incident = incident.with_outcome(cmd.text)
            await store.save_incident(incident)
            text = f"Outcome: {cmd.text}" + (f" (was: {before})" if before else "")
            await store.add_event(incident.number, self.desk.now, EventKind.OUTCOME, person(inv), text)
            after = await self.refresh(store, incident)
        await self.desk.announce(
            incident, Message(f"🏁 {incident.ref}: {text}", (Section.of("by ", render.mention(person(inv))),))
        )
        return self.desk.ack(incident, text + after)

    async def refresh(self, store: Store, incident: Incident) -> str:
        """Rewrite a closed incident's stored summary after something was added to it; say so."""
        if not incident.is_closed:
            return ""
        await self.rewrite(store, incident)
        return f"; the stored summary is updated (`warroom summary {incident.ref}`)"

    async def rewrite(self, store: Store, incident: Incident) -> None:
        """Store the summary as things stand (after close, or when a reopening makes the stored one untrue)."""
        await write_summary(store, incident, now=self.desk.now, cadence=self._cadence(incident))

    # --- reopening after close -----------------------------------------------------------------------

    async def resume(self, store: Store, incident: Incident) -> str:
        """A closed incident reopened: what close stopped starts again — each reminder at the time it was to fire
        (now, if that has passed): the chase of every follow-up still open (taking back a shared ticket nobody chases
        any more, or joining one another incident chases now), the watch of every open promise and the reminders
        of dated action items. Says what came back."""
        now = self.desk.now

        async def restart(kind: str, subject: int, otherwise: datetime) -> None:
            stopped = await store.stopped_at(incident.number, kind, subject)
            await store.schedule(incident.number, kind, subject, max(now, stopped or otherwise), now=now)

        chases = watches = reminders = 0
        for f in await store.follow_ups(incident.number):
            if not f.is_open:
                continue
            if f.lead is not None:
                lead_incident = await store.get_incident(f.lead[0])
                if not lead_incident.is_closed and (await store.follow_up(*f.lead)).is_open:
                    continue  # a copy of a ticket another open incident chases
                f = replace(f, lead=None)
                await store.save_follow_up(f)
            elif f.reference and (other := await store.open_ticket(f.vendor, f.reference, besides=incident.number)):
                # another open incident chases the ticket since this one closed: wait on it with them
                await store.save_follow_up(replace(f, lead=(other.incident, other.number)).mirror(other))
                continue
            await restart(CHASE, f.number, f.first_reminder() if f.due > now else f.next_reminder(now))
            chases += 1
        window = self.desk.playbooks.get(incident.playbook).at_risk_window
        for p in await store.commitments(incident.number):
            if p.is_open:
                await restart(COMMITMENT, p.number, p.due if p.state is CommitmentState.AT_RISK else p.due - window)
                watches += 1
        for a in await store.actions(incident.number):
            if a.is_open and a.due is not None:
                await restart(ACTION_DUE, a.number, a.due)
                reminders += 1
        back = [
            count(n, what)
            for n, what in (
                (chases, "follow-up chase"),
                (watches, "promise watch"),
                (reminders, "action item reminder"),
            )
            if n
        ]
        return "; its reminders are back" + (f": {', '.join(back)}" if back else "")

    # --- the watch after resolve ---------------------------------------------------------------------

    async def start_watch(self, store: Store, incident: Incident, watch: timedelta) -> str:
        """`resolve … watch:3d`: a check with the customer at the end of the watch; says when."""
        at = self.desk.now + watch
        await store.schedule(incident.number, WATCH, 0, at, now=self.desk.now)
        return f"; watching for {format_duration(watch)}: comms confirms with the customer {render.when(at, incident)}"

    async def watch_ended(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """The fix held through the watch: prompt comms to confirm with the customer, with a draft."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.state is not IncidentState.RESOLVED or incident.resolved_at is None:
            return  # reopened (bad news already) or closed meanwhile
        roles = await self.desk.roles(store, incident)
        who = roles.get("comms") or roles.get("commander")
        held = format_duration(now - incident.resolved_at)
        draft = await self.desk.voice.draft(store, incident, "watch", now, held=now - incident.resolved_at)
        await store.add_event(
            incident.number,
            now,
            EventKind.WATCH_ENDED,
            None,
            f"Watch ended: the fix held for {held}; comms prompted to confirm with the customer",
        )
        await store.add_event(
            incident.number,
            now,
            EventKind.UPDATE_PROMPTED,
            None,
            f"{incident.ref}: confirm with the customer that all is well",
            {"watch": True, "draft": draft.text, "tells": []},
        )
        mention: list[Inline] = [render.mention(who), " — "] if who else []
        await self.desk.post(
            store,
            incident,
            Message(
                f"🔭 {incident.ref}: the watch is over — confirm with the customer that all is well",
                (
                    Section.of(
                        *mention,
                        f"the fix has held for {held}. Ask {incident.customer or 'the customer'} to confirm, record "
                        "it with `/incident update …`, then `close`; if it is not well, `reopen`.",
                    ),
                    Section.of(Strong("Draft: "), draft.text),
                    *([Section.of(Strong("⚠ Draft check: "), draft.warning)] if draft.warning else []),
                    Actions((Button("Update sent", "update sent as drafted", "primary"),)),
                ),
                Tone.REMINDER,
            ),
        )

    def _cadence(self, incident: Incident) -> Mapping[int, timedelta]:
        return self.desk.playbooks.get(incident.playbook).update_cadence
