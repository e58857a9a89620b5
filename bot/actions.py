"""Action items on a clock: a due date reminds the owner in the war room, then daily while the item is open."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import commands as c
from bot import render
from bot.chat import Actions, Button, Inline, Invocation, Message, Reply, Section, Tone
from bot.desk import Desk, person
from bot.domain import ActionItem, EventKind, Incident
from bot.errors import BadInput
from bot.reminders import Reminder
from bot.store import Store
from bot.when import format_duration, parse_duration

ACTION_DUE = "action_due"
AGAIN = timedelta(days=1)  # an open item is reminded again every day
MAX_SNOOZE = timedelta(days=30)


def action_due_message(item: ActionItem, incident: Incident, now: datetime, nobody: Inline | None) -> Message:
    """The reminder: the owner mentioned (the commander when it has none), what it is, how late, two buttons."""
    who: list[Inline] = (
        [render.mention(item.owner)] if item.owner else ([nobody, " (it has no owner)"] if nobody else [])
    )
    late = f", {format_duration(now - item.due)} ago" if item.due and now > item.due else ""
    return Message(
        f"⏳ {item.ref} {item.text} is due",
        (
            Section.of(
                *who,
                f" — it was due {render.when(item.due, incident)}{late} and is still open. Mark it done, or snooze"
                " it; it is reminded again every day while it is open.",
            ),
            Actions(
                (
                    Button("Done", f"action done {item.ref}", "primary"),
                    Button("Snooze 1d", f"action snooze {item.ref} 1d"),
                )
            ),
        ),
        Tone.REMINDER,
    )


class ActionDesk:
    """`action done`, `action snooze`, and the reminder an action item's due date sets."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def schedule(self, store: Store, incident: Incident, item: ActionItem) -> None:
        """An item with a due date in an open incident is reminded at that time."""
        if item.due is not None and not incident.is_closed:
            await store.schedule(incident.number, ACTION_DUE, item.number, item.due, now=self.desk.now)

    async def done(self, cmd: c.FinishAction, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            item = (await store.action(incident.number, cmd.number)).done(now)
            await store.save_action(item, incident.number)
            await store.cancel_reminders(incident.number, ACTION_DUE, item.number)
            text = f"{item.ref} done: {item.text}" + (f" ({cmd.note})" if cmd.note else "")
            await store.add_event(
                incident.number, now, EventKind.ACTION_DONE, person(inv), text, {"action": item.number}
            )
            if not incident.is_closed:
                await self.desk.post(store, incident, Message(f"✅ {incident.ref}: {text}", tone=Tone.SUCCESS))
        return self.desk.ack(incident, text)

    async def snooze(self, cmd: c.SnoozeAction, inv: Invocation) -> Reply:
        now = self.desk.now
        delta = parse_duration(cmd.duration)
        if delta > MAX_SNOOZE:
            raise BadInput("snooze an action item for 30 days at most", example="action snooze A1 1w")
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("snooze its action items")
            item = await store.action(incident.number, cmd.number)
            if not item.is_open:
                raise BadInput(f"{item.ref} is done; there is nothing to snooze")
            await store.schedule(incident.number, ACTION_DUE, item.number, now + delta, now=now)
            text = f"{item.ref} snoozed until {render.when(now + delta, incident)}"
            await store.add_event(incident.number, now, EventKind.SNOOZED, person(inv), text, {"action": item.number})
        return self.desk.ack(incident, text)

    async def remind(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """Fire an action item's reminder, unless it is done or the incident closed; then again in a day."""
        incident = await store.get_incident(reminder.incident, lock=True)
        if incident.is_closed:
            return
        item = await store.action(incident.number, reminder.subject)
        if not item.is_open:
            return
        commander = None if item.owner else await self.desk.commander(store, incident)
        await store.schedule(incident.number, ACTION_DUE, item.number, now + AGAIN, now=now)
        await store.add_event(
            incident.number,
            now,
            EventKind.ACTION_DUE,
            None,
            f"{item.ref} reminded: {item.text}" + (f" ({item.owner.name})" if item.owner else " (no owner)"),
            {"action": item.number},
        )
        nobody = render.mention(commander) if commander else None
        await self.desk.post(store, incident, action_due_message(item, incident, now, nobody))
