"""Platform-neutral messages the core says; adapters turn them into Block Kit, Adaptive Cards or terminal text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.chat import Actions, Bullets, Button, Fields, Inline, Mention, Message, Section, Strong, Tone, UserRef
from bot.commands import HELP
from bot.domain import SEVERITY_MEANING, ActionItem, Incident, Person, ResponderRecord, RoleAssignment
from bot.playbooks import Playbook
from bot.when import format_duration, format_when
from bot.words import count

PUBLIC_VERBS = tuple(HELP)
# What a terminal acts on. Whole ANSI sequences first (CSI `ESC [ 31 m`, and OSC `ESC ] 0;title BEL` and its kin
# when terminated on the same line), in 7- and 8-bit forms, so that no half of one is left to print; then what is
# left of an escape (`ESC x`), then any other C0 or C1 control character.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?|\x9b[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -~]?"
)
_BLANK_CONTROLS = re.compile(r"[\t\x0b\x0c\r\x1c-\x1f\x85]")  # whitespace that is also a control: a plain space
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def mention(person: Person) -> Mention:
    return Mention(UserRef(person.id, person.name))


def money(amount: Decimal | None) -> str:
    """`$1,895` / `$40,000` — whole units; amounts are typed without a currency, shown with $."""
    if amount is None:
        return "not stated"
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


def printable(text: str) -> str:
    """Text a terminal shows as it is: ANSI escapes and control characters removed, newlines kept."""
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS.sub("", _BLANK_CONTROLS.sub(" ", text))


def error(text: str) -> Message:
    return Message(text, tone=Tone.ERROR)


def info(title: str, *blocks: Section | Fields | Bullets | Actions, tone: Tone = Tone.INFO) -> Message:
    return Message(title, tuple(blocks), tone)


def when(at: datetime | None, incident: Incident) -> str:
    return format_when(at, ZoneInfo(incident.timezone)) if at else "—"


def incident_fields(incident: Incident) -> Fields:
    items = [
        ("State", incident.state_label + (f" ({incident.unresolved_reason})" if incident.unresolved_reason else "")),
        ("Severity", f"{incident.severity} ({SEVERITY_MEANING[incident.severity]})"),
        ("Customer", incident.customer or "not stated"),
        ("Impact", incident.impact or "not stated"),
        ("Cost per hour", money(incident.cost_per_hour)),
        ("Revenue at risk", money(incident.revenue_at_risk)),
        ("Playbook", incident.playbook),
        ("Opened", f"{when(incident.opened_at, incident)} by {incident.opened_by.name}"),
    ]
    if incident.doing:
        items.append(("What we are doing (for the customer)", incident.doing))
    if incident.outcome:
        items.append(("Outcome", incident.outcome))
    return Fields(tuple(items))


def roles_section(roles: Sequence[RoleAssignment]) -> Section:
    parts: list[Inline] = [Strong("Roles: ")]
    for i, assignment in enumerate(sorted(roles, key=lambda r: r.role)):
        parts += [", " if i else "", f"{assignment.role.replace('_', ' ')} ", mention(assignment.person)]
    if not roles:
        parts.append("none assigned — `role commander @you`")
    return Section(tuple(p for p in parts if p != ""))


def kickoff_card(
    incident: Incident,
    *,
    roles: Sequence[RoleAssignment],
    responders: Sequence[ResponderRecord],
    playbook: Playbook,
    note: str | None = None,
) -> Message:
    """The pinned card at the top of a war room: who is who, what is at stake, what to do first (and, in ``note``,
    why the playbook is the default one although others matched)."""
    teams: dict[str, list[Inline]] = {}
    for r in responders:
        if r.team == "roles" and r.person and r.invited:
            continue  # already named on the Roles line
        line = teams.setdefault(r.team, [])
        line.append(", " if line else "")
        line.append(mention(r.person) if r.person and r.invited else f"{r.handle} (not found)")
    team_parts: list[Inline] = [Strong("Responders: ")]
    for i, (team, members) in enumerate(teams.items()):
        team_parts += ["; " if i else "", f"{team.replace('_', ' ')}: ", *[m for m in members if m != ""]]
    blocks: list[Section | Fields | Bullets | Actions] = [incident_fields(incident), roles_section(roles)]
    if note:
        blocks.append(Section.of(f"⚠ {note}"))
    if responders:
        blocks.append(Section(tuple(p for p in team_parts if p != "")))
    if playbook.checklist:
        blocks += [Section.of(Strong("Kickoff checklist")), Bullets(playbook.checklist)]
    blocks.append(
        Section.of(
            "Talk to me with `/incident <verb>` in this channel: `note`, `vendor`, `ask`, `rca`, `commit`, `update`,"
            " `sev`, `role`, `invite`, `lesson`, `action`, `status`, `resolve`, `close` — `help` for all of it."
        )
    )
    blocks.append(Actions((Button("Status", "status"),)))
    return Message(
        f"{incident.ref} · {incident.title}", tuple(blocks), Tone.BAD_NEWS if incident.severity == 1 else Tone.INFO
    )


def status_card(
    incident: Incident,
    *,
    roles: Sequence[RoleAssignment],
    actions: Sequence[ActionItem],
    now: datetime,
    extra: Sequence[Section | Fields | Bullets | Actions] = (),
) -> Message:
    """The live card: state, severity, roles, what we wait on and promised, the customer clock."""
    blocks: list[Section | Fields | Bullets | Actions] = [incident_fields(incident), roles_section(roles), *extra]
    end = incident.resolved_at or now
    blocks.append(
        Section.of(
            f"Open for {format_duration(end - incident.opened_at)}"
            + (" (resolved)" if incident.resolved_at else "")
            + "."
        )
    )
    if actions:
        blocks += [
            Section.of(Strong("Action items")),
            Bullets(
                tuple(
                    f"{a.ref} {a.text}"
                    + (f" — {a.owner.name}" if a.owner else "")
                    + (f", due {when(a.due, incident)}" if a.due else "")
                    for a in actions
                )
            ),
        ]
    room = f" in #{incident.room_name}" if incident.room_name else ""
    return Message(f"{incident.ref} · {incident.title}{room}", tuple(blocks))


def incident_list(incidents: Sequence[Incident], now: datetime) -> Message:
    if not incidents:
        return info("No open incidents.")
    lines = tuple(
        f"{i.ref} sev {i.severity} {i.state.value} — {i.title}"
        + (f" ({i.customer})" if i.customer else "")
        + (f" #{i.room_name}" if i.room_name else "")
        + f", open {format_duration(now - i.opened_at)}"
        for i in incidents
    )
    return info(f"{count(len(incidents), 'incident')} not closed", Bullets(lines))


def help_message(verb: str | None = None) -> Message:
    """Usage for one verb, or the list of verbs."""
    if verb is not None:
        h = HELP[verb]
        return info(f"/incident {h.usage}", Section.of(h.summary), Section.of("Example: ", f"/incident {h.example}"))
    lines = tuple(f"{h.usage} — {h.summary}" for h in HELP.values())
    return info(
        "Warroom: run a customer crisis from one channel",
        Bullets(lines),
        Section.of(
            'Times: 30min, 4h, 2d, 3bd, 1mo, eod, noon, "tomorrow morning", "next fri 17:00", "in 4 months",'
            " 2026-11-25T10:00 (1m is refused: 1min or 1mo?)."
            " Inside a war room the incident is implied; elsewhere name it: status INC-42."
        ),
    )


def plain_text(message: Message) -> str:
    """A message as plain text: the fallback for notifications, logs and terminals."""
    lines = [message.title]
    for block in message.blocks:
        if isinstance(block, Section):
            lines.append("".join(_inline_plain(p) for p in block.parts))
        elif isinstance(block, Fields):
            lines += [f"  {k}: {v}" for k, v in block.items]
        elif isinstance(block, Bullets):
            lines += [f"  • {item}" for item in block.items]
        else:
            lines.append("  " + "  ".join(f"[{b.label}]" for b in block.buttons))
    return "\n".join(lines)


def _inline_plain(part: Inline) -> str:
    if isinstance(part, Mention):
        return f"@{part.user.name}"
    if isinstance(part, Strong):
        return part.text
    return part
