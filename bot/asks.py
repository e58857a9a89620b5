"""Asks beyond vendors: `ask` one of our own teams (or a person), and `rca`, who owns the root cause.

Both are follow-ups (V<n>) chased by the vendor desk's engine on their own cadence; a team's ask climbs the
team's ladder from the playbook (lead, manager, exec sponsor), the root cause its owner's.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import render
from bot.chat import Capability, Inline, Invocation, Message, Reply, RoomRef, Section, Tone, UserRef
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, Person
from bot.errors import BadInput, ChatError
from bot.followups import ROOT_CAUSE, TEAM, US, FollowUp, Push, pushed_onto, root_cause
from bot.ladders import ASKED, FOR_OUR_SIDE, FOR_VENDORS, OWNER, generic_ladder, rung
from bot.playbooks import LadderRung, TeamLadder, VendorProfile
from bot.store import Store
from bot.vendors import CHASE, VendorDesk, with_rhythm
from bot.when import parse_when

RCA_ASK = "the root-cause analysis"


class AskDesk:
    """The `ask` and `rca` verbs."""

    def __init__(self, desk: Desk, vendors: VendorDesk) -> None:
        self.desk, self.vendors = desk, vendors

    # --- ask -----------------------------------------------------------------------------------------

    def _team(self, incident: Incident, name: str) -> TeamLadder | None:
        books = self.desk.playbooks
        own = books.get(incident.playbook).team(name)
        return own or next((t for n in books.names if (t := books.get(n).team(name))), None)

    def _known_teams(self, incident: Incident) -> str:
        names = [t.name for t in self.desk.playbooks.get(incident.playbook).team_ladders]
        return ", ".join(names) if names else "none in this incident's playbook"

    async def _rung(self, handle: str | None, role: str) -> LadderRung | None:
        if handle is None:
            return None
        user = await self.desk.core.chat.find_user(handle)
        if user is None:
            return LadderRung(handle.lstrip("@"), role, handle)
        return LadderRung(user.name, role, f"@{user.name}", person_id=user.id)

    async def ask(self, cmd: c.AskTeam, inv: Invocation) -> Reply:
        now = self.desk.now
        owner = await self.desk.resolve_person(cmd.owner) if cmd.owner else person(inv)
        async with self.desk.db.read() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
            incident.require_open("ask a team")
            roles = await self.desk.roles(store, incident)
        team = self._team(incident, cmd.team)
        if team is not None:
            rungs = [
                await self._rung(team.lead, "Team lead"),
                await self._rung(team.manager, "Manager"),
                await self._rung(team.exec_sponsor, "Exec sponsor"),
            ]
            first, *above = [r for r in rungs if r is not None]
            # Nobody is their own escalation: a manager asking their own team climbs past themselves.
            above = [r for r in above if owner.id != r.person_id and owner.name != r.name]
            ladder = tuple(dict.fromkeys((first, *above)))
            name = team.name
        else:
            asked = await self.desk.core.chat.find_user(cmd.team) if cmd.team.startswith("@") else None
            if asked is None:
                raise BadInput(
                    f"no playbook knows the team '{cmd.team[:60]}' (teams: {self._known_teams(incident)})"
                    + (
                        f", and I can't find {cmd.team[:60]}" if cmd.team.startswith("@") else "; ask a person as @name"
                    ),
                    example=c.HELP["ask"].example,
                )
            asked_person = Person(asked.id, asked.name)
            ladder = generic_ladder(rung(asked_person, ASKED), roles, owner=owner, climb=FOR_OUR_SIDE)
            name = asked.name
        book = self.desk.playbooks.get(incident.playbook)
        rhythm = book.rhythm("team")
        every = (team.every if team else None) or rhythm.every
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("ask a team")
            draft = FollowUp(
                incident=incident.number,
                number=0,
                vendor=name,
                known_vendor=True,
                ask=cmd.ask,
                reference=cmd.reference,
                owner=owner,
                due=parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone)),
                asked_at=now,
                ladder=ladder,
                plan_b=None,
                timezone=incident.timezone,
                business_hours=None,
                remind_every=every.approximate,
                every_business_days=every.business_days,
                escalate_after=(team.escalate_after if team else None) or rhythm.escalate_after,
                kind=TEAM,
                customer_text=cmd.customer_text,
                reach_top=book.reach_top,
            )
            f, _ = await self.vendors.open_follow_up(
                store, incident, with_rhythm(draft, cmd.every, cmd.escalate_after), inv
            )
        await self._invite_first_contact(incident, f)
        return await self.vendors.opened(incident, f, None)

    async def _invite_first_contact(self, incident: Incident, f: FollowUp) -> None:
        """The team's lead is pulled into the war room, so the chase reaches them (best effort)."""
        contact = f.contact
        chat = self.desk.core.chat
        if contact is None or contact.person_id is None or incident.room_id is None:
            return
        if Capability.INVITE not in chat.capabilities:
            return
        with contextlib.suppress(ChatError):  # they are mentioned on every chase all the same
            await chat.invite(
                RoomRef(incident.room_id, incident.room_name or ""), [UserRef(contact.person_id, contact.name)]
            )

    # --- rca -----------------------------------------------------------------------------------------

    async def own(self, cmd: c.OwnRootCause, inv: Invocation) -> Reply:
        """Name the root cause's owner — or, when it has another one, move it there: the earlier owner's follow-up
        stops being chased and stays on record, and promises that needed it need the new one."""
        now = self.desk.now
        named = await self.desk.resolve_person(cmd.owner) if cmd.owner else None
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("name the root cause's owner")
            follow_ups = await store.follow_ups(incident.number)
            before = root_cause(follow_ups)
            side, trailing = cmd.owner_side, cmd.trailing
            known = None if side == US else self.vendors.named(incident, side, trailing, verb="rca")
            due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone)) if cmd.due else None
            if before is None:
                if due is None:
                    raise BadInput("a root cause needs a due time, so it can be chased", example=c.HELP["rca"].example)
                owner = named or person(inv)
            else:
                to = US if side == US else known.name if known else side
                due = self._moving(incident, before, to, due)
                owner = named or before.owner
                await self.vendors.withdraw(store, incident, before, f"root-cause ownership moved to {_who(to)}")
                follow_ups = [f for f in follow_ups if f.number != before.number]
            adopted = self._same_ticket(follow_ups, cmd)
            if adopted is not None:
                f = await self._adopt(store, incident, adopted, due, cmd, inv)
                ticket = None
            else:
                draft = await self._draft(store, incident, cmd, known, owner, due)
                if before is not None:
                    draft = replace(
                        draft, ask=cmd.ask or before.ask, customer_text=cmd.customer_text or before.customer_text
                    )
                f, ticket = await self.vendors.open_follow_up(store, incident, draft, inv)
            whose = "" if f.owner == person(inv) and cmd.owner is None else f" (owner {f.owner.name})"
            ours = f", due {render.when(f.due, incident)}; tracked as {f.ref}, chased every {f.every}"
            if before is None:
                text = f"R: the root cause is owned by {_who(f.vendor)}{whose}{ours}"
            else:
                text = (
                    f"R: the root cause moved from {_who(before.vendor)} ({before.ref}) to {_who(f.vendor)}"
                    f"{whose}{ours}; {before.ref} is no longer chased for it"
                    + await self._repoint(store, incident, before, f)
                )
            await store.add_event(
                incident.number,
                now,
                EventKind.ROOT_CAUSE,
                person(inv),
                text,
                {"follow_up": f.number, **({"moved_from": before.number} if before else {})},
            )
        if adopted is not None or before is not None:
            await self.desk.announce(incident, Message(f"🔎 {incident.ref}: {text}"))
        if adopted is not None:
            return self.desk.ack(incident, text)
        reply = await self.vendors.opened(incident, f, ticket)
        return Reply((Message(f"{incident.ref}: {text}", reply.messages[0].blocks, reply.messages[0].tone),))

    def _moving(self, incident: Incident, before: FollowUp, to: str, due: datetime | None) -> datetime:
        """Whether the root cause can move from ``before`` to ``to``, and its due time there (refusals say why)."""
        if to.casefold() == before.vendor.casefold():
            raise BadInput(
                f"{incident.ref} already has its root cause: {before.ref} owned by {_who(before.vendor)}; record "
                "news with `rca heard`, `rca done` or `rca pushed`, or give it to another owner with `rca owner`",
                example="rca heard the report is in review",
            )
        if before.received_at is not None:
            raise BadInput(
                f"{_who(before.vendor)} delivered the root cause ({before.ref}) "
                f"{render.when(before.received_at, incident)}: there is no ownership left to move",
                example="status",
            )
        if due is not None:
            return due
        if before.due <= self.desk.now:
            raise BadInput(
                f"{before.ref} was due {render.when(before.due, incident)}, which has passed: say by when "
                f"{'we' if to == US else to} should deliver it",
                example=f"rca owner {to if ' ' not in to else chr(34) + to + chr(34)} due:2d",
            )
        return before.due

    async def _draft(
        self,
        store: Store,
        incident: Incident,
        cmd: c.OwnRootCause,
        known: VendorProfile | None,
        owner: Person,
        due: datetime,
    ) -> FollowUp:
        """The root cause's follow-up for its owner: a vendor's ladder, or ours (owner, commander, exec sponsor)."""
        roles = await self.desk.roles(store, incident)
        book = self.desk.playbooks.get(incident.playbook)
        rhythm = book.rhythm("root_cause")
        climb = FOR_OUR_SIDE if cmd.owner_side == US else FOR_VENDORS
        ladder = known.ladder if known else generic_ladder(rung(owner, OWNER), roles, owner=owner, climb=climb)
        draft = FollowUp(
            incident=incident.number,
            number=0,
            vendor=US if cmd.owner_side == US else (known.name if known else cmd.owner_side),
            known_vendor=known is not None or cmd.owner_side == US,
            ask=cmd.ask or RCA_ASK,
            reference=cmd.reference,
            owner=owner,
            due=due,
            asked_at=self.desk.now,
            ladder=ladder,
            plan_b=known.plan_b if known else None,
            customer_name=None if cmd.owner_side == US else (known.customer_name if known else None),
            timezone=known.timezone if known else incident.timezone,
            business_hours=known.business_hours if known else None,
            remind_every=rhythm.every.approximate,
            every_business_days=rhythm.every.business_days,
            escalate_after=rhythm.escalate_after,
            kind=ROOT_CAUSE,
            customer_text=cmd.customer_text,
            reach_top=known.reach_top if known else book.reach_top,
        )
        return with_rhythm(draft, cmd.every, cmd.escalate_after)

    async def _repoint(self, store: Store, incident: Incident, before: FollowUp, after: FollowUp) -> str:
        """Open promises that needed the root cause's old follow-up need its new one; says which."""
        moved = []
        for p in await store.commitments(incident.number):
            if p.is_open and before.number in p.needs:
                needs = tuple(dict.fromkeys(after.number if n == before.number else n for n in p.needs))
                await store.save_commitment(replace(p, needs=needs))
                moved.append(p.ref)
        if not moved:
            return ""
        return f"; {', '.join(moved)} now need{'s' if len(moved) == 1 else ''} {after.ref}"

    def _same_ticket(self, follow_ups: list[FollowUp], cmd: c.OwnRootCause) -> FollowUp | None:
        """An open ask of this incident to the same vendor about the same `ref:`: the root cause takes it over."""
        if cmd.owner_side == US or not cmd.reference:
            return None
        wanted = cmd.owner_side.casefold()
        for f in follow_ups:
            same_vendor = wanted == f.vendor.casefold() or any(
                (v := b.vendor(cmd.owner_side)) is not None and v.name == f.vendor
                for b in (self.desk.playbooks.get(n) for n in self.desk.playbooks.names)
            )
            if (
                f.is_open
                and f.kind != TEAM
                and same_vendor
                and (f.reference or "").casefold() == cmd.reference.casefold()
            ):
                return f
        return None

    async def _adopt(
        self, store: Store, incident: Incident, f: FollowUp, due: datetime, cmd: c.OwnRootCause, inv: Invocation
    ) -> FollowUp:
        """The ask already open for this ticket becomes the root cause: one chase, now due when the RCA is."""
        now = self.desk.now
        ticket = await self.vendors.ticket(store, incident, f)
        lead = replace(ticket[0][1], due=due, original_due=due, slips=0)  # a new ask, on its own date
        if cmd.every is not None or cmd.escalate_after is not None:
            lead = with_rhythm(lead, cmd.every, cmd.escalate_after)
        saved = await self.vendors.save_ticket(store, ticket, lead)
        mine = next(g for i, g in saved if i.number == incident.number and g.number == f.number)
        mine = replace(mine, kind=ROOT_CAUSE, owner=await self._owner(cmd, mine))
        await store.save_follow_up(mine)
        if due > now:
            await store.schedule(lead.incident, CHASE, lead.number, lead.first_reminder(), now=now)
        return mine

    async def _owner(self, cmd: c.OwnRootCause, f: FollowUp) -> Person:
        return await self.desk.resolve_person(cmd.owner) if cmd.owner else f.owner

    async def _root_cause(self, store: Store, incident: Incident) -> FollowUp:
        r = root_cause(await store.follow_ups(incident.number))
        if r is None:
            raise BadInput(f"{incident.ref} has no root-cause owner yet", example=c.HELP["rca"].example)
        return r

    async def heard(self, cmd: c.RootCauseHeard, inv: Invocation) -> Reply:
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record root-cause news")
            r = await self._root_cause(store, incident)
            return await self.vendors.hear(store, incident, r.number, cmd.note, cmd.due, inv, self.desk.now)

    async def delivered(self, cmd: c.RootCauseDelivered, inv: Invocation) -> Reply:
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record root-cause news")  # as `vendor done`: a shared ticket is not its to move
            r = await self._root_cause(store, incident)
            return await self.vendors.receive(store, incident, r.number, cmd.note, inv, self.desk.now)

    async def pushed(self, cmd: c.RootCausePushed, inv: Invocation) -> Reply:
        """The owner handed its analysis to someone else: recorded, announced, a finding and a scorecard mark."""
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("record what the root cause's owner pushed")
            r = await self._root_cause(store, incident)
            customer = (incident.customer or "").casefold()
            said = cmd.what.casefold()
            onto = cmd.onto or ("customer" if "customer" in said or (customer and customer in said) else "us")
            push = Push(now, cmd.what, onto, inv.user.name)
            await store.save_follow_up(replace(r, pushes=(*r.pushes, push)))
            who = "we" if r.vendor == US else r.vendor
            whose = "our" if r.vendor == US else "its"
            text = f"{who} pushed {whose} root-cause analysis onto {pushed_onto(push)}: {cmd.what}"
            await store.add_event(
                incident.number,
                now,
                EventKind.PUSHED,
                person(inv),
                f"R ({r.ref}): {text}",
                {"follow_up": r.number, "onto": onto},
            )
            commander = await self.desk.commander(store, incident)
            mention: list[Inline] = [render.mention(commander), " — "] if commander else []
            await self.desk.post(
                store,
                incident,
                Message(
                    f"⚠ {incident.ref} · root cause: {text}",
                    (
                        Section.of(
                            *mention,
                            f"the root cause is {r.vendor if r.vendor != US else 'ours'} to find, not "
                            f"{pushed_onto(push)}'s. It goes in the summary as a finding"
                            + ("" if r.vendor == US else f" and on {r.vendor}'s scorecard")
                            + f"; {r.ref} is still chased until the analysis is delivered (`rca done`).",
                        ),
                    ),
                    Tone.REMINDER,
                ),
            )
        return self.desk.ack(incident, f"R: {text}")


def _who(side: str) -> str:
    """The root cause's owner as the war room says it."""
    return "us" if side == US else side
