"""The lessons-learned summary: figures and findings drawn from the timeline, stored at close, exported on demand."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat import Block, Bullets, Fields, Message, Section, Strong, Tone
from bot.customer import Commitment, CommitmentState, CustomerUpdate
from bot.domain import ActionItem, EventKind, Incident, TimelineEvent
from bot.figures import (
    answer_time,
    cost_of_impact,
    due_times,
    first_emails,
    impact_duration,
    longest_silence,
    silences,
    switched_playbook,
)
from bot.followups import TEAM, FollowUp, FollowUpState, earlier_root_causes, pushed_onto, root_cause, routes
from bot.mail.figures import email_findings, follow_up_figures
from bot.render import money, printable
from bot.store import Store
from bot.voice.compose import says
from bot.when import format_duration, format_when
from bot.words import count, times

KEY_EVENTS = {
    EventKind.OPENED,
    EventKind.ROOM_OPENED,
    EventKind.SEVERITY,
    EventKind.ROLE,
    EventKind.NOTE,
    EventKind.MITIGATED,
    EventKind.RESOLVED,
    EventKind.REOPENED,
    EventKind.CLOSED,
    EventKind.INVITE_FAILED,
    EventKind.FOLLOW_UP,
    EventKind.HEARD,
    EventKind.RECEIVED,
    EventKind.FOLLOW_UP_CANCELLED,
    EventKind.ESCALATED,
    EventKind.PLAN_B,
    EventKind.EMAIL_SENT,
    EventKind.EMAIL_RECEIVED,
    EventKind.ROOT_CAUSE,
    EventKind.PUSHED,
    EventKind.WATCH_ENDED,
}
SLOW_WAR_ROOM = timedelta(minutes=15)
STAKES_LATE = timedelta(hours=1)  # stakes stated later than this were not there when the room was staffed
# Markdown that acts wherever it stands in a line: emphasis and code, links and images (`[`, `]`), autolinks and
# HTML (`<`), GFM strikethrough and table cells, a heading's closing `#`; `\` so that none of these escapes undo.
_MD_INLINE = re.compile(r"([\\`*_~\[\]<>#|])")
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")  # `&lt;` would show as `<`: keep it as typed
# A list marker makes a block only at the start of a line; user text never starts one, but a value that could gets
# its marker escaped all the same.
_MD_LEADING = re.compile(r"^(?:[-+]|[0-9]+[.)])(?=\s|$)")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _minutes(delta: timedelta | None) -> float | None:
    return round(delta.total_seconds() / 60, 1) if delta is not None else None


async def build_summary(store: Store, incident: Incident, cadence: Mapping[int, timedelta]) -> dict[str, Any]:
    """Everything the review needs, as JSON-ready data; ``cadence`` is the playbook's update cadence."""
    n = incident.number
    timeline = await store.timeline(n)
    lessons, actions, roles = await store.lessons(n), await store.actions(n), await store.roles(n)
    follow_ups = await store.follow_ups(n)
    updates, promises, bad_news = await store.updates(n), await store.commitments(n), await store.bad_news(n)
    end = incident.resolved_at or incident.closed_at
    duration = end - incident.opened_at if end else None
    resolved_in = incident.resolved_at - incident.opened_at if incident.resolved_at else None
    impact = impact_duration(incident.opened_at, timeline, end) if end else None
    cost = cost_of_impact(incident.cost_per_hour, impact) if incident.cost_per_hour and impact is not None else None
    emailed = first_emails(await store.mails(n))
    peak = min([incident.severity, *_severities(timeline)])
    figures: dict[str, Any] = {
        "time_to_war_room_minutes": _minutes(
            incident.room_opened_at - incident.opened_at if incident.room_opened_at else None
        ),
        "time_to_mitigate_minutes": _minutes(_first(timeline, EventKind.MITIGATED, incident)),
        "time_to_resolve_minutes": _minutes(resolved_in),
        "reopened": sum(1 for e in timeline if e.kind is EventKind.REOPENED),
        "severity_changes": sum(1 for e in timeline if e.kind is EventKind.SEVERITY),
        "responders_not_found": sum(1 for e in timeline if e.kind is EventKind.INVITE_FAILED),
        "time_to_first_update_minutes": _minutes(updates[0].at - incident.opened_at if updates else None),
        "updates_sent": len(updates),
        "commitments_kept": sum(p.state is CommitmentState.KEPT for p in promises),
        "commitments_missed": sum(p.state is CommitmentState.MISSED for p in promises),
    }
    gaps = silences(incident, timeline, [u.at for u in updates], cadence)
    figures["longest_silence"] = longest_silence(gaps)
    late = {
        int(e.data["commitment"]): e
        for e in timeline
        if e.kind is EventKind.COMMITMENT_KEPT and e.data.get("late_minutes") is not None
    }
    commitments = [_commitment(p, updates, late.get(p.number)) for p in promises]
    figures["commitments_delivered_late"] = sum(1 for c in commitments if c["state"] == "missed" and c["late_minutes"])
    said = {u.number: u.text for u in updates}
    opened = [e.at for e in timeline if e.kind is EventKind.PAGE_OPENED]  # the customer's page, first after news
    latencies = [
        {
            "ref": b.ref,
            "trigger": b.trigger.value,
            "what": b.what,
            "at": _iso(b.at),
            "told_at": _iso(b.answered_at),
            "update": f"U{b.update_number}" if b.update_number else None,
            "latency_minutes": _minutes(b.answered_at - b.at if b.answered_at else None),
            "said": said.get(b.update_number) if b.update_number else None,  # what the customer was told of it
            "mentioned": says(said[b.update_number], b, promises, follow_ups) if b.update_number in said else None,
            "moot_at": _iso(b.moot_at),
            "seen_at": _iso(next((at for at in opened if at >= b.at), None)),  # on their page, first
        }
        for b in bad_news
    ]
    follow_up_data = [_follow_up(f, emailed) for f in follow_ups]
    follow_up_figures(timeline, follow_up_data)
    return {
        "incident": incident.ref,
        "title": incident.title,
        "state": incident.state_label,
        "unresolved_reason": incident.unresolved_reason,
        "outcome": incident.outcome,
        "customer": incident.customer,
        "severity": {"final": incident.severity, "peak": peak},
        "playbook": incident.playbook,
        "timezone": incident.timezone,
        "opened_at": _iso(incident.opened_at),
        "resolved_at": _iso(incident.resolved_at),
        "closed_at": _iso(incident.closed_at),
        "duration_minutes": _minutes(duration),
        "impact_minutes": _minutes(impact),
        "impact": incident.impact,
        "cost_per_hour": str(incident.cost_per_hour) if incident.cost_per_hour is not None else None,
        "revenue_at_risk": str(incident.revenue_at_risk) if incident.revenue_at_risk is not None else None,
        "cost_of_impact": str(cost) if cost is not None else None,
        "roles": {r.role: r.person.name for r in roles},
        "timeline": [
            {"at": e.at.isoformat(), "kind": e.kind.value, "by": e.actor.name if e.actor else None, "text": e.text}
            for e in timeline
            if e.kind in KEY_EVENTS or switched_playbook(e)
        ],
        "figures": figures,
        "follow_ups": follow_up_data,
        "commitments": commitments,
        "bad_news": latencies,
        "root_cause": _root_cause(follow_ups),
        "findings": _findings(incident, timeline, figures, peak)
        + close_findings(incident, timeline)
        + vendor_findings(follow_ups)
        + email_findings(timeline)
        + customer_findings(gaps, commitments, latencies, incident)
        + left_behind(incident, follow_ups, commitments, actions),
        "lessons": [{"ref": x.ref, "text": x.text, "by": x.author.name} for x in lessons],
        "action_items": [
            {
                "ref": a.ref,
                "text": a.text,
                "owner": a.owner.name if a.owner else None,
                "due": _iso(a.due),
                "state": "open" if a.is_open else "done",
                "done_at": _iso(a.done_at),
            }
            for a in actions
        ],
    }


