"""Read models: what the API and the dashboard show of incidents, as pydantic models built from the Store.

Every function reads inside the caller's transaction (``Database.read()``) and takes the clock's ``now``; a list
loads what belongs to its incidents in a few queries, whatever its length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot import figures
from bot.customer import BadNews, Commitment
from bot.domain import Incident, IncidentState, TimelineEvent
from bot.errors import NotFound
from bot.followups import OPEN_STATES, ROOT_CAUSE, FollowUp, root_cause
from bot.playbooks import PlaybookLibrary
from bot.scorecard import VendorScore, tickets, vendor_scores
from bot.store import Store
from bot.store.views import EVERY_INCIDENT, BriefParts, Visible
from bot.updates import UPDATE_DUE
from bot.view_models import (
    ActionView,
    BadNewsView,
    CommitmentFilter,
    CommitmentView,
    FollowUpFilter,
    FollowUpView,
    IncidentBrief,
    IncidentDetail,
    IncidentPage,
    LessonView,
    Push,
    RoleView,
    RootCauseView,
    Rung,
    Scorecard,
    StateFilter,
    TimelineEntry,
    UpdateView,
    VendorScoreView,
    View,
)

MAX_PAGE = 500  # the longest page a list answers: an overview of every open incident
ACTIVE = (IncidentState.OPEN, IncidentState.MITIGATED)  # the customer is still waiting on these
_SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{6,}$")
_DEFAULT_CADENCE = timedelta(hours=4)


# --- builders ---------------------------------------------------------------------------------------


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _cadence(playbooks: PlaybookLibrary, incident: Incident) -> timedelta:
    # The same lookup as CustomerDesk.cadence; a playbook since removed falls back to the default.
    try:
        book = playbooks.get(incident.playbook)
    except NotFound:  # a playbook removed since must not break the overview
        return _DEFAULT_CADENCE
    return book.update_cadence.get(incident.severity) or _DEFAULT_CADENCE


def chat_link(room_id: str | None, address: tuple[str, dict[str, Any]] | None) -> str | None:
    """A link that opens the war room: a Teams channel or thread from its stored address, a Slack channel."""
    if not room_id:
        return None
    if address is not None and address[0] == "teams":
        data = address[1]
        tenant = f"?tenantId={quote(str(data['tenant_id']))}" if data.get("tenant_id") else ""
        conversation = str((data.get("reference") or {}).get("conversation", {}).get("id") or room_id)
        channel, _, message = conversation.partition(";messageid=")
        if data.get("kind") == "thread" and message:
            return f"https://teams.microsoft.com/l/message/{quote(channel, safe='')}/{quote(message)}{tenant}"
        name = quote(str(data.get("name") or "war room"), safe="")
        where = quote(str(data.get("channel_id") or channel), safe="")
        return f"https://teams.microsoft.com/l/channel/{where}/{name}{tenant}"
    if _SLACK_CHANNEL.match(room_id):
        return f"https://slack.com/app_redirect?channel={room_id}"
    return None


def _brief_fields(
    incident: Incident,
    *,
    now: datetime,
    cadence: timedelta,
    last: tuple[datetime, datetime | None] | None,
    pending_due: datetime | None,
    untold: int,
    open_follow_ups: int,
    link: str | None,
    impact: Sequence[TimelineEvent],
) -> dict[str, Any]:
    end = incident.closed_at or now
    cost = figures.impact_cost(incident, impact, now)
    next_due: datetime | None = None
    overdue = False
    if incident.state in ACTIVE:
        # The clock as the bot keeps it: the pending prompt, or once prompts go unanswered the due that passed.
        expected = (last[1] or last[0] + cadence) if last else incident.opened_at + cadence
        next_due = pending_due if pending_due is not None and incident.update_prompts == 0 else expected
        overdue = incident.update_prompts > 0 or now >= next_due
    return {
        "number": incident.number,
        "ref": incident.ref,
        "title": incident.title,
        "severity": incident.severity,
        "customer": incident.customer,
        "state": incident.state.value,
        "playbook": incident.playbook,
        "opened_at": incident.opened_at,
        "age_seconds": max(0, int((end - incident.opened_at).total_seconds())),
        "cost_per_hour": incident.cost_per_hour,
        "cost_so_far": cost,
        "revenue_at_risk": incident.revenue_at_risk,
        "last_update_at": last[0] if last else None,
        "next_update_due": next_due,
        "update_overdue": overdue,
        "untold_bad_news": untold,
        "open_follow_ups": open_follow_ups,
        "chat_link": link,
    }


def _briefs(
    found: Sequence[tuple[Incident, BriefParts]], *, playbooks: PlaybookLibrary, now: datetime
) -> list[dict[str, Any]]:
    return [
        _brief_fields(
            i,
            now=now,
            cadence=_cadence(playbooks, i),
            last=parts.last_update,
            pending_due=parts.pending_due,
            untold=parts.untold,
            open_follow_ups=parts.open_follow_ups,
            link=chat_link(i.room_id, parts.address),
            impact=parts.impact,
        )
        for i, parts in found
    ]


def _states(state: StateFilter | None) -> list[str] | None:
    if state is None or state == "active":
        return [s.value for s in IncidentState if s is not IncidentState.CLOSED]
    return None if state == "all" else [state]


async def incident_list(
    store: Store,
    *,
    playbooks: PlaybookLibrary,
    now: datetime,
    state: StateFilter | None = None,
    severity: int | None = None,
    customer: str | None = None,
    limit: int = 50,
    offset: int = 0,
    visible: Visible = EVERY_INCIDENT,
) -> IncidentPage:
    """A page of incidents, worst severity first then oldest; ``state`` None means every incident not closed;
    ``visible``: which incidents may be shown (the others are neither listed nor counted)."""
    limit, offset = max(1, min(limit, MAX_PAGE)), max(0, offset)
    found, total = await store.incident_page(
        states=_states(state),
        severity=severity,
        customer=customer,
        limit=limit,
        offset=offset,
        visible=visible,
        prompt=UPDATE_DUE,
    )
    items = [IncidentBrief(**b) for b in _briefs(found, playbooks=playbooks, now=now)]
    return IncidentPage(items=items, total=total, limit=limit, offset=offset)


def follow_up_view(
    f: FollowUp, *, now: datetime, emailed: Mapping[tuple[int, int], datetime] | None = None
) -> FollowUpView:
    """``emailed``: when Warroom first emailed each follow-up (bot.figures.first_emails), for its answer time."""
    late = f.is_open and now > f.due
    return FollowUpView(
        incident=f.incident,
        ref=f.ref,
        kind=f.kind,
        vendor=f.waits_on,
        ask=f.ask,
        reference=f.reference,
        owner=f.owner.name,
        state=f.state.value,
        asked_at=f.asked_at,
        due=f.due,
        first_due=f.first_due,
        slips=f.slips,
        overdue=late,
        days_late=(now - f.due).days if late else 0,
        chases=f.chases,
        escalations=f.escalations,
        rung=min(f.rung, max(len(f.ladder) - 1, 0)) + 1,
        ladder=[Rung(name=r.name, role=r.role, contact=r.contact) for r in f.ladder],
        heard_at=f.heard_at,
        answer_seconds=_seconds(figures.answer_time(f, emailed)),
        received_at=f.received_at,
        plan_b=f.plan_b,
    )


def commitment_view(c: Commitment, *, now: datetime) -> CommitmentView:
    return CommitmentView(
        incident=c.incident,
        ref=c.ref,
        promise=c.promise,
        due=c.due,
        state=c.state.value,
        overdue=c.is_open and now > c.due,
        made_at=c.made_at,
        made_by=c.author.name,
        at_risk_at=c.at_risk_at,
        closed_at=c.closed_at,
        note=c.note,
    )


def bad_news_view(b: BadNews, *, now: datetime) -> BadNewsView:
    return BadNewsView(
        incident=b.incident,
        ref=b.ref,
        trigger=b.trigger.value,
        what=b.what,
        tell=b.tell,
        raised_at=b.at,
        told_at=b.answered_at,
        told_in=f"U{b.update_number}" if b.update_number else None,
        age_seconds=max(0, int(((b.answered_at or b.moot_at or now) - b.at).total_seconds())),
        repeats=b.repeats,
        moot_at=b.moot_at,
    )


def _root_cause(follow_ups: list[FollowUp], emailed: Mapping[tuple[int, int], datetime]) -> RootCauseView | None:
    r = root_cause(follow_ups)
    if r is None:
        return None
    return RootCauseView(
        ref=r.ref,
        owner=r.vendor,
        asked_at=r.asked_at,
        due=r.due,
        first_due=r.first_due,
        slips=r.slips,
        heard_at=r.heard_at,
        answer_seconds=_seconds(figures.answer_time(r, emailed)),
        delivered_at=r.received_at,
        state=r.state.value,
        chases=r.chases,
        pushed=[Push(at=p.at, onto=p.onto, what=p.what, by=p.by) for p in r.pushes],
    )


async def incident_detail(store: Store, number: int, *, playbooks: PlaybookLibrary, now: datetime) -> IncidentDetail:
    """One incident in full; bot.errors.NotFound when there is no such incident."""
    found, _ = await store.incident_page(states=None, number=number, limit=1, offset=0, prompt=UPDATE_DUE)
    if not found:
        raise NotFound(f"there is no INC-{number}")
    incident = found[0][0]
    [brief] = _briefs(found, playbooks=playbooks, now=now)
    follow_ups = await store.follow_ups(number)
    emailed = figures.first_emails(await store.mails(number))
    return IncidentDetail(
        **brief,
        impact=incident.impact,
        doing=incident.doing,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        outcome=incident.outcome,
        unresolved_reason=incident.unresolved_reason,
        roles=[RoleView(role=r.role, person=r.person.name) for r in await store.roles(number)],
        follow_ups=[follow_up_view(f, now=now, emailed=emailed) for f in follow_ups if f.kind != ROOT_CAUSE],
        commitments=[commitment_view(c, now=now) for c in await store.commitments(number)],
        updates=[
            UpdateView(ref=u.ref, text=u.text, author=u.author.name, at=u.at, next_due=u.next_due)
            for u in await store.updates(number)
        ],
        bad_news=[bad_news_view(b, now=now) for b in await store.bad_news(number)],
        root_cause=_root_cause(follow_ups, emailed),
        lessons=[
            LessonView(ref=x.ref, text=x.text, author=x.author.name, at=x.at) for x in await store.lessons(number)
        ],
        actions=[
            ActionView(
                ref=a.ref,
                text=a.text,
                owner=a.owner.name if a.owner else None,
                due=a.due,
                done_at=a.done_at,
                state="open" if a.is_open else "done",
            )
            for a in await store.actions(number)
        ],
    )


async def timeline(store: Store, number: int) -> list[TimelineEntry]:
    """An incident's timeline, oldest first; bot.errors.NotFound when there is no such incident."""
    await store.get_incident(number)
    return [
        TimelineEntry(at=e.at, kind=e.kind.value, actor=e.actor.name if e.actor else None, text=e.text)
        for e in await store.timeline(number)
    ]


