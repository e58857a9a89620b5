"""Input that fuzzing found crashing the core, and text that must never act on the surface it is shown on."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import select

from adapters.console import ConsoleChat, ConsoleSession
from bot.clock import SimClock
from bot.commands import parse_amount
from bot.errors import BadInput
from bot.store import Database
from bot.store.tables import ResponderRow
from bot.summary import build_summary, to_markdown, to_message
from tests.conftest import START
from tests.harness import Harness
from tests.integration.test_cli import warroom

# What a terminal acts on: C0 controls but the newline, DEL, C1 controls (ESC starts every ANSI sequence).
TERMINAL_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


async def invited_handles(db: Database) -> list[str]:
    async with db.transaction() as store:
        rows = (await store.session.execute(select(ResponderRow).where(ResponderRow.team == "invited"))).scalars()
        return [r.handle for r in rows]


async def test_inviting_the_same_person_twice_invites_them_once(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    assert await h.ok("invite @lee @sam @lee") == "INC-1: Invited lee, sam"
    assert await h.ok("invite @kim @Kim") == "INC-1: Invited kim"
    assert await invited_handles(db) == ["@lee", "@sam", "@kim"]


@pytest.mark.parametrize(
    "command",
    [
        "status INC-99999999999999999999",
        "outcome INC-2147483648 the renewal was lost",
        "vendor heard V99999999999999999999 ships friday",
        "commit kept C3000000000",
        'commit "unit on site" due:1d needs:V99999999999',
        "update told them tells:B99999999999",
    ],
)
async def test_a_number_past_any_database_column_is_bad_input(db: Database, command: str) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    reply = await h.run(command)
    assert not reply.ok
    assert "numbers stop at 999,999,999" in reply.messages[0].title


@pytest.mark.parametrize("command", ["note a NUL \x00 here", "note half a pair \ud800", "lesson \udfff"])
async def test_text_no_database_can_store_is_refused_and_records_nothing(db: Database, command: str) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    async with db.transaction() as store:
        before = await store.timeline(1)
    reply = await h.run(command)
    assert not reply.ok and "is not text (U+" in reply.messages[0].title
    async with db.transaction() as store:
        assert await store.timeline(1) == before


@pytest.mark.parametrize("text", ["0.001", "$0.004", "0.00"])
def test_an_amount_that_rounds_to_no_cents_is_refused(text: str) -> None:
    with pytest.raises(BadInput, match="at least 0.01"):
        parse_amount(text)


def test_summary_export_of_a_number_past_any_column_is_one_line(tmp_path: Path) -> None:
    result = warroom("summary", "INC-99999999999999999999", env={"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path}/w.db"})
    assert result.returncode == 2
    assert result.stderr.startswith("warroom: there is no INC-99999999999999999999")
    assert "Traceback" not in result.stderr


async def test_the_largest_cost_the_parser_takes_closes_with_its_exact_cost(db: Database) -> None:
    h = Harness(db)
    await h.ok('open "Registers down" sev:2 cost:1000000000000/h')  # the parser's cap: 10^12 an hour
    h.later(timedelta(days=300, seconds=1))
    await h.ok("resolve")
    assert (await h.ok("close")).startswith("INC-1 closed")
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    assert stored[1]["cost_of_impact"] == str(10**12 * 300 * 24 + 277_777_778)  # one second is $277,777,777.78


async def test_a_cost_past_decimal_precision_still_summarises(db: Database) -> None:
    # Rows written before amounts were capped can hold any amount on SQLite; the summary must still come out.
    h = Harness(db)
    await h.ok('open "Registers down" sev:2')
    h.later(timedelta(hours=1, minutes=30))
    await h.ok("resolve")
    huge = Decimal("99999999999999999999999999999e6")  # `cost:99999999999999999999999999999m/h`
    async with db.transaction() as store:
        incident = replace(await store.get_incident(1), cost_per_hour=huge)
        data = await build_summary(store, incident, {})
    assert data["cost_of_impact"] == "149999999999999999999999999998500000"  # 1.5 × 99…9 million, to the unit
    assert "- **Cost of impact:** $149,999,999,999,999,999,999,999,999,998,500,000 (" in to_markdown(data)
    assert to_message(data).title == "Lessons learned · INC-1 · Registers down"


# Each line a way to break out of its place in the Markdown export: new lines, headings, lists, rules, quotes,
# links, images, HTML, code, entities, table cells.
HOSTILE_INCIDENT = [
    'open "Registers [x](javascript:alert(1)) <script>alert(1)</script> down ##" sev:2'
    ' customer:"Acme\n- **Customer:** Evil" impact:"checkout down\n# Injected heading\n<img src=x onerror=alert(1)>"'
    " cost:40k/h",
    'note "line one\n# Injected heading\n- **Customer:** Evil\n[click](javascript:alert(1)) <b>html</b>"',
    'lesson "trust\n\n---\n> quoted ![img](http://evil.example/x.png)"',
    'action "call `them`\n1. listed *now*\r\n<!-- comment -->" owner:@lee',
    'vendor "Evil\n# Vendor" "send logs\n- **Customer:** Evil [x](javascript:alert(1))" due:2h ref:"RMA\n# 1"',
    'rca "Evil\n# Vendor" due:3d ref:"RMA\n# 1"',
    'rca pushed "asked <b>them</b>\n# to pull [x](javascript:alert(1)) logs"',
    'commit "ship <b>it</b>\n# now &lt;b&gt;" due:1d',
    'commit missed C1 "it | slipped | badly\n|---|---|\n```"',
    'sev 1 "<http://evil.example|all> stores\n## down\u2028- **Severity:** 4"',
    'resolve "fixed\n> quoted ~~struck~~"',
    'close outcome:"lost\n# the deal [x](javascript:alert(1)) \x1b[31mred\x1b[0m"',
]
SECTIONS = (
    "## Key events",
    "## Figures",
    "## Bad news and how fast the customer heard it",
    "## Vendor follow-ups",
    "## Root cause",
    "## Findings",
    "## Lessons",
    "## Action items",
)


async def test_the_markdown_export_shows_user_text_as_typed_and_lets_none_of_it_act(db: Database) -> None:
    h = Harness(db)
    for command in HOSTILE_INCIDENT:
        await h.ok(command)
    async with db.transaction() as store:
        stored = await store.summary(1)
    assert stored is not None
    markdown, data = stored
    lines = markdown.split("\n")
    assert markdown.splitlines() == lines[:-1]  # no line break but the summary's own
    # The line structure is the summary's own, whatever was typed: a title, its sections, one item per entry.
    assert [line for line in lines if line.startswith("#")] == [
        "# INC-1 — Registers \\[x\\](javascript:alert(1)) \\<script\\>alert(1)\\</script\\> down \\#\\#",
        *SECTIONS,
    ]
    assert all(line == "" or line.startswith(("# ", "## ", "- ")) for line in lines)
    items = {heading: 0 for heading in SECTIONS}
    section = ""
    for line in lines:
        section = line if line.startswith("## ") else section
        if section and line.startswith("- "):
            items[section] += 1
    assert items == {
        "## Key events": len(data["timeline"]),
        "## Figures": 9,
        "## Bad news and how fast the customer heard it": 2,  # the missed promise and the severity rise
        "## Vendor follow-ups": 1,
        "## Root cause": 3,  # its owner, its dates, the push
        "## Findings": len(data["findings"]),
        "## Lessons": 1,
        "## Action items": 1,
    }
    assert "- **Customer:** Acme - \\*\\*Customer:\\*\\* Evil" in lines
    assert "- **Outcome:** lost \\# the deal \\[x\\](javascript:alert(1)) red" in lines
    assert any(
        line.startswith("- V1 Evil \\# Vendor: send logs - \\*\\*Customer:\\*\\* Evil \\[x\\]") for line in lines
    )

    # Rendered as CommonMark (with GFM tables and strikethrough): only the summary's own markup acts.
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    assert html.count("<h1>") == 1 and html.count("<h2>") == len(SECTIONS)
    assert html.count("<ul>") == 1 + len(SECTIONS) and html.count("<li>") == 9 + sum(items.values())
    assert html.count("<strong>") == 9  # the header's labels
    for tag in ("<a ", "<img", "<script", "<b>", "<hr", "<blockquote", "<ol", "<code", "<pre", "<table", "<s>", "<em>"):
        assert tag not in html, tag
    assert "<!--" not in html and "<http" not in html
    # … and the text reads as it was typed.
    assert "INC-1 — Registers [x](javascript:alert(1)) &lt;script&gt;alert(1)&lt;/script&gt; down ##</h1>" in html
    assert "Customer:</strong> Acme - **Customer:** Evil</li>" in html


async def test_the_console_prints_user_text_without_terminal_control_characters(db: Database) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, SimClock(START), ZoneInfo("UTC"))
    h = Harness(db, chat=chat)
    chat.clock = h.clock
    session = ConsoleSession(h.warroom.handle, chat, h.clock, user="dana", echo=True)
    await session.run(
        [
            '/incident open "Registers \x1b]0;pwned\x07down" sev:2',
            "/incident note \x1b[31mred alert\x1b[0m and a bell\x07",
            '/incident action "wipe \x1b[2Jthe screen\rnow\x9b1m" owner:@lee',
            "/as @\x1b[5mmallory",
            "/rooms",
        ]
    )
    printed = out.getvalue()
    assert TERMINAL_CONTROL.search(printed) is None
    assert "** #inc-1-registers-0-pwned-down created — INC-1 sev 2: Registers down" in printed
    assert "dana@#inc-1-registers-0-pwned-down> /incident note red alert and a bell" in printed
    assert "✔ (only you see this) INC-1: action A1: wipe the screen now — owner lee" in printed
    assert "(you are now @mallory)" in printed


def test_tick_prints_a_chase_without_the_escape_codes_typed_into_its_ask(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    warroom(
        "console",
        stdin='/incident open "Router dead" sev:2\n/incident vendor acme "\x1b[31mred\x1b[0m unit\x07" due:1h\n',
        env=env,
    )
    ticked = warroom("tick", "--at", "2099-01-01T00:00:00+00:00", env=env)
    assert ticked.returncode == 0, ticked.stderr
    assert "⏰ V1 acme: red unit is overdue" in ticked.stdout
    assert TERMINAL_CONTROL.search(ticked.stdout) is None