def _root_cause(follow_ups: list[FollowUp]) -> dict[str, Any] | None:
    r = root_cause(follow_ups)
    if r is None:
        return None
    return {
        "ref": r.ref,
        "owner": r.vendor,
        "owner_person": r.owner.name,
        "ask": r.ask,
        "reference": r.reference,
        "asked_at": _iso(r.asked_at),
        "due": _iso(r.due),
        "first_due": _iso(r.first_due),  # the date it was asked for; "due" is the latest one given
        "slips": r.slips,
        "heard_at": _iso(r.heard_at),
        "delivered_at": _iso(r.received_at),
        "state": r.state.value,
        "chases": r.chases,
        "pushed": [{"at": _iso(p.at), "onto": p.onto, "what": p.what, "by": p.by} for p in r.pushes],
        "before": [  # earlier owners, oldest first: `rca owner` moved it on
            {
                "ref": g.ref,
                "owner": g.vendor,
                "asked_at": _iso(g.asked_at),
                "until": _iso(g.closed_at),
                "why": g.closed_note,
                "chases": g.chases,
                "pushed": [{"at": _iso(p.at), "onto": p.onto, "what": p.what, "by": p.by} for p in g.pushes],
            }
            for g in earlier_root_causes(follow_ups)
        ],
    }