async def follow_ups(
    store: Store, *, now: datetime, state: FollowUpFilter | None = None, vendor: str | None = None
) -> list[FollowUpView]:
    """Follow-ups across the incidents not closed, earliest due first. ``state`` overdue: open and past due
    (escalated ones included); open: still waited for; else the follow-up's own state."""
    still_open = [s.value for s in OPEN_STATES]
    states = still_open if state in ("overdue", "open") else None if state is None else [state]
    found = await store.follow_ups_of_open_incidents(
        vendor=vendor, states=states, due_before=now if state == "overdue" else None
    )
    emailed = figures.first_emails(await store.mails_of(sorted({f.incident for f in found}))) if found else {}
    return [follow_up_view(f, now=now, emailed=emailed) for f in found]


async def overdue_follow_ups(
    store: Store, *, now: datetime, limit: int, visible: Visible = EVERY_INCIDENT
) -> tuple[list[FollowUpView], int]:
    """The first ``limit`` of `follow_ups(state="overdue")` (the longest overdue first) and how many there are, of
    the ``visible`` incidents."""
    found, total = await store.overdue_follow_ups(now=now, limit=limit, visible=visible)
    emailed = figures.first_emails(await store.mails_of(sorted({f.incident for f in found}))) if found else {}
    return [follow_up_view(f, now=now, emailed=emailed) for f in found], total


