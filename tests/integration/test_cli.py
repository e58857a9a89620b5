"""The command line as a new user meets it: piped console sessions, summaries, playbook checks, restarts."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import PLAYBOOKS, ROOT
from tests.processes import dashboard, warroom

DEMO_PATIENCE = 300  # the demo's two acts take seconds alone, minutes on a machine busy with other tests

SESSION = """\
/incident open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail"
/incident note store 112 reproduces it with POS 7.2 and terminal firmware 4.2
/incident lesson a cost per hour up front would have made the urgency clear
/clock +4h
/incident resolve firmware 4.2.1 rolled out to every store
/incident close
"""


def test_piped_console_opens_the_war_room_with_responders_by_role_and_ends_with_the_summary(database_url: str) -> None:
    result = warroom("console", "--user", "dana", stdin=SESSION, env={"WARROOM_DATABASE_URL": database_url})
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "** #inc-1-pos-registers-freeze-in-300-stores created" in out
    assert "Roles: commander @dana, comms @csm-lead" in out
    assert "engineering: @pos-eng-oncall" in out and "exec sponsor: @vp-engineering, @vp-customer-success" in out
    assert "→ you are now in #inc-1-pos-registers-freeze-in-300-stores" in out
    assert "(clock moves 4h forward)" in out
    summary = out[out.index("Lessons learned · INC-1") :]
    assert "Duration: 4h" in summary and "L1: a cost per hour up front" in summary
    assert "No cost per hour or revenue at risk was stated" in summary

    exported = warroom("summary", "INC-1", "--format", "json", env={"WARROOM_DATABASE_URL": database_url})
    data = json.loads(exported.stdout)
    assert data["incident"] == "INC-1" and data["figures"]["time_to_resolve_minutes"] == 240.0
    markdown = warroom("summary", "INC-1", env={"WARROOM_DATABASE_URL": database_url}).stdout
    assert markdown.startswith("# INC-1 — POS registers freeze in 300 stores\n")


def test_console_incidents_survive_a_restart(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    warroom("console", stdin='/incident open "Router dead on arrival" sev:2\n/incident note RMA 4471 filed\n', env=env)
    again = warroom("console", stdin="/incident list\n/join #inc-1-router-dead-on-arrival\n/incident status\n", env=env)
    assert "INC-1 sev 2 open — Router dead on arrival" in again.stdout
    assert "INC-1 · Router dead on arrival in #inc-1-router-dead-on-arrival" in again.stdout


def test_console_bad_input_is_one_line_and_records_nothing(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    result = warroom("console", stdin='/incident open "x" sev:9\n/clock soon\n/frob\n/incident list\n', env=env)
    lines = [line for line in result.stdout.splitlines() if "✖" in line]
    assert len(lines) == 3
    assert "severity must be 1 (worst) to 4" in lines[0] and "/clock +2h" in lines[1] and "/frob" in lines[2]
    assert "No open incidents." in result.stdout


def test_console_clock_moves_a_year_at_most_and_a_sev1_month_stays_quiet(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    script = '/incident open "POS freeze" sev:1 playbook:default\n/clock +400d\n/clock +30d\n'
    out = warroom("console", stdin=script, env=env).stdout
    assert "✖ the clock moves a year at most at once — e.g. `/clock +30d`" in out
    assert 30 <= out.count("📣 INC-1: customer update") <= 40


def test_default_database_is_an_embedded_sqlite_file_in_the_working_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WARROOM_DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "console"],
        input="/incident open Registers down\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**env, "WARROOM_PLAYBOOKS": str(PLAYBOOKS), "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "warroom.db").exists()


def test_summary_of_an_open_incident_is_a_marked_draft(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    warroom("console", stdin="/incident open Registers down sev:2\n", env=env)
    out = warroom("summary", "INC-1", env=env).stdout
    assert out.startswith("> Draft: INC-1 is not closed yet.")
    missing = warroom("summary", "INC-9", env=env)
    assert missing.returncode == 2 and missing.stderr.strip() == "warroom: there is no INC-9"


def test_playbooks_check_passes_on_the_shipped_folder_and_fails_with_file_and_line(tmp_path: Path) -> None:
    ok = warroom("playbooks", "check")
    assert ok.returncode == 0 and ok.stdout.strip() == f"5 playbooks OK in {PLAYBOOKS}"
    (tmp_path / "default.yaml").write_text((PLAYBOOKS / "default.yaml").read_text())
    broken = (PLAYBOOKS / "hardware-rma.yaml").read_text().replace("escalate_after: 2", "escalate_after: 0", 1)
    (tmp_path / "hardware-rma.yaml").write_text(broken)
    bad = warroom("playbooks", "check", env={"WARROOM_PLAYBOOKS": str(tmp_path)})
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "escalate_after: 0" in x)) + 1
    assert bad.returncode == 1 and f"hardware-rma.yaml:{line}:" in bad.stderr


def test_bot_refuses_to_start_on_an_invalid_playbook(tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text("name: default\ntitle: [unclosed\n")
    result = warroom(
        "console",
        stdin="/incident list\n",
        env={"WARROOM_PLAYBOOKS": str(tmp_path), "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"},
    )
    assert result.returncode == 2 and "invalid playbooks" in result.stderr and "default.yaml:" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [("WARROOM_TZ", "Mars/Olympus", "is not a time zone"), ("PORT", "http", "PORT must be a port number")],
)
def test_bad_settings_are_one_line_errors(name: str, value: str, error: str) -> None:
    result = warroom("console", stdin="", env={name: value})
    assert result.returncode == 2 and error in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_console_chases_a_follow_up_escalates_it_and_stops_when_heard_and_done(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    session = (
        "\n".join(
            [
                '/incident open "Router dead on arrival" sev:2 playbook:default',
                '/incident vendor "Contoso Supply" "replacement unit" due:1h',
                "/clock +2h",
                "/clock +2d",
                "/incident vendor heard V1 shipping tomorrow due:1d",
                "/clock +23h",
                "/incident vendor done V1 arrived",
                "/clock +1w",
            ]
        )
        + "\n"
    )
    out = warroom("console", stdin=session, env=env).stdout
    after_first_clock = out[out.index("> /clock +2h") : out.index("> /clock +2d")]
    assert "⏰ V1 Contoso Supply: replacement unit is overdue" in after_first_clock
    after_second = out[out.index("> /clock +2d") : out.index("vendor heard V1")]
    assert (
        "chase 2" in after_second and "🔺 V1 Contoso Supply: replacement unit escalated to rung 2 of 2" in after_second
    )
    after_heard = out[out.index("vendor heard V1") :]
    assert "⏰" not in after_heard and "🔺" not in after_heard


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`warroom demo` run once in a fresh folder: its two acts take seconds (minutes on a busy machine), and the
    tests below each read a different part of the same transcript, or what it left in the folder."""
    folder = tmp_path_factory.mktemp("demo")
    result = warroom("demo", cwd=folder, timeout=DEMO_PATIENCE)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_demo_tells_the_rma_story_and_its_summary_names_the_vendor_figures(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    folder, result = demo
    out = result.stdout
    for moment in (
        "⏰ V1 Northwind Distribution",
        "escalated to rung 2 of 3",
        "escalated to rung 3 of 3",
        "Dale Whitaker (VP Sales)",
        "time for Plan B",
        "✅ V2 received from Contoso Supply",
        "📧 V1 chase emailed to sam.ortiz@northwind.example",
        "kept in the outbox (no WARROOM_SMTP_URL)",
        "an automatic reply from sam.ortiz@northwind.example — not an answer",
    ):
        assert moment in out, moment
    # V1 was due Wed 4 Mar 09:00: Northwind's VP hears three business days later, not a week and more
    assert (
        "[Mon 9 Mar 2026 09:00 CDT] #inc-1-edge-router-failed-at-acme-retail-dc-3 · warroom:\n"
        "    🔺 V1 Northwind Distribution: tracking number for the replacement router (RMA-4471) escalated to "
        "rung 3 of 3"
    ) in out
    summary = out[out.index("The lessons-learned summary (warroom summary INC-1)") :]
    assert "- V1 Northwind Distribution: tracking number for the replacement router (RMA-4471)" in summary
    assert "never heard back, never received; 6 chases, rung 3 of 3 (Dale Whitaker (VP Sales)), Plan B" in summary
    assert "Northwind Distribution is a single contact path" in summary
    assert "Only automatic replies came back from Northwind Distribution: 1 email, 1 auto-reply" in summary
    assert not (folder / "warroom.db").exists()  # the demo leaves the real database alone
    assert (folder / "warroom-demo.db").exists() and "`warroom dashboard` shows them" in out  # … and keeps its own


def test_demo_second_act_asks_our_team_is_pushed_a_root_cause_and_stops_with_the_war_room_open(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out = demo[1].stdout
    act = out[out.index("Act two:") : out.index("The lessons-learned summary (warroom summary INC-1)")]
    for moment in (
        "📦 V2 our team network-eng: confirm every store failed over to 4G",
        "🔺 V2 our team network-eng: confirm every store failed over to 4G escalated to rung 2 of 3",
        "R: the root cause is owned by Tailspin Telecom (owner dana), due Fri 27 Mar 2026 16:00 GMT; tracked as V3",
        "C1 promised: root-cause report to Globex, by Tue 31 Mar 2026 16:00 BST, needs V3",
        "⚠ INC-2 · root cause: Tailspin Telecom pushed its root-cause analysis onto the customer",
        "🚨 B1 · Bad news for Globex: V3 Tailspin Telecom is overdue with root-cause analysis of the Leeds outage",
        "📣 INC-2: customer update overdue",
    ):
        assert moment in act, moment
    typed = [line for line in act.splitlines() if "#inc-2-carrier-outage-at-globex-stores> /incident" in line]
    assert typed[-1].endswith("/incident vendor escalate V3 the root cause is late and Globex's promise hangs on it")
    assert not [t for t in typed if "tells:" in t or "/incident close" in t]  # it stops before anyone tells Globex
    draft = out[out.index("INC-2 is left open at this moment; its summary so far (warroom summary INC-2)") :]
    root = draft[draft.index("## Root cause") : draft.index("## Findings")]
    assert "- Owner: Tailspin Telecom (dana), V3: root-cause analysis of the Leeds outage" in root
    assert "- Pushed onto the customer Tue 24 Mar 2026 21:00 GMT: asked Globex's network lead" in root
    assert "never told" in draft and "rung 2 of 3 (Olivia Brooks (Service delivery manager)); escalated" in draft


def test_demo_then_dashboard_shows_an_open_war_room_overdue_escalated_and_with_untold_bad_news(
    demo: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    """The README's first hour: `warroom demo && warroom dashboard` in a fresh folder, the default database."""
    folder = demo[0]  # the default sqlite:///warroom.db there has no incidents yet
    with dashboard(folder) as board:
        notes = board.next_line() + board.next_line()
        assert "The demo is shown at the moment it stops: 2026-03-27 21:00 UTC." in notes
        overview, incident = asyncio.run(_pages(board.url, "", "incidents/2"))
    # one open war room, its customer update overdue and one piece of bad news untold (and more) in its row
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<th scope=\"row\"><a href=\"/incidents/(\d+)\">", overview)
    assert rows == [(' class="overdue"', "2")], rows
    row = overview[overview.index('<a href="/incidents/2">INC-2</a>') :]
    row = row[: row.index("</tr>")]
    assert "Overdue</strong>" in row and re.search(
        r'data-label="Untold bad news" class="num"><strong class="late">\d', row
    )
    # the root cause it waits on escalated to Tailspin's second rung, listed among the overdue follow-ups
    late = overview[overview.index('id="overdue-follow-ups"') :]
    assert "INC-2 V3</a> root-cause analysis of the Leeds outage" in late and "2 of 3: Olivia Brooks" in late
    assert "INC-2 B1</a>" in overview[overview.index('id="untold-bad-news"') :]
    follow_ups = text_of(incident[incident.index('id="follow-ups"') :])
    assert "escalated" in follow_ups[follow_ups.index("V3") :]
    assert not (folder / "warroom.db").exists()


def test_after_the_console_tour_the_dashboard_still_chooses_the_demo_until_a_war_room_is_open(tmp_path: Path) -> None:
    """The README's order: the console tour (its one incident closed in warroom.db), then the demo, then the
    dashboard — which shows the demo's open war room, not the tour's closed incident, until warroom.db has one open."""
    from bot.cli import _no_open_incidents

    db = tmp_path / "warroom.db"
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{db}"}
    assert _no_open_incidents(db)  # nothing there yet
    toured = warroom(
        "console", stdin='/incident open "POS freeze" sev:1\n/incident resolve fixed\n/incident close\n', env=env
    )
    assert toured.returncode == 0 and "Lessons learned · INC-1" in toured.stdout
    assert _no_open_incidents(db)
    opened = warroom("console", stdin='/incident open "Router dead" sev:2\n', env=env)
    assert opened.returncode == 0
    assert not _no_open_incidents(db)


async def _pages(base: str, *paths: str) -> list[str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        pages = []
        for path in paths:
            async with http.get(base + path) as response:
                assert response.status == 200, path
                pages.append(await response.text())
        return pages


def text_of(html: str) -> str:
    plain = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", plain.replace("&amp;", "&").replace("&#39;", "'"))


def test_tick_fires_due_reminders_once_from_cron(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    warroom("console", stdin='/incident open "Router dead" sev:2\n/incident vendor acme "unit" due:1h\n', env=env)
    later = "2099-01-01T00:00:00+00:00"
    first = warroom("tick", "--at", later, env=env)
    assert first.returncode == 0 and "⏰ V1 acme: unit is overdue" in first.stdout
    assert "📣 INC-1: customer update due" in first.stdout
    assert first.stdout.strip().endswith(f"2 reminders fired at {later}")
    again = warroom("tick", "--at", later, env=env)
    assert again.stdout.strip() == f"0 reminders fired at {later}"
    bad = warroom("tick", "--at", "tomorrow", env=env)
    assert bad.returncode == 2 and "is not an ISO 8601 time" in bad.stderr


def test_console_prompts_updates_watches_commitments_and_summarises_the_customer_side(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    session = (
        "\n".join(
            [
                '/incident open "Checkout down in every store" sev:1 customer:"Acme Retail" playbook:default',
                "/incident role comms @lee",
                '/incident commit "workaround in every store" due:2h',
                "/clock +1h",
                "/as @lee",
                '/incident update "rolling back; next update in an hour"',
                "/clock +50m",
                "/clock +20m",
                "/incident resolve",
                "/incident update fixed",
                "/as @dana",  # closing is the commander's: who opened it
                "/incident close",
            ]
        )
        + "\n"
    )
    out = warroom("console", "--user", "dana", stdin=session, env=env).stdout
    promised = out[out.index("> /incident commit") : out.index("> /clock +1h")]
    assert "🚨 B1 · Bad news for Acme Retail: our promise of workaround in every store" in promised  # at risk at once
    first_hour = out[out.index("> /clock +1h") : out.index('update "rolling back')]
    assert "📣 INC-1: customer update due" in first_hour
    assert "Draft: Here is our latest update on the disruption at Acme Retail since" in first_hour
    quiet = out[out.index("> /clock +50m") : out.index("> /clock +20m")]
    assert "📣 INC-1: customer update due" not in quiet  # the update reset the clock
    missed = out[out.index("> /clock +20m") : out.index("> /incident resolve")]
    assert "🚨 B2 · Bad news for Acme Retail: we missed our promise of workaround in every store" in missed
    summary = out[out.index("Lessons learned · INC-1") :]
    assert "Customer updates sent: 2" in summary and "Commitments kept / missed: 0 / 1" in summary
    assert "commitment missed: we missed our promise of workaround in every store" in summary
    assert "Silence longer than the cadence: the customer heard nothing for 1h 10m (cadence 1h" in summary


def test_a_restarted_console_resumes_its_simulated_time(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    warroom("console", stdin="/incident open Registers down sev:3\n/clock +3d\n/incident note three days on\n", env=env)
    status = warroom("console", stdin="/join #inc-1-registers-down\n/incident status\n", env=env).stdout
    assert "Open for 3d." in status  # not "0m": the clock did not jump back to the wall clock


REPLAY = """\
# the same transcript on any day: --start fixes the simulated clock
/INCIDENT open "Carrier outage at Globex stores" sev:2 customer:Globex playbook:service-provider-outage
/incident VENDOR tailspin "RCA for the 3 Dec outage" due:2d every:1bd ref:TS-5521
/incident rca tailspin due:5bd ref:TS-5521
/incident rca pushed "asked Globex's network lead to pull their own router logs"
/incident ask @network-eng "confirm the backup links are up" due:2h30m
/incident action "add a diverse circuit" owner:@lee due:1d4h
/Clock +2d
/incident resolve watch:1d
/clock +1d
/incident close
"""


def test_a_piped_script_with_start_gives_the_same_transcript_twice(tmp_path: Path) -> None:
    args = ("console", "--start", "2026-03-02 09:00", "--tz", "America/New_York")
    runs = [
        warroom(*args, stdin=REPLAY, env={"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / f'{n}.db'}"})
        for n in ("first", "second")
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    out = runs[0].stdout
    # the war room's posts are stamped in its playbook's zone (London), as their text says its times
    assert "[Mon 2 Mar 2026 14:00 GMT] #inc-1-carrier-outage-at-globex-stores · warroom:" in out
    assert "V2 asked our team network-eng for confirm the backup links are up, due Mon 2 Mar 2026 16:30 GMT" in out
    assert "A1: add a diverse circuit — owner lee, due Tue 3 Mar 2026 18:00 GMT" in out  # 1d4h
    assert "⏳ A1 add a diverse circuit is due" in out and "🔭 INC-1: the watch is over" in out
    summary = out[out.index("Lessons learned · INC-1") :]
    assert "Pushed onto the customer" in summary
    assert "Tailspin Telecom pushed its root-cause analysis onto the customer" in summary


def test_console_refuses_an_unknown_room_an_empty_handle_and_a_bad_start(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    result = warroom("console", stdin="/join #typo\n/as @\n/as lee\n/JOIN #console\n/rooms\n", env=env)
    errors = [line for line in result.stdout.splitlines() if "✖" in line]
    assert errors == [
        "  ✖ there is no #typo; the rooms are #console (/rooms lists them) — e.g. `/join #console`",
        "  ✖ '@' is not a handle; type as someone with a name — e.g. `/as @lee`",
    ]
    assert "(you are now @lee)" in result.stdout and "#typo" not in result.stdout.split("/rooms")[-1]
    bad = warroom("console", "--start", "soon", stdin="", env=env)
    assert bad.returncode == 2 and "--start 'soon' is not a date and time" in bad.stderr
    zone = warroom("console", "--tz", "Mars/Olympus", stdin="", env=env)
    assert zone.returncode == 2 and "'Mars/Olympus' is not a time zone I know" in zone.stderr


def test_a_zone_named_by_city_keeps_every_instant_and_every_later_view_shows_it(tmp_path: Path) -> None:
    env = {"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    session = "\n".join(
        [
            '/incident open "Registers frozen" sev:2 customer:"Acme Retail" playbook:default',
            '/incident commit "a fix in every store" due:"fri 17:00"',
            '/incident vendor Acme "terminal logs" due:"thu 12:00"',
            "/incident set tz:Australia",
            "/incident set tz:Paris",
            "/clock +1h",
            "/incident status",
            "/incident resolve",
            "/incident close",
            "/join #console",
            "/clock",
        ]
    )
    out = warroom("console", "--start", "2026-03-02 09:00", "--tz", "America/New_York", stdin=session, env=env).stdout
    assert "C1 promised: a fix in every store, by Fri 6 Mar 2026 17:00 EST" in out
    assert (
        "✖ (only you see this) 'Australia' has 7 time zones: Australia/Hobart, Australia/Lord_Howe, "
        "Australia/Adelaide, Australia/Brisbane, Australia/Darwin, Australia/Eucla, Australia/Perth; say which"
    ) in out
    switched = out[out.index("> /incident set tz:Paris") : out.index("> /join #console")]
    assert (
        'Changed time zone: "America/New_York" → "Europe/Paris". The same instants, shown in the new zone from now: '
        "V1 Thu 5 Mar 2026 18:00 CET (was Thu 5 Mar 2026 12:00 EST); "
        "C1 Fri 6 Mar 2026 23:00 CET (was Fri 6 Mar 2026 17:00 EST)"
    ) in switched
    assert "[Mon 2 Mar 2026 15:00 CET] #inc-1-registers-frozen · warroom:\n    ✏ INC-1: Changed time zone" in switched
    after = switched[switched.index("> /clock +1h") :]  # the posts, the status and the summary after the answer
    assert "EST" not in after
    assert (
        "(it is now Mon 2 Mar 2026 16:00 CET)" in after
        and "C1 a fix in every store — by Fri 6 Mar 2026 23:00 CET" in after
    )
    assert "V1 asked Acme for terminal logs, due Thu 5 Mar 2026 18:00 CET" in after[after.index("Lessons learned") :]
    assert out.rstrip().endswith("(it is now Mon 2 Mar 2026 10:00 EST)")  # the lobby keeps the console's --tz
