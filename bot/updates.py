"""Customer updates on a cadence, commitments watched until kept, and bad news told early — and honestly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot import commands as c
from bot import render
from bot.chat import Actions, Button, Inline, Invocation, Message, Reply, Section, Strong, Tone
from bot.customer import BadNews, Commitment, CommitmentState, Trigger
from bot.desk import Desk, person
from bot.domain import EventKind, Incident, IncidentState, Person
from bot.errors import BadInput
from bot.followups import FollowUp
from bot.reminders import Reminder
from bot.store import Store
from bot.voice.compose import Composed, says
from bot.when import format_duration, parse_when

UPDATE_DUE = "update_due"
COMMITMENT = "commitment"
DAILY = timedelta(days=1)
QUIET_AFTER = 4  # prompts at the cadence (the first and three repeats); after that, one a day


def repeat_gap(cadence: timedelta, prompts: int) -> timedelta:
    """How long after the ``prompts``-th unanswered prompt the next one comes: a cadence, then a day."""
    return cadence if prompts < QUIET_AFTER else max(cadence, DAILY)


class CustomerDesk:
    """The `update` and `commit` verbs, the update clock, and the bad-news prompt every trigger shares."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.can_email: Callable[[Incident], bool] = lambda _incident: False  # set when email is wired in

    # --- the clock ---------------------------------------------------------------------------------

    def cadence(self, incident: Incident) -> timedelta:
        """How often the customer hears from us at the incident's severity (the playbook's cadence)."""
        book = self.desk.playbooks.get(incident.playbook)
        return book.update_cadence.get(incident.severity) or timedelta(hours=4)

    def at_risk_window(self, incident: Incident) -> timedelta:
        return self.desk.playbooks.get(incident.playbook).at_risk_window

    async def comms(self, store: Store, incident: Incident) -> Person | None:
        roles = await self.desk.roles(store, incident)
        return roles.get("comms") or roles.get("commander")

    async def start_clock(self, store: Store, incident: Incident, now: datetime) -> None:
        """The first update is due one cadence after opening."""
        await store.schedule(incident.number, UPDATE_DUE, 0, incident.opened_at + self.cadence(incident), now=now)

    async def restart_clock(
        self, store: Store, incident: Incident, now: datetime, *, before: timedelta | None = None
    ) -> datetime:
        """After a severity change (up or down), a playbook switch or a reopen: the cadence-driven prompt moves to
        the new cadence; a next update time the team promised the customer (`update … next:`) is kept.

        The cadence counts from the last update (or the opening); with prompts already unanswered, from the last
        prompt, so no prompt of the old cadence fires after the change. ``before`` is the cadence in force until
        now: when the new one is shorter the prompt comes at the sooner of the promise and the new cadence, else at
        the promise.
        """
        n = incident.number
        cadence = self.cadence(incident)
        pending = await store.pending_reminder(n, UPDATE_DUE, 0)
        if incident.update_prompts and pending is not None:
            timeline = await store.timeline(n)
            prompted = [e.at for e in timeline if e.kind is EventKind.UPDATE_PROMPTED and e.data.get("prompt")]
            due = (prompted[-1] if prompted else now) + repeat_gap(cadence, incident.update_prompts)
        else:
            updates = await store.updates(n)
            due = (updates[-1].at if updates else incident.opened_at) + cadence
        due = max(now, due)
        promised = await self.promised(store, incident, now)
        if promised is not None and (cadence >= (before or cadence) or promised < due):
            due = promised
        await store.schedule(n, UPDATE_DUE, 0, due, now=now)
        return due

    async def promised(self, store: Store, incident: Incident, now: datetime) -> datetime | None:
        """The next update time the team gave the customer with the last update (`next:`), while it is ahead."""
        updates = await store.updates(incident.number)
        last = updates[-1] if updates else None
        if last is None or last.next_due is None or last.next_due <= now:
            return None
        said = [
            e
            for e in await store.timeline(incident.number)
            if e.kind is EventKind.UPDATE and e.data.get("update") == last.number
        ]
        return last.next_due if said and said[-1].data.get("promised") else None

    # --- drafts: only what is meant for the customer (bot.voice builds and guards them) ---------------

    async def draft(
        self, store: Store, incident: Incident, now: datetime, *, final: bool = False, tell: Sequence[BadNews] = ()
    ) -> Composed:
        """The update the customer should get now, in their language, from customer fields only."""
        if final or incident.state is IncidentState.RESOLVED:
            return await self.desk.voice.draft(store, incident, "final", now, tell=tell)
        next_update = now + self.cadence(incident)
        return await self.desk.voice.draft(store, incident, "update", now, tell=tell, next_update=next_update)

    # --- bad news ----------------------------------------------------------------------------------

    async def bad_news(
        self,
        store: Store,
        incident: Incident,
        trigger: Trigger,
        what: str,
        now: datetime,
        *,
        commitment: int | None = None,
        follow_up: int | None = None,
    ) -> Message:
        """Record a slip as B<n> and return the prompt to tell the customer now, with a customer-safe draft.

        ``what`` is how the war room says it; the customer's words come from bot.voice, from what it is about
        (``commitment``, ``follow_up``) as the customer may hear it.
        """
        news = BadNews(incident.number, 0, trigger, what, "", now, commitment=commitment, follow_up=follow_up)
        news = replace(news, tell=await self.desk.voice.news(store, incident, news))
        composed = await self.desk.voice.draft(
            store, incident, "bad_news", now, tell=(news,), next_update=now + self.cadence(incident)
        )
        news = await store.add_bad_news(replace(news, draft=composed.text))
        await store.add_event(
            incident.number,
            now,
            EventKind.BAD_NEWS,
            None,
            f"{news.ref} bad news ({trigger.value}): {what}",
            {"trigger": trigger.value, "bad_news": news.number},
        )
        who = await self.comms(store, incident)
        customer = incident.customer or "the customer"
        mention: list[Inline] = [render.mention(who), " — "] if who else []
        return Message(
            f"🚨 {news.ref} · Bad news for {customer}: {what}",
            (
                Section.of(
                    *mention,
                    "tell the customer now, before they find out. It stays untold (and is prompted again every "
                    f"cadence) until an update says it told it: *Update sent* below, or `update … tells:{news.ref}`.",
                ),
                Section.of(Strong("Draft: "), composed.text),
                *leak_warning(composed),
                Actions(
                    (
                        Button("Update sent", f"update sent {news.ref}", "primary"),
                        *([Button("Send email", f"update send {news.ref}")] if self.can_email(incident) else []),
                    )
                ),
            ),
            Tone.BAD_NEWS,
        )

    async def follow_up_slipped(
        self,
        store: Store,
        incident: Incident,
        f: FollowUp,
        trigger: Trigger,
        what: str,
        now: datetime,
        *,
        notice: bool = True,
    ) -> Message | None:
        """A follow-up went overdue, escalated, ran out of ladder or moved its date.

        Promises that need it go at risk at once and the customer must hear it (bad news naming both); a
        follow-up no promise needs is a notice for the war room only.
        """
        promised = [p for p in await store.commitments(incident.number) if f.number in p.needs]
        needing = [p for p in promised if p.is_open]
        # An ETA slip endangers only the promises it now overshoots; anything else endangers them all.
        endangered = [p for p in needing if f.due > p.due] if trigger is Trigger.ETA_SLIPPED else needing
        if not needing:
            if not notice:
                return None
            done = ", ".join(f"{p.ref} is already {p.state.value.replace('_', ' ')}" for p in promised)
            text = (
                f"{what}. No open promise to {incident.customer or 'the customer'} needs {f.ref}"
                + (f" ({done})" if done else "")
                + ", so this stays inside."
            )
            await store.add_event(incident.number, now, EventKind.NOTICE, None, text, {"follow_up": f.number})
            return Message(f"ℹ {incident.ref} · internal: {what}", (Section.of(text[len(what) + 2 :]),), Tone.INFO)
        for p in endangered:
            if p.state is CommitmentState.OPEN:
                await self._put_at_risk(store, incident, p, now, because=f"{f.ref} {f.vendor}: {what}")
        promises = "; ".join(f"{p.ref} {p.promise} by {render.when(p.due, incident)}" for p in needing)
        return await self.bad_news(store, incident, trigger, f"{what} — needed by {promises}", now, follow_up=f.number)

    async def _put_at_risk(
        self,
        store: Store,
        incident: Incident,
        promise: Commitment,
        now: datetime,
        because: str,
        actor: Person | None = None,
    ) -> None:
        promise = promise.at_risk(now)
        await store.save_commitment(promise)
        await store.schedule(incident.number, COMMITMENT, promise.number, promise.due, now=now)
        await store.add_event(
            incident.number,
            now,
            EventKind.COMMITMENT_AT_RISK,
            actor,
            f"{promise.ref} at risk: {promise.promise} ({because})",
            {"commitment": promise.number, "by_hand": actor is not None},
        )

    async def _at_risk_news(
        self, store: Store, incident: Incident, promise: Commitment, now: datetime, why: str
    ) -> Message:
        """The bad news that a promise is at risk, with a *Kept* button beside *Update sent*."""
        prompt = await self.bad_news(
            store,
            incident,
            Trigger.COMMITMENT_AT_RISK,
            f"our promise of {promise.promise} by {render.when(promise.due, incident)} is at risk ({why})",
            now,
            commitment=promise.number,
        )
        *blocks, actions = prompt.blocks
        assert isinstance(actions, Actions)
        kept = Button("Kept", f"commit kept {promise.ref}", "primary")
        return replace(prompt, blocks=(*blocks, Actions((kept, *actions.buttons))))

    # --- verbs -------------------------------------------------------------------------------------

    async def update(self, cmd: c.RecordUpdate, inv: Invocation) -> Reply:
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            return await self._record(store, incident, cmd.text, cmd.next, cmd.tells, cmd.tells_all, inv, exact=False)

    async def send_draft(self, cmd: c.SendDraft, inv: Invocation) -> Reply:
        """*Update sent*: record exactly the drafted text, and tell the bad news it carried."""
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            if cmd.bad_news is not None:
                news = {b.number: b for b in await store.bad_news(incident.number)}.get(cmd.bad_news)
                if news is None:
                    raise BadInput(f"{incident.ref} has no B{cmd.bad_news}", example="update sent B1")
                text, tells = news.draft, (news.number,)
            else:
                prompted = [
                    e
                    for e in await store.timeline(incident.number)
                    if e.kind is EventKind.UPDATE_PROMPTED and e.data.get("draft")
                ]
                if not prompted:
                    raise BadInput(
                        "there is no drafted update to record yet; say what you told the customer",
                        example=c.HELP["update"].example,
                    )
                text, tells = str(prompted[-1].data["draft"]), tuple(prompted[-1].data.get("tells") or ())
            return await self._record(
                store, incident, text, None, tells, False, inv, strict=cmd.bad_news is not None, exact=True
            )

    async def _record(
        self,
        store: Store,
        incident: Incident,
        text: str,
        next_text: str | None,
        tells: tuple[int, ...],
        tells_all: bool,
        inv: Invocation,
        *,
        exact: bool,
        strict: bool = True,
        next_at: datetime | None = None,
        via: str | None = None,
    ) -> Reply:
        now = self.desk.now
        incident.require_open("record customer updates")
        news = await store.bad_news(incident.number)
        untold = {b.number: b for b in news if b.pending}
        if tells_all:
            tells = tuple(untold)
        known = {b.number: b for b in news}
        earlier = {u.number: u for u in await store.updates(incident.number)}
        # what honest telling compares an update with: read once for every B<n> it names
        commitments, follow_ups = await store.commitments(incident.number), await store.follow_ups(incident.number)
        # Told by an update that did not say it: a later update that does may tell it again, for real.
        retell = {
            n: b
            for n, b in known.items()
            if n in tells and b.told and b.update_number in earlier
            and not says(earlier[b.update_number].text, b, commitments, follow_ups)
        }  # fmt: skip
        for n in tells:
            if n not in known:
                raise BadInput(f"{incident.ref} has no B{n}; `status` lists the bad news untold", example="tells:B1")
            if known[n].moot_at is not None:
                raise BadInput(
                    f"B{n} is moot: what it was about was settled before the customer was told; nothing is left",
                    example="tells:B1",
                )
            if strict and n not in untold and n not in retell:
                raise BadInput(f"B{n} was already told in U{known[n].update_number}", example="tells:B1")
        tells = tuple(n for n in tells if n in untold or n in retell)
        next_due = parse_when(next_text, now=now, tz=ZoneInfo(incident.timezone)) if next_text else next_at
        still = [b for n, b in untold.items() if n not in tells]
        if incident.state in (IncidentState.OPEN, IncidentState.MITIGATED):
            next_due = next_due or now + self.cadence(incident)
            await store.schedule(incident.number, UPDATE_DUE, 0, next_due, now=now)
        elif still:  # resolved with bad news still untold: it is prompted again on its cadence until told
            await store.schedule(incident.number, UPDATE_DUE, 0, now + self.cadence(incident), now=now)
        else:
            await store.cancel_reminders(incident.number, UPDATE_DUE)
        u = await store.add_update(incident.number, text, person(inv), now, next_due, exact=exact)
        await store.tell_bad_news(incident.number, [n for n in tells if n in untold], u.number, now)
        await store.retell_bad_news(incident.number, [n for n in tells if n in retell], u.number, now)
        await store.save_incident(replace(incident, update_prompts=0))
        told = ", ".join(f"B{n}" for n in tells)
        unsaid = [known[n] for n in tells if not says(u.text, known[n], commitments, follow_ups)]
        await store.add_event(
            incident.number,
            now,
            EventKind.UPDATE,
            person(inv),
            f"{u.ref} recorded: {text}" + (f" (tells {told})" if told else ""),
            {
                "update": u.number,
                "tells": list(tells),
                "unmentioned": [b.number for b in unsaid],
                "promised": next_text is not None or next_at is not None,  # a next time the customer was given
            },
        )
        tail = f" Next update due {render.when(next_due, incident)}." if next_due else " No further updates are due."
        if told:
            tail += f" It tells {told}."
        for b in unsaid:
            tail += (
                f" ⚠ {u.ref} does not mention {b.ref} ({b.what}): if the customer was not told, tell them and record "
                f"it with `update … tells:{b.ref}`; the summary lists it as a finding until then."
            )
        if still:
            tail += (
                " Still untold: "
                + "; ".join(f"{b.ref} ({format_duration(now - b.at)} old) {b.what}" for b in still)
                + " — tell it with `tells:`."
            )
        await self.desk.post(
            store,
            incident,
            Message(
                f"📣 {incident.ref}: customer updated ({u.ref})"
                + (f" {via}" if via else "")
                + (f", telling {told}" if told else ""),
                (Section.of(text),),
            ),
        )
        return self.desk.ack(
            incident, f"{u.ref} recorded: {text}." + tail, tone=Tone.REMINDER if still else Tone.SUCCESS
        )

    async def record(
        self,
        store: Store,
        incident: Incident,
        text: str,
        *,
        tells: tuple[int, ...],
        inv: Invocation,
        next_at: datetime | None,
        via: str,
    ) -> None:
        """Record an update that already went out (an email the server took): exactly its text, and what it told."""
        await self._record(
            store, incident, text, None, tells, False, inv, strict=False, next_at=next_at, via=via, exact=True
        )

    async def commit(self, cmd: c.MakeCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("make commitments")
            due = parse_when(cmd.due, now=now, tz=ZoneInfo(incident.timezone))
            needed = [await store.follow_up(incident.number, n) for n in cmd.needs]  # NotFound: nothing recorded
            promise = await store.add_commitment(
                Commitment(incident.number, 0, cmd.promise, due, person(inv), now, needs=cmd.needs)
            )
            watch_from = max(now, due - self.at_risk_window(incident))
            await store.schedule(incident.number, COMMITMENT, promise.number, watch_from, now=now)
            text = f"{promise.ref} promised: {cmd.promise}, by {render.when(due, incident)}" + (
                f", needs {', '.join(f.ref for f in needed)}" if needed else ""
            )
            await store.add_event(
                incident.number, now, EventKind.COMMITMENT, person(inv), text, {"commitment": promise.number}
            )
            slipping = [f for f in needed if f.is_open and (f.due > due or f.state.value != "waiting")]
            prompt = None
            if slipping:
                f = slipping[0]
                prompt = await self.follow_up_slipped(
                    store,
                    incident,
                    f,
                    Trigger.COMMITMENT_AT_RISK,
                    f"{f.ref} {f.vendor} is already {f.state.value}, due {render.when(f.due, incident)}",
                    now,
                )
        if prompt:
            await self.desk.announce(incident, prompt)
        return self.desk.ack(incident, text + f"; watched from {render.when(watch_from, incident)}.")

    async def at_risk(self, cmd: c.RiskCommitment, inv: Invocation) -> Reply:
        """`commit at-risk C<n> [reason]`: the team knows before the clock does; the customer must hear it now."""
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("put promises at risk")
            promise = await store.commitment(incident.number, cmd.number)
            if promise.state is CommitmentState.AT_RISK and promise.at_risk_at is not None:
                raise BadInput(
                    f"{promise.ref} is already at risk, since {render.when(promise.at_risk_at, incident)}; "
                    "`status` lists the bad news still untold",
                    example=f"commit kept {promise.ref}",
                )
            if promise.is_open and now >= promise.due:
                raise BadInput(
                    f"{promise.ref} was due {render.when(promise.due, incident)}: past its due time it is kept or "
                    "missed, not at risk",
                    example=f"commit missed {promise.ref}",
                )
            why = cmd.reason or f"marked by {inv.user.name}"
            await self._put_at_risk(store, incident, promise, now, because=why, actor=person(inv))
            prompt = await self._at_risk_news(store, incident, promise, now, why)
            news = (await store.bad_news(incident.number))[-1]
        await self.desk.announce(incident, prompt)
        text = (
            f"{promise.ref} at risk: {promise.promise}, due {render.when(promise.due, incident)}"
            + (f" ({cmd.reason})" if cmd.reason else "")
            + f"; {news.ref} prompts comms to tell the customer now"
        )
        return self.desk.ack(incident, text, tone=Tone.BAD_NEWS)

    async def kept(self, cmd: c.KeepCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("keep commitments")
            before = await store.commitment(incident.number, cmd.number)
            if before.state is CommitmentState.MISSED:
                if not cmd.late:
                    raise BadInput(
                        f"{before.ref} was missed {render.when(before.closed_at or before.due, incident)}; if it was "
                        f"delivered since, record it with `commit kept {before.ref} late`",
                        example=f"commit kept {before.ref} late courier delivered it this morning",
                    )
                text = await self._delivered_late(store, incident, before, cmd.note, inv)
                await self.desk.post(store, incident, Message(f"📦 {incident.ref}: {text}", tone=Tone.REMINDER))
                return self.desk.ack(incident, text, tone=Tone.REMINDER)
            if cmd.late and before.is_open and now <= before.due:
                raise BadInput(
                    f"{before.ref} is due {render.when(before.due, incident)}, so it is not late: say "
                    f"`commit kept {before.ref}`",
                    example=f"commit kept {before.ref}",
                )
            promise = before.kept(now, cmd.note)
            await store.save_commitment(promise)
            await store.cancel_reminders(incident.number, COMMITMENT, promise.number)
            late = now - promise.due if now > promise.due else None
            text = (
                f"{promise.ref} kept: {promise.promise}"
                + (f", {format_duration(late)} after its due time" if late else "")
                + (f" ({cmd.note})" if cmd.note else "")
            )
            await store.add_event(
                incident.number,
                now,
                EventKind.COMMITMENT_KEPT,
                person(inv),
                text,
                {"commitment": promise.number, **({"late_minutes": late.total_seconds() / 60} if late else {})},
            )
            moot = await self._moot(store, incident, promise, now)
            if moot:
                text += (
                    f"; {moot} no longer to tell (moot: the promise was kept before the customer heard it was at risk)"
                )
        await self.desk.announce(incident, Message(f"✅ {incident.ref}: {text}"))
        return self.desk.ack(incident, text)

    async def _delivered_late(
        self, store: Store, incident: Incident, promise: Commitment, note: str | None, inv: Invocation
    ) -> str:
        """A missed promise delivered after all: the miss stands (the customer waited past the date we gave) and the
        delivery is recorded beside it, with how late it came; the bad news of the miss is still theirs to hear."""
        now = self.desk.now
        delivered = await late_deliveries(store, incident.number)
        if promise.number in delivered:
            raise BadInput(
                f"{promise.ref} was already recorded delivered late, "
                f"{render.when(delivered[promise.number], incident)}",
                example="status",
            )
        late = max(now - promise.due, timedelta(0))  # a promise marked missed early can still come in time
        missed = promise.closed_at or promise.due
        marked = (
            ""
            if abs(missed - promise.due) < timedelta(minutes=1)
            else f" (marked missed {render.when(missed, incident)})"
        )
        text = (
            f"{promise.ref} delivered late: {promise.promise}, {format_duration(late)} after its due time "
            if late
            else f"{promise.ref} delivered after all: {promise.promise}, before its due time "
        )
        text += render.when(promise.due, incident) + marked + (f" ({note})" if note else "")
        await store.add_event(
            incident.number,
            now,
            EventKind.COMMITMENT_KEPT,
            person(inv),
            text,
            {"commitment": promise.number, "late_minutes": late.total_seconds() / 60, "after_miss": True},
        )
        return text

    async def _moot(self, store: Store, incident: Incident, promise: Commitment, now: datetime) -> str:
        """Untold bad news about a promise now kept has nothing left to tell: it is moot (never "never told")."""
        commitments = await store.commitments(incident.number)
        still_needed = {n for c in commitments if c.is_open for n in c.needs}
        return await self._make_moot(
            store,
            incident,
            now,
            lambda b: (
                b.commitment == promise.number
                or (b.commitment is None and b.follow_up in promise.needs and b.follow_up not in still_needed)
            ),
            f"{promise.ref} was kept before the customer was told it was at risk",
        )

    async def arrived(self, store: Store, incident: Incident, f: FollowUp, now: datetime) -> str:
        """What we waited on arrived: untold news that it was late or moved has nothing left to tell."""
        return await self._make_moot(
            store,
            incident,
            now,
            lambda b: b.follow_up == f.number and b.commitment is None,
            f"{f.ref} arrived before the customer was told it was late",
        )

    async def _make_moot(
        self, store: Store, incident: Incident, now: datetime, about: Callable[[BadNews], bool], why: str
    ) -> str:
        moot = [b for b in await store.bad_news(incident.number) if b.pending and about(b)]
        if not moot:
            return ""
        await store.make_moot(incident.number, [b.number for b in moot], now)
        refs = ", ".join(b.ref for b in moot)
        await store.add_event(
            incident.number, now, EventKind.NOTICE, None, f"{refs} moot: {why}", {"moot": [b.number for b in moot]}
        )
        return refs

    async def reword(self, cmd: c.RewordCommitment, inv: Invocation) -> Reply:
        """A promise's words as the customer should read them; its due time, state and history stay."""
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("reword a promise")
            before = await store.commitment(incident.number, cmd.number)
            await store.save_commitment(replace(before, promise=cmd.promise))
            text = f'{before.ref} reworded: "{before.promise}" → "{cmd.promise}"'
            await store.add_event(
                incident.number, self.desk.now, EventKind.CHANGED, person(inv), text, {"commitment": before.number}
            )
            if names := await self.desk.voice.screen(store, incident, cmd.promise):
                text += f". ⚠ It still names '{names[0].text}' ({names[0].what}): drafts keep the safe skeleton"
        return self.desk.ack(incident, text)

    async def missed(self, cmd: c.MissCommitment, inv: Invocation) -> Reply:
        now = self.desk.now
        async with self.desk.db.transaction() as store:
            incident = await self.desk.target(store, cmd, inv)
            incident.require_open("miss commitments")
            promise = await store.commitment(incident.number, cmd.number)
            prompt = await self._miss(store, incident, promise, now, person(inv), cmd.note)
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
            commitment=promise.number,
        )

    # --- what the reminder engine fires --------------------------------------------------------------

    async def prompt_update(self, store: Store, reminder: Reminder, now: datetime) -> None:
        """The cadence: one prompt per cadence, louder each time (commander, then exec sponsor), then daily.

        Bad news still untold rides on the same prompt, so the room is never flooded with both.
        """
        incident = await store.get_incident(reminder.incident, lock=True)
        untold = [b for b in await store.bad_news(incident.number) if b.pending]
        restored = incident.state is IncidentState.RESOLVED
        if incident.state not in (IncidentState.OPEN, IncidentState.MITIGATED) and not (restored and untold):
            return  # resolved: only bad news still untold keeps the prompts coming, on the same cadence
        cadence = self.cadence(incident)
        prompts = incident.update_prompts + 1
        await store.save_incident(replace(incident, update_prompts=prompts))
        await store.schedule(incident.number, UPDATE_DUE, 0, now + repeat_gap(cadence, prompts), now=now)
        await store.count_repeat(incident.number, [b.number for b in untold])
        loudest = max([prompts, *(b.repeats + 1 for b in untold)])
        roles = await self.desk.roles(store, incident)
        who = roles.get("comms") or roles.get("commander")
        mentioned: list[Person] = [p for p in (who,) if p]
        if loudest >= 2 and roles.get("commander"):
            mentioned.append(roles["commander"])
        if loudest >= 3 and roles.get("exec_sponsor"):
            mentioned.append(roles["exec_sponsor"])
        mentions: list[Inline] = []
        for p in dict.fromkeys(mentioned):
            mentions += [render.mention(p), " "]
        updates = await store.updates(incident.number)
        since = updates[-1].at if updates else None
        silence = (
            f"The last update was {format_duration(now - since)} ago"
            if since
            else f"No update has gone to {incident.customer or 'the customer'} since we opened "
            f"{format_duration(now - incident.opened_at)} ago"
        )
        # Say who it went to as far as someone holds that role: no exec sponsor named means the commander stays last.
        reach = (
            "the exec sponsor"
            if loudest >= 3 and roles.get("exec_sponsor")
            else "the commander"
            if loudest >= 2 and roles.get("commander")
            else None
        )
        title = (
            f"📣 {incident.ref}: service is restored but the customer has not heard the bad news"
            if restored
            else f"📣 {incident.ref}: customer update due"
            if prompts == 1
            else f"📣 {incident.ref}: customer update overdue — prompt {prompts}"
        )
        if prompts > 1 and reach:
            title += f", escalated to {reach}"
        if untold:
            title += f" · {len(untold)} bad news untold"
        draft = await self.draft(store, incident, now, tell=untold)
        tells = [] if draft.leaks else [b.number for b in untold]  # the skeleton tells nothing
        await store.add_event(
            incident.number,
            now,
            EventKind.UPDATE_PROMPTED,
            None,
            title[2:],
            {"prompt": prompts, "draft": draft.text, "tells": tells, "final": restored},
        )
        after = f"The next prompt comes in {format_duration(repeat_gap(cadence, prompts))}" + (
            " (one a day now: three prompts went unanswered)." if prompts >= QUIET_AFTER else "."
        )
        blocks: list[Section | Actions] = [
            Section.of(
                *mentions,
                f"— {silence}; at severity {incident.severity} the customer hears from us every "
                f"{format_duration(cadence)}. Send it, then record it with `/incident update …`. {after}",
            )
        ]
        if untold:
            blocks.append(
                Section.of(
                    Strong("Untold bad news: "),
                    "; ".join(f"{b.ref} ({format_duration(now - b.at)} old) {b.what}" for b in untold),
                )
            )
        blocks += [Section.of(Strong("Draft: "), draft.text), *leak_warning(draft), self._sent_button(incident)]
        await self.desk.post(store, incident, Message(title, tuple(blocks), Tone.BAD_NEWS if untold else Tone.REMINDER))

    def _sent_button(self, incident: Incident) -> Actions:
        email = [Button("Send email", "update send as drafted")] if self.can_email(incident) else []
        return Actions((Button("Update sent", "update sent as drafted", "primary"), *email))

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
            left = format_duration(promise.due - now)
            await self._put_at_risk(store, incident, promise, now, because=f"due in {left}")
            prompt = await self._at_risk_news(store, incident, promise, now, f"{left} left")
        else:
            await store.schedule(incident.number, COMMITMENT, promise.number, promise.due, now=now)
            return
        await self.desk.post(store, incident, prompt)

    # --- state changes elsewhere that concern the customer ------------------------------------------

    async def final_prompt(self, store: Store, incident: Incident, now: datetime) -> Message:
        """Service is restored: stop the cadence and prompt the final update, which carries the bad news still untold
        (and while some is, the prompt comes back on the cadence until an update tells it or the incident closes)."""
        await store.cancel_reminders(incident.number, UPDATE_DUE)
        who = await self.comms(store, incident)
        untold = [b for b in await store.bad_news(incident.number) if b.pending]
        if untold:
            await store.save_incident(replace(incident, update_prompts=0))
            await store.schedule(incident.number, UPDATE_DUE, 0, now + self.cadence(incident), now=now)
        draft = await self.draft(store, incident, now, final=True, tell=untold)
        await store.add_event(
            incident.number,
            now,
            EventKind.UPDATE_PROMPTED,
            None,
            f"{incident.ref}: final customer update prompted",
            {"final": True, "draft": draft.text, "tells": [] if draft.leaks else [b.number for b in untold]},
        )
        mention: list[Inline] = [render.mention(who), " — "] if who else []
        return Message(
            f"📣 {incident.ref}: send the final customer update",
            (
                Section.of(
                    *mention, "service is restored; tell the customer, then record it with `/incident update …`."
                ),
                Section.of(Strong("Draft: "), draft.text),
                *leak_warning(draft),
                self._sent_button(incident),
            ),
            Tone.REMINDER,
        )


async def late_deliveries(store: Store, incident: int) -> dict[int, datetime]:
    """When each missed promise was delivered after all (`commit kept C<n> late`), from the timeline."""
    return {
        int(e.data["commitment"]): e.at
        for e in await store.timeline(incident)
        if e.kind is EventKind.COMMITMENT_KEPT and e.data.get("after_miss")
    }


def leak_warning(composed: Composed) -> tuple[Section, ...]:
    """The room is told when a draft fell back to the skeleton: which field named whom, and the fix."""
    return (Section.of(Strong("⚠ Draft check: "), composed.warning),) if composed.warning else ()