def left_behind(
    incident: Incident, follow_ups: list[FollowUp], commitments: list[dict[str, Any]], actions: list[ActionItem]
) -> list[str]:
    """What close leaves behind: asks still waiting, promises neither kept nor missed, the root cause, actions
    nobody owns or dated."""
    at = "at close" if incident.is_closed else "so far"
    found = [
        f"{f.ref} {f.waits_on}: {f.ask} was still {f.state.value} {at}: nobody received or cancelled it."
        for f in follow_ups
        if f.is_open
    ]
    found += [
        f"{c['ref']} ({c['promise']}) was neither kept nor missed {at}: the customer may still be waiting on it."
        for c in commitments
        if c["state"] in ("open", "at_risk")
    ]
    r = root_cause(follow_ups)
    if r is None:
        found.append("Nobody was named to own the root cause (`rca <vendor|us> due:…`): it was never asked for.")
    elif r.received_at is None:
        tz = ZoneInfo(incident.timezone)
        due = due_times(r)
        first = f", first due {format_when(due.first, tz)}" if due.moved else ""
        found.append(
            f"The root cause was never delivered: {'we' if r.vendor == 'us' else r.vendor} owned it ({r.ref}, "
            f"due {format_when(due.last, tz)}{first}, {count(r.chases, 'chase')})."
        )
    for g in [*earlier_root_causes(follow_ups), *([r] if r else [])]:  # a push stays a finding after a move
        for p in g.pushes:
            who, whose = ("we", "our") if g.vendor == "us" else (g.vendor, "its")
            found.append(f"{who} pushed {whose} root-cause analysis onto {pushed_onto(p)}: {p.what}.")
    for a in actions:
        missing = [what for what, gone in (("no owner", a.owner is None), ("no due date", a.due is None)) if gone]
        if missing:
            found.append(f"{a.ref} ({a.text}) has {' and '.join(missing)}: it may never be done.")
    return found


def _follow_up(f: FollowUp, emailed: Mapping[tuple[int, int], datetime]) -> dict[str, Any]:
    reached = f.ladder[min(f.rung, len(f.ladder) - 1)] if f.ladder else None
    return {
        "ref": f.ref,
        "kind": f.kind,
        "shared_with": f"INC-{f.lead[0]} V{f.lead[1]}" if f.lead else None,
        "vendor": f.waits_on,
        "ask": f.ask,
        "reference": f.reference,
        "owner": f.owner.name,
        "state": f.state.value,
        "asked_at": _iso(f.asked_at),
        "due": _iso(f.due),
        "first_due": _iso(f.first_due),  # the due time it was asked with; "due" is the latest the vendor gave
        "slips": f.slips,
        "heard_at": _iso(f.heard_at),
        "received_at": _iso(f.received_at),
        "time_to_hear_back_minutes": _minutes(answer_time(f, emailed)),  # the vendor answer time, as everywhere
        "time_to_receive_minutes": _minutes(f.received_at - f.asked_at if f.received_at else None),
        "chases": f.chases,
        "escalations": f.escalations,
        "rung_reached": min(f.rung, len(f.ladder) - 1) + 1,
        "ladder_length": len(f.ladder),
        "contact_reached": f"{reached.name} ({reached.role})" if reached else None,
        "plan_b": f.plan_b_at is not None,
        "known_vendor": f.known_vendor,
    }


