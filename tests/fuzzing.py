"""Fuzzing the core: one grammar of hostile command lines, and the rig that runs them and checks every answer.

The grammar draws through a tiny ``Draw`` interface, so the same lines come from hypothesis in the test suite
(which shrinks a failure to its smallest form) and from a seeded ``random.Random`` in ``bench/fuzz.py`` (which
runs a hundred thousand of them reproducibly). The rig drives a war room the way the console does and records,
as ``problems``, everything a user must never see: a crash, a rejected command that changed something, a post
that would mention or broadcast because of what someone typed, or a control character reaching the terminal.
"""

from __future__ import annotations

import io
import logging
import random
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from adapters.console import ConsoleChat, ConsoleSession
from adapters.email.local import LocalMailbox, LocalOutbox
from adapters.slack.blocks import MAX_BLOCK_TEXT, block_text, blocks, fallback_text
from adapters.slack.blocks import split as slack_split
from adapters.teams.cards import MAX_ACTIVITY, adaptive_card
from adapters.teams.cards import measure as teams_measure
from adapters.teams.cards import split as teams_split
from bot.chat import Invocation, Message, Reply, RoomRef
from bot.clock import SimClock
from bot.commands import HELP
from bot.render import plain_text
from bot.store import Database
from bot.when import parse_duration
from tests.conftest import START
from tests.harness import Harness
from tests.integration.test_hostile_input import TERMINAL_CONTROL

T = TypeVar("T")

# --- the grammar ---------------------------------------------------------------------------------------

