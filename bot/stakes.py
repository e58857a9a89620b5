"""What is at stake, said late: `set` after open, and the exec sponsor pulled in the moment the line is passed."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from bot import commands as c
from bot import render
from bot.chat import Capability, Invocation, Message, Reply, RoomRef, Section, Tone, UserRef
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, Person, ResponderRecord
from bot.errors import ChatError
from bot.playbooks import responders_for
from bot.store import Store

EXEC_TEAM = "exec_sponsor"


def _shown(field: str, value: object) -> str:
    if value is None:
        return "not stated"
    if isinstance(value, Decimal):
        return render.money(value) + ("/h" if field == "cost_per_hour" else "")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return f'"{value}"'


_LABELS = {
    "title": "title",
    "customer": "customer",
    "impact": "impact",
    "cost_per_hour": "cost per hour",
    "revenue_at_risk": "revenue at risk",
    "timezone": "time zone",
    "doing": "what we are doing (for the customer)",
    "headline": "headline (what the customer calls the problem)",
    "customer_contacts": "customer contacts",
    "private": "private (invisible outside the war room)",
}


async def _dues_now(store: Store, before: Incident, after: Incident) -> str:
    """How the open due times read in the new zone (the instants stay): nobody is surprised at the next reminder."""
    dues = [(f.ref, f.due) for f in await store.follow_ups(after.number) if f.is_open]
    dues += [(c.ref, c.due) for c in await store.commitments(after.number) if c.is_open]
    dues += [(a.ref, a.due) for a in await store.actions(after.number) if a.is_open and a.due is not None]
    if not dues:
        return ". No open due times to move; every time is shown in the new zone from now"
    lines = [
        f"{ref} {render.when(due, after)} (was {render.when(due, before)})"
        for ref, due in sorted(dues, key=lambda d: d[1])
    ]
    return ". The same instants, shown in the new zone from now: " + "; ".join(lines)


class StakesDesk:
    """`set`, and the exec line that `open`, `sev` and `set` all check the same way."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def change(self, cmd: c.ChangeFields, inv: Invocation) -> Reply:
        """Change what was said at open; each change goes on the timeline."""
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            before = await self.desk.target(store, cmd, inv)
            before.require_open("change it")
            wanted = {f: getattr(cmd, f) for f in _LABELS if getattr(cmd, f) is not None}
            now_is = {f: getattr(before, f) for f in wanted} | {"private": self.desk.access.is_private(before)}
            changed = {f: v for f, v in wanted.items() if v != now_is[f]}
            if not changed:
                return self.desk.ack(before, "nothing changed: those are the values already set", tone=Tone.INFO)
            incident = replace(before, **changed)
            await store.save_incident(incident)
            lines = [f"{_LABELS[f]}: {_shown(f, now_is[f])} → {_shown(f, v)}" for f, v in changed.items()]
            text = "Changed " + "; ".join(lines)
            await store.add_event(
                incident.number,
                now,
                EventKind.CHANGED,
                person(inv),
                text,
                {"fields": sorted(changed), "stakes": bool({"cost_per_hour", "revenue_at_risk"} & set(changed))},
            )
            warning = await _dues_now(store, before, incident) if "timezone" in changed else ""
            for field in ("headline", "doing"):  # customer words: said at once if they name something internal
                if field in changed and (names := await self.desk.voice.screen(store, incident, changed[field])):
                    warning += (
                        f". ⚠ The {field} names '{names[0].text}' ({names[0].what}): drafts fall back to a safe "
                        f'skeleton until you change it with `set {field}:"…"`'
                    )
        await self.desk.announce(
            incident, Message(f"✏ {incident.ref}: {text}", (Section.of("by ", render.mention(person(inv))),))
        )
        pulled = await self.pull_in_sponsor(incident)
        return self.desk.ack(incident, text + warning + (f". {pulled}" if pulled else ""))

    def sponsors_due(self, incident: Incident) -> list[tuple[str, str]]:
        """(handle, why) for each exec sponsor the playbook's line calls for at the incident's stakes."""
        wanted = responders_for(
            self.desk.playbooks.get(incident.playbook),
            severity=incident.severity,
            revenue_at_risk=incident.revenue_at_risk,
            cost_per_hour=incident.cost_per_hour,
            text="",
        )
        return [(r.handle, r.reason.removeprefix("exec sponsor: ")) for r in wanted if r.team == EXEC_TEAM]

    async def pull_in_sponsor(self, incident: Incident) -> str | None:
        """Past the exec line and not yet in the room: assign, invite and announce the sponsor, saying why."""
        due = self.sponsors_due(incident)
        if not due or incident.room_id is None:
            return None
        async with self.desk.db.read() as store:
            there = {r.handle.casefold() for r in await store.responders(incident.number) if r.team == EXEC_TEAM}
            roles = await self.desk.roles(store, incident)
        new = [(h, why) for h, why in due if h.casefold() not in there]
        if not new:
            return None
        found = [(h, why, await self.desk.core.chat.find_user(h)) for h, why in new]
        people = [Person(u.id, u.name) for _h, _why, u in found if u]
        room = RoomRef(incident.room_id, incident.room_name or incident.room_id)
        invite_error = None
        if people and Capability.INVITE in self.desk.core.chat.capabilities:
            try:
                await self.desk.core.chat.invite(room, [UserRef(p.id, p.name) for p in people])
            except ChatError as err:
                invite_error = str(err)
        why = new[0][1]
        sponsor = roles.get("exec_sponsor") or (people[0] if people else None)
        async with self.desk.db.transaction() as store:
            if "exec_sponsor" not in roles and sponsor is not None:
                await store.set_role(incident.number, "exec_sponsor", sponsor)
            await store.add_responders(
                incident.number,
                [
                    ResponderRecord(h, EXEC_TEAM, f"exec sponsor: {w}", Person(u.id, u.name) if u else None, bool(u))
                    for h, w, u in found
                ],
            )
            names = ", ".join(p.name for p in people) or "nobody (not found)"
            text = f"Exec sponsor pulled in: {names} — {why}"
            await store.add_event(
                incident.number, self.desk.now, EventKind.EXEC_SPONSOR, None, text, {"handles": [h for h, _ in new]}
            )
        missing = [h for h, _w, u in found if u is None]
        # Only one person holds the role (escalations mention them); anyone else the line calls for is in the room too
        holder = sponsor if sponsor in people else None
        others = [p for p in people if p != holder]
        body: list[Section] = []
        if holder is not None:
            body.append(
                Section.of(
                    render.mention(holder),
                    f" — you are this incident's exec sponsor: {why}. You will be mentioned when customer updates or "
                    "bad news go unanswered, and when a vendor's ladder runs out.",
                )
            )
        if others:
            parts: list[object] = []
            for other in others:
                parts += [render.mention(other), " "]
            lead = f"alongside {sponsor.name}, the exec sponsor" if sponsor is not None else "as exec sponsors"
            body.append(
                Section.of(*parts, f"— pulled in {lead}: {why}.")  # type: ignore[arg-type]
            )
        if missing or invite_error:
            body.append(
                Section.of(
                    (f"I could not find {', '.join(missing)}. " if missing else "")
                    + (f"Inviting failed: {invite_error}. " if invite_error else "")
                    + "Invite them by hand with `/incident invite @name`."
                )
            )
        await self.desk.announce(
            incident, Message(f"👔 {incident.ref}: exec sponsor pulled in", tuple(body), Tone.BAD_NEWS)
        )
        return text