def _commitment(p: Commitment, updates: list[CustomerUpdate], late: TimelineEvent | None) -> dict[str, Any]:
    """A promise as the review reads it; ``late`` is its delivery after the due time (`commit kept C<n> late`)."""
    warned_from = p.at_risk_at or p.made_at
    warned = any(warned_from < u.at < p.due for u in updates) if p.state is CommitmentState.MISSED else None
    return {
        "ref": p.ref,
        "promise": p.promise,
        "due": _iso(p.due),
        "state": p.state.value,
        "at_risk_at": _iso(p.at_risk_at),
        "closed_at": _iso(p.closed_at),
        "warned_before_due": warned,
        "delivered_at": _iso(late.at if late else p.closed_at if p.state is CommitmentState.KEPT else None),
        "late_minutes": round(float(late.data["late_minutes"]), 1) if late else None,
    }


def customer_findings(
    silences: list[dict[str, Any]],
    commitments: list[dict[str, Any]],
    latencies: list[dict[str, Any]],
    incident: Incident,
) -> list[str]:
    """Silences past the cadence, promises broken without warning, bad news never told."""
    found = []
    over = [g for g in silences if g["over_minutes"]]
    if over:
        worst = max(over, key=lambda g: g["over_minutes"])
        tz = ZoneInfo(incident.timezone)
        # the stretch that ran past its cadence: the whole gap, or (where the cadence changed) the worst part of it
        past = max(worst.get("stretches") or [worst], key=lambda s: s["over_minutes"])
        until = f" until {_at(past['to'], tz)}" if worst.get("stretches") else ""
        found.append(
            f"Silence longer than the cadence: the customer heard nothing for "
            f"{format_duration(timedelta(minutes=worst['minutes']))} (cadence "
            f"{format_duration(timedelta(minutes=past['cadence_minutes']))} at severity {past['severity']}{until}), "
            f"from {_at(worst['from'], tz)} to {_at(worst['to'], tz)}"
            + (f"; {len(over)} silences in all ran past the cadence." if len(over) > 1 else ".")
        )
    for c in commitments:
        if c["warned_before_due"] is False:
            found.append(f"{c['ref']} ({c['promise']}) was missed with no warning to the customer before it was due.")
        if c["state"] == "missed" and c.get("late_minutes"):
            found.append(
                f"{c['ref']} ({c['promise']}) was missed, then delivered "
                f"{format_duration(timedelta(minutes=c['late_minutes']))} after its due time."
            )
    for b in latencies:
        if b["mentioned"] is False:
            found.append(
                f"{b['ref']} was marked told by {b['update']}, which does not mention it: the customer may never have "
                f"heard that {b['what']}."
            )
    untold = [b for b in latencies if b["told_at"] is None and b.get("moot_at") is None]
    if untold:
        found.append(
            f"{count(len(untold), 'piece')} of bad news {'was' if len(untold) == 1 else 'were'} never told to the "
            "customer: " + "; ".join(f"{b['ref']} {b['what']}" for b in untold[:3]) + ("…" if len(untold) > 3 else ".")
        )
    return found


def vendor_findings(follow_ups: list[FollowUp]) -> list[str]:
    """Single contact paths, top rungs and Plan Bs: what the vendors' behaviour says about our dependencies."""
    found: list[str] = []
    seen: set[str] = set()
    for f in follow_ups:
        if f.vendor in seen or f.kind == TEAM or f.vendor == "us":  # our own people are not a vendor's contact path
            continue
        seen.add(f.vendor)
        paths = routes(f.ladder, f.vendor)
        if not f.known_vendor:
            found.append(f"{f.vendor} is in no playbook: we had no contact ladder and no Plan B for it.")
        elif len(paths) <= 1:
            found.append(
                f"{f.vendor} is a single contact path: "
                + ("its one rung goes" if len(f.ladder) == 1 else f"all {len(f.ladder)} rungs of its ladder go")
                + " through "
                + f"{next(iter(paths), f.vendor)}; there was no second route to what we needed."
            )
    for f in follow_ups:
        top = f.ladder[-1] if f.ladder else None
        if f.plan_b_at is not None:
            found.append(f"{f.ref} {f.vendor} ran out of ladder and needed Plan B.")
        elif top is not None and f.rung >= len(f.ladder) - 1 and len(f.ladder) > 1:
            rung = f"its top rung ({top.name}, {top.role})"
            found.append(
                f"{f.ref} {f.vendor} needed {rung} before it delivered."
                if f.state is FollowUpState.RECEIVED
                else f"{f.ref} {f.vendor} reached {rung} and still had not delivered."
            )
    return found