# A war room with something in it, so that V1, C1 and B1 name real things: run before the generated lines.
SETUP = (
    '/incident open "Registers freeze in 300 stores" sev:2 customer:"Acme Retail" cost:40k/h playbook:interop-defect',
    '/incident vendor fabrikam "terminal logs from store 112" due:2h',
    '/incident commit "workaround in every store" due:1d needs:V1',
    "/incident sev 1 every store is down",
    "/incident set customer-contacts:ops@acme-retail.example",
    '/incident action "roll firmware 4.2.1 to every store" owner:@lee due:1d',
)
# Frequent verbs more often, then the rest of the grammar; now and then a word that is not a verb at all.
VERBS = (
    *("note", "vendor", "commit", "update", "set", "open", "sev", "close", "invite", "role", "action", "ask", "rca"),
    *HELP,
)
NOT_VERBS = ("", "OPEN", "Note", "frobnicate", "incident", "/incident", "INC-1", "²", "ñote", "note:", '"note"')
FEW_WORDS = frozenset({"status", "list", "vendors", "role", "set", "close"})  # mostly nothing more, or options
WORDS = (
    "registers", "down", "firmware", "4.2.1", "store", "112", "the", "RMA-4471", "unit", "shipped", "friday", "-",
    "#", "##", "*", "1.", ">", "|", "---", "===", "+", "x", "ok", "a:b", "http://example.com/x", "www.example.com",
    "C:\\path", "50%", "$5", "™", "naïve", "Zürich", "東京", "مرحبا", "🔥", "e\u0301", "ǅ", "ß", "İ", "ﬃ",
)  # fmt: skip
PAYLOADS = (
    "[x](javascript:alert(1))", "![img](http://evil.example/x.png)", "<script>alert(1)</script>", "<b>bold</b>",
    '<img src=x onerror="alert(1)">', "<http://evil.example|click here>", "\n# Injected heading",
    "\n- **Customer:** Evil", "\n\n---\n", "\n> quoted", "\n1. listed", "`code`", "```\nfenced\n```",
    "*bold* _it_ ~strike~", "&lt;b&gt; &amp; &#60;", "<!channel>", "<!here>", "<!everyone>", "<@U123>",
    "<@U123|lee>", "<#C123|general>", "<!subteam^S1|@team>", "<at>lee</at>", "@channel", "@here", "@everyone",
    "\x1b[31mred\x1b[0m", "\x1b]0;pwned\x07", "\x1b[2J", "\x07", "\r", "\x9b31m", "\x7f", "\t", "\x0b",
    "\u202e", "\u200b", "\ufeff", "\u2028", "\x85", "\u3000", "\xa0", "²", "١٠", "½", "𝟙", "\\", "\\[",
    "INC-1", "V1", "C1", "B1", "V99999999999999999999", "INC-0", "B١", "%s%n", "{0}", "{slug}", "'; DROP TABLE x;--",
)  # fmt: skip
NOT_TEXT = ("\x00", "\ud800", "a\udfffb")  # refused whole: drawn rarely, or most lines would be refused for them
MENTIONS = (
    "@lee", "@sam", "@Lee", "@dana", "lee@example.com", "@", "@@", "<@U123>", "<@U123|lee>", "<!channel>",
    "@channel", "@here", "@everyone", "<at>sam</at>", "@x" * 50, "@ñandú", "@lee.smith", "@-",
)  # fmt: skip
REFS = (
    "V1", "V2", "v1", "V0", "V99999999999999999999", "V١", "C1", "C2", "C0", "B1", "B2", "B0", "INC-1", "INC-2",
    "inc-1", "INC-0", "INC-99999999999", "INC-١", "V1,V2", "B1,B2", "all", "U1", "L1", "A1", "A2", "A0", "a1",
)  # fmt: skip
CADENCES = ("1bd", "4h", "2h30m", "1d4h", "30m", "0m", "1m", "-1d", "31d", "0bd", "21bd", "1BD", "x", "²h", "")
TEAMS = ("@payments-eng", "payments", "@pos-eng", "store-network", "@lee", "nobody", "@", "@@", "<!channel>", "us")
TIMES = (
    "30m", "4h", "2d", "1w", "1h30m", "3bd", "eod", "today 15:00", "tomorrow", "tomorrow 09:00", "fri 17:00",
    "2026-11-25 10:00", "2026-11-25T10:00:00+01:00", "25 nov", "nov 25 10:00", "17:00", "5pm", "yesterday",
    "-1h", "0m", "0bd", "99999999999d", "99999999999999999999bd", "999999w", "2030-01-01", "feb 30", "25:00",
    "13:60", "fri 5", "soon", "²h", "١h", "tomorrow ١٠:٠٠", "1h 1h", "2026-13-45", "T10:00", "now",
)  # fmt: skip
AMOUNTS = (
    "40k/h", "$1,895", "250k", "2M", "1895", "0", "-5", "1e9", "0.001", "1,,0", "$", "k",
    "99999999999999999999999999999m/h", "1000000000000", "1000000000001", "١٠٠", "²", "40k per hour", "NaN",
)  # fmt: skip
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "sev": ("1", "2", "3", "4", "0", "5", "²", "١", "-1", "one", " 2"),
    "severity": ("1", "4", "9"),
    "due": TIMES,
    "next": TIMES,
    "cost": AMOUNTS,
    "at-risk": AMOUNTS,
    "at_risk": AMOUNTS,
    "tells": REFS,
    "needs": REFS,
    "tz": ("America/New_York", "UTC", "Europe/Berlin", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "utc"),
    "owner": MENTIONS,
    "playbook": ("interop-defect", "hardware-rma", "default", "billing-dispute", "nonsense", "../etc", "DEFAULT"),
    "products": ("pos,terminal", "pos", ",", "payments-gateway,store-network"),
    "ref": ("RMA-4471", "TICKET 9", "#1", "TS-5521", "<!here>"),
    "customer-contacts": ("ops@acme.example", "a@x.io,b@y.io", "none", "not-an-address", "a@b", "<a@x.io>", ","),
    "every": CADENCES,
    "escalate-after": ("1", "2", "3", "0", "-1", "21", "two", "²", " 2"),
    "escalate_after": ("1", "0"),
    "watch": ("3d", "1d4h", "2h30m", "-1d", "0m", "31d", "soon"),
    "onto": ("us", "customer", "the customer", "partner", ""),
}
OPTION_KEYS = (*OPTION_VALUES, "customer", "impact", "title", "doing", "outcome", "bogus", "Sev", "x-y", "a")
QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c", "\u201d": "\u201d"}  # as people pair them
OPEN_QUOTES = tuple(QUOTES)
CLOSE_QUOTES = ('"', "\u201d", "\u201c", "")  # mismatched now and then; "" leaves the quote unclosed
JOINERS = (" ", " ", " ", " ", "  ", "\t", "\n", "\xa0", "\u3000", "\r\n")
CLOCK_STEPS = ("+30m", "+2h", "+1d", "+3d")
# Characters hypothesis and the random generator mix into free text, besides everything else.
SPICY = "".join(dict.fromkeys("".join(PAYLOADS) + '"“”„\\@<>!#[]()*_`~|&:;,.-+='))


class Draw(Protocol):
    """The choices the grammar makes; hypothesis or a seeded random generator makes them."""

    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, low: int, high: int) -> int: ...

    def text(self, max_size: int) -> str: ...


