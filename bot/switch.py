"""`set playbook:<name>`: the crisis turned out to be another kind, so the incident runs another playbook from now.

Nobody leaves: the new playbook's roles and responders join the room, and the roles it names move to its people
unless someone gave them by hand (`role`). Its cadence, checklist, exec line, the ladders of the vendors it knows
and its time zone (unless `tz:` was set by hand) apply from the moment of the switch; what happened before stays
as it was on the timeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot import commands as c
from bot import render
from bot.chat import Bullets, Capability, Inline, Invocation, Message, Reply, RoomRef, Section, Strong, Tone, UserRef
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, Person, ResponderRecord, TimelineEvent
from bot.errors import ChatError
from bot.followups import ROOT_CAUSE, US, VENDOR, FollowUp
from bot.playbooks import Playbook, Responder, responders_for
from bot.stakes import EXEC_TEAM, StakesDesk
from bot.store import Store
from bot.updates import UPDATE_DUE, CustomerDesk
from bot.when import format_duration


@dataclass(frozen=True)
class Switched:
    """What a switch changed, for the timeline, the room and the answer."""

    roles: tuple[tuple[str, Person | None, Person], ...]  # (role, who held it, who holds it now)
    joined: tuple[ResponderRecord, ...]
    ladders: tuple[FollowUp, ...]
    zone: tuple[str, str] | None  # (before, after) when the time zone moved with the playbook


class SwitchDesk:
    """`set`, when it names a playbook: the fields first (as StakesDesk changes them), then the switch."""

    def __init__(self, desk: Desk, stakes: StakesDesk, customer: CustomerDesk) -> None:
        self.desk, self.stakes, self.customer = desk, stakes, customer

    async def set(self, cmd: c.ChangeFields, inv: Invocation) -> Reply:
        """`set …`; with `playbook:` the incident switches playbooks after the other fields are changed."""
        if cmd.playbook is None:
            return await self.stakes.change(cmd, inv)
        book = self.desk.playbooks.get(cmd.playbook)  # an unknown name is refused before anything changes
        async with self.desk.db.read() as store:
            (await self.desk.target(store, cmd, inv, lock=False)).require_open("switch its playbook")
        rest = replace(cmd, playbook=None)
        first = await self.stakes.change(rest, inv) if rest != c.ChangeFields(incident=cmd.incident) else None
        then = await self.switch(cmd, inv, book)
        return Reply((*(first.messages if first else ()), *then.messages), ok=then.ok)

    async def switch(self, cmd: c.Command, inv: Invocation, book: Playbook) -> Reply:
        """Run the incident on ``book`` from now, inviting whoever it adds and saying what changed."""
        async with self.desk.db.read() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
            incident.require_open("switch its playbook")
            if incident.playbook == book.name:
                return self.desk.ack(incident, f"already runs playbook {book.name}; nothing changed", tone=Tone.INFO)
            timeline = await store.timeline(incident.number)
            there = await store.responders(incident.number)
            held = await self.desk.roles(store, incident)
        wanted = [r for r in _pulled_in(book, incident) if r.team != EXEC_TEAM]  # the sponsor: by the exec line
        handles = {*(r.handle for r in wanted), *book.roles.values()}
        found = {h: await self.desk.core.chat.find_user(h) for h in sorted(handles)}
        present = {r.handle.casefold() for r in there} | {
            p.id for p in (*held.values(), *(r.person for r in there if r.person))
        }
        newcomers = [
            (r, u)
            for r in wanted
            if r.handle.casefold() not in present and ((u := found[r.handle]) is None or u.id not in present)
        ]
        invite_error = await self._invite(incident, [u for _, u in newcomers if u is not None])
        async with self.desk.db.transaction() as store:
            before = await self.desk.target(store, cmd, inv)
            before.require_open("switch its playbook")
            if before.playbook == book.name:  # someone else switched it meanwhile
                return self.desk.ack(before, f"already runs playbook {book.name}; nothing changed", tone=Tone.INFO)
            old = self.desk.playbooks.get(before.playbook)
            incident, switched = await self._apply(store, before, book, timeline, found, newcomers, invite_error)
            cadence = self.customer.cadence(incident)
            if await store.pending_reminder(incident.number, UPDATE_DUE, 0) is not None:
                due = await self.customer.restart_clock(
                    store, incident, self.desk.now, before=self.customer.cadence(before)
                )
            else:
                due = None
            text = _timeline_text(old, book, before, incident, switched, cadence, due)
            await store.add_event(
                incident.number,
                self.desk.now,
                EventKind.CHANGED,
                person(inv),
                text,
                {
                    "fields": ["playbook"],
                    "from": old.name,
                    "to": book.name,
                    "zone": list(switched.zone) if switched.zone else None,
                    "roles": [role for role, _, _ in switched.roles],
                    "joined": [r.handle for r in switched.joined],
                    "follow_ups": [f.number for f in switched.ladders],
                    # The cadence until now, so the summary can measure earlier silences against it.
                    "cadence_before": {str(s): d.total_seconds() for s, d in old.update_cadence.items()},
                },
            )
            await self.desk.post(store, incident, _announcement(incident, book, inv, switched, invite_error))
        pulled = await self.stakes.pull_in_sponsor(incident)
        return self.desk.ack(incident, text + (f". {pulled}" if pulled else ""))

    async def _apply(
        self,
        store: Store,
        before: Incident,
        book: Playbook,
        timeline: Sequence[TimelineEvent],
        found: Mapping[str, UserRef | None],
        newcomers: Sequence[tuple[Responder, UserRef | None]],
        invite_error: str | None,
    ) -> tuple[Incident, Switched]:
        n = before.number
        tz_by_hand = any(e.kind is EventKind.CHANGED and "timezone" in e.data.get("fields", ()) for e in timeline)
        zone = before.timezone if tz_by_hand else (book.timezone or self.desk.core.default_tz)
        incident = replace(before, playbook=book.name, timezone=zone)
        await store.save_incident(incident)
        # Roles the playbook gave move to the new playbook's people; a role someone gave by hand stays theirs, and
        # whoever commands keeps command.
        held = await self.desk.roles(store, incident)
        by_hand = {str(e.data["role"]) for e in timeline if e.kind is EventKind.ROLE and "role" in e.data}
        by_hand |= {"commander"} & set(held)
        moved = []
        for role, handle in book.roles.items():
            user = found.get(handle)
            if user is None or role in by_hand or (held.get(role) and held[role].id == user.id):
                continue
            now_held = Person(user.id, user.name)
            await store.set_role(n, role, now_held)
            moved.append((role, held.get(role), now_held))
        joined = [
            ResponderRecord(
                r.handle,
                r.team,
                r.reason,
                Person(u.id, u.name) if u else None,
                invited=u is not None and invite_error is None,
            )
            for r, u in newcomers
        ]
        await store.add_responders(n, joined)
        ladders = []
        for f in await store.follow_ups(n):
            profile = book.vendor(f.vendor) if f.kind in (VENDOR, ROOT_CAUSE) and f.vendor != US else None
            if profile is None or not f.is_open or f.lead is not None or f.ladder == profile.ladder:
                continue
            f = replace(
                f,
                vendor=profile.name,
                known_vendor=True,
                ladder=profile.ladder,
                rung=min(f.rung, len(profile.ladder) - 1),
                plan_b=profile.plan_b,
                customer_name=profile.customer_name,
                timezone=profile.timezone,
                business_hours=profile.business_hours,
                reach_top=profile.reach_top,
            )  # its chase rhythm stays: it may be the ask's own (`every:`)
            await store.save_follow_up(f)
            ladders.append(f)
        shifted = (before.timezone, zone) if zone != before.timezone else None
        return incident, Switched(tuple(moved), tuple(joined), tuple(ladders), shifted)

    async def _invite(self, incident: Incident, users: Sequence[UserRef]) -> str | None:
        chat = self.desk.core.chat
        if not users or incident.room_id is None or Capability.INVITE not in chat.capabilities:
            return None
        try:
            await chat.invite(RoomRef(incident.room_id, incident.room_name or ""), list(users))
        except ChatError as err:
            return str(err)
        return None


def _pulled_in(book: Playbook, incident: Incident) -> tuple[Responder, ...]:
    return responders_for(
        book,
        severity=incident.severity,
        revenue_at_risk=incident.revenue_at_risk,
        cost_per_hour=incident.cost_per_hour,
        text=" ".join(filter(None, (incident.title, incident.impact))),
    )


def _timeline_text(
    old: Playbook,
    book: Playbook,
    before: Incident,
    incident: Incident,
    switched: Switched,
    cadence: timedelta,
    due: datetime | None,
) -> str:
    """The timeline's line for a switch: from what to what, and what changed with it."""
    was = old.update_cadence.get(before.severity)
    parts = [f"Playbook switched from {old.name} to {book.name}"]
    parts.append(
        f"customer updates every {format_duration(cadence)} at severity {incident.severity}"
        + (f" (was {format_duration(was)})" if was is not None and was != cadence else "")
        + (f", next due {render.when(due, incident)}" if due is not None else "")
    )
    if switched.zone:
        parts.append(f"time zone {switched.zone[0]} → {switched.zone[1]}")
    for role, was_held, now_held in switched.roles:
        parts.append(f"{role.replace('_', ' ')}: {was_held.name if was_held else 'nobody'} → {now_held.name}")
    if switched.joined:
        names = [r.person.name if r.person else f"{r.handle} (not found)" for r in switched.joined]
        parts.append("joined: " + ", ".join(names))
    if switched.ladders:
        parts.append("its ladders for " + ", ".join(f"{f.ref} {f.vendor}" for f in switched.ladders))
    return "; ".join(parts)