def close_findings(incident: Incident, timeline: list[TimelineEvent]) -> list[str]:
    """How it ended: without a fix, and stakes that were stated only late."""
    found = []
    if incident.closed_unresolved:
        found.append(
            f"Closed unresolved after {format_duration(incident.closed_at - incident.opened_at)}"
            f" ({incident.unresolved_reason}): the fix never came."
            if incident.closed_at
            else f"Closed unresolved ({incident.unresolved_reason})."
        )
    stated = [e for e in timeline if e.kind is EventKind.CHANGED and e.data.get("stakes")]
    if stated and stated[0].at - incident.opened_at > STAKES_LATE:
        late = stated[0].at - incident.opened_at
        found.append(
            f"The stakes were stated {format_duration(late)} after opening ({stated[0].text.removeprefix('Changed ')})"
            ": until then urgency and the exec line had nothing to go on."
        )
    return found


def _severities(timeline: list[TimelineEvent]) -> list[int]:
    return [
        int(e.data[k])
        for e in timeline
        if e.kind in (EventKind.SEVERITY, EventKind.OPENED)
        for k in ("from", "to", "severity")
        if k in e.data
    ]


def _first(timeline: list[TimelineEvent], kind: EventKind, incident: Incident) -> timedelta | None:
    at = next((e.at for e in timeline if e.kind is kind), None)
    return at - incident.opened_at if at else None


def _findings(incident: Incident, timeline: list[TimelineEvent], figures: dict[str, Any], peak: int) -> list[str]:
    """What the bot itself concludes from the record; each finding says why it matters."""
    found = []
    opened_sev = next(
        (int(e.data["severity"]) for e in timeline if e.kind is EventKind.OPENED and "severity" in e.data),
        incident.severity,
    )
    if peak < opened_sev:
        found.append(
            f"Severity rose from {opened_sev} to {peak} after opening: the stakes were not clear at the start."
        )
    if incident.cost_per_hour is None and incident.revenue_at_risk is None:
        found.append("No cost per hour or revenue at risk was stated: urgency had nothing to be measured against.")
    minutes = figures["time_to_war_room_minutes"]
    if minutes is not None and minutes > SLOW_WAR_ROOM.total_seconds() / 60:
        found.append(f"The war room took {minutes:.0f} minutes to open.")
    if figures["reopened"]:
        found.append(f"The incident was reopened {times(figures['reopened'])}: a fix was declared before it held.")
    if figures["responders_not_found"]:
        found.append(
            f"{count(figures['responders_not_found'], 'playbook responder')} could not be found: update the playbook."
        )
    return found


def markdown_text(text: str) -> str:
    """User text as inert Markdown on one line: it reads as typed, and starts no line, link, image or HTML.

    Newlines and every other break collapse to a space and control characters go; then what Markdown acts on
    mid-line is backslash-escaped. `.`, `-`, `+`, `(`, `)`, `!` act only at the start of a line or right after a
    `]`, which this rules out, so `firmware 4.2.1` and `RMA-4471` stay as they were typed.
    """
    text = " ".join(printable(text).split())
    text = _MD_ENTITY.sub("\\&", _MD_INLINE.sub(r"\\\1", text))
    return _MD_LEADING.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], text)


def to_markdown(data: dict[str, Any]) -> str:
    """The summary as a Markdown document; every piece of user text in it is escaped (``markdown_text``)."""
    tz = ZoneInfo(data["timezone"])
    md = markdown_text
    lines = [f"# {data['incident']} — {md(data['title'])}", ""]
    lines += [f"- **{k}:** {v}" for k, v in _header(data, tz, md)]
    lines += ["", "## Key events", ""]
    lines += [
        f"- {_at(e['at'], tz)} — {md(e['text'])}" + (f" ({md(e['by'])})" if e["by"] else "") for e in data["timeline"]
    ]
    lines += ["", "## Figures", ""] + [f"- {k}: {v}" for k, v in _figures(data)]
    lines += ["", "## Bad news and how fast the customer heard it", ""] + (
        [_bad_news_line(b, tz, md) for b in data["bad_news"]] or ["- None."]
    )
    lines += ["", "## Vendor follow-ups", ""] + (
        [_follow_up_line(f, tz, md) for f in data["follow_ups"]] or ["- None."]
    )
    lines += ["", "## Root cause", ""] + [f"- {line}" for line in _root_cause_lines(data, tz, md)]
    lines += ["", "## Findings", ""] + ([f"- {md(f)}" for f in data["findings"]] or ["- None drawn."])
    lines += ["", "## Lessons", ""] + (
        [f"- {x['ref']}: {md(x['text'])} ({md(x['by'])})" for x in data["lessons"]] or ["- None recorded."]
    )
    lines += ["", "## Action items", ""] + (
        [f"- {_action_line(a, tz, md)}" for a in data["action_items"]] or ["- None recorded."]
    )
    return "\n".join(lines) + "\n"