class RandomDraw:
    """Choices from a seeded ``random.Random``: the same seed, the same lines."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def text(self, max_size: int) -> str:
        size = self.rng.randint(0, max_size)
        chars = []
        for _ in range(size):
            roll = self.rng.random()
            if roll < 0.6:
                chars.append(chr(self.rng.randint(0x20, 0x7E)))
            elif roll < 0.85:
                chars.append(self.pick(SPICY))
            else:  # anywhere in Unicode, surrogates included now and then
                chars.append(chr(self.rng.randint(0, 0x10FFFF if self.rng.random() < 0.5 else 0x2FFF)))
        return "".join(chars)


class HypothesisDraw:
    """Choices drawn by hypothesis, which can then shrink a failing line."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def text(self, max_size: int) -> str:
        alphabet = st.one_of(st.sampled_from(SPICY), st.characters(codec=None))
        return self.draw(st.text(alphabet, max_size=max_size))


def command(d: Draw) -> str:
    """One command line as someone might type it after `/incident`: a verb, its sub-form, arguments."""
    verb = d.pick(VERBS) if d.number(0, 19) else d.pick(NOT_VERBS)
    words = [verb]
    if d.number(0, 9) == 0:
        words.append(d.pick(REFS))
    words += _subform(verb, d)
    if verb in FEW_WORDS and d.number(0, 3):
        words += [_option(d) for _ in range(d.number(0, 2 if verb == "set" else 0))]
    else:
        words += [_argument(d) for _ in range(d.number(0, 5))]
    line = words[0]
    for word in words[1:]:
        line += d.pick(JOINERS) + word
    return line


def console_line(d: Draw) -> str:
    """A console line: mostly a command, now and then a move of the clock (reminders fire on the way)."""
    if d.number(0, 14) == 0:
        return f"/clock {d.pick(CLOCK_STEPS)}"
    return "/incident " + command(d)


@st.composite
def command_lines(draw: st.DrawFn) -> str:
    """Hypothesis strategy: one generated command line."""
    return command(HypothesisDraw(draw))


@st.composite
def console_sessions(draw: st.DrawFn, *, max_lines: int = 6) -> list[str]:
    """Hypothesis strategy: a few console lines to run in a war room after ``SETUP``."""
    d = HypothesisDraw(draw)
    return [console_line(d) for _ in range(d.number(1, max_lines))]


def _subform(verb: str, d: Draw) -> list[str]:
    roll = d.number(0, 9)
    if verb == "vendor":
        if roll < 5:
            return [d.pick(("heard", "done", "escalate", "cancel", "snooze", "HEARD", "email")), d.pick(REFS)]
        return [d.pick(("fabrikam", "acme", '"Contoso Payments"', "northwind", "<!channel>", "x" * 201))]
    if verb == "ask":
        return [d.pick(TEAMS)]
    if verb == "rca":
        if roll < 5:
            return [d.pick(("heard", "done", "pushed", "PUSHED"))]
        return [d.pick(("fabrikam", "us", "US", "tailspin", "@lee", '"Contoso Payments"', "x" * 201))]
    if verb == "action" and roll < 4:
        return [d.pick(("done", "snooze", "DONE")), d.pick(REFS)]
    if verb == "commit" and roll < 4:
        return [d.pick(("kept", "missed")), d.pick(REFS)]
    if verb == "update" and roll < 3:
        return ["sent", *([d.pick(REFS)] if roll < 2 else [])]
    if verb == "update" and roll < 5:
        return ["send", *([d.pick(REFS)] if roll < 4 else [])]
    if verb == "close" and roll < 3:
        return ["unresolved"]
    if verb == "sev" and roll < 8:
        return [d.pick(OPTION_VALUES["sev"])]
    if verb == "role" and roll < 8:
        roles = ("comms", "commander", "exec_sponsor", "vendor-manager", "x", "ROLE", "a" * 40)
        return [d.pick(roles), d.pick(MENTIONS)]
    if verb == "invite":
        return [d.pick(MENTIONS) for _ in range(d.number(0, 3))]
    if verb == "help" and roll < 5:
        return [d.pick(VERBS)]
    return []


