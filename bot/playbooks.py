"""Playbooks: YAML files that say who to pull in, how often to update the customer, and how to chase vendors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bot.when import BusinessHours

STANDARD_ROLES = ("commander", "comms", "scribe", "vendor_manager", "exec_sponsor")


@dataclass(frozen=True)
class LadderRung:
    """One contact on a vendor's escalation ladder."""

    name: str
    role: str
    contact: str


@dataclass(frozen=True)
class VendorProfile:
    """What a playbook knows about a vendor: how to reach it and how hard to chase."""

    name: str
    aliases: tuple[str, ...]
    timezone: str
    business_hours: BusinessHours | None
    remind_every: timedelta
    escalate_after: int
    ladder: tuple[LadderRung, ...]
    plan_b: str

    def matches(self, text: str) -> bool:
        """True when ``text`` names this vendor or one of its aliases (case-insensitive)."""
        raise NotImplementedError


@dataclass(frozen=True)
class ProductTeam:
    """Engineering for one product, pulled in when the incident involves that product."""

    name: str
    keywords: tuple[str, ...]
    engineering: tuple[str, ...]


@dataclass(frozen=True)
class ExecSponsor:
    """Who sponsors from the top, and the line past which they are pulled in."""

    people: tuple[str, ...]
    severity_at_most: int | None
    revenue_at_risk_at_least: Decimal | None


@dataclass(frozen=True)
class Responder:
    """A person (handle) pulled into the war room, with the team and the reason why."""

    handle: str
    team: str
    reason: str


@dataclass(frozen=True)
class Playbook:
    """One validated playbook file."""

    name: str
    title: str
    description: str
    keywords: tuple[str, ...]
    timezone: str | None
    channel_pattern: str
    private: bool
    roles: Mapping[str, str]
    teams: Mapping[str, tuple[str, ...]]
    products: tuple[ProductTeam, ...]
    exec_sponsor: ExecSponsor | None
    update_cadence: Mapping[int, timedelta]
    at_risk_window: timedelta
    vendors: tuple[VendorProfile, ...]
    checklist: tuple[str, ...]
    source: str = field(default="", compare=False)

    def vendor(self, name: str) -> VendorProfile | None:
        """The vendor profile that ``name`` names (by name or alias), if any."""
        raise NotImplementedError


def responders_for(
    playbook: Playbook,
    *,
    severity: int,
    revenue_at_risk: Decimal | None,
    text: str,
    products: Sequence[str] = (),
) -> tuple[Responder, ...]:
    """Everyone the playbook pulls in for an incident like this one, without duplicates."""
    raise NotImplementedError


class PlaybookLibrary:
    """Every playbook in a folder, validated; the ``default`` playbook is required."""

    @classmethod
    def load(cls, folder: Path) -> PlaybookLibrary:
        """Load and validate a folder, raising PlaybookError listing every problem with file:line."""
        raise NotImplementedError

    def get(self, name: str) -> Playbook:
        """The named playbook, or NotFound naming the ones there are."""
        raise NotImplementedError

    def suggest(self, text: str) -> Playbook:
        """The playbook whose keywords best match ``text``; ``default`` when none does."""
        raise NotImplementedError

    @property
    def names(self) -> tuple[str, ...]:
        raise NotImplementedError


def check(folder: Path) -> list[str]:
    """Every problem in a playbook folder as `file:line: message`; empty when all are valid."""
    raise NotImplementedError
