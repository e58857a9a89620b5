"""The command grammar: words, "quoted strings" and key:value options, read into imperative command values."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from bot.domain import INCIDENT_REF
from bot.errors import BadInput, WarroomError
from bot.when import Every, parse_duration, parse_every
from bot.zones import find_zone

MAX_TITLE = 200
MAX_TEXT = 3000
QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c", "\u201d": "\u201d"}
_OPTION = re.compile(r"^([a-z][a-z_-]*):(.*)$", re.DOTALL)
# Broadcasts and mentions that must never be smuggled into a title, a channel topic or a card heading.
_MENTION = re.compile(r"<[!@#][^>]*>|(?<![\w.])@(channel|here|everyone)\b", re.IGNORECASE)
# NUL (PostgreSQL stores no text with it) and lone surrogates (half a UTF-16 pair: no encoding can write them),
# which a JSON body can carry.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
_AMOUNT = re.compile(r"^[$€£]?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([km]?)$", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int
    quoted: bool
    key: str | None = None


# --- commands: one imperative value per verb -------------------------------------------------------


@dataclass(frozen=True)
class Command:
    incident: int | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class OpenIncident(Command):
    title: str
    severity: int | None = None
    customer: str | None = None
    playbook: str | None = None
    impact: str | None = None
    cost_per_hour: Decimal | None = None
    revenue_at_risk: Decimal | None = None
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShowStatus(Command):
    pass


@dataclass(frozen=True)
class ChangeSeverity(Command):
    severity: int
    reason: str | None = None


@dataclass(frozen=True)
class AssignRole(Command):
    role: str
    handle: str


@dataclass(frozen=True)
class InvitePeople(Command):
    handles: tuple[str, ...]


@dataclass(frozen=True)
class AddNote(Command):
    text: str


@dataclass(frozen=True)
class AddLesson(Command):
    text: str


@dataclass(frozen=True)
class AddAction(Command):
    text: str
    owner: str | None = None
    due: str | None = None


@dataclass(frozen=True)
class MitigateIncident(Command):
    note: str | None = None


@dataclass(frozen=True)
class ResolveIncident(Command):
    note: str | None = None
    watch: timedelta | None = None  # `watch:3d`: confirm with the customer that all is well at the end of it


@dataclass(frozen=True)
class ReopenIncident(Command):
    reason: str | None = None


@dataclass(frozen=True)
class ShareLink(Command):
    """`share [to:<address>…]`: a private link to the customer's page, emailed to ``to`` when given."""

    to: tuple[str, ...] = ()


@dataclass(frozen=True)
class ListShares(Command):
    """`share list`: the incident's links, and when each was last opened."""


@dataclass(frozen=True)
class RevokeShare(Command):
    """`share revoke [<n>]`: end link n, or every link of the incident."""

    number: int | None = None


@dataclass(frozen=True)
class CloseIncident(Command):
    unresolved: str | None = None  # `close unresolved <reason>`: the fix never came
    outcome: str | None = None


@dataclass(frozen=True)
class RecordOutcome(Command):
    text: str


@dataclass(frozen=True)
class ChangeFields(Command):
    """`set`: what was said at `open` (and the customer-facing `doing:`), changed later; None means unchanged."""

    title: str | None = None
    customer: str | None = None
    impact: str | None = None
    cost_per_hour: Decimal | None = None
    revenue_at_risk: Decimal | None = None
    timezone: str | None = None
    doing: str | None = None
    customer_contacts: tuple[str, ...] | None = None  # () clears them (`customer-contacts:none`)
    headline: str | None = None  # what the customer calls the problem
    playbook: str | None = None  # `set playbook:<name>`: switch playbooks mid-incident
    private: bool | None = None  # `set private:yes|no`: invisible outside the war room, or not


@dataclass(frozen=True)
class FinishAction(Command):
    number: int
    note: str | None = None


@dataclass(frozen=True)
class SnoozeAction(Command):
    number: int
    duration: str = "1d"


@dataclass(frozen=True)
class ListIncidents(Command):
    pass


@dataclass(frozen=True)
class ShowHelp(Command):
    verb: str | None = None


@dataclass(frozen=True)
class AskVendor(Command):
    vendor: str
    ask: str
    due: str
    owner: str | None = None
    reference: str | None = None
    every: Every | None = None  # this ask's own chase cadence, over the playbook's
    escalate_after: int | None = None
    customer_text: str | None = None  # `customer:"…"`: what the customer hears of it
    # The unquoted words right after an unquoted vendor name: a name no playbook knows, followed by these, may be
    # a name of several words typed without quotes ("fourth coffee voice …"), so it is asked for, not guessed.
    trailing: tuple[str, ...] = ()


@dataclass(frozen=True)
class AskTeam(Command):
    """`ask`: a follow-up of one of our own teams (or a person), escalated up the team's ladder."""

    team: str
    ask: str
    due: str
    owner: str | None = None
    reference: str | None = None
    every: Every | None = None
    escalate_after: int | None = None
    customer_text: str | None = None


@dataclass(frozen=True)
class OwnRootCause(Command):
    """`rca <vendor|us>` / `rca owner <vendor|us>`: who owns finding the root cause, by when; chased like a follow-up.

    When the incident's root cause already has another owner, ownership moves (the earlier owner's record stays)."""

    owner_side: str  # a vendor's name, or "us"
    due: str | None = None  # needed to name a first owner; a move keeps the current due time unless it has passed
    ask: str | None = None
    owner: str | None = None
    reference: str | None = None
    every: Every | None = None
    escalate_after: int | None = None
    customer_text: str | None = None
    trailing: tuple[str, ...] = ()  # as AskVendor's


@dataclass(frozen=True)
class RootCauseHeard(Command):
    note: str | None = None
    due: str | None = None


@dataclass(frozen=True)
class RootCauseDelivered(Command):
    note: str | None = None


@dataclass(frozen=True)
class RootCausePushed(Command):
    """The owner handed (part of) its analysis to us or the customer."""

    what: str
    onto: str | None = None  # "us" | "customer"; None: read from what was typed


@dataclass(frozen=True)
class FollowUpCommand(Command):
    number: int


@dataclass(frozen=True)
class HeardFromVendor(FollowUpCommand):
    note: str | None = None
    due: str | None = None


@dataclass(frozen=True)
class ReceivedFromVendor(FollowUpCommand):
    note: str | None = None


@dataclass(frozen=True)
class EscalateFollowUp(FollowUpCommand):
    note: str | None = None


@dataclass(frozen=True)
class CancelFollowUp(FollowUpCommand):
    reason: str


@dataclass(frozen=True)
class SnoozeFollowUp(FollowUpCommand):
    duration: str = "1h"


@dataclass(frozen=True)
class EmailFollowUp(FollowUpCommand):
    """*Send email*: the drafted chase (or escalation) goes to the current rung's email address."""