def _argument(d: Draw) -> str:
    roll = d.number(0, 99)
    if roll < 30:
        return d.pick(WORDS)
    if roll < 55:
        return _option(d)
    if roll < 68:
        return _quoted(d)
    if roll < 75:
        return d.pick(MENTIONS)
    if roll < 82:
        return d.pick(REFS)
    if roll < 93:
        return d.pick(PAYLOADS)
    if roll < 94:
        return d.pick(NOT_TEXT)
    if roll < 99:
        return d.text(40)
    return d.pick(("x" * d.number(190, 210), "y " * d.number(1400, 1600), d.text(400)))


def _option(d: Draw) -> str:
    key = d.pick(OPTION_KEYS)
    values = OPTION_VALUES.get(key)
    value = d.pick(values) if values and d.number(0, 4) else d.pick((*WORDS, *PAYLOADS))
    if d.number(0, 2) == 0:
        return f"{key}:{_quote(f'{value} {d.pick(PAYLOADS)}', d)}"
    return f"{key}:{value}"


def _quoted(d: Draw) -> str:
    inner = " ".join(d.pick((*WORDS, *PAYLOADS)) for _ in range(d.number(0, 4)))
    if d.number(0, 3) == 0:
        inner += d.text(30)
    return _quote(inner, d)


def _quote(inner: str, d: Draw) -> str:
    opening = d.pick(OPEN_QUOTES)
    return opening + inner + (QUOTES[opening] if d.number(0, 4) else d.pick(CLOSE_QUOTES))


# --- the checks ----------------------------------------------------------------------------------------

_SLACK_MENTION = re.compile(r"<@([^<>|]+)>")
# Block Kit limits (https://api.slack.com/reference/block-kit/blocks): past them a post fails with invalid_blocks.
_SLACK_MAX_BLOCKS, _SLACK_MAX_TEXT, _SLACK_MAX_FIELD, _SLACK_MAX_FIELDS, _SLACK_MAX_LABEL = 50, 3000, 2000, 10, 75
_SHOWN = {"text", "title", "value"}  # the keys whose strings a person sees (not type, action_id, style …)


def rendering_problems(message: Message) -> list[str]:
    """How each renderer could let user text act: a mention or broadcast, a link, HTML, a post a platform refuses
    (each part of the message as the adapter splits it)."""
    slack = [p for part in slack_split(message) for p in _slack(part)]
    teams = [p for part in teams_split(message) for p in _teams(part)]
    return slack + teams + _plain(message)


def _slack(message: Message) -> list[str]:
    real = {user.id for user in message.mentions}
    problems = []
    rendered = blocks([message])
    if len(rendered) > _SLACK_MAX_BLOCKS:
        problems.append(f"Slack: {len(rendered)} blocks")
    if block_text(rendered) > MAX_BLOCK_TEXT:
        problems.append(f"Slack: {block_text(rendered)} characters of block text")
    for block in rendered:
        if len(block.get("text", {}).get("text", "")) > _SLACK_MAX_TEXT:
            problems.append("Slack: a section is longer than 3,000 characters")
        fields = block.get("fields", [])
        if len(fields) > _SLACK_MAX_FIELDS or any(len(f["text"]) > _SLACK_MAX_FIELD for f in fields):
            problems.append("Slack: too many or too long fields")
        if any(len(e["text"]["text"]) > _SLACK_MAX_LABEL for e in block.get("elements", []) if "text" in e):
            problems.append("Slack: a button label is longer than 75 characters")
    for text in [*_strings(rendered, skip={"value"}), fallback_text([message])]:
        # `<@U…>` for a real mention is the only markup allowed; anything else in angle brackets acts in Slack.
        rest = _SLACK_MENTION.sub(lambda m: "" if m.group(1) in real else m.group(0), text)
        if "<" in rest or ">" in rest:
            problems.append(f"Slack: live markup in {_show(text)}")
    return problems


def _teams(message: Message) -> list[str]:
    card = adaptive_card(message)
    if teams_measure(message)[0] > MAX_ACTIVITY:
        return [f"Teams: an activity of {teams_measure(message)[0]} bytes"]
    entities = card["msteams"].get("entities", [])
    if {e["mentioned"]["id"] for e in entities} != {user.id for user in message.mentions}:
        problems = ["Teams: the card's mentions are not the message's mentions"]
    else:
        problems = []
    tags = [e["text"] for e in entities]
    for text in _strings(card["body"]):
        rest = text
        for tag in tags:
            rest = rest.replace(tag, "")
        if "<" in rest or ">" in rest:
            problems.append(f"Teams: live <at> or HTML in {_show(text)}")
        if re.search(r"(?<!\\)\[", rest):
            problems.append(f"Teams: live Markdown link in {_show(text)}")
    return problems


