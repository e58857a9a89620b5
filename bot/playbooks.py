"""Playbooks: YAML files saying who to pull in, how often to update the customer, how to chase vendors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import yaml

from bot.commands import HELP
from bot.errors import NotFound, PlaybookError
from bot.playbook_schema import Reader, value
from bot.voice.templates import KINDS, TemplateSet
from bot.voice.templates import build as build_templates
from bot.when import BusinessHours, Every

_GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]*")
STANDARD_ROLES = ("commander", "comms", "scribe", "vendor_manager", "exec_sponsor")
DEFAULT_PLAYBOOK = "default"
DEFAULT_AT_RISK_WINDOW = timedelta(hours=4)
DEFAULT_REMIND_EVERY = timedelta(days=1)
DEFAULT_ESCALATE_AFTER = 2
# How long a ladder may take to reach its top rung, counted in the vendor's working time from the due time.
DEFAULT_REACH_TOP = Every(business_days=3)
# How hard each kind of ask is chased when neither the command (`every:`, `escalate-after:`), the vendor or team
# nor the playbook's `chase:` says: a root-cause analysis takes days, so it is chased once a business day.
ASK_KINDS = ("vendor", "team", "root_cause")

_TOP_KEYS = (
    "name", "title", "description", "keywords", "timezone", "channel_pattern", "private",
    "roles", "teams", "products", "exec_sponsor", "updates", "vendors", "checklist", "customer_contacts", "chase",
    "team_ladders", "language", "customer_templates", "reach_top_within", "share_days", "permissions",
)  # fmt: skip
_TEAM_LADDER_KEYS = ("aliases", "lead", "manager", "exec_sponsor", "remind_every", "escalate_after")
_VENDOR_KEYS = (
    "name", "aliases", "timezone", "business_hours", "remind_every", "escalate_after", "ladder", "plan_b",
    "customer_name", "auto_send", "reach_top_within",
)  # fmt: skip
_NO_TEXT: tuple[str, ...] = ()
# What `permissions:` may reserve to roles: every verb, and the moves within a verb that matter more than the rest.
PERMISSION_MOVES = ("close unresolved", "sev down", "sev up", "private", "playbook", "share")
PERMISSION_ACTIONS = (*HELP, *PERMISSION_MOVES)
ANYONE = "anyone"  # `close: anyone`: every member of the war room may
_LEADS = ("commander", "exec_sponsor")
# What a playbook reserves unless it says otherwise: ending the incident, making it look smaller, who holds which
# role, and who may see it. Everything else is open to everyone in the war room.
DEFAULT_PERMISSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        action: _LEADS
        for action in ("close", "close unresolved", "sev down", "at-risk", "cost", "role", "private", "share")
    }
)


@dataclass(frozen=True)
class LadderRung:
    """One contact on a vendor's escalation ladder."""

    name: str
    role: str
    contact: str
    person_id: str | None = None  # one of our people (a team's ladder): mentioned when they are the contact
    holds: str | None = None  # a generic ladder's rung: the part it plays (owner, asked, or an incident role)


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
    customer_name: str | None = None  # how drafts to the customer name this vendor
    auto_send: bool = False  # chases go out by email without a click (when the current rung has an address)
    reach_top: Every = DEFAULT_REACH_TOP  # `reach_top_within`: its own, else its playbook's

    def matches(self, text: str) -> bool:
        """True when ``text`` names this vendor or one of its aliases (case-insensitive)."""
        wanted = text.strip().casefold()
        return any(wanted == known.casefold() for known in (self.name, *self.aliases))


@dataclass(frozen=True)
class ChaseRhythm:
    """How often an ask is chased, and after how many unanswered chases it climbs a rung."""

    every: Every
    escalate_after: int


DEFAULT_RHYTHMS: Mapping[str, ChaseRhythm] = MappingProxyType(
    {
        "vendor": ChaseRhythm(Every(DEFAULT_REMIND_EVERY), DEFAULT_ESCALATE_AFTER),
        "team": ChaseRhythm(Every(DEFAULT_REMIND_EVERY), DEFAULT_ESCALATE_AFTER),
        "root_cause": ChaseRhythm(Every(business_days=1), DEFAULT_ESCALATE_AFTER),
    }
)