async def commitments(store: Store, *, now: datetime, state: CommitmentFilter | None = None) -> list[CommitmentView]:
    """Commitments across the incidents not closed, earliest due first; ``state`` overdue: open and past due."""
    views = [commitment_view(c, now=now) for c in await store.commitments_of_open_incidents()]
    if state == "overdue":
        return [v for v in views if v.overdue]
    return [v for v in views if state is None or v.state == state]


async def untold_bad_news(store: Store, *, now: datetime) -> list[BadNewsView]:
    """Bad news the customer has not been told, across the incidents not closed, oldest first."""
    return [bad_news_view(b, now=now) for b in await store.untold_bad_news_of_open_incidents()]


async def commitments_at_risk(
    store: Store, *, now: datetime, limit: int, visible: Visible = EVERY_INCIDENT
) -> tuple[list[CommitmentView], int]:
    """The first ``limit`` commitments at risk or past due across the incidents not closed (the earliest due first)
    and how many there are, of the ``visible`` incidents."""
    found, total = await store.commitments_at_risk(now=now, limit=limit, visible=visible)
    return [commitment_view(c, now=now) for c in found], total


async def untold_bad_news_page(
    store: Store, *, now: datetime, limit: int, visible: Visible = EVERY_INCIDENT
) -> tuple[list[BadNewsView], int]:
    """The first ``limit`` of `untold_bad_news` (the oldest first) and how many there are, of the ``visible``
    incidents."""
    found, total = await store.untold_bad_news(limit=limit, visible=visible)
    return [bad_news_view(b, now=now) for b in found], total