def _plain(message: Message) -> list[str]:
    text = plain_text(message)
    return [f"plain text: lost the mention of @{u.name}" for u in message.mentions if f"@{u.name}" not in text]


def _strings(value: Any, *, skip: frozenset[str] | set[str] = frozenset()) -> Iterator[str]:
    """Every string a person sees in a rendered structure."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key in _SHOWN and key not in skip:
                yield item
            elif not isinstance(item, str):
                yield from _strings(item, skip=skip)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip=skip)


def _show(text: str) -> str:
    return repr(text if len(text) < 120 else text[:117] + "…")


class SqliteWatch:
    """A second, read-only connection to the war room's SQLite file: what "a rejected command changes nothing"
    compares. ``version`` moves whenever another connection commits a change (SQLite's `PRAGMA data_version`);
    ``rows`` is every row of every table."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)

    def version(self) -> int:
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def rows(self) -> tuple[int, dict[str, list[tuple[Any, ...]]]]:
        tables = [name for (name,) in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return self.version(), {t: self.conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}

    def close(self) -> None:
        self.conn.close()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Rig:
    """A war room on the console's chat, driven line by line like `warroom console`, every answer checked.

    ``state`` says what the database holds; a rejected command must leave it (and the chat) as it was.
    """

    def __init__(self, db: Database, *, state: Callable[[], object], room: RoomRef | None = None) -> None:
        self.out = io.StringIO()
        self.chat = chat = ConsoleChat(self.out, SimClock(START), ZoneInfo("UTC"))
        self.harness = h = Harness(db, chat=chat, mail=LocalOutbox(), mailbox=LocalMailbox())
        chat.clock = h.clock  # posts are stamped with the war room's own simulated time
        self.state = state
        # Reminders fire on `/clock` lines only: the console's engine run after every command costs an empty
        # claim each time and finds nothing, since no command sets anything due before the clock moves.
        self.session = ConsoleSession(self._handle, chat, h.clock, user="dana")
        if room is not None:  # a war room that ``SETUP`` left in this database earlier
            self.session.room = room
        self.problems: list[str] = []
        self.commands = self.accepted = self.rejected = 0
        self._line = ""
        self._errors = _Errors()

    async def run(self, lines: Sequence[str]) -> None:
        """Run console lines, recording every problem they show."""
        for line in lines:
            await self.line(line)

    async def line(self, line: str) -> None:
        self._line = line
        seen_posts, seen_updates, written = len(self.chat.posts), len(self.chat.updates), self.out.tell()
        for name in ("bot", "adapters"):
            logging.getLogger(name).addHandler(self._errors)
        try:
            if line.startswith("/clock +"):
                await self.harness.advance(parse_duration(line.removeprefix("/clock +")))
            else:
                await self.session.execute(line)
        finally:
            for name in ("bot", "adapters"):
                logging.getLogger(name).removeHandler(self._errors)
        for record in self._errors.records:
            self._problem(f"logged an error: {record.getMessage()}")
        self._errors.records.clear()
        for posted in [*self.chat.posts[seen_posts:], *self.chat.updates[seen_updates:]]:
            for problem in rendering_problems(posted.message):
                self._problem(f"a post: {problem}")
        self.out.seek(written)
        printed = self.out.read()
        if control := TERMINAL_CONTROL.search(printed):
            self._problem(f"the console printed {control.group()!r}")

    async def _handle(self, invocation: Invocation) -> Reply:
        before = (self.state(), self._chat_state())
        reply = await self.harness.warroom.handle(invocation)
        self.commands += 1
        if not isinstance(reply, Reply) or not reply.messages:
            self._problem(f"answered {reply!r}")
            return reply
        if any(m.title.startswith("Something went wrong") for m in reply.messages):
            self._problem(f"crashed: {reply.messages[0].title}")
        if reply.ok:
            self.accepted += 1
        else:
            self.rejected += 1
            if (self.state(), self._chat_state()) != before:
                self._problem(f"rejected ({reply.messages[0].title[:80]!r}) but changed something")
        for message in reply.messages:
            for problem in rendering_problems(message):
                self._problem(f"the reply: {problem}")
        return reply

    def _chat_state(self) -> object:
        rooms = [(r.ref, r.topic, list(r.members), list(r.pins)) for r in self.chat.rooms.values()]
        return len(self.chat.posts), len(self.chat.updates), rooms

    def _problem(self, what: str) -> None:
        self.problems.append(f"{self._line!r}: {what}")
