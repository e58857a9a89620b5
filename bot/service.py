"""The core: one use case per verb. Adapters hand it an Invocation; it answers with a Reply and posts via the port."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import figures, render
from bot.actions import ACTION_DUE, ActionDesk
from bot.answers import Answers
from bot.asks import AskDesk
from bot.chat import (
    Bullets,
    Capability,
    Invocation,
    Message,
    MessageRef,
    Reply,
    RoomRef,
    Section,
    Strong,
    Tone,
    UserRef,
)
from bot.closing import WATCH, ClosingDesk
from bot.customer import Trigger
from bot.desk import Core, Desk, person
from bot.domain import EventKind, Incident, IncidentState, Person, ResponderRecord, RoleAssignment
from bot.errors import BadInput, ChatError, WarroomError
from bot.followups import earlier_root_causes, pushed_onto, root_cause
from bot.mail.desk import MailDesk
from bot.outbox import explained, owed
from bot.playbooks import Playbook, Responder, responders_for
from bot.reminders import Reminder
from bot.scorecard import scorecard_message, vendor_scores
from bot.sharing import ShareDesk
from bot.stakes import EXEC_TEAM, StakesDesk
from bot.store import StatusParts, Store
from bot.store.inbox import Applying, LeaseLost, applying
from bot.switch import SwitchDesk
from bot.tokens import is_api_user
from bot.updates import COMMITMENT, UPDATE_DUE, CustomerDesk
from bot.vendors import CHASE, VendorDesk, follow_up_lines, shown_due
from bot.when import format_duration, format_when, parse_when
from bot.words import count

log = logging.getLogger(__name__)
DEFAULT_SEVERITY = 3


def room_name(pattern: str, *, number: int, title: str, customer: str | None, severity: int) -> str:
    """A channel name from the playbook's pattern; adapters enforce their platform's rules on top."""
    slug = _slug(title)[:40].strip("-")
    name = pattern.format(number=number, slug=slug, customer=_slug(customer or "")[:30], severity=severity)
    return re.sub(r"-{2,}", "-", name).strip("-")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class Warroom:
    """Runs commands against incidents; the only thing adapters call."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.desk = desk = Desk(core)
        self.customer = CustomerDesk(desk)
        self.vendors = VendorDesk(desk, self.customer)
        self.stakes = StakesDesk(desk)
        self.switch = SwitchDesk(desk, self.stakes, self.customer)
        self.closing = ClosingDesk(desk, self.vendors)
        self.asks = AskDesk(desk, self.vendors)
        self.actions = ActionDesk(desk)
        self.answers = Answers(core.db.changes)
        self.mail = MailDesk(desk, self.vendors, self.customer, owner=core.lease_owner("mail"))
        self.vendors.mail = self.mail
        self.customer.can_email = self.mail.can_email_customer
        self.share = ShareDesk(desk, core.public_url)
        self.share.email = self.mail.email_link
        self._handlers: dict[type[c.Command], Callable[[c.Command, Invocation], Awaitable[Reply]]] = {
            c.OpenIncident: self._open,  # type: ignore[dict-item]
            c.ShowStatus: self._status,
            c.ChangeSeverity: self._sev,  # type: ignore[dict-item]
            c.AssignRole: self._role,  # type: ignore[dict-item]
            c.InvitePeople: self._invite,  # type: ignore[dict-item]
            c.AddNote: self._note,  # type: ignore[dict-item]
            c.AddLesson: self._lesson,  # type: ignore[dict-item]
            c.AddAction: self._action,  # type: ignore[dict-item]
            c.MitigateIncident: self._mitigate,  # type: ignore[dict-item]
            c.ResolveIncident: self._resolve,  # type: ignore[dict-item]
            c.ReopenIncident: self._reopen,  # type: ignore[dict-item]
            c.CloseIncident: self.closing.close,  # type: ignore[dict-item]
            c.RecordOutcome: self.closing.outcome,  # type: ignore[dict-item]
            c.ChangeFields: self.switch.set,  # type: ignore[dict-item]
            c.SendDraft: self.customer.send_draft,  # type: ignore[dict-item]
            c.ListIncidents: self._list,
            c.ShowHelp: self._help,  # type: ignore[dict-item]
            c.AskVendor: self.vendors.ask,  # type: ignore[dict-item]
            c.HeardFromVendor: self.vendors.heard,  # type: ignore[dict-item]
            c.ReceivedFromVendor: self.vendors.received,  # type: ignore[dict-item]
            c.EscalateFollowUp: self.vendors.escalate,  # type: ignore[dict-item]
            c.CancelFollowUp: self.vendors.cancel,  # type: ignore[dict-item]
            c.SnoozeFollowUp: self.vendors.snooze,  # type: ignore[dict-item]
            c.ListFollowUps: self.vendors.list_follow_ups,
            c.AskTeam: self.asks.ask,  # type: ignore[dict-item]
            c.OwnRootCause: self.asks.own,  # type: ignore[dict-item]
            c.RootCauseHeard: self.asks.heard,  # type: ignore[dict-item]
            c.RootCauseDelivered: self.asks.delivered,  # type: ignore[dict-item]
            c.RootCausePushed: self.asks.pushed,  # type: ignore[dict-item]
            c.FinishAction: self.actions.done,  # type: ignore[dict-item]
            c.SnoozeAction: self.actions.snooze,  # type: ignore[dict-item]
            c.ShowScorecard: self._scorecard,  # type: ignore[dict-item]
            c.RecordUpdate: self.customer.update,  # type: ignore[dict-item]
            c.MakeCommitment: self.customer.commit,  # type: ignore[dict-item]
            c.KeepCommitment: self.customer.kept,  # type: ignore[dict-item]
            c.RiskCommitment: self.customer.at_risk,  # type: ignore[dict-item]
            c.MissCommitment: self.customer.missed,  # type: ignore[dict-item]
            c.EmailFollowUp: self.mail.email_vendor,  # type: ignore[dict-item]
            c.SendUpdate: self.mail.send_update,  # type: ignore[dict-item]
            c.SetCustomerText: self.vendors.customer_text,  # type: ignore[dict-item]
            c.RewordCommitment: self.customer.reword,  # type: ignore[dict-item]
            c.ShareLink: self.share.share,  # type: ignore[dict-item]
            c.ListShares: self.share.list,  # type: ignore[dict-item]
            c.RevokeShare: self.share.revoke,  # type: ignore[dict-item]
        }

    async def handle(self, invocation: Invocation) -> Reply:
        """Parse and run one command; user errors become a one-line reply, surprises a reference to the log.

        Either way the answer says truthfully whether anything was recorded: the command's first committed
        write is tracked (by the inbox's claim when it came through the inbox, else by a claim of our own).
        A read-only command may be answered from memory (bot/answers.py) when nothing it shows has changed.
        """
        try:
            command = c.parse(invocation.text)
        except WarroomError as err:
            return Reply((render.error(str(err)),), ok=False)
        except Exception:
            return _surprise(recorded=False)
        if isinstance(command, c.READ_ONLY):
            key = _answer_key(command, invocation)
            return await self.answers.answer(key, self.desk.now, lambda: self._run(command, invocation))
        return await self._run(command, invocation)

    def kept(self, invocation: Invocation) -> Reply | None:
        """The answer to a read-only command when one is kept in memory and still good; never waits."""
        try:
            command = c.parse(invocation.text)
        except Exception:
            return None
        if not isinstance(command, c.READ_ONLY):
            return None
        return self.answers.kept(_answer_key(command, invocation), self.desk.now)

    async def _run(self, command: c.Command, invocation: Invocation) -> Reply:
        own = applying.get() is None
        token = applying.set(Applying(0)) if own else None
        claim = applying.get()
        mine: list[int] = []
        posts = owed.set(mine)
        told = explained.set(set())
        try:
            return await self._carry_out(command, invocation, claim, mine)
        finally:
            if token is not None:
                applying.reset(token)
            owed.reset(posts)
            explained.reset(told)

    async def _carry_out(
        self, command: c.Command, invocation: Invocation, claim: Applying | None, mine: list[int]
    ) -> Reply:
        try:
            if not isinstance(command, (c.OpenIncident, *c.READ_ONLY)):
                await self._may(command, invocation)
            reply = await self._handlers[type(command)](command, invocation)
        except LeaseLost:  # another replica carries this command out now; its answer is theirs to give
            raise
        except WarroomError as err:
            return Reply((render.error(str(err)),), ok=False)
        except Exception:
            return _surprise(recorded=claim is not None and claim.applied)
        await self._deliver(mine)
        try:
            troubles = await self.desk.troubles(mine)
        except Exception:  # the answer is still true without it; the posts stay owed
            log.exception("could not read what became of a command's posts")
            troubles = []
        if troubles:  # the answer says what became of the posts it decided, not only what was recorded
            note = Message("⚠ Recorded — but in the war room: " + "; ".join(troubles) + ".", tone=Tone.ERROR)
            reply = replace(reply, messages=(*reply.messages, note))
        return reply

    async def _may(self, command: c.Command, invocation: Invocation) -> None:
        """The policy (bot/access.py), before a use case looks anyone up or asks the chat platform anything: a
        refusal says no more than it must. The use case checks again when it finds its incident, under its lock."""
        async with self.core.db.read() as store:
            await self.desk.target(store, command, invocation, lock=False)

    async def _deliver(self, rows: list[int]) -> None:
        """What the command decided to post goes out now; if it cannot, the outbox keeps it and retries."""
        token = applying.set(None)  # delivering is not the command's own write
        try:
            await self.desk.outbox.deliver(only=rows)
        except Exception:
            log.exception("delivering posts failed; they stay in the outbox and are retried")
        finally:
            applying.reset(token)

    async def deliver(self) -> int:
        """What is owed outside the transactions that decided it: emails (whose sending posts), then posts."""
        return await self.mail.deliver() + await self.desk.outbox.deliver()

    @property
    def reminder_handlers(self) -> dict[str, Callable[[Store, Reminder, datetime], Awaitable[None]]]:
        """What the reminder engine runs for each kind of reminder."""
        return {
            CHASE: self.vendors.chase,
            UPDATE_DUE: self.customer.prompt_update,
            COMMITMENT: self.customer.watch_commitment,
            ACTION_DUE: self.actions.remind,
            WATCH: self.closing.watch_ended,
        }

    # --- open --------------------------------------------------------------------------------------

    async def _open(self, cmd: c.OpenIncident, inv: Invocation) -> Reply:
        core, now, opener = self.core, self.desk.now, person(inv)
        suggestion = (
            None
            if cmd.playbook
            else core.playbooks.suggest(cmd.title, more=" ".join(filter(None, (cmd.impact, cmd.customer))))
        )
        playbook = suggestion.playbook if suggestion else core.playbooks.get(cmd.playbook or "")
        doubt = suggestion.explained() if suggestion else None  # the pick fell back to the default: say so
        severity = cmd.severity or DEFAULT_SEVERITY
        tz = playbook.timezone or core.default_tz
        wanted = responders_for(
            playbook,
            severity=severity,
            revenue_at_risk=cmd.revenue_at_risk,
            cost_per_hour=cmd.cost_per_hour,
            text=" ".join(filter(None, (cmd.title, cmd.impact))),
            products=cmd.products,
        )
        people = {
            handle: await core.chat.find_user(handle)
            for handle in {*(r.handle for r in wanted), *playbook.roles.values()}
        }
        roles = {role: Person(u.id, u.name) for role, h in playbook.roles.items() if (u := people[h])}
        roles.setdefault("commander", opener)
        sponsor = next((u for r in wanted if r.team == EXEC_TEAM and (u := people[r.handle])), None)
        if sponsor is not None:  # past the exec line at open: the sponsor holds the role prompts escalate to
            roles.setdefault("exec_sponsor", Person(sponsor.id, sponsor.name))
        draft = Incident(
            number=0,
            title=cmd.title,
            severity=severity,
            state=IncidentState.OPEN,
            customer=cmd.customer,
            impact=cmd.impact,
            cost_per_hour=cmd.cost_per_hour,
            revenue_at_risk=cmd.revenue_at_risk,
            playbook=playbook.name,
            timezone=tz,
            opened_by=opener,
            opened_at=now,
            private=playbook.private,
        )
        async with core.db.transaction() as store:
            incident = await store.add_incident(draft)
            for role, who in roles.items():
                await store.set_role(incident.number, role, who)
            await store.add_event(
                incident.number,
                now,
                EventKind.OPENED,
                opener,
                f"Opened at severity {severity} with playbook {playbook.name}" + (f". {doubt}" if doubt else ""),
                {"severity": severity, "candidates": list(suggestion.candidates) if suggestion and doubt else []},
            )
            await self.customer.start_clock(store, incident, now)
        name = room_name(
            playbook.channel_pattern, number=incident.number, title=cmd.title, customer=cmd.customer, severity=severity
        )
        topic = f"{incident.ref} sev {severity}: {cmd.title}" + (f" — {cmd.customer}" if cmd.customer else "")
        try:
            room = await core.chat.open_room(name, topic=topic, private=playbook.private, origin=inv.room)
        except ChatError as err:
            async with core.db.transaction() as store:
                await store.delete_incident(incident.number)
            return Reply(
                (render.error(f"I could not open the war room ({err}); nothing was recorded, so just try again."),),
                ok=False,
                room_refused=True,
            )
        # Recorded at once: a command typed in the new channel (or a replica dying while the room is staffed)
        # must find its incident there, whatever happens to the invites and the kickoff card after.
        incident = _with_room(incident, room, self.desk.now)
        async with core.db.transaction() as store:
            await store.save_incident(incident)
        return await self._staff_room(incident, room, playbook, wanted, people, roles, opener, doubt=doubt)

    async def _staff_room(
        self,
        incident: Incident,
        room: RoomRef,
        playbook: Playbook,
        wanted: Sequence[Responder],
        people: Mapping[str, UserRef | None],
        roles: dict[str, Person],
        opener: Person,
        *,
        doubt: str | None = None,
    ) -> Reply:
        core = self.core
        records = [
            ResponderRecord(
                r.handle,
                r.team,
                r.reason,
                Person(u.id, u.name) if (u := people[r.handle]) else None,
                invited=bool(u),
            )
            for r in wanted
        ]
        people_in = [*roles.values(), *(r.person for r in records if r.person)]
        invitees = {p.id: p for p in people_in if not is_api_user(p.id)}  # an API token is nobody to invite
        invite_error = await self._invite_people(room, list(invitees.values()))
        if invite_error:
            records = [ResponderRecord(r.handle, r.team, r.reason, r.person, invited=False) for r in records]
        incident = _with_room(incident, room, self.desk.now)
        assignments = [RoleAssignment(role, who) for role, who in roles.items()]
        card = render.kickoff_card(incident, roles=assignments, responders=records, playbook=playbook, note=doubt)
        posted = await self.desk.post_now(incident, card)
        kickoff = posted.ref
        if kickoff and Capability.PIN in core.chat.capabilities:
            try:
                await core.chat.pin(kickoff)
            except ChatError as err:
                log.warning("could not pin the kickoff card of %s: %s", incident.ref, err)
        missing = [r for r in records if r.person is None]
        if missing or invite_error:
            text = "; ".join(f"{r.handle} ({r.team})" for r in missing)
            await self.desk.announce(
                incident,
                Message(
                    "Some responders are not in the room yet",
                    (
                        Section.of(
                            (f"I could not find {text}. " if missing else "")
                            + (f"Inviting failed: {invite_error}. " if invite_error else "")
                            + "Invite them by hand with `/incident invite @name`."
                        ),
                    ),
                    Tone.REMINDER,
                ),
            )
        async with core.db.transaction() as store:
            await store.save_incident(incident if kickoff is None else _with_kickoff(incident, kickoff))
            await store.add_responders(incident.number, records)
            await store.add_event(
                incident.number,
                self.desk.now,
                EventKind.ROOM_OPENED,
                None,
                f"War room #{room.name} opened with {len(invitees)} people",
            )
            for r in missing:
                await store.add_event(
                    incident.number,
                    self.desk.now,
                    EventKind.INVITE_FAILED,
                    None,
                    f"Could not find {r.handle} ({r.team})",
                )
        return Reply(
            (
                Message(
                    f"Opened {incident.ref} in #{room.name}",
                    (
                        Section.of(
                            f"sev {incident.severity}, playbook {playbook.name}, opened "
                            f"{format_when(incident.opened_at, ZoneInfo(incident.timezone))}; "
                            f"{len(invitees)} people invited" + (f", {len(missing)} not found" if missing else "") + "."
                        ),
                        *((Section.of(f"⚠ {doubt}"),) if doubt else ()),
                        *(
                            (
                                Section.of(
                                    f"⚠ The kickoff card: {posted.trouble}. The incident is recorded;"
                                    " `status` in the war room shows it all."
                                ),
                            )
                            if posted.trouble
                            else ()
                        ),
                    ),
                    Tone.SUCCESS,
                ),
            ),
            rooms_opened=(room,),
        )

    async def _invite_people(self, room: RoomRef, people: Sequence[Person]) -> str | None:
        if not people or Capability.INVITE not in self.core.chat.capabilities:
            return None
        try:
            await self.core.chat.invite(room, [UserRef(p.id, p.name) for p in people])
        except ChatError as err:
            return str(err)
        return None

    # --- the other verbs ---------------------------------------------------------------------------

    async def _status(self, cmd: c.Command, inv: Invocation) -> Reply:
        async with self.core.db.read() as store:  # two statements: the incident, then all that belongs to it
            incident = await self.desk.target(store, cmd, inv, lock=False)
            parts = await store.status_parts(incident, prompt=UPDATE_DUE)
        self.answers.about(incident.number)
        extra = self._status_blocks(incident, parts)
        card = render.status_card(incident, roles=parts.roles, actions=parts.actions, now=self.desk.now, extra=extra)
        return Reply((card,))

    def _status_blocks(self, incident: Incident, parts: StatusParts) -> list[Section | Bullets]:
        """What the status card says about vendors, promises and the customer clock."""
        now = self.desk.now
        blocks: list[Section | Bullets] = []
        follow_ups = parts.follow_ups
        waiting = [f for f in follow_ups if f.is_open]
        if waiting:
            blocks += [Section.of(Strong("Waiting on")), follow_up_lines(waiting, incident, now)]
        if (r := root_cause(follow_ups)) is not None:
            owner = "us" if r.vendor == "us" else r.vendor
            state = "delivered" if r.received_at else r.state.value + (", heard back" if r.heard_at else "")
            lines = [
                f"Owned by {owner} (owner {r.owner.name}), tracked as {r.ref}"
                + (f" ({r.reference})" if r.reference else "")
                + f": due {shown_due(r, incident)}, {state}; chased every {r.every}, {count(r.chases, 'chase')}"
            ]
            lines += [f"⚠ pushed onto {pushed_onto(p)} {render.when(p.at, incident)}: {p.what}" for p in r.pushes]
            lines += [
                f"before: {'us' if g.vendor == 'us' else g.vendor} ({g.ref}), {render.when(g.asked_at, incident)} to "
                f"{render.when(g.closed_at or g.asked_at, incident)}" + (f" — {g.closed_note}" if g.closed_note else "")
                for g in earlier_root_causes(follow_ups)
            ]
            blocks += [Section.of(Strong("Root cause")), Bullets(tuple(lines))]
        else:
            blocks.append(Section.of("Root cause: nobody owns it yet (`rca <vendor|us> due:…`)."))
        promises = [p for p in parts.commitments if p.is_open]
        if promises:
            blocks += [
                Section.of(Strong("Commitments")),
                Bullets(
                    tuple(
                        f"{p.ref} {p.promise} — by {render.when(p.due, incident)}, {p.state.value.replace('_', ' ')}"
                        for p in promises
                    )
                ),
            ]
        updates = parts.updates
        last = (
            (
                f"Last customer update {updates[-1].ref} {render.when(updates[-1].at, incident)} "
                f"({format_duration(now - updates[-1].at)} ago)"
            )
            if updates
            else "No customer update yet"
        )
        nxt = f"; next due {render.when(parts.prompt_due, incident)}" if parts.prompt_due else ""
        blocks.append(Section.of(last + nxt + "."))
        owed, since = parts.owed, parts.owed_since
        if owed:
            blocks.append(
                Section.of(
                    f"⚠ {count(owed, 'post')} for this room {'is' if owed == 1 else 'are'} waiting to be delivered "
                    f"(since "
                    f"{render.when(since, incident)}): the chat platform refused or could not be reached;"
                    " I keep trying."
                )
            )
        untold = [b for b in parts.bad_news if b.pending]
        if untold:
            blocks += [
                Section.of(Strong("Bad news not yet told to the customer")),
                Bullets(tuple(f"{b.ref} ({format_duration(now - b.at)} old) {b.what}" for b in untold)),
            ]
        return blocks

    async def _sev(self, cmd: c.ChangeSeverity, inv: Invocation) -> Reply:
        async with self.core.db.transaction() as store:
            before = await self.desk.target(store, cmd, inv)
            if before.severity == cmd.severity:
                return self.desk.ack(before, f"already severity {cmd.severity}; nothing changed", tone=Tone.INFO)
            incident = before.with_severity(cmd.severity)
            await store.save_incident(incident)
            verb = "raised" if cmd.severity < before.severity else "lowered"
            text = f"Severity {verb} from {before.severity} to {cmd.severity}" + (
                f": {cmd.reason}" if cmd.reason else ""
            )
            await store.add_event(
                incident.number,
                self.desk.now,
                EventKind.SEVERITY,
                person(inv),
                text,
                {"from": before.severity, "to": cmd.severity},
            )
            due = await self.customer.restart_clock(
                store, incident, self.desk.now, before=self.customer.cadence(before)
            )
            promised = due == await self.customer.promised(store, incident, self.desk.now)
            clock = (
                f"; next customer update due {render.when(due, incident)}"
                + (" (the time promised to the customer)" if promised else "")
                if incident.state in (IncidentState.OPEN, IncidentState.MITIGATED)
                else ""
            )
            prompt = None
            if verb == "raised":
                what = f"the severity rose from {before.severity} to {cmd.severity}" + (
                    f" ({cmd.reason})" if cmd.reason else ""
                )
                prompt = await self.customer.bad_news(store, incident, Trigger.SEVERITY_RAISED, what, self.desk.now)
        tone = Tone.BAD_NEWS if verb == "raised" else Tone.INFO
        await self.desk.announce(
            incident, Message(f"{incident.ref}: {text}", (Section.of("by ", render.mention(person(inv))),), tone)
        )
        if prompt:
            await self.desk.announce(incident, prompt)
        pulled = await self.stakes.pull_in_sponsor(incident)
        return self.desk.ack(incident, text + clock + (f". {pulled}" if pulled else ""))

    async def _role(self, cmd: c.AssignRole, inv: Invocation) -> Reply:
        who = await self.desk.resolve_person(cmd.handle)
        async with self.core.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("assign roles")
            await store.set_role(incident.number, cmd.role, who)
            text = f"{cmd.role.replace('_', ' ')} is now {who.name}"
            await store.add_event(incident.number, self.desk.now, EventKind.ROLE, person(inv), text, {"role": cmd.role})
        await self.desk.announce(
            incident,
            Message(
                f"{incident.ref}: new {cmd.role.replace('_', ' ')}",
                (Section.of(render.mention(who), f" is {cmd.role.replace('_', ' ')}."),),
            ),
        )
        return self.desk.ack(incident, text)

    async def _invite(self, cmd: c.InvitePeople, inv: Invocation) -> Reply:
        found = {h: await self.core.chat.find_user(h) for h in cmd.handles}
        missing = [h for h, u in found.items() if u is None]
        if missing:
            raise BadInput(
                f"I can't find {', '.join(m[:60] for m in missing)}; nobody was invited", example="invite @lee"
            )
        # `@lee @Lee` is one person typed twice: invite and record them once, under the handle typed first.
        invitees: dict[str, tuple[str, Person]] = {}
        for handle, user in found.items():
            if user is not None:
                invitees.setdefault(user.id, (handle, Person(user.id, user.name)))
        people = [p for _, p in invitees.values()]
        async with self.core.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv, lock=False)
        if incident.is_closed or incident.room_id is None:
            raise BadInput(f"{incident.ref} has no open war room to invite people into")
        error = await self._invite_people(RoomRef(incident.room_id, incident.room_name or ""), people)
        if error:
            raise ChatError(f"inviting failed: {error}; nobody was recorded as invited")
        async with self.core.db.transaction() as store:
            await store.add_responders(
                incident.number,
                [
                    ResponderRecord(h, "invited", f"invited by {inv.user.name}", p, invited=True)
                    for h, p in invitees.values()
                ],
            )
            text = "Invited " + ", ".join(p.name for p in people)
            await store.add_event(incident.number, self.desk.now, EventKind.INVITED, person(inv), text)
        return self.desk.ack(incident, text)

    async def _note(self, cmd: c.AddNote, inv: Invocation) -> Reply:
        incident = await self._record(cmd, inv, EventKind.NOTE, cmd.text)
        return self.desk.ack(incident, f"noted at {render.when(self.desk.now, incident)}")

    async def _record(self, cmd: c.Command, inv: Invocation, kind: EventKind, text: str) -> Incident:
        async with self.core.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("add to its timeline")
            await store.add_event(incident.number, self.desk.now, kind, person(inv), text)
        return incident

    async def _lesson(self, cmd: c.AddLesson, inv: Invocation) -> Reply:
        async with self.core.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            lesson = await store.add_lesson(incident.number, cmd.text, person(inv), self.desk.now)
            await store.add_event(
                incident.number, self.desk.now, EventKind.LESSON, person(inv), f"{lesson.ref}: {cmd.text}"
            )
            after = await self.closing.refresh(store, incident)
        return self.desk.ack(incident, f"lesson {lesson.ref} recorded for the review" + after)

    async def _action(self, cmd: c.AddAction, inv: Invocation) -> Reply:
        owner = await self.desk.resolve_person(cmd.owner) if cmd.owner else None
        async with self.core.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            due = parse_when(cmd.due, now=self.desk.now, tz=ZoneInfo(incident.timezone)) if cmd.due else None
            item = await store.add_action(
                incident.number, cmd.text, owner=owner, due=due, author=person(inv), at=self.desk.now
            )
            await self.actions.schedule(store, incident, item)
            text = (
                f"{item.ref}: {cmd.text}"
                + (f" — owner {owner.name}" if owner else "")
                + (f", due {render.when(due, incident)}" if due else "")
            )
            await store.add_event(incident.number, self.desk.now, EventKind.ACTION, person(inv), text)
            after = await self.closing.refresh(store, incident)
        return self.desk.ack(incident, f"action {text}" + after)

    async def _transition(
        self,
        cmd: c.Command,
        inv: Invocation,
        kind: EventKind,
        move: Callable[[Incident], Incident],
        words: str,
        note: str | None,
        then: Callable[[Store, Incident, str], Awaitable[Message]] | None = None,
    ) -> Reply:
        async with self.core.db.transaction() as store:
            incident = move(await self.desk.target(store, cmd, inv))
            await store.save_incident(incident)
            text = words + (f": {note}" if note else "")
            await store.add_event(incident.number, self.desk.now, kind, person(inv), text)
            follow = await then(store, incident, text) if then else None
        await self.desk.announce(
            incident,
            Message(
                f"{incident.ref}: {text}",
                (Section.of("by ", render.mention(person(inv))),),
                Tone.BAD_NEWS if kind is EventKind.REOPENED else Tone.SUCCESS,
            ),
        )
        if follow:
            await self.desk.announce(incident, follow)
        return self.desk.ack(incident, text)

    async def _mitigate(self, cmd: c.MitigateIncident, inv: Invocation) -> Reply:
        return await self._transition(
            cmd, inv, EventKind.MITIGATED, lambda i: i.mitigate(self.desk.now), "Mitigated", cmd.note
        )

    async def _resolve(self, cmd: c.ResolveIncident, inv: Invocation) -> Reply:
        watching = ""

        async def final(store: Store, incident: Incident, _: str) -> Message:
            nonlocal watching
            if cmd.watch is not None:
                watching = await self.closing.start_watch(store, incident, cmd.watch)
            return await self.customer.final_prompt(store, incident, self.desk.now)

        reply = await self._transition(
            cmd, inv, EventKind.RESOLVED, lambda i: i.resolve(self.desk.now), "Resolved", cmd.note, final
        )
        if not watching:
            return reply
        first = reply.messages[0]
        return replace(reply, messages=(replace(first, title=first.title + watching), *reply.messages[1:]))

    async def _reopen(self, cmd: c.ReopenIncident, inv: Invocation) -> Reply:
        """The fix did not hold: bad news. After close (within 30 days) the war room and its reminders come back."""
        now = self.desk.now
        async with self.core.db.transaction() as store:
            before = await self.desk.target(store, cmd, inv)
            incident = before.reopen(now)
            await store.save_incident(incident)
            await store.cancel_reminders(incident.number, WATCH)
            back = await self.closing.resume(store, incident) if before.is_closed else ""
            due = await self.customer.restart_clock(store, incident, now)
            text = ("Reopened after close" if before.is_closed else "Reopened") + (
                f": {cmd.reason}" if cmd.reason else ""
            )
            if before.is_closed:
                text += f"{back}; the next customer update is due {render.when(due, incident)}"
            await store.add_event(
                incident.number, now, EventKind.REOPENED, person(inv), text, {"after_close": before.is_closed}
            )
            what = "the fix did not hold and the incident is open again" + (f": {cmd.reason}" if cmd.reason else "")
            prompt = await self.customer.bad_news(store, incident, Trigger.REOPENED, what, now)
            if before.is_closed:  # `warroom summary` no longer says it is closed
                await self.closing.rewrite(store, incident)
        await self.desk.announce(
            incident,
            Message(f"{incident.ref}: {text}", (Section.of("by ", render.mention(person(inv))),), Tone.BAD_NEWS),
        )
        await self.desk.announce(incident, prompt)
        return self.desk.ack(incident, text)

    async def _list(self, cmd: c.Command, inv: Invocation) -> Reply:
        async with self.core.db.read() as store:
            incidents = await store.incidents()
        shown = [i for i in incidents if self.desk.access.visible(i, inv)]  # a private incident: only in its room
        return Reply((render.incident_list(shown, self.desk.now),))

    async def _scorecard(self, cmd: c.ShowScorecard, inv: Invocation) -> Reply:
        async with self.core.db.read() as store:
            emailed = figures.first_emails(await store.mails())  # the real ask: the first email the vendor got
            seen = await store.visible_follow_ups(self.desk.access.seen_from(inv))  # a private incident: its room's
            scores = vendor_scores(seen, now=self.desk.now, emailed=emailed)
        if cmd.vendor:
            wanted = cmd.vendor.lower()
            scores = [s for s in scores if wanted in s.vendor.lower()]
            if not scores:
                raise BadInput(f"no follow-ups with a vendor matching '{cmd.vendor[:40]}'", example="scorecard")
        return Reply((scorecard_message(scores),))

    async def _help(self, cmd: c.ShowHelp, inv: Invocation) -> Reply:
        return Reply((render.help_message(cmd.verb),))


def _answer_key(command: c.Command, invocation: Invocation) -> tuple[type[c.Command], str, str, bool]:
    """What a read-only answer depends on besides the data and the clock: the words asked, the room, and whether an
    API token asked (it sees private incidents that a person in the same room may not: bot/access.py)."""
    return (type(command), " ".join(invocation.text.split()), invocation.room.id, is_api_user(invocation.user.id))


def _surprise(*, recorded: bool) -> Reply:
    """A failure of ours, logged with a reference; the answer says whether anything was recorded before it."""
    ref = uuid.uuid4().hex[:8]
    log.exception("command failed (ref %s)", ref)
    said = (
        "part of it was recorded before it failed; `status` shows what"
        if recorded
        else "nothing was recorded, so you can simply try again"
    )
    return Reply((render.error(f"Something went wrong (ref {ref}); {said}."),), ok=False, failed=True)


def _with_room(incident: Incident, room: RoomRef, at: datetime) -> Incident:
    return replace(incident, room_id=room.id, room_name=room.name, room_opened_at=at)


def _with_kickoff(incident: Incident, ref: MessageRef) -> Incident:
    return replace(incident, kickoff_message_id=ref.id)