def _score(s: VendorScore, overdue_now: int) -> VendorScoreView:
    return VendorScoreView(
        vendor=s.vendor,
        asks=s.asks,
        received=s.received,
        open=s.open,
        overdue_now=overdue_now,
        never_heard=s.never_heard,
        mean_hear_back_seconds=_seconds(s.mean_hear_back),
        mean_receive_seconds=_seconds(s.mean_receive),
        longest_silence_seconds=_seconds(s.longest_silence),
        chases=s.chases,
        escalations=s.escalations,
        slips=s.slips,
        plan_bs=s.plan_bs,
        top_rung=s.top_rung,
        pushes=s.pushes,
    )


async def scorecard(
    store: Store, *, now: datetime, vendor: str | None = None, visible: Visible = EVERY_INCIDENT
) -> Scorecard:
    """The vendor scorecard as `scorecard` computes it (bot/scorecard.py), slowest to answer first, from the
    follow-ups of the ``visible`` incidents alone."""
    emailed = figures.first_emails(await store.mails())  # the real ask: the first email the vendor got
    every = await store.visible_follow_ups(visible)
    overdue: dict[str, int] = {}
    for f in tickets(every):
        if f.is_open and now > f.due:
            overdue[f.vendor] = overdue.get(f.vendor, 0) + 1
    scores = vendor_scores(every, now=now, emailed=emailed)
    if vendor is not None:
        scores = [s for s in scores if vendor.lower() in s.vendor.lower()]
    return Scorecard(vendors=[_score(s, overdue.get(s.vendor, 0)) for s in scores])


__all__ = [
    "ActionView",
    "BadNewsView",
    "CommitmentFilter",
    "CommitmentView",
    "FollowUpFilter",
    "FollowUpView",
    "IncidentBrief",
    "IncidentDetail",
    "IncidentPage",
    "LessonView",
    "Push",
    "RoleView",
    "RootCauseView",
    "Rung",
    "Scorecard",
    "StateFilter",
    "TimelineEntry",
    "UpdateView",
    "VendorScoreView",
    "View",
    "MAX_PAGE",
    "bad_news_view",
    "chat_link",
    "commitment_view",
    "commitments",
    "commitments_at_risk",
    "follow_up_view",
    "follow_ups",
    "incident_detail",
    "incident_list",
    "overdue_follow_ups",
    "scorecard",
    "timeline",
    "untold_bad_news",
    "untold_bad_news_page",
]