def to_message(data: dict[str, Any]) -> Message:
    """The summary as one chat message (head and body together), for a terminal or a test to read."""
    head, body = to_messages(data)
    return Message(head.title, head.blocks + body.blocks, head.tone, head.elsewhere)


def to_messages(data: dict[str, Any]) -> tuple[Message, Message]:
    """The summary for the war room: a short head posted in the room, and the body that continues in its thread.

    The body holds every key event, follow-up, finding, lesson and action item — nothing is cut here; a platform
    that cannot show it in one message posts it as several replies in the thread."""
    tz = ZoneInfo(data["timezone"])
    where = f"the whole summary, as Markdown or JSON: `warroom summary {data['incident']}`"
    counts = (
        f"{count(len(data['timeline']), 'key event')}, {count(len(data['follow_ups']), 'vendor follow-up')}, "
        f"{count(len(data['findings']), 'finding')}, {count(len(data['lessons']), 'lesson')}, "
        f"{count(len(data['action_items']), 'action item')}"
    )
    head = Message(
        f"Lessons learned · {data['incident']} · {data['title']}",
        (
            Fields(tuple(_header(data, tz))),
            Section.of(f"{counts} — all of it follows in this thread; {where}."),
        ),
        Tone.INFO,
        elsewhere=where,
    )
    blocks: list[Block] = [
        Section.of(Strong("Key events")),
        Bullets(tuple(f"{_at(e['at'], tz)} — {e['text']}" for e in data["timeline"]) or ("None.",)),
        Section.of(Strong("Figures")),
        Bullets(tuple(f"{k}: {v}" for k, v in _figures(data))),
        Section.of(Strong("Bad news and how fast the customer heard it")),
        Bullets(tuple(_bad_news_line(b, tz)[2:] for b in data["bad_news"]) or ("None.",)),
        Section.of(Strong("Vendor follow-ups")),
        Bullets(tuple(_follow_up_line(f, tz)[2:] for f in data["follow_ups"]) or ("None.",)),
        Section.of(Strong("Root cause")),
        Bullets(tuple(_root_cause_lines(data, tz))),
        Section.of(Strong("Findings")),
        Bullets(tuple(data["findings"]) or ("None drawn.",)),
        Section.of(Strong("Lessons")),
        Bullets(tuple(f"{x['ref']}: {x['text']}" for x in data["lessons"]) or ("None recorded.",)),
        Section.of(Strong("Action items")),
        Bullets(tuple(_action_line(a, tz) for a in data["action_items"]) or ("None recorded.",)),
    ]
    body = Message(f"Lessons learned · {data['incident']} · the details", tuple(blocks), Tone.INFO, elsewhere=where)
    return head, body


def _same(text: str) -> str:
    return text


def _action_line(a: dict[str, Any], tz: ZoneInfo, user: Callable[[str], str] = _same) -> str:
    """An action item as the export and the posted summary both show it: owner, due date, open or done."""
    state = a.get("state", "open")
    return (
        f"{a['ref']}: {user(a['text'])}"
        + (f" — owner {user(a['owner'])}" if a["owner"] else " — no owner")
        + (f", due {_at(a['due'], tz)}" if a["due"] else ", no due date")
        + (f"; done {_at(a['done_at'], tz)}" if state == "done" and a.get("done_at") else f"; {state}")
    )