@dataclass(frozen=True)
class TeamLadder:
    """One of our own teams we can `ask`, and who to go to when it does not answer: lead, manager, exec sponsor."""

    name: str
    aliases: tuple[str, ...]
    lead: str
    manager: str
    exec_sponsor: str | None
    every: Every | None = None
    escalate_after: int | None = None

    def matches(self, text: str) -> bool:
        """True when ``text`` (with or without a leading @) names this team or one of its aliases."""
        wanted = text.strip().lstrip("@").casefold()
        return any(wanted == known.casefold() for known in (self.name, *self.aliases))


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
    cost_per_hour_at_least: Decimal | None = None


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
    customer_contacts: tuple[str, ...] = ()  # who `update send` emails when the incident names nobody
    chase: Mapping[str, ChaseRhythm] = field(default_factory=lambda: DEFAULT_RHYTHMS)
    team_ladders: tuple[TeamLadder, ...] = ()
    language: str = "en"  # BCP 47: the customer's language (drafts, dates, amounts)
    customer_templates: TemplateSet | None = field(default=None, compare=False)  # None: the shipped ones
    reach_top: Every = DEFAULT_REACH_TOP  # `reach_top_within` for its asks, root causes and vendors it does not know
    share_days: int = 30  # links to the customer's page end this many days after close
    # Which roles may do what (`permissions:` over DEFAULT_PERMISSIONS); an action not named is anyone's in the room
    permissions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_PERMISSIONS)

    def vendor(self, name: str) -> VendorProfile | None:
        """The vendor profile that ``name`` names (by name or alias), if any."""
        return next((vendor for vendor in self.vendors if vendor.matches(name)), None)

    def team(self, name: str) -> TeamLadder | None:
        """The team ladder that ``name`` names (by name or alias, `@` or not), if any."""
        return next((team for team in self.team_ladders if team.matches(name)), None)

    def rhythm(self, kind: str) -> ChaseRhythm:
        """How an ask of this kind (vendor, team, root_cause) is chased unless it says otherwise."""
        return self.chase.get(kind) or DEFAULT_RHYTHMS[kind]


def responders_for(
    playbook: Playbook,
    *,
    severity: int,
    revenue_at_risk: Decimal | None,
    text: str,
    products: Sequence[str] = (),
    cost_per_hour: Decimal | None = None,
) -> tuple[Responder, ...]:
    """Everyone the playbook pulls in for an incident like this one, without duplicates."""
    found: dict[str, Responder] = {}

    def add(handle: str, team: str, reason: str) -> None:
        # A person pulled in twice keeps their first team; the card shows every reason once.
        key = handle.casefold()
        first = found.get(key)
        if first is None:
            found[key] = Responder(handle=handle, team=team, reason=reason)
        elif reason not in first.reason.split("; "):
            found[key] = Responder(handle=first.handle, team=first.team, reason=f"{first.reason}; {reason}")

    for role, handle in playbook.roles.items():
        add(handle, "roles", role)
    for team, handles in playbook.teams.items():
        for handle in handles:
            add(handle, team, team)
    named = {product.strip().casefold() for product in products}
    for product in playbook.products:
        involved = product.name.casefold() in named
        if involved or any(_mentions(text, k) for k in (product.name, *product.keywords)):
            for handle in product.engineering:
                add(handle, "engineering", f"engineering for {product.name}")
    sponsor = playbook.exec_sponsor
    if sponsor is not None:
        lines = []
        if sponsor.severity_at_most is not None and severity <= sponsor.severity_at_most:
            lines.append(f"severity {severity} is at or past the line (sev {sponsor.severity_at_most})")
        line = sponsor.revenue_at_risk_at_least
        if line is not None and revenue_at_risk is not None and revenue_at_risk >= line:
            lines.append(f"revenue at risk {_dollars(revenue_at_risk)} is at or past the line ({_dollars(line)})")
        line = sponsor.cost_per_hour_at_least
        if line is not None and cost_per_hour is not None and cost_per_hour >= line:
            lines.append(f"cost per hour {_dollars(cost_per_hour)}/h is at or past the line ({_dollars(line)}/h)")
        for handle in sponsor.people if lines else ():
            add(handle, "exec_sponsor", "exec sponsor: " + " and ".join(lines))
    return tuple(found.values())


