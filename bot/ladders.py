"""Ladders no playbook wrote: who a follow-up climbs to when its vendor, team or root cause is in no playbook.

A vendor in no playbook is chased by its owner, then the vendor manager, the commander and the exec sponsor; an ask
of a person no playbook knows as a team, and a root cause we own, climb the commander and the exec sponsor. Each rung
is whoever holds that part when the ladder climbs, so a sponsor pulled in since the ask is on it; nobody is on it
twice, and the owner is never anyone's escalation but their own first rung.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.domain import Person
from bot.followups import TEAM, US, FollowUp
from bot.playbooks import LadderRung

OWNER, ASKED = "owner", "asked"
FOR_VENDORS = ("vendor_manager", "commander", "exec_sponsor")  # a vendor in no playbook
FOR_OUR_SIDE = ("commander", "exec_sponsor")  # a person asked, a root cause we own
LABELS = {
    OWNER: "Owner",
    ASKED: "Asked",
    "vendor_manager": "Vendor manager",
    "commander": "Incident commander",
    "exec_sponsor": "Exec sponsor",
}


def rung(who: Person, holds: str) -> LadderRung:
    """One of our people as a rung, mentioned when the ladder reaches them."""
    return LadderRung(who.name, LABELS[holds], f"@{who.name}", person_id=who.id, holds=holds)


def generic_ladder(
    first: LadderRung, roles: Mapping[str, Person], *, owner: Person, climb: Sequence[str]
) -> tuple[LadderRung, ...]:
    """``first``, then whoever holds each role of ``climb`` — skipping anyone already on the ladder, and the owner."""
    return first, *_above((first,), roles, owner=owner, climb=climb)


def is_generic(ladder: Sequence[LadderRung]) -> bool:
    return bool(ladder) and ladder[0].holds is not None


def climb_for(f: FollowUp) -> tuple[str, ...]:
    """The roles a generic ladder climbs: a vendor's, or our own side's (a person asked, a root cause we own)."""
    return FOR_OUR_SIDE if f.kind == TEAM or f.vendor == US else FOR_VENDORS


def refreshed(f: FollowUp, roles: Mapping[str, Person]) -> tuple[LadderRung, ...]:
    """The ladder of ``f`` as it climbs past its current rung: on a generic ladder, the rungs above are whoever holds
    those roles now. A ladder from a playbook is returned as it is."""
    if not is_generic(f.ladder):
        return f.ladder
    done = f.ladder[: f.rung + 1]
    climb = climb_for(f)
    reached = [climb.index(r.holds) for r in done if r.holds in climb]
    return done + _above(done, roles, owner=f.owner, climb=climb[max(reached, default=-1) + 1 :])


def _above(
    below: Sequence[LadderRung], roles: Mapping[str, Person], *, owner: Person, climb: Sequence[str]
) -> tuple[LadderRung, ...]:
    seen = {r.person_id or r.name for r in below} | {owner.id}
    found: list[LadderRung] = []
    for role in climb:
        who = roles.get(role)
        if who is not None and who.id not in seen:
            seen.add(who.id)
            found.append(rung(who, role))
    return tuple(found)