def _root_cause_lines(data: dict[str, Any], tz: ZoneInfo, user: Callable[[str], str] = _same) -> list[str]:
    r = data.get("root_cause")
    if not r:
        return ["Nobody was named to own it."]
    owner = "us" if r["owner"] == "us" else user(r["owner"])
    lines = [
        f"Owner: {owner} ({user(r['owner_person'])}), {r['ref']}: {user(r['ask'])}"
        + (f" ({user(r['reference'])})" if r["reference"] else ""),
        f"Asked {_at(r['asked_at'], tz)}, {_due(r, tz)}; heard back: {_at(r['heard_at'], tz)}; "
        f"delivered: {_at(r['delivered_at'], tz) if r['delivered_at'] else 'never'}; {count(r['chases'], 'chase')}",
    ]
    pushed = [
        f"Pushed onto {'the customer' if p['onto'] == 'customer' else 'us'} {_at(p['at'], tz)}: {user(p['what'])}"
        for p in r["pushed"]
    ]
    lines += pushed or ["Pushed onto anyone else: no"]
    for b in r.get("before", []):
        lines.append(
            f"Before: {'us' if b['owner'] == 'us' else user(b['owner'])}, {b['ref']}, asked {_at(b['asked_at'], tz)}"
            f" until {_at(b['until'], tz)}; {count(b['chases'], 'chase')}"
            + (f" — {user(b['why'])}" if b["why"] else "")
        )
        lines += [
            f"Pushed onto {'the customer' if p['onto'] == 'customer' else 'us'} {_at(p['at'], tz)} by "
            f"{'us' if b['owner'] == 'us' else user(b['owner'])}: {user(p['what'])}"
            for p in b["pushed"]
        ]
    return lines


def _bad_news_line(b: dict[str, Any], tz: ZoneInfo, user: Callable[[str], str] = _same) -> str:
    if b["latency_minutes"] is not None:
        told = f"told in {format_duration(timedelta(minutes=b['latency_minutes']))} ({b['update']}"
        told += (": " + user(_clip(b["said"])) if b.get("said") else "") + ")"
        if b.get("mentioned") is False:
            told += ", which does not mention it"
    elif b.get("moot_at"):
        told = f"moot: the promise was kept {_at(b['moot_at'], tz)}, before the customer had to hear it"
    else:
        told = "never told"
    if b.get("seen_at"):
        seen = datetime.fromisoformat(b["seen_at"])
        told += f"; the customer first saw it on their page {_at(b['seen_at'], tz)}"
        told += f", {format_duration(seen - datetime.fromisoformat(b['at']))} after it was raised"
    return f"- {b.get('ref', 'B?')} {_at(b['at'], tz)} {b['trigger'].replace('_', ' ')}: {user(b['what'])} — {told}"


def _clip(text: str, limit: int = 160) -> str:
    """What an update said, short enough for one line of the summary."""
    text = " ".join(text.split())
    return f'"{text}"' if len(text) <= limit else f'"{text[: limit - 1]}…"'


def _follow_up_line(f: dict[str, Any], tz: ZoneInfo, user: Callable[[str], str] = _same) -> str:
    def took(what: str, minutes: float | None) -> str:
        return f"{what} after {format_duration(timedelta(minutes=minutes))}" if minutes is not None else f"never {what}"

    return (
        f"- {f['ref']} {user(f['vendor'])}: {user(f['ask'])}"
        + (f" ({user(f['reference'])})" if f["reference"] else "")
        + f" — asked {_at(f['asked_at'], tz)}, {_due(f, tz)}, {took('heard back', f['time_to_hear_back_minutes'])}, "
        + f"{took('received', f['time_to_receive_minutes'])}; {count(f['chases'], 'chase')}, "
        + f"rung {f['rung_reached']} of {f['ladder_length']}"
        + (f" ({user(f['contact_reached'])})" if f["contact_reached"] else "")
        + (", Plan B" if f["plan_b"] else "")
        + (
            f"; first emailed {_at(f['first_email_at'], tz)}, "
            + (
                f"answered by email after {format_duration(timedelta(minutes=f['email_reply_minutes']))}"
                if f.get("email_reply_minutes") is not None
                else "no answer by email"
            )
            if f.get("first_email_at")
            else ""
        )
        + f"; {f['state']}"
    )


def _due(f: dict[str, Any], tz: ZoneInfo) -> str:
    """Due when, and (once the date moved) first due when, with the slips: how far the vendor's date drifted."""
    first = f.get("first_due") or f["due"]  # a summary stored before first due times were kept
    if first == f["due"]:
        return f"due {_at(f['due'], tz)}"
    slips = f", {count(f['slips'], 'slip')}" if f.get("slips") else ""
    return f"due {_at(f['due'], tz)} (first due {_at(first, tz)}{slips})"