TIE, WEAK = "tie", "weak"


@dataclass(frozen=True)
class Suggestion:
    """The playbook `open` picks, the keywords each playbook matched, and why the pick fell back to the default."""

    playbook: Playbook
    matched: Mapping[str, tuple[str, ...]]  # playbook name -> the keywords of it that were found
    doubt: str | None = None  # TIE or WEAK: the default was picked because the match was not clear

    @property
    def candidates(self) -> tuple[str, ...]:
        """The playbooks that matched, the best first (alphabetical within a score)."""
        return tuple(sorted(self.matched, key=lambda name: -len(self.matched[name])))

    def explained(self) -> str | None:
        """Why the default was picked although playbooks matched, and how to switch; None for a clear pick."""
        if self.doubt is None:
            return None
        found = "; ".join(f"{name} ({', '.join(self.matched[name])})" for name in self.candidates)
        why = (
            f"the keywords match more than one playbook equally: {found}"
            if self.doubt == TIE
            else f"a single keyword, not in the title, is a weak match: {found}"
        )
        switch = " or ".join(f"`set playbook:{name}`" for name in self.candidates[:3])
        return f"Playbook {self.playbook.name}: {why}. Switch with {switch}."


def _dollars(amount: Decimal) -> str:
    # Amounts come back from the database with cents: $300,000 reads better than $300,000.00.
    return f"${amount:,.0f}" if amount == amount.to_integral_value() else f"${amount:,.2f}"


class PlaybookLibrary:
    """Every playbook in a folder, validated; the ``default`` playbook is required."""

    def __init__(self, playbooks: Mapping[str, Playbook]) -> None:
        if DEFAULT_PLAYBOOK not in playbooks:
            raise ValueError("a playbook library needs a 'default' playbook")
        self._playbooks = dict(sorted(playbooks.items()))

    @classmethod
    def load(cls, folder: Path) -> PlaybookLibrary:
        """Load and validate a folder, raising PlaybookError listing every problem with file:line."""
        playbooks, problems = _read_folder(folder)
        if problems:
            raise PlaybookError(problems)
        return cls(playbooks)

    def get(self, name: str) -> Playbook:
        """The named playbook, or NotFound naming the ones there are."""
        playbook = self._playbooks.get(name.strip().lower())
        if playbook is None:
            raise NotFound(f"no playbook '{name}'; known: {', '.join(self.names)}")
        return playbook

    def suggest(self, title: str, *, more: str = "") -> Suggestion:
        """The playbook whose keywords ``title`` and ``more`` (impact, customer) name most; ``default`` when two or
        more name as many, or when the best names a single keyword and only outside the title (a weak match)."""
        matched: dict[str, tuple[str, ...]] = {}
        in_title: dict[str, bool] = {}
        for name, pb in self._playbooks.items():
            found = tuple(k for k in pb.keywords if _mentions(title, k) or _mentions(more, k))
            if found:
                matched[name] = found
                in_title[name] = any(_mentions(title, k) for k in found)
        ranked = sorted(matched, key=lambda name: -len(matched[name]))  # stable: alphabetical within a score
        if not ranked:
            return Suggestion(self._playbooks[DEFAULT_PLAYBOOK], {}, None)
        best = ranked[0]
        tied = [name for name in ranked if len(matched[name]) == len(matched[best])]
        if len(tied) > 1:
            return Suggestion(self._playbooks[DEFAULT_PLAYBOOK], matched, TIE)
        if len(matched[best]) == 1 and not in_title[best]:
            return Suggestion(self._playbooks[DEFAULT_PLAYBOOK], matched, WEAK)
        return Suggestion(self._playbooks[best], matched, None)

    @property
    def names(self) -> tuple[str, ...]:
        """Every playbook name, alphabetically."""
        return tuple(self._playbooks)