@dataclass(frozen=True)
class ListFollowUps(Command):
    pass


@dataclass(frozen=True)
class SetCustomerText(Command):
    """`vendor customer V<n> <text>` / `rca customer <text>`: what the customer hears of an ask (None: the neutral
    phrase again)."""

    number: int | None  # None: the root cause
    text: str | None


@dataclass(frozen=True)
class RewordCommitment(Command):
    """`commit reword C<n> <text>`: a promise's words as the customer reads them (its due time and state stay)."""

    number: int
    promise: str


@dataclass(frozen=True)
class RecordUpdate(Command):
    text: str
    next: str | None = None
    tells: tuple[int, ...] = ()  # the B<n> this update told the customer
    tells_all: bool = False


@dataclass(frozen=True)
class SendDraft(Command):
    """*Update sent*: the drafted text of a prompt was sent as it was; record it (and what bad news it told)."""

    bad_news: int | None = None  # B<n> whose prompt it was; None for the cadence prompt's draft


@dataclass(frozen=True)
class SendUpdate(Command):
    """`update send …`: email the customer contacts, and record the update once the mail server took it."""

    text: str | None = None  # None: the last drafted update (or B<n>'s draft)
    bad_news: int | None = None
    next: str | None = None
    tells: tuple[int, ...] = ()
    tells_all: bool = False
    confirm: bool = False  # `confirm:yes`: send it although it names something internal


@dataclass(frozen=True)
class MakeCommitment(Command):
    promise: str
    due: str
    needs: tuple[int, ...] = ()  # V<n> the promise depends on


@dataclass(frozen=True)
class KeepCommitment(Command):
    number: int
    note: str | None = None
    late: bool = False  # `commit kept C<n> late`: delivered after its due time (after it was missed, too)


@dataclass(frozen=True)
class RiskCommitment(Command):
    """`commit at-risk C<n> [reason]`: a promise marked at risk by hand, which is bad news for the customer."""

    number: int
    reason: str | None = None


@dataclass(frozen=True)
class MissCommitment(Command):
    number: int
    note: str | None = None


@dataclass(frozen=True)
class ShowScorecard(Command):
    vendor: str | None = None


# --- help: the single source of usage lines and examples --------------------------------------------


@dataclass(frozen=True)
class VerbHelp:
    usage: str
    summary: str
    example: str


HELP: dict[str, VerbHelp] = {
    "open": VerbHelp(
        'open <title> [sev:N] [customer:"…"] [playbook:name] [impact:"…"] [cost:<amount>/h] [at-risk:<amount>]'
        " [products:a,b]",
        "open an incident and its war room, pulling in the playbook's responders",
        'open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" cost:40k/h',
    ),
    "status": VerbHelp("status [INC-n]", "the live card: state, severity, roles, what we wait on", "status INC-42"),
    "sev": VerbHelp("sev <1-4> [reason]", "change severity (1 is worst)", "sev 1 all 300 stores down now"),
    "role": VerbHelp(
        "role <role> @person",
        "assign a role: commander, comms, scribe, vendor_manager, exec_sponsor",
        "role comms @dana",
    ),
    "invite": VerbHelp("invite @person…", "pull people into the war room", "invite @lee @sam"),
    "note": VerbHelp("note <text>", "add to the timeline", "note distributor confirmed the RMA number"),
    "lesson": VerbHelp(
        "lesson <text>", "record a lesson for the review", "lesson the partner has a single distributor"
    ),
    "action": VerbHelp(
        "action <text> [owner:@p] [due:<when>] | action done A<n> [note] | action snooze A<n> [for]",
        "record an action item for the review; with a due time its owner is reminded then, and daily while open",
        'action "qualify a second distributor" owner:@lee due:2w',
    ),
    "mitigate": VerbHelp("mitigate [note]", "impact contained, not yet fixed", "mitigate stores on offline mode"),
    "resolve": VerbHelp(
        "resolve [note] [watch:<duration>]",
        "service restored for the customer; with watch:, comms confirms with the customer at its end that all is well",
        "resolve firmware 4.2.1 rolled out watch:3d",
    ),
    "reopen": VerbHelp(
        "reopen [reason]",
        "the fix did not hold (bad news); within 30 days of close it opens the war room again with its reminders",
        "reopen registers freezing again in 12 stores",
    ),
    "share": VerbHelp(
        "share [to:<address>…] | share list | share revoke [<n>]",
        "a private link to the customer's own page (what we promised, what is late, the updates sent, the next one);"
        " `to:` emails it; `share list` says when each link was last opened; `share revoke` ends one or all",
        "share to:it-ops@acme.example",
    ),
    "close": VerbHelp(
        'close [outcome:"…"] | close unresolved <reason> [outcome:"…"]',
        "end a resolved incident's war room and post the lessons-learned summary; `close unresolved` ends one whose"
        " fix never came",
        'close outcome:"renewal signed"',
    ),
    "outcome": VerbHelp(
        "outcome [INC-n] <text>",
        "record what the crisis cost or won in the end (also after close; the stored summary follows)",
        "outcome INC-4 customer did not renew the $2M contract",
    ),
    "set": VerbHelp(
        'set [title:"…"] [customer:"…"] [impact:"…"] [cost:<amount>/h] [at-risk:<amount>] [tz:<zone>] [doing:"…"]'
        ' [headline:"…"] [customer-contacts:a@x.com,b@x.com] [playbook:<name>] [private:yes|no]',
        "change what was said at open; stakes past the playbook's line pull in the exec sponsor; `headline:` (what"
        " the customer calls the problem) and `doing:` are what drafts to the customer say; `customer-contacts:`"
        " who `update send` emails; `playbook:` switches playbooks: its people are invited (nobody leaves), its"
        " cadence, checklist, vendor ladders and time zone (unless `tz:` was set) apply from now; `private:yes` hides"
        " the incident from everyone outside its war room",
        "set at-risk:2M",
    ),
    "at-risk": VerbHelp(
        "at-risk <amount>",
        "the revenue at risk, as `set at-risk:` records it; past the playbook's exec line the sponsor is pulled in",
        "at-risk 700k",
    ),
    "cost": VerbHelp(
        "cost <amount>/h",
        "what the crisis costs the customer per hour, as `set cost:` records it; past the playbook's exec line the"
        " sponsor is pulled in",
        "cost 45k/h",
    ),
    "vendor": VerbHelp(
        "vendor <vendor> <ask> due:<when> [owner:@p] [ref:<id>] [every:<duration>] [escalate-after:<n>]"
        ' [customer:"…"] | vendor heard|done|escalate|cancel|snooze|email|customer V<n> …',
        "wait on a third party: dated, owned, chased and escalated up the vendor's ladder, which reaches its top"
        " within 3 business days of the due time (the playbook's `reach_top_within`); a later `due:` from `vendor"
        " heard` after the due time is a slip and climbs a rung; a vendor in no playbook climbs our own people"
        " (owner, vendor manager, commander, exec sponsor); `customer:` is what the customer hears of it (else a"
        " neutral phrase: the vendor's name never reaches them)",
        'vendor northwind "tracking number for the replacement unit" due:2d ref:RMA-4471',
    ),
    "ask": VerbHelp(
        "ask <@person|team> <ask> due:<when> [owner:@p] [ref:<id>] [every:<duration>] [escalate-after:<n>]"
        ' [customer:"…"]',
        "wait on one of our own teams: chased like a vendor, escalated up the team's ladder (lead, manager, exec"
        " sponsor); `vendor heard|done|… V<n>` moves it",
        'ask @payments-eng "confirm the POS patch is safe for 300 stores" due:4h',
    ),
    "rca": VerbHelp(
        'rca <vendor|us> [ask] due:<when> [owner:@p] [ref:<id>] [every:<duration>] [customer:"…"]'
        " | rca owner <vendor|us> [due:<when>] | rca heard|done [note]"
        " | rca pushed <what they asked of us or the customer> [onto:us|customer] | rca customer <text>",
        "who owns the root cause, chased on its own cadence (a business day unless the playbook says otherwise);"
        " `rca owner` moves it to another owner (the earlier one stays on record); `pushed` records the owner"
        " handing its analysis to us or the customer",
        "rca tailspin due:5bd ref:TS-5521",
    ),
    "vendors": VerbHelp("vendors", "the incident's vendor follow-ups", "vendors"),
    "commit": VerbHelp(
        "commit <promise> due:<when> [needs:V1,V2] | commit kept C<n> [late] [note] | commit missed C<n> [note]"
        " | commit at-risk C<n> [reason] | commit reword C<n> <promise>",
        "a promise to the customer, watched until it is kept or missed; a follow-up it needs slipping puts it at risk,"
        " and so does `commit at-risk` (bad news either way); `commit kept C<n> late` records a delivery after the"
        " promise was missed, and how late",
        'commit "replacement unit on site" due:"fri 17:00"',
    ),
    "update": VerbHelp(
        "update <what we told the customer> [next:<when>] [tells:B1,B2|all] | update sent B<n>"
        " | update send <text> [confirm:yes]",
        "record a customer update; it resets the update clock and tells the bad news it names (`tells:`); `update"
        " send` emails it to the customer contacts first",
        'update "replacement ships friday; next update thursday noon" next:"thu 12:00"',
    ),
    "list": VerbHelp("list", "incidents that are not closed", "list"),
    "scorecard": VerbHelp("scorecard [vendor]", "vendors ranked across incidents by response", "scorecard northwind"),
    "help": VerbHelp("help [verb]", "how to use the bot", "help open"),
}