def _header(data: dict[str, Any], tz: ZoneInfo, user: Callable[[str], str] = _same) -> list[tuple[str, str]]:
    sev = data["severity"]
    duration = data["duration_minutes"]
    cost = data["cost_of_impact"]
    state = data.get("state") or "closed"
    if data.get("unresolved_reason"):
        state += f" ({user(data['unresolved_reason'])})"
    return [
        ("State", state),
        ("Outcome", user(data["outcome"]) if data.get("outcome") else "not recorded yet (`outcome INC-n …`)"),
        ("Customer", user(data["customer"]) if data["customer"] else "not stated"),
        ("Severity", f"{sev['final']}" + (f" (peak {sev['peak']})" if sev["peak"] != sev["final"] else "")),
        ("Duration", format_duration(timedelta(minutes=duration)) if duration is not None else "—"),
        ("Opened", _at(data["opened_at"], tz)),
        ("Impact", user(data["impact"]) if data["impact"] else "not stated"),
        (
            "Cost of impact",
            f"{money(Decimal(cost))} ({money(Decimal(data['cost_per_hour']))}/h"
            + (
                f" over {format_duration(timedelta(minutes=data['impact_minutes']))} of impact)"
                if data.get("impact_minutes") is not None  # a summary stored before the impact was measured
                else ")"
            )
            if cost
            else "not stated",
        ),
        ("Revenue at risk", money(Decimal(data["revenue_at_risk"])) if data["revenue_at_risk"] else "not stated"),
    ]


def _figures(data: dict[str, Any]) -> list[tuple[str, str]]:
    f = data["figures"]

    def mins(v: float | None) -> str:
        return format_duration(timedelta(minutes=v)) if v is not None else "—"

    return [
        ("Time to war room", mins(f["time_to_war_room_minutes"])),
        ("Time to mitigate", mins(f["time_to_mitigate_minutes"])),
        (
            "Time to resolve",
            "never resolved" if data.get("unresolved_reason") else mins(f["time_to_resolve_minutes"]),
        ),
        ("Severity changes", str(f["severity_changes"])),
        ("Reopened", str(f["reopened"])),
        ("Time to first customer update", mins(f["time_to_first_update_minutes"])),
        ("Customer updates sent", str(f["updates_sent"])),
        ("Longest silence", _silence(f["longest_silence"]) if f["longest_silence"] else "—"),
        (
            "Commitments kept / missed",
            f"{f['commitments_kept']} / {f['commitments_missed']}"
            + (f" ({late} of them delivered late)" if (late := f.get("commitments_delivered_late")) else ""),
        ),
    ]


def _silence(gap: dict[str, Any]) -> str:
    """How long the customer heard nothing, against the cadence in force: stretch by stretch where it changed."""

    def mins(v: float | None) -> str:
        return format_duration(timedelta(minutes=v)) if v is not None else "—"

    def against(s: dict[str, Any]) -> str:
        over = f"{mins(s['over_minutes'])} over" if s["over_minutes"] else "within it"
        return f"{mins(s['cadence_minutes'])} cadence, {over}"

    stretches = gap.get("stretches") or []
    if not stretches:
        return f"{mins(gap['minutes'])} against a {mins(gap['cadence_minutes'])} cadence"
    parts = [
        f"{mins(_span(s))} at severity {s['severity']} ({against(s)})"
        if s["cadence_minutes"] is not None
        else f"{mins(_span(s))} at severity {s['severity']} (no cadence)"
        for s in stretches
    ]
    return f"{mins(gap['minutes'])}: " + ", then ".join(parts)


def _span(stretch: dict[str, Any]) -> float:
    return (datetime.fromisoformat(stretch["to"]) - datetime.fromisoformat(stretch["from"])).total_seconds() / 60


def _at(iso: str | None, tz: ZoneInfo) -> str:
    return format_when(datetime.fromisoformat(iso), tz) if iso else "—"


async def write_summary(
    store: Store, incident: Incident, *, now: datetime, cadence: Mapping[int, timedelta]
) -> tuple[Message, Message]:
    """Build and store the summary of a closing incident; return it for the war room (head, thread)."""
    data = await build_summary(store, incident, cadence)
    await store.save_summary(incident.number, now, to_markdown(data), data)
    return to_messages(data)