def check(folder: Path) -> list[str]:
    """Every problem in a playbook folder as `file:line: message`; empty when all are valid."""
    return _read_folder(folder)[1]


def _mentions(text: str, phrase: str) -> bool:
    # Whole words only ("pos" must not match "position"), any spacing, and a plural s/es
    # so that "register" matches "POS registers freeze".
    words = r"\s+".join(re.escape(word) for word in phrase.split())
    return bool(words) and re.search(rf"(?<!\w){words}(?:e?s)?(?!\w)", text, re.IGNORECASE) is not None


# --- reading and validating ----------------------------------------------------------------------


def _read_folder(folder: Path) -> tuple[dict[str, Playbook], list[str]]:
    if not folder.is_dir():
        return {}, [f"{folder}: no such playbook folder"]
    problems: list[str] = []
    for stray in sorted(folder.glob("*.yml")):
        problems.append(f"{folder / stray.name}:1: only *.yaml files are read as playbooks; rename it")
    files = sorted(path for path in folder.glob("*.yaml") if not path.name.startswith("."))
    if not files:
        return {}, [*problems, f"{folder}: no playbooks (*.yaml files)"]
    if not any(path.stem == DEFAULT_PLAYBOOK for path in files):
        problems.append(f"{folder}: no default playbook ({DEFAULT_PLAYBOOK}.yaml)")
    playbooks: dict[str, Playbook] = {}
    for path in files:
        source = str(folder / path.name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            problems.append(f"{source}:1: cannot read the file: {err}")
            continue
        playbook = _read_file(text, source, path.stem, problems)
        if playbook is not None:
            playbooks[playbook.name] = playbook
    return playbooks, problems


def _read_file(text: str, source: str, stem: str, problems: list[str]) -> Playbook | None:
    reader = Reader(source)
    root = reader.compose(text)
    playbook = _read_playbook(reader, root, stem) if root is not None else None
    problems.extend(reader.problems)
    # Any problem drops the whole playbook: a half-read one would pull in the wrong people.
    return None if reader.problems else playbook


def _read_playbook(r: Reader, root: yaml.Node, stem: str) -> Playbook | None:
    required = ("name", "title", "channel_pattern", "updates")
    fields = r.mapping(root, "the playbook", allowed=_TOP_KEYS, required=required)
    if fields is None:
        return None
    name = value(fields, "name", r.text, stem)
    if "name" in fields and name != stem:
        r.problem(fields["name"], f"name '{name}' must match the file name '{stem}'")
    if "roles" not in fields and "teams" not in fields:
        r.problem(root, "the playbook needs roles or teams: who to pull into the war room")
    timezone = value(fields, "timezone", r.timezone, None)
    reach_top = value(fields, "reach_top_within", r.every, DEFAULT_REACH_TOP)
    cadence, at_risk_window = _read_updates(r, fields["updates"]) if "updates" in fields else ({}, None)
    language, templates = _read_voice(r, fields)
    roles: dict[str, str] = value(fields, "roles", lambda n, w: r.groups(n, w, r.handle), {})
    return Playbook(
        name=name,
        title=value(fields, "title", r.text, ""),
        description=value(fields, "description", r.text, ""),
        keywords=value(fields, "keywords", r.texts, _NO_TEXT),
        timezone=timezone,
        channel_pattern=value(fields, "channel_pattern", r.channel_pattern, ""),
        private=value(fields, "private", r.boolean, False),
        roles=MappingProxyType(roles),
        teams=MappingProxyType(value(fields, "teams", lambda n, w: r.groups(n, w, r.handles), {})),
        products=_read_products(r, fields["products"]) if "products" in fields else (),
        exec_sponsor=_read_exec_sponsor(r, fields["exec_sponsor"]) if "exec_sponsor" in fields else None,
        update_cadence=MappingProxyType(cadence),
        at_risk_window=at_risk_window or DEFAULT_AT_RISK_WINDOW,
        vendors=_read_vendors(r, fields["vendors"], timezone, reach_top) if "vendors" in fields else (),
        checklist=value(fields, "checklist", r.texts, _NO_TEXT),
        source=r.source,
        customer_contacts=value(fields, "customer_contacts", r.addresses, _NO_TEXT),
        chase=MappingProxyType(_read_chase(r, fields["chase"]) if "chase" in fields else dict(DEFAULT_RHYTHMS)),
        team_ladders=_read_team_ladders(r, fields["team_ladders"]) if "team_ladders" in fields else (),
        language=language,
        customer_templates=templates,
        reach_top=reach_top,
        share_days=value(fields, "share_days", lambda n, w: r.integer(n, w, low=1, high=365), 30),
        permissions=_read_permissions(r, fields, roles) if "permissions" in fields else DEFAULT_PERMISSIONS,
    )


def _read_permissions(
    r: Reader, fields: dict[str, yaml.Node], roles: Mapping[str, str]
) -> Mapping[str, tuple[str, ...]]:
    """`permissions:` — an action (a verb, or one of PERMISSION_MOVES) mapped to the roles that may do it, or to
    `anyone`; what it does not name keeps its default."""
    node = fields["permissions"]
    known_roles = (*STANDARD_ROLES, *(name for name in roles if name not in STANDARD_ROLES))
    found = dict(DEFAULT_PERMISSIONS)
    if not isinstance(node, yaml.MappingNode):
        r.problem(node, "permissions must map actions (close, sev down, role, …) to roles, or to anyone")
        return MappingProxyType(found)
    for action, (key_node, value_node) in r.entries(node, "permissions").items():
        if action not in PERMISSION_ACTIONS:
            r.problem(
                key_node,
                f"permissions: '{action}' is not something people do; use a verb ({', '.join(HELP)}) or one of: "
                + ", ".join(PERMISSION_MOVES),
            )
            continue
        if isinstance(value_node, yaml.ScalarNode) and value_node.value == ANYONE:
            found[action] = ()
            continue
        names = r.texts(value_node, f"permissions.{action}")
        if names is None:
            continue
        if not names:
            r.problem(value_node, f"permissions.{action} names no role; say `anyone` if everyone in the room may")
            continue
        unknown = [n for n in names if n not in known_roles]
        if unknown:
            r.problem(
                value_node,
                f"permissions.{action}: '{unknown[0]}' is not a role; the roles are {', '.join(known_roles)}",
            )
            continue
        found[action] = tuple(dict.fromkeys(names))
    return MappingProxyType(found)


def _read_voice(r: Reader, fields: dict[str, yaml.Node]) -> tuple[str, TemplateSet | None]:
    """`language:` and `customer_templates:`, each template rendered with sample data before it is accepted."""
    language = value(fields, "language", r.text, "en")
    if "language" not in fields and "customer_templates" not in fields:
        return language, None
    overrides: dict[str, tuple[str, int]] = {}
    node = fields.get("customer_templates")
    kinds = r.mapping(node, "customer_templates", allowed=KINDS) if node is not None else {}
    for kind, template in (kinds or {}).items():
        text = r.text(template, f"customer_templates.{kind}")
        if text is not None and isinstance(template, yaml.ScalarNode):
            # A block scalar (`|`) starts on the line after its indicator; a plain or quoted one on its own line.
            first = template.start_mark.line + (1 if template.style in ("|", ">") else 0)
            overrides[kind] = (str(template.value), first)
    anchor = fields.get("language") or node
    templates, problems = build_templates(language, overrides)
    for line, message in problems:
        r.problem(anchor, message, line=line or None)
    return language, templates


def _read_chase(r: Reader, node: yaml.Node) -> dict[str, ChaseRhythm]:
    """`chase: {root_cause: {remind_every: 1bd, escalate_after: 3}}`: the rhythm of each kind of ask."""
    rhythms = dict(DEFAULT_RHYTHMS)
    kinds = r.mapping(node, "chase", allowed=ASK_KINDS)
    for kind, kind_node in (kinds or {}).items():
        what = f"chase.{kind}"
        fields = r.mapping(kind_node, what, allowed=("remind_every", "escalate_after"))
        if fields is None:
            continue
        default = DEFAULT_RHYTHMS[kind]
        rhythms[kind] = ChaseRhythm(
            every=value(fields, "remind_every", r.every, default.every, within=what),
            escalate_after=value(fields, "escalate_after", r.at_least_one, default.escalate_after, within=what),
        )
    return rhythms


def _read_team_ladders(r: Reader, node: yaml.Node) -> tuple[TeamLadder, ...]:
    """`team_ladders: {payments-eng: {lead: "@…", manager: "@…", exec_sponsor: "@…"}}`: our teams `ask` reaches."""
    if not isinstance(node, yaml.MappingNode):
        r.problem(node, "team_ladders must be a mapping of team names to their ladders")
        return ()
    ladders: list[TeamLadder] = []
    owners: dict[str, str] = {}
    for name, (key_node, item) in r.entries(node, "team_ladders").items():
        what = f"team_ladders.{name}"
        if not _GROUP_NAME.fullmatch(name):
            r.problem(key_node, f"team_ladders: '{name}' must be a lowercase name like payments-eng")
        fields = r.mapping(item, what, allowed=_TEAM_LADDER_KEYS, required=("lead", "manager"))
        if fields is None:
            continue
        ladder = TeamLadder(
            name=name,
            aliases=value(fields, "aliases", r.texts, _NO_TEXT, within=what),
            lead=value(fields, "lead", r.handle, "", within=what),
            manager=value(fields, "manager", r.handle, "", within=what),
            exec_sponsor=value(fields, "exec_sponsor", r.handle, None, within=what),
            every=value(fields, "remind_every", r.every, None, within=what),
            escalate_after=value(fields, "escalate_after", r.at_least_one, None, within=what),
        )
        for known in (ladder.name, *ladder.aliases):
            folded = known.lstrip("@").casefold()
            if folded in owners:
                r.problem(key_node, f"{what}: '{known}' already names team '{owners[folded]}'")
            owners.setdefault(folded, ladder.name)
        ladders.append(ladder)
    return tuple(ladders)


def _read_updates(r: Reader, node: yaml.Node) -> tuple[dict[int, timedelta], timedelta | None]:
    fields = r.mapping(node, "updates", allowed=("cadence", "at_risk_window"), required=("cadence",))
    if fields is None:
        return {}, None
    cadence: dict[int, timedelta] = value(fields, "cadence", r.cadence, {}, within="updates")
    return cadence, value(fields, "at_risk_window", r.duration, None, within="updates")


def _read_products(r: Reader, node: yaml.Node) -> tuple[ProductTeam, ...]:
    products: dict[str, ProductTeam] = {}
    for number, item in enumerate(r.sequence(node, "products") or (), start=1):
        what = f"products[{number}]"
        keys = ("name", "keywords", "engineering")
        fields = r.mapping(item, what, allowed=keys, required=("name", "engineering"))
        if fields is None:
            continue
        product = ProductTeam(
            name=value(fields, "name", r.text, "", within=what),
            keywords=value(fields, "keywords", r.texts, _NO_TEXT, within=what),
            engineering=value(fields, "engineering", r.handles, _NO_TEXT, within=what),
        )
        if product.name and product.name.casefold() in products:
            r.problem(fields["name"], f"{what}: duplicate product '{product.name}'")
        products[product.name.casefold()] = product
    return tuple(products.values())


def _read_exec_sponsor(r: Reader, node: yaml.Node) -> ExecSponsor | None:
    fields = r.mapping(node, "exec_sponsor", allowed=("people", "when"), required=("people", "when"))
    if fields is None:
        return None
    people = value(fields, "people", r.handles, _NO_TEXT, within="exec_sponsor")
    lines = ("severity_at_most", "revenue_at_risk_at_least", "cost_per_hour_at_least")
    when = r.mapping(fields["when"], "exec_sponsor.when", allowed=lines) if "when" in fields else None
    if when is None:
        return None
    if not when:
        r.problem(fields["when"], f"exec_sponsor.when needs {' or '.join(lines)}")
    return ExecSponsor(
        people=people,
        severity_at_most=value(when, lines[0], r.severity, None, within="exec_sponsor.when"),
        revenue_at_risk_at_least=value(when, lines[1], r.amount, None, within="exec_sponsor.when"),
        cost_per_hour_at_least=value(when, lines[2], r.amount, None, within="exec_sponsor.when"),
    )


def _read_vendors(r: Reader, node: yaml.Node, timezone: str | None, reach_top: Every) -> tuple[VendorProfile, ...]:
    vendors: list[VendorProfile] = []
    owners: dict[str, str] = {}  # every name and alias, casefolded -> the vendor it names
    for number, item in enumerate(r.sequence(node, "vendors") or (), start=1):
        vendor = _read_vendor(r, item, f"vendors[{number}]", timezone, reach_top)
        if vendor is None:
            continue
        # Two vendors answering to one name would make `vendor nwd …` ambiguous.
        names = {known.casefold(): known for known in (vendor.name, *vendor.aliases) if known}
        for folded, known in names.items():
            if folded in owners:
                r.problem(item, f"vendors[{number}]: '{known}' already names vendor '{owners[folded]}'")
        for folded in names:
            owners.setdefault(folded, vendor.name)
        vendors.append(vendor)
    return tuple(vendors)


def _read_vendor(r: Reader, node: yaml.Node, what: str, timezone: str | None, reach_top: Every) -> VendorProfile | None:
    fields = r.mapping(node, what, allowed=_VENDOR_KEYS, required=("name", "ladder", "plan_b"))
    if fields is None:
        return None
    vendor_tz = value(fields, "timezone", r.timezone, None, within=what)
    hours = None
    if "business_hours" in fields:
        # A bad vendor time zone is already reported (and drops the playbook); UTC stands in so the
        # hours' own mistakes are reported in the same pass.
        hours_tz = vendor_tz or ("UTC" if "timezone" in fields else timezone)
        hours = r.business_hours(fields["business_hours"], f"{what}.business_hours", hours_tz)
    ladder: list[LadderRung] = []
    rungs = r.sequence(fields["ladder"], f"{what}.ladder", non_empty=True) if "ladder" in fields else None
    for number, rung_node in enumerate(rungs or (), start=1):
        rung = _read_rung(r, rung_node, f"{what}.ladder[{number}]")
        if rung is not None:
            ladder.append(rung)
    return VendorProfile(
        name=value(fields, "name", r.text, "", within=what),
        aliases=value(fields, "aliases", r.texts, _NO_TEXT, within=what),
        timezone=vendor_tz or timezone or "UTC",
        business_hours=hours,
        remind_every=value(fields, "remind_every", r.duration, DEFAULT_REMIND_EVERY, within=what),
        escalate_after=value(fields, "escalate_after", r.at_least_one, DEFAULT_ESCALATE_AFTER, within=what),
        ladder=tuple(ladder),
        plan_b=value(fields, "plan_b", r.text, "", within=what),
        customer_name=value(fields, "customer_name", r.text, None, within=what),
        auto_send=value(fields, "auto_send", r.boolean, False, within=what),
        reach_top=value(fields, "reach_top_within", r.every, reach_top, within=what),
    )


def _read_rung(r: Reader, node: yaml.Node, what: str) -> LadderRung | None:
    fields = r.mapping(node, what, allowed=("name", "role", "contact"), required=("name", "contact"))
    if fields is None:
        return None
    return LadderRung(
        name=value(fields, "name", r.text, "", within=what),
        role=value(fields, "role", r.text, "", within=what),
        contact=value(fields, "contact", r.text, "", within=what),
    )
