"""Closing honestly: `close` only what was fixed, `close unresolved` what never was, and the outcome, later too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from bot import commands as c
from bot import render
from bot.chat import Invocation, Message, Reply, Section, Strong, Tone
from bot.desk import Desk, person
from bot.domain import EventKind, Incident
from bot.store import Store
from bot.summary import write_summary


class ClosingDesk:
    """`close`, `close unresolved`, `outcome`, and the stored summary kept true after close."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

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
            stopped = await store.cancel_reminders(incident.number)
            await store.add_event(
                incident.number,
                now,
                EventKind.CLOSED,
                person(inv),
                words
                + (f"; outcome: {cmd.outcome}" if cmd.outcome else "")
                + (f"; {stopped} pending reminder(s) stopped" if stopped else ""),
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
                            ". It still takes `outcome`, `lesson` and `action`.",
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
        await write_summary(store, incident, now=self.desk.now, cadence=self._cadence(incident))
        return f"; the stored summary is updated (`warroom summary {incident.ref}`)"

    def _cadence(self, incident: Incident) -> Mapping[int, timedelta]:
        return self.desk.playbooks.get(incident.playbook).update_cadence