def _announcement(
    incident: Incident, book: Playbook, inv: Invocation, switched: Switched, invite_error: str | None
) -> Message:
    """The post in the war room: who joined or took a role, and the new playbook's checklist."""
    about = book.description or book.title
    blocks: list[Section | Bullets] = [Section.of("by ", render.mention(person(inv)), f" — {about}")]
    if switched.roles:
        parts: list[Inline] = [Strong("Roles: ")]
        for i, (role, _was, now_held) in enumerate(switched.roles):
            parts += ["; " if i else "", f"{role.replace('_', ' ')} ", render.mention(now_held)]
        blocks.append(Section(tuple(parts)))
    here = [r for r in switched.joined if r.person]
    if here:
        parts = [Strong("Joined: ")]
        for i, r in enumerate(here):
            parts += [", " if i else "", render.mention(r.person), f" ({r.reason.replace('_', ' ')})"]  # type: ignore[arg-type]
        blocks.append(Section(tuple(parts)))
    missing = [r.handle for r in switched.joined if r.person is None]
    if missing or invite_error:
        blocks.append(
            Section.of(
                (f"I could not find {', '.join(missing)}. " if missing else "")
                + (f"Inviting failed: {invite_error}. " if invite_error else "")
                + "Invite them by hand with `/incident invite @name`."
            )
        )
    if book.checklist:
        blocks += [Section.of(Strong(f"Checklist ({book.name})")), Bullets(book.checklist)]
    return Message(f"🔀 {incident.ref}: now runs playbook {book.name} ({book.title})", tuple(blocks), Tone.INFO)