_OPTIONS: dict[str, frozenset[str]] = {
    "open": frozenset({"sev", "customer", "playbook", "impact", "cost", "at-risk", "products"}),
    "action": frozenset({"owner", "due"}),
    "vendor": frozenset({"owner", "due", "ref", "every", "escalate-after", "customer"}),
    "ask": frozenset({"owner", "due", "ref", "every", "escalate-after", "customer"}),
    "rca": frozenset({"owner", "due", "ref", "every", "escalate-after", "onto", "customer"}),
    "resolve": frozenset({"watch"}),
    "commit": frozenset({"due", "needs"}),
    "update": frozenset({"next", "tells", "confirm"}),
    "set": frozenset(
        {
            "title",
            "customer",
            "impact",
            "cost",
            "at-risk",
            "tz",
            "doing",
            "customer-contacts",
            "headline",
            "playbook",
            "private",
        }
    ),
    "close": frozenset({"outcome"}),
    "share": frozenset({"to"}),
}
# Stakes typed after `sev` ("sev 1 cost:45k/h") belong to `set`: say so instead of keeping them as the reason.
_SET_ONLY = frozenset(
    {"customer", "impact", "cost", "at-risk", "tz", "doing", "title", "headline", "playbook", "private"}
)
# The stakes as people say them: `at-risk 700k`, `cost 45k/h`, or the bare option `at-risk:2M` — all mean `set`.
_STAKES = {"at-risk": "revenue_at_risk", "cost": "cost_per_hour"}
_PLAYBOOK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
MAX_AMOUNT = Decimal(10) ** 12
MAX_NUMBER = 999_999_999  # of INC-n, V<n>, C<n>, B<n>: past any real count, and inside every database's INTEGER
_COMMITMENT = re.compile(r"^C([0-9]+)$", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^V([0-9]+)$", re.IGNORECASE)
VENDOR_FORMS = {
    "heard": ("vendor heard V<n> [note] [due:<new when>]", "vendor heard V1 ships friday due:fri 17:00"),
    "done": ("vendor done V<n> [note]", "vendor done V1 unit delivered to store 112"),
    "escalate": ("vendor escalate V<n> [note]", "vendor escalate V1 no answer since monday"),
    "cancel": ("vendor cancel V<n> <reason>", "vendor cancel V1 bought the unit elsewhere"),
    "snooze": ("vendor snooze V<n> [for]", "vendor snooze V1 1h"),
    "email": ("vendor email V<n>", "vendor email V1"),
    "customer": (
        "vendor customer V<n> <what the customer hears of it | none>",
        'vendor customer V1 "the replacement router"',
    ),
}
_OPTION_ALIASES = {
    "severity": "sev",
    "at_risk": "at-risk",
    "atrisk": "at-risk",
    "product": "products",
    "timezone": "tz",
    "need": "needs",
    "tell": "tells",
    "customer_contacts": "customer-contacts",
    "contacts": "customer-contacts",
    "escalate_after": "escalate-after",
    "escalateafter": "escalate-after",
}
MAX_ESCALATE_AFTER = 20
MAX_WATCH = timedelta(days=30)
_ACTION = re.compile(r"^A([0-9]+)$", re.IGNORECASE)
RCA_FORMS = {
    "heard": ("rca heard [note] [due:<new when>]", "rca heard Tailspin says the report is in review"),
    "done": ("rca done [note]", "rca done report received: a fibre cut in the Leeds exchange"),
    "pushed": (
        "rca pushed <what they asked of us or the customer> [onto:us|customer]",
        'rca pushed "asked Globex\'s network lead to pull their own router logs"',
    ),
    "customer": (
        "rca customer <what the customer hears of it | none>",
        'rca customer "the analysis of the network outage"',
    ),
}
RCA_OWNER_EXAMPLE = "rca owner us due:2d"
_BAD_NEWS = re.compile(r"^B([0-9]+)$", re.IGNORECASE)
COMMIT_FORMS = {
    "kept": ("commit kept C<n> [late] [note]", "commit kept C1 late courier delivered it this morning"),
    "missed": ("commit missed C<n> [note]", "commit missed C1 courier lost it"),
    "at-risk": ("commit at-risk C<n> [reason]", 'commit at-risk C1 "parts delayed at customs"'),
}


def tokenize(text: str) -> list[Token]:
    """Split a command line into words, honouring straight and curly double quotes, including `key:"a b"`."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] in QUOTES:
            value, i = _read_quoted(text, i)
            tokens.append(Token(value, start, i, quoted=True))
            continue
        while i < n and not text[i].isspace() and text[i] not in QUOTES:
            i += 1
        word = text[start:i]
        match = _OPTION.match(word)
        if match and i < n and text[i] in QUOTES and word.endswith(":"):
            value, i = _read_quoted(text, i)
            tokens.append(Token(value, start, i, quoted=True, key=match.group(1)))
        elif match and match.group(2) and not match.group(2).startswith("/"):
            tokens.append(Token(match.group(2), start, i, quoted=False, key=match.group(1)))
        else:
            tokens.append(Token(word, start, i, quoted=False))
    return tokens


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    closing = QUOTES[text[i]]
    end = text.find(closing, i + 1)
    if closing != '"' and end < 0:
        end = text.find('"', i + 1)
    if end < 0:
        raise BadInput("there is an unclosed quote in your command", example='note "the unit shipped"')
    return text[i + 1 : end], end + 1


def ref_number(match: re.Match[str], example: str) -> int:
    """The number in a matched reference (INC-42, V3): one past what any database column holds is bad input."""
    number = int(match.group(1))
    if number > MAX_NUMBER:
        raise BadInput(f"there is no {_clip(match.group(0))}; numbers stop at {MAX_NUMBER:,}", example=example)
    return number


def parse(text: str) -> Command:
    """Read one command (without the leading `/incident` or `incident`) into a command value."""
    text = text.strip()
    if not text:
        return ShowHelp()
    if bad := _NOT_TEXT.search(text):
        raise BadInput(
            f"your command has a character that is not text (U+{ord(bad.group()):04X}); type it again without it",
            example='note "the unit shipped"',
        )
    tokens = tokenize(text)
    if _OPTION_ALIASES.get(tokens[0].key or "", tokens[0].key) in _STAKES:
        return _PARSERS["set"](_Args("set", text, tokens), None)  # `at-risk:2M cost:45k/h`: a `set` without the verb
    verb = tokens[0].text.lower()
    if (stake := _OPTION_ALIASES.get(verb.removesuffix(":"), verb.removesuffix(":"))) in _STAKES:
        verb = stake  # `at_risk 700k`, or `cost: 45k/h` with a space after the colon
    if verb not in HELP:
        raise BadInput(f"I don't know the verb '{_clip(tokens[0].text)}'; try `help`", example="status")
    rest = tokens[1:]
    incident = None
    if rest and not rest[0].quoted and rest[0].key is None and (m := INCIDENT_REF.match(rest[0].text)):
        incident, rest = ref_number(m, "status INC-42"), rest[1:]
    return _PARSERS[verb](_Args(verb, text, rest), incident)


class _Args:
    """The words after the verb, with options split out for verbs that take them."""

    def __init__(self, verb: str, raw: str, tokens: list[Token]) -> None:
        self.verb, self.raw = verb, raw
        allowed = _OPTIONS.get(verb, frozenset())
        self.options: dict[str, str] = {}
        self.words: list[Token] = []
        for token in tokens:
            key = _OPTION_ALIASES.get(token.key or "", token.key)
            if key is None or not allowed:
                self.words.append(_as_word(token, raw))
            elif key not in allowed:
                known = ", ".join(f"{k}:" for k in sorted(allowed))
                raise BadInput(
                    f"`{verb}` has no option {_clip(token.key or '')}: (it takes {known})", example=HELP[verb].example
                )
            elif key in self.options:
                raise BadInput(f"option {key}: is given twice", example=HELP[verb].example)
            else:
                self.options[key] = token.text.strip()

    def text(self, limit: int = MAX_TEXT, what: str = "that text") -> str | None:
        """The free text: the raw words as typed, or the inside of one quoted string."""
        if not self.words:
            return None
        if len(self.words) == 1 and self.words[0].quoted:
            value = self.words[0].text.strip()
        else:
            value = self.raw[self.words[0].start : self.words[-1].end].strip()
        if len(value) > limit:
            raise BadInput(f"{what} is {len(value)} characters; the limit is {limit}", example=HELP[self.verb].example)
        return value or None

    def required_text(self, what: str) -> str:
        value = self.text()
        if value is None:
            raise BadInput(f"`{self.verb}` needs {what}", example=HELP[self.verb].example)
        return value


def _as_word(token: Token, raw: str) -> Token:
    # An option-looking word a verb does not take ("Root cause:firmware") is just text.
    return Token(raw[token.start : token.end], token.start, token.end, quoted=False) if token.key else token


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_title(title: str) -> str:
    """A title fit for a channel topic and a card heading: not too long, no broadcasts or mentions."""
    title = " ".join(title.split())
    if not title:
        raise BadInput("`open` needs a title", example=HELP["open"].example)
    if len(title) > MAX_TITLE:
        raise BadInput(f"the title is {len(title)} characters; keep it under {MAX_TITLE}", example=HELP["open"].example)
    if _MENTION.search(title):
        raise BadInput("a title cannot contain mentions or broadcasts like @channel", example=HELP["open"].example)
    return title


def parse_severity(text: str, verb: str) -> int:
    """Severity 1 (worst) to 4."""
    if text.strip() in ("1", "2", "3", "4"):  # not isdigit(): it takes '²', which int() refuses
        return int(text)
    raise BadInput(f"severity must be 1 (worst) to 4, not '{_clip(text)}'", example=HELP[verb].example)


def parse_amount(text: str, *, per_hour: bool = False) -> Decimal:
    """Money as people type it: `1895`, `$1,895`, `250k`, `2M`, and `40k/h` for costs per hour."""
    value = text.strip()
    if per_hour:
        for suffix in ("/h", "/hr", "/hour", "per hour", "per hr", "an hour", "a hour"):
            if value.lower().endswith(suffix):
                value = value[: -len(suffix)].strip()
                break
    match = _AMOUNT.match(value)
    example = "cost:40k/h" if per_hour else "at-risk:2M"
    if not match:
        raise BadInput(f"I can't read '{_clip(text)}' as an amount", example=example)
    try:
        amount = Decimal(match.group(1).replace(",", ""))
    except InvalidOperation:
        raise BadInput(f"I can't read '{_clip(text)}' as an amount", example=example) from None
    amount *= {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    if amount > MAX_AMOUNT:
        raise BadInput(f"'{_clip(text)}' is more than 10^12; no crisis is that big", example=example)
    # To the cent, as stored; rounded first, so that `0.001` is refused rather than kept as $0.00.
    amount = amount.quantize(Decimal("0.01")) if amount != amount.to_integral_value() else amount
    if amount <= 0:
        raise BadInput("an amount must be at least 0.01", example=example)
    return amount


def _parse_open(args: _Args, incident: int | None) -> Command:
    if incident is not None:
        raise BadInput("`open` starts a new incident; it takes no INC- number", example=HELP["open"].example)
    opts = args.options
    title = check_title(args.text(MAX_TITLE, "the title") or "")
    return OpenIncident(
        title=title,
        severity=parse_severity(opts["sev"], "open") if "sev" in opts else None,
        customer=_checked_name(opts.get("customer"), "customer"),
        playbook=opts.get("playbook", "").lower() or None,
        impact=_checked_text(opts.get("impact")),
        cost_per_hour=parse_amount(opts["cost"], per_hour=True) if "cost" in opts else None,
        revenue_at_risk=parse_amount(opts["at-risk"]) if "at-risk" in opts else None,
        products=tuple(p.strip().lower() for p in opts.get("products", "").split(",") if p.strip()),
    )


def _checked_name(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not value or len(value) > MAX_TITLE or _MENTION.search(value):
        raise BadInput(f"{what}: must be a plain name under {MAX_TITLE} characters", example='customer:"Acme Retail"')
    return value


def _checked_text(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_TEXT:
        raise BadInput(
            f"that text is {len(value)} characters; the limit is {MAX_TEXT}", example='impact:"checkout down"'
        )
    return value or None


def _parse_sev(args: _Args, incident: int | None) -> Command:
    if not args.words:
        raise BadInput("`sev` needs a severity from 1 to 4", example=HELP["sev"].example)
    stakes = [t for t in args.words[1:] if _OPTION.match(t.text) and _option_key(t.text) in _SET_ONLY]
    if stakes:
        raise BadInput(
            f"`sev` changes the severity only; record {_clip(stakes[0].text)} with `set`", example="set cost:45k/h"
        )
    severity = parse_severity(args.words[0].text, "sev")
    args.words = args.words[1:]
    return ChangeSeverity(severity=severity, reason=args.text(), incident=incident)


def _option_key(word: str) -> str:
    key = word.split(":", 1)[0].lower()
    return _OPTION_ALIASES.get(key, key)


def parse_timezone(text: str) -> str:
    """The IANA key of a zone named by its key (`Europe/Berlin`, `UTC`), a city (`Paris`) or a country (`Japan`)."""
    return find_zone(text)


def _refs(text: str, pattern: re.Pattern[str], what: str, example: str) -> tuple[int, ...]:
    """`V1,V2` or `B1, B3` → (1, 2); anything else is a one-line error."""
    numbers = []
    for part in text.split(","):
        match = pattern.match(part.strip())
        if match is None:
            raise BadInput(f"'{_clip(part.strip())}' is not {what}", example=example)
        numbers.append(ref_number(match, example))
    return tuple(dict.fromkeys(numbers))


def _parse_set(args: _Args, incident: int | None) -> Command:
    if args.words:
        raise BadInput(f"`set` takes key:value fields, not '{_clip(args.words[0].text)}'", example=HELP["set"].example)
    opts = args.options
    if not opts:
        raise BadInput("`set` needs a field to change", example=HELP["set"].example)
    title = check_title(opts["title"]) if "title" in opts else None
    doing = opts.get("doing")
    if doing is not None and (not doing or _MENTION.search(doing)):
        raise BadInput("doing: must be plain words for the customer, with no mentions", example='doing:"…"')
    headline = opts.get("headline")
    if headline is not None and (not headline.strip() or len(headline) > MAX_TITLE or _MENTION.search(headline)):
        raise BadInput(
            f"headline: must be plain words for the customer under {MAX_TITLE} characters",
            example='set headline:"the outage of your store tills"',
        )
    contacts = opts.get("customer-contacts")
    playbook = opts.get("playbook", "").strip().lower() if "playbook" in opts else None
    if playbook is not None and not _PLAYBOOK_NAME.fullmatch(playbook):
        example = "set playbook:service-provider-outage"
        raise BadInput(f"playbook: takes a playbook's name, not '{_clip(playbook)}'", example=example)
    return ChangeFields(
        private=_yes_or_no(opts["private"], "private", "set private:yes") if "private" in opts else None,
        customer_contacts=parse_addresses(contacts) if contacts is not None else None,
        title=title,
        customer=_checked_name(opts.get("customer"), "customer"),
        impact=_checked_text(opts.get("impact")),
        cost_per_hour=parse_amount(opts["cost"], per_hour=True) if "cost" in opts else None,
        revenue_at_risk=parse_amount(opts["at-risk"]) if "at-risk" in opts else None,
        timezone=parse_timezone(opts["tz"]) if "tz" in opts else None,
        doing=_checked_text(doing),
        headline=" ".join(headline.split()) if headline else None,
        playbook=playbook,
        incident=incident,
    )


def _yes_or_no(text: str, key: str, example: str) -> bool:
    word = text.strip().lower()
    if word in ("yes", "y", "true", "on"):
        return True
    if word in ("no", "n", "false", "off"):
        return False
    raise BadInput(f"{key}: is yes or no, not '{_clip(text)}'", example=example)


def _parse_stake(field: str) -> _Parser:
    """`at-risk <amount>` and `cost <amount>/h`: the same as `set at-risk:` and `set cost:`."""

    def parse_(args: _Args, incident: int | None) -> Command:
        example = HELP[args.verb].example
        amount = args.text(60, "the amount")
        if amount is None:
            what = "the revenue at risk" if field == "revenue_at_risk" else "the customer's cost per hour"
            raise BadInput(f"`{args.verb}` needs {what}", example=example)
        value = parse_amount(amount, per_hour=field == "cost_per_hour")
        return ChangeFields(**{field: value}, incident=incident)  # type: ignore[arg-type]

    return parse_


_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
MAX_CONTACTS = 20


def parse_addresses(text: str) -> tuple[str, ...]:
    """`a@x.com,b@x.com` → the addresses, lower-cased; `none` → (). Anything else is a one-line error."""
    if text.strip().lower() == "none":
        return ()
    example = "set customer-contacts:ops@acme.example,cio@acme.example"
    found = [part.strip() for part in re.split(r"[,;\s]+", text) if part.strip()]
    if not found:
        raise BadInput("customer-contacts: needs email addresses (or `none`)", example=example)
    for address in found:
        if len(address) > 254 or not _ADDRESS.match(address):
            raise BadInput(f"'{_clip(address)}' is not an email address", example=example)
    if len(found) > MAX_CONTACTS:
        raise BadInput(f"{len(found)} addresses; {MAX_CONTACTS} at most", example=example)
    return tuple(dict.fromkeys(a.lower() for a in found))


def _parse_update(args: _Args, incident: int | None) -> Command:
    words = args.words
    if words and not words[0].quoted and words[0].text.lower() == "send":
        return _parse_update_send(args, incident)
    if words and not words[0].quoted and words[0].text.lower() == "sent" and not args.options:
        rest = [w.text.lower() for w in words[1:]]
        if len(rest) == 1 and (m := _BAD_NEWS.match(rest[0])):
            return SendDraft(bad_news=ref_number(m, "update sent B1"), incident=incident)
        if rest in ([], ["as", "drafted"]):
            return SendDraft(incident=incident)
    if "confirm" in args.options:
        raise BadInput(
            "confirm: goes with `update send`, which emails the customer", example="update send … confirm:yes"
        )
    tells_text = args.options.get("tells", "")
    tells_all = tells_text.strip().lower() == "all"
    tells = () if tells_all or not tells_text else _refs(tells_text, _BAD_NEWS, "bad news like B1", "tells:B1,B2")
    return RecordUpdate(
        text=args.required_text("what the customer was told"),
        next=args.options.get("next") or None,
        tells=tells,
        tells_all=tells_all,
        incident=incident,
    )


def _parse_update_send(args: _Args, incident: int | None) -> Command:
    """`update send` (the last draft), `update send B<n>` (its draft), `update send <text> [next:] [tells:]`."""
    rest = [w.text.lower() for w in args.words[1:]]
    confirm_text = args.options.pop("confirm", None)
    if confirm_text is not None and confirm_text.strip().lower() not in ("yes", "y", "true"):
        raise BadInput("confirm: is `yes` (send it as written)", example="update send … confirm:yes")
    confirm = confirm_text is not None
    if not args.options and (rest in ([], ["as", "drafted"])):
        return SendUpdate(incident=incident, confirm=confirm)
    if not args.options and len(rest) == 1 and (m := _BAD_NEWS.match(rest[0])):
        return SendUpdate(bad_news=ref_number(m, "update send B1"), incident=incident, confirm=confirm)
    args.words = args.words[1:]
    tells_text = args.options.get("tells", "")
    tells_all = tells_text.strip().lower() == "all"
    tells = () if tells_all or not tells_text else _refs(tells_text, _BAD_NEWS, "bad news like B1", "tells:B1,B2")
    return SendUpdate(
        text=args.required_text("what to email the customer"),
        next=args.options.get("next") or None,
        tells=tells,
        tells_all=tells_all,
        incident=incident,
        confirm=confirm,
    )


def _parse_close(args: _Args, incident: int | None) -> Command:
    words = args.words
    outcome = _checked_text(args.options.get("outcome"))
    if "outcome" in args.options and not outcome:
        raise BadInput("outcome: needs some words", example=HELP["close"].example)
    if words and not words[0].quoted and words[0].text.lower() == "unresolved":
        args.words = words[1:]
        reason = args.text()
        if not reason:
            raise BadInput("say why it closes unresolved", example='close unresolved "vendor could not deliver"')
        return CloseIncident(unresolved=reason, outcome=outcome, incident=incident)
    if words:
        raise BadInput(
            "`close` takes only outcome:; to end an incident that was never fixed say `close unresolved <reason>`",
            example=HELP["close"].example,
        )
    return CloseIncident(outcome=outcome, incident=incident)


def _parse_role(args: _Args, incident: int | None) -> Command:
    if len(args.words) != 2:
        raise BadInput("`role` takes a role and one person", example=HELP["role"].example)
    role = args.words[0].text.lower().replace("-", "_")
    if not re.fullmatch(r"[a-z][a-z_]{1,30}", role):
        raise BadInput(f"'{_clip(role)}' is not a role name", example=HELP["role"].example)
    return AssignRole(role=role, handle=args.words[1].text, incident=incident)


def _parse_invite(args: _Args, incident: int | None) -> Command:
    if not args.words:
        raise BadInput("`invite` needs at least one person", example=HELP["invite"].example)
    return InvitePeople(handles=tuple(dict.fromkeys(t.text for t in args.words)), incident=incident)


def _parse_action(args: _Args, incident: int | None) -> Command:
    words = args.words
    sub = words[0].text.lower() if words and not words[0].quoted else ""
    if sub in ("done", "snooze") and len(words) >= 2 and (m := _ACTION.match(words[1].text)):
        example = f"action {sub} A1" + (" 1d" if sub == "snooze" else "")
        if args.options:
            raise BadInput(f"`action {sub}` takes no options", example=example)
        number = ref_number(m, example)
        args.words = words[2:]
        if sub == "done":
            return FinishAction(number=number, note=args.text(), incident=incident)
        return SnoozeAction(number=number, duration=args.text(40, "the snooze") or "1d", incident=incident)
    return AddAction(
        text=args.required_text("what should be done"),
        owner=args.options.get("owner") or None,
        due=args.options.get("due") or None,
        incident=incident,
    )


def _parse_help(args: _Args, incident: int | None) -> Command:
    verb = args.words[0].text.lower() if args.words else None
    if verb is not None and verb not in HELP:
        raise BadInput(f"there is no verb '{_clip(verb)}'", example="help open")
    return ShowHelp(verb=verb)


_Parser = Callable[[_Args, int | None], Command]


def _no_args(factory: type[Command]) -> _Parser:
    def parse_(args: _Args, incident: int | None) -> Command:
        if args.words:
            raise BadInput(f"`{args.verb}` takes no words after it", example=HELP[args.verb].example)
        return factory(incident=incident)

    return parse_


_PARSERS: dict[str, _Parser] = {
    "open": _parse_open,
    "status": _no_args(ShowStatus),
    "sev": _parse_sev,
    "role": _parse_role,
    "invite": _parse_invite,
    "note": lambda a, i: AddNote(text=a.required_text("some text"), incident=i),
    "lesson": lambda a, i: AddLesson(text=a.required_text("the lesson"), incident=i),
    "action": _parse_action,
    "mitigate": lambda a, i: MitigateIncident(note=a.text(), incident=i),
    "resolve": lambda a, i: _parse_resolve(a, i),
    "reopen": lambda a, i: ReopenIncident(reason=a.text(), incident=i),
    "close": _parse_close,
    "share": lambda a, i: _parse_share(a, i),
    "outcome": lambda a, i: RecordOutcome(text=a.required_text("what it cost or won"), incident=i),
    "set": _parse_set,
    "at-risk": _parse_stake("revenue_at_risk"),
    "cost": _parse_stake("cost_per_hour"),
    "list": _no_args(ListIncidents),
    "help": _parse_help,
    "vendor": lambda a, i: _parse_vendor(a, i),
    "vendors": _no_args(ListFollowUps),
    "ask": lambda a, i: _parse_ask(a, i),
    "rca": lambda a, i: _parse_rca(a, i),
    "commit": lambda a, i: _parse_commit(a, i),
    "update": _parse_update,
    "scorecard": lambda a, i: ShowScorecard(vendor=a.text(MAX_TITLE, "the vendor name"), incident=i),
}


def _parse_share(args: _Args, incident: int | None) -> Command:
    words = [w.text for w in args.words]
    sub = words[0].lower() if words and not args.words[0].quoted else ""
    if sub in ("list", "revoke") and "to" in args.options:
        raise BadInput(f"`share {sub}` takes no to:", example=HELP["share"].example)
    if sub == "list":
        if len(words) > 1:
            raise BadInput("`share list` takes no words after it", example="share list")
        return ListShares(incident=incident)
    if sub == "revoke":
        if len(words) > 2:
            raise BadInput("`share revoke` takes one link number at most", example="share revoke 1")
        if len(words) == 1:
            return RevokeShare(incident=incident)
        text = words[1].removeprefix("#")
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_NUMBER:
            raise BadInput(
                f"'{_clip(words[1])}' is not a link number; `share list` lists them", example="share revoke 1"
            )
        return RevokeShare(number=int(text), incident=incident)
    if words:
        raise BadInput(
            f"`share` takes list, revoke or to:<address>, not '{_clip(words[0])}'", example=HELP["share"].example
        )
    to = parse_addresses(args.options["to"]) if "to" in args.options else ()
    if "to" in args.options and not to:
        raise BadInput("to: needs email addresses", example=HELP["share"].example)
    return ShareLink(to=to, incident=incident)


def _parse_vendor(args: _Args, incident: int | None) -> Command:
    words = args.words
    sub = words[0].text.lower() if words and not words[0].quoted else ""
    if sub in VENDOR_FORMS and len(words) >= 2 and (m := _FOLLOW_UP.match(words[1].text)):
        return _parse_follow_up(sub, ref_number(m, VENDOR_FORMS[sub][1]), args, incident)
    if sub in VENDOR_FORMS:
        usage, example = VENDOR_FORMS[sub]
        raise BadInput(f"`vendor {sub}` needs a follow-up number like V1: {usage}", example=example)
    if len(words) < 2:
        raise BadInput("`vendor` needs a vendor and what we are waiting for", example=HELP["vendor"].example)
    if "due" not in args.options:
        raise BadInput("a follow-up needs a due time, so it can be chased", example=HELP["vendor"].example)
    vendor = words[0].text.strip()
    if len(vendor) > MAX_TITLE or _MENTION.search(vendor):
        raise BadInput("the vendor must be a plain name", example=HELP["vendor"].example)
    args.words = words[1:]
    every, escalate_after = _chase_options(args)
    return AskVendor(
        vendor=vendor,
        trailing=_trailing(words),
        ask=args.text(MAX_TITLE * 2, "the ask") or "",
        due=args.options["due"],
        owner=args.options.get("owner") or None,
        reference=_checked_ref(args.options.get("ref")),
        every=every,
        escalate_after=escalate_after,
        customer_text=_customer_text(args.options.get("customer"), HELP["vendor"].example),
        incident=incident,
    )


def _trailing(words: list[Token]) -> tuple[str, ...]:
    """The unquoted words that follow an unquoted name, up to the first quoted one."""
    if not words or words[0].quoted:
        return ()
    return tuple(w.text for w in itertools.takewhile(lambda w: not w.quoted, words[1:]))


def _customer_text(value: str | None, example: str) -> str | None:
    """`customer:"…"`: plain words for the customer, no mentions."""
    if value is None:
        return None
    value = " ".join(value.split())
    if not value or len(value) > MAX_TITLE or _MENTION.search(value):
        raise BadInput(
            f"customer: is what the customer hears of it, in plain words under {MAX_TITLE} characters",
            example=example + ' customer:"the replacement router"',
        )
    return value


def _chase_options(args: _Args) -> tuple[Every | None, int | None]:
    """`every:` and `escalate-after:`: this ask's own cadence, checked before anything is recorded."""
    example = HELP[args.verb].example + " every:1bd"
    every = parse_every(args.options["every"], example=example) if "every" in args.options else None
    escalate_after = None
    if "escalate-after" in args.options:
        text = args.options["escalate-after"].strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_ESCALATE_AFTER:
            raise BadInput(
                f"escalate-after: must be a number of unanswered chases from 1 to {MAX_ESCALATE_AFTER}, not "
                f"'{_clip(text)}'",
                example=HELP[args.verb].example + " escalate-after:3",
            )
        escalate_after = int(text)
    return every, escalate_after


def _checked_ref(value: str | None) -> str | None:
    if value is not None and (len(value) > MAX_TITLE or _MENTION.search(value)):
        raise BadInput(f"ref: must be a plain reference under {MAX_TITLE} characters", example="ref:TS-5521")
    return value or None


def _parse_ask(args: _Args, incident: int | None) -> Command:
    words = args.words
    if len(words) < 2:
        raise BadInput("`ask` needs a team or @person and what we are waiting for", example=HELP["ask"].example)
    if "due" not in args.options:
        raise BadInput("an ask needs a due time, so it can be chased", example=HELP["ask"].example)
    team = words[0].text.strip()
    if words[0].quoted or len(team) > 80 or _MENTION.search(team) or not re.fullmatch(r"@?[\w.@-]+", team):
        raise BadInput(f"'{_clip(team)}' is not a team or a @person", example=HELP["ask"].example)
    args.words = words[1:]
    every, escalate_after = _chase_options(args)
    return AskTeam(
        team=team,
        ask=args.text(MAX_TITLE * 2, "the ask") or "",
        due=args.options["due"],
        owner=args.options.get("owner") or None,
        reference=_checked_ref(args.options.get("ref")),
        every=every,
        escalate_after=escalate_after,
        customer_text=_customer_text(args.options.get("customer"), HELP["ask"].example),
        incident=incident,
    )


def _parse_rca(args: _Args, incident: int | None) -> Command:
    words = args.words
    sub = words[0].text.lower() if words and not words[0].quoted else ""
    if sub in RCA_FORMS:
        usage, example = RCA_FORMS[sub]
        allowed = {"heard": {"due"}, "pushed": {"onto"}}.get(sub, set())
        if sub == "customer":
            if args.options:
                raise BadInput(f"`rca customer` takes only the words ({usage})", example=example)
            args.words = words[1:]
            return SetCustomerText(number=None, text=_new_customer_text(args, example), incident=incident)
        extra = sorted(set(args.options) - allowed)
        if extra:
            raise BadInput(f"`rca {sub}` takes no {extra[0]}: option ({usage})", example=example)
        args.words = words[1:]
        if sub == "heard":
            return RootCauseHeard(note=args.text(), due=args.options.get("due") or None, incident=incident)
        if sub == "done":
            return RootCauseDelivered(note=args.text(), incident=incident)
        onto = args.options.get("onto", "").strip().lower().removeprefix("the ") or None
        if onto not in (None, "us", "customer"):
            raise BadInput("onto: is `us` or `customer`", example=example + " onto:customer")
        return RootCausePushed(
            what=args.required_text("what they asked of us or the customer"), onto=onto, incident=incident
        )
    if "onto" in args.options:
        raise BadInput("onto: goes with `rca pushed`", example=RCA_FORMS["pushed"][1])
    if sub == "owner":
        words = args.words = words[1:]
        if not words:
            raise BadInput("`rca owner` needs who owns the root cause now: a vendor, or us", example=RCA_OWNER_EXAMPLE)
    if not words:
        raise BadInput("`rca` needs who owns the root cause: a vendor, or us", example=HELP["rca"].example)
    side = words[0].text.strip()
    if len(side) > MAX_TITLE or _MENTION.search(side) or side.startswith("@"):
        raise BadInput("the root cause's owner is a vendor's name or `us`", example=HELP["rca"].example)
    args.words = words[1:]
    every, escalate_after = _chase_options(args)
    return OwnRootCause(
        owner_side="us" if side.lower() == "us" else side,
        trailing=_trailing(words),
        due=args.options.get("due") or None,
        ask=args.text(MAX_TITLE * 2, "the ask"),
        owner=args.options.get("owner") or None,
        reference=_checked_ref(args.options.get("ref")),
        every=every,
        escalate_after=escalate_after,
        customer_text=_customer_text(args.options.get("customer"), HELP["rca"].example),
        incident=incident,
    )


def _parse_resolve(args: _Args, incident: int | None) -> Command:
    watch = None
    if "watch" in args.options:
        try:
            watch = parse_duration(args.options["watch"])
        except BadInput as err:
            raise BadInput(f"watch: {err.reason}", example=HELP["resolve"].example) from None
        if watch > MAX_WATCH:
            raise BadInput("watch for 30 days at most", example=HELP["resolve"].example)
    return ResolveIncident(note=args.text(), watch=watch, incident=incident)


def _parse_follow_up(sub: str, number: int, args: _Args, incident: int | None) -> Command:
    usage, example = VENDOR_FORMS[sub]
    allowed = {"due"} if sub == "heard" else set()
    extra = sorted(set(args.options) - allowed)
    if extra:
        raise BadInput(f"`vendor {sub}` takes no {extra[0]}: option ({usage})", example=example)
    args.words = args.words[2:]
    if sub == "customer":
        return SetCustomerText(number=number, text=_new_customer_text(args, example), incident=incident)
    note = args.text()
    if sub == "heard":
        return HeardFromVendor(number=number, note=note, due=args.options.get("due"), incident=incident)
    if sub == "done":
        return ReceivedFromVendor(number=number, note=note, incident=incident)
    if sub == "escalate":
        return EscalateFollowUp(number=number, note=note, incident=incident)
    if sub == "email":
        if note:
            raise BadInput("`vendor email` sends the drafted chase as it is; it takes no text", example=example)
        return EmailFollowUp(number=number, incident=incident)
    if sub == "cancel":
        if not note:
            raise BadInput("say why the follow-up is cancelled", example=example)
        return CancelFollowUp(number=number, reason=note, incident=incident)
    return SnoozeFollowUp(number=number, duration=note or "1h", incident=incident)


def _new_customer_text(args: _Args, example: str) -> str | None:
    """The words of `vendor customer V<n> …` / `rca customer …`; `none` goes back to the neutral phrase."""
    text = args.text(MAX_TITLE, "what the customer hears of it")
    if text is None:
        raise BadInput("say what the customer hears of it (or `none`)", example=example)
    return None if text.lower() == "none" else _customer_text(text, example)


def _parse_commit(args: _Args, incident: int | None) -> Command:
    words = args.words
    sub = words[0].text.lower() if words and not words[0].quoted else ""
    if sub == "reword":
        example = 'commit reword C1 "a working router on site"'
        m = _COMMITMENT.match(words[1].text) if len(words) > 1 else None
        if m is None or args.options:
            raise BadInput("`commit reword` needs a commitment number like C1 and the new words", example=example)
        args.words = words[2:]
        promise = args.text(what="the promise")
        if not promise or _MENTION.search(promise):
            raise BadInput("say the promise as the customer should read it, with no mentions", example=example)
        return RewordCommitment(number=ref_number(m, example), promise=promise, incident=incident)
    if sub == "at" and len(words) > 1 and not words[1].quoted and words[1].text.lower() == "risk":
        sub, words = "at-risk", [Token("at-risk", words[0].start, words[1].end, quoted=False), *words[2:]]
    if sub in ("kept", "missed", "at-risk", "at_risk", "atrisk"):
        sub = "at-risk" if sub.startswith("at") else sub
        m = _COMMITMENT.match(words[1].text) if len(words) > 1 else None
        example = COMMIT_FORMS[sub][1]
        if m is None:
            raise BadInput(
                f"`commit {sub}` needs a commitment number like C1 ({COMMIT_FORMS[sub][0]})", example=example
            )
        if args.options:
            raise BadInput(f"`commit {sub}` takes no options ({COMMIT_FORMS[sub][0]})", example=example)
        number = ref_number(m, example)
        late = sub == "kept" and len(words) > 2 and not words[2].quoted and words[2].text.lower() == "late"
        args.words = words[3:] if late else words[2:]
        if sub == "at-risk":
            return RiskCommitment(number=number, reason=args.text(), incident=incident)
        if sub == "kept":
            return KeepCommitment(number=number, note=args.text(), late=late, incident=incident)
        return MissCommitment(number=number, note=args.text(), incident=incident)
    if "due" not in args.options:
        raise BadInput("a commitment needs a due time, so it can be watched", example=HELP["commit"].example)
    promise = args.required_text("the promise")
    needs = args.options.get("needs", "")
    return MakeCommitment(
        promise=promise,
        due=args.options["due"],
        needs=_refs(needs, _FOLLOW_UP, "a follow-up like V1", "needs:V1,V2") if needs else (),
        incident=incident,
    )


# Commands that change nothing: answered without a write (in Slack's ack itself), and kept in memory (bot/answers.py).
READ_ONLY = (ShowStatus, ListIncidents, ShowHelp, ListFollowUps, ShowScorecard)


def reads_only(text: str) -> bool:
    """True for commands that change nothing — and for words the parser refuses, whose answer changes nothing."""
    try:
        return isinstance(parse(text), READ_ONLY)
    except WarroomError:
        return True
