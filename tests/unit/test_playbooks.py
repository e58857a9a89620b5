"""Playbooks: the shipped folder is valid, every mistake is reported with file and line, and the
responder list, suggestions and vendor look-ups behave as the product contract says."""

from __future__ import annotations

import shutil
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.errors import NotFound, PlaybookError
from bot.playbooks import PlaybookLibrary, check, responders_for

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"

# A valid playbook whose line numbers the error cases below rely on; each case swaps one piece of text.
BROKEN = """\
name: broken
title: Broken
channel_pattern: "inc-{number}"
roles:
  comms: "@csm-lead"
updates:
  cadence: {1: 1h, 2: 4h, 3: 1d, 4: 3d}
vendors:
  - name: Northwind
    aliases: [nwd]
    timezone: America/Chicago
    business_hours: {days: mon-fri, start: "08:00", end: "17:00"}
    remind_every: 1d
    escalate_after: 2
    ladder:
      - {name: Sam, role: Rep, contact: "sam@northwind.example"}
    plan_b: Buy it elsewhere.
"""

SECOND_VENDOR = """\
  - name: NWD
    ladder:
      - {name: Kim, contact: "kim@nwd.example"}
    plan_b: Call someone else.
"""


def write_folder(folder: Path, **files: str) -> Path:
    """A playbook folder holding the shipped default plus ``files`` (file stem -> YAML text)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "default.yaml", folder / "default.yaml")
    for stem, text in files.items():
        (folder / f"{stem}.yaml").write_text(text, encoding="utf-8")
    return folder


def problems_with(tmp_path: Path, old: str, new: str) -> list[str]:
    assert old in BROKEN, f"the case no longer matches the template: {old!r}"
    return check(write_folder(tmp_path, broken=BROKEN.replace(old, new, 1)))


def reported(problems: list[str], where: str, fragment: str) -> bool:
    return any(p.startswith(where) and fragment in p for p in problems)


# --- the shipped playbooks ---------------------------------------------------------------------------


def test_shipped_playbooks_validate_clean() -> None:
    assert check(SHIPPED) == []


def test_shipped_folder_holds_a_playbook_for_each_customer_story() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    assert library.names == (
        "billing-dispute",
        "default",
        "hardware-rma",
        "interop-defect",
        "service-provider-outage",
    )


def test_every_shipped_playbook_has_a_kickoff_checklist_and_a_full_cadence() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    for name in library.names:
        playbook = library.get(name)
        assert 5 <= len(playbook.checklist) <= 8, name
        assert sorted(playbook.update_cadence) == [1, 2, 3, 4], name
        assert playbook.source == str(SHIPPED / f"{name}.yaml")


def test_every_shipped_vendor_has_a_ladder_ending_at_a_vp_and_a_plan_b() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    vendors = [vendor for name in library.names for vendor in library.get(name).vendors]
    assert vendors
    for vendor in vendors:
        assert len(vendor.ladder) == 3, vendor.name
        assert vendor.ladder[-1].role.startswith("VP"), vendor.name
        assert vendor.plan_b, vendor.name


def test_hardware_rma_reads_the_distributor_profile() -> None:
    rma = PlaybookLibrary.load(SHIPPED).get("hardware-rma")
    northwind = rma.vendor("nwd")

    assert northwind is not None
    assert northwind.name == "Northwind Distribution"
    assert northwind.remind_every == timedelta(days=1)
    assert northwind.escalate_after == 2
    assert northwind.business_hours is not None
    assert northwind.business_hours.days == frozenset({0, 1, 2, 3, 4})
    assert (northwind.business_hours.start, northwind.business_hours.end) == (time(8), time(17))
    assert "ship it to the customer ourselves" in northwind.plan_b
    assert rma.update_cadence[1] == timedelta(hours=1)
    assert rma.teams["logistics"] == ("@logistics-desk",)


def test_service_provider_outage_makes_root_cause_ownership_explicit() -> None:
    outage = PlaybookLibrary.load(SHIPPED).get("service-provider-outage")

    assert "rca_owner" in outage.roles
    assert any("root-cause" in item for item in outage.checklist)


# --- every mistake, with its file and line -----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        pytest.param("title: Broken", "title: Broken: yes", 2, "invalid YAML", id="yaml-syntax"),
        pytest.param("title: Broken", "titel: Broken", 2, "unknown key 'titel'", id="unknown-key"),
        pytest.param("title: Broken", "titel: Broken", 1, "missing 'title'", id="missing-title"),
        pytest.param(
            'channel_pattern: "inc-{number}"',
            "private: true",
            1,
            "missing 'channel_pattern'",
            id="missing-pattern",
        ),
        pytest.param("roles:\n  comms:", "teems:\n  comms:", 1, "needs roles or teams", id="no-roles-or-teams"),
        pytest.param("3: 1d, 4: 3d}", "3: 1d}", 7, "missing severity 4", id="cadence-missing-severity"),
        pytest.param("4: 3d}", "5: 3d}", 7, "'5' is not a severity", id="cadence-unknown-severity"),
        pytest.param("title: Broken", "title: [a, b]", 2, "title must be text, not a list", id="wrong-type"),
        pytest.param("escalate_after: 2", "escalate_after: two", 14, "whole number", id="wrong-number"),
        pytest.param("remind_every: 1d", "remind_every: daily", 13, "'daily' is not a duration", id="bad-duration"),
        pytest.param("{1: 1h,", "{1: soon,", 7, "'soon' is not a duration", id="bad-cadence-duration"),
        pytest.param("America/Chicago", "America/Chicag0", 11, "unknown time zone 'America/Chicag0'", id="tz"),
        pytest.param(
            "America/Chicago", "Australia", 11, "'Australia' has 7 time zones: Australia/Hobart", id="tz-several"
        ),
        pytest.param("days: mon-fri", "days: mon-fry", 12, "'mon-fry' is not a day", id="hours-days"),
        pytest.param('start: "08:00"', 'start: "8am"', 12, "HH:MM", id="hours-format"),
        pytest.param('start: "08:00"', 'start: "18:00"', 12, "must be before end", id="hours-order"),
        pytest.param("escalate_after: 2", "escalate_after: 0", 14, "at least 1, not 0", id="escalate-after"),
        pytest.param(
            '    ladder:\n      - {name: Sam, role: Rep, contact: "sam@northwind.example"}\n',
            "    ladder: []\n",
            15,
            "ladder must not be empty",
            id="empty-ladder",
        ),
        pytest.param('contact: "sam@northwind.example"', "phone: x", 16, "missing 'contact'", id="rung-contact"),
        pytest.param('"@csm-lead"', '"csm lead"', 5, "neither a handle", id="handle"),
        pytest.param("Buy it elsewhere.\n", "Buy it elsewhere.\n" + SECOND_VENDOR, 18, "'NWD' already names", id="dup"),
        pytest.param('"inc-{number}"', '"inc-{slug}"', 3, "must contain {number}", id="pattern-no-number"),
        pytest.param('"inc-{number}"', '"inc-{number}-{team}"', 3, "unknown placeholder '{team}'", id="pattern"),
        pytest.param("name: broken", "name: other", 1, "must match the file name 'broken'", id="name-vs-file"),
    ],
)
def test_each_mistake_is_reported_with_its_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, fragment: str
) -> None:
    problems = problems_with(tmp_path, old, new)

    assert reported(problems, f"{tmp_path / 'broken.yaml'}:{line}: ", fragment), problems


def test_the_broken_template_itself_is_valid(tmp_path: Path) -> None:
    assert check(write_folder(tmp_path, broken=BROKEN)) == []


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problems = check(write_folder(tmp_path, broken="- name: broken\n"))

    assert problems == [f"{tmp_path / 'broken.yaml'}:1: the playbook must be a mapping of keys to values, not a list"]


def test_an_empty_file_is_a_problem(tmp_path: Path) -> None:
    problems = check(write_folder(tmp_path, broken=""))

    assert reported(problems, f"{tmp_path / 'broken.yaml'}:1: ", "the file is empty")


def test_unknown_key_names_the_allowed_ones(tmp_path: Path) -> None:
    problems = problems_with(tmp_path, "    remind_every: 1d", "    remind_evry: 1d")

    assert reported(problems, f"{tmp_path / 'broken.yaml'}:13: ", "allowed: name, aliases, timezone")


def test_unquoted_clock_times_are_read_as_times(tmp_path: Path) -> None:
    # YAML 1.1 reads an unquoted 17:00 as the number 1020; the reader must not.
    folder = write_folder(tmp_path, broken=BROKEN.replace('end: "17:00"', "end: 17:00"))

    vendor = PlaybookLibrary.load(folder).get("broken").vendors[0]
    assert vendor.business_hours is not None
    assert vendor.business_hours.end == time(17)


def test_business_days_may_be_a_list_or_a_range_across_the_weekend(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, broken=BROKEN.replace("days: mon-fri", "days: sun-thu"))
    listed = write_folder(tmp_path / "listed", broken=BROKEN.replace("days: mon-fri", "days: [mon, tue, thu]"))

    hours = PlaybookLibrary.load(folder).get("broken").vendors[0].business_hours
    listed_hours = PlaybookLibrary.load(listed).get("broken").vendors[0].business_hours
    assert hours is not None and hours.days == frozenset({6, 0, 1, 2, 3})
    assert listed_hours is not None and listed_hours.days == frozenset({0, 1, 3})


def test_a_folder_without_default_yaml_is_reported(tmp_path: Path) -> None:
    write_folder(tmp_path, broken=BROKEN)
    (tmp_path / "default.yaml").unlink()

    assert check(tmp_path) == [f"{tmp_path}: no default playbook (default.yaml)"]


def test_a_missing_or_empty_folder_is_reported(tmp_path: Path) -> None:
    assert check(tmp_path / "nowhere") == [f"{tmp_path / 'nowhere'}: no such playbook folder"]
    assert check(tmp_path) == [f"{tmp_path}: no playbooks (*.yaml files)"]


def test_load_raises_one_error_listing_every_problem_in_every_file(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path,
        broken=BROKEN.replace("escalate_after: 2", "escalate_after: 0").replace("America/Chicago", "Mars/Base"),
        other="name: other\ntitle: [oops\n",
    )

    with pytest.raises(PlaybookError) as caught:
        PlaybookLibrary.load(folder)

    problems = caught.value.problems
    assert reported(problems, f"{folder / 'broken.yaml'}:11: ", "unknown time zone 'Mars/Base'")
    assert reported(problems, f"{folder / 'broken.yaml'}:14: ", "at least 1, not 0")
    assert reported(problems, f"{folder / 'other.yaml'}:2: ", "invalid YAML")
    assert str(caught.value) == "\n".join(problems)


# --- the library ----------------------------------------------------------------------------------------


def test_get_names_the_known_playbooks_when_one_is_missing() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    with pytest.raises(NotFound, match=r"no playbook 'xyz'; known: billing-dispute, default, hardware-rma"):
        library.get("xyz")
    assert library.get(" Hardware-RMA ").name == "hardware-rma"


def test_suggest_picks_interop_defect_for_frozen_pos_registers() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    picked = library.suggest("POS registers freeze in 300 stores")
    assert picked.playbook.name == "interop-defect" and picked.explained() is None


def test_suggest_falls_back_to_default_for_unrelated_text() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    assert library.suggest("The quarterly newsletter has a typo").playbook.name == "default"
    # Whole words only: "pos" inside "reposition" is no match.
    assert library.suggest("reposition the banner").playbook.name == "default"
    assert library.suggest("reposition the banner").explained() is None  # nothing matched: nothing to explain


def test_suggest_picks_the_matching_story_for_each_shipped_playbook() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    assert library.suggest("Customer RMA for a dead on arrival power supply").playbook.name == "hardware-rma"
    carrier = library.suggest("Carrier outage: fiber cut took the MPLS circuit down")
    assert carrier.playbook.name == "service-provider-outage"
    assert library.suggest("Disputed invoice, customer wants a $1,895 credit").playbook.name == "billing-dispute"


# Issue 22 replaced the alphabetical tie-break (a carrier outage got the POS playbook) with the default playbook.
def test_a_tie_picks_the_default_playbook_and_names_the_candidates(tmp_path: Path) -> None:
    alpha = BROKEN.replace("name: broken", "name: alpha").replace("title: Broken", "keywords: [fire]")
    zulu = BROKEN.replace("name: broken", "name: zulu").replace("title: Broken", "keywords: [fire]")
    folder = write_folder(tmp_path, alpha=alpha + "title: A\n", zulu=zulu + "title: Z\n")

    tie = PlaybookLibrary.load(folder).suggest("There is a FIRE")

    assert tie.playbook.name == "default" and tie.candidates == ("alpha", "zulu")
    assert tie.explained() == (
        "Playbook default: the keywords match more than one playbook equally: alpha (fire); zulu (fire)."
        " Switch with `set playbook:alpha` or `set playbook:zulu`."
    )


def test_the_impact_counts_with_the_title_and_a_lone_keyword_outside_the_title_is_weak() -> None:
    library = PlaybookLibrary.load(SHIPPED)

    tie = library.suggest("MPLS down - carrier core fault at Globex branches", more="card payments down in 40 stores")
    assert tie.playbook.name == "default" and tie.candidates == ("interop-defect", "service-provider-outage")
    clear = library.suggest("MPLS down - carrier core fault", more="customers see an outage page")
    assert clear.playbook.name == "service-provider-outage"  # three keywords, two of them in the title
    weak = library.suggest("Globex site down", more="customers see an outage page")
    assert weak.playbook.name == "default" and weak.candidates == ("service-provider-outage",)
    assert "a single keyword, not in the title, is a weak match: service-provider-outage (outage)" in str(
        weak.explained()
    )
    assert library.suggest("Registers down").playbook.name == "interop-defect"  # one keyword, in the title


# --- who is pulled in ----------------------------------------------------------------------------------


def test_roles_come_first_then_teams_without_duplicate_handles() -> None:
    rma = PlaybookLibrary.load(SHIPPED).get("hardware-rma")

    responders = responders_for(rma, severity=3, revenue_at_risk=None, text="unit failed")

    handles = [r.handle for r in responders]
    assert len(handles) == len(set(handles))
    assert [r.team for r in responders[:3]] == ["roles", "roles", "roles"]
    assert responders[0].reason == "comms"
    duty = next(r for r in responders if r.handle == "@support-duty")
    assert (duty.team, duty.reason) == ("roles", "scribe; support")
    assert "@logistics-desk" in handles


def test_exec_sponsor_joins_only_past_the_severity_line() -> None:
    rma = PlaybookLibrary.load(SHIPPED).get("hardware-rma")

    calm = responders_for(rma, severity=2, revenue_at_risk=None, text="")
    worst = responders_for(rma, severity=1, revenue_at_risk=None, text="")

    assert "@vp-customer-success" not in {r.handle for r in calm}
    sponsor = next(r for r in worst if r.handle == "@vp-customer-success")
    assert sponsor.team == "exec_sponsor"
    assert "severity 1" in sponsor.reason


def test_exec_sponsor_joins_only_past_the_revenue_line() -> None:
    rma = PlaybookLibrary.load(SHIPPED).get("hardware-rma")

    below = responders_for(rma, severity=3, revenue_at_risk=Decimal("249999"), text="")
    at_line = responders_for(rma, severity=3, revenue_at_risk=Decimal("250000"), text="")

    assert "@vp-customer-success" not in {r.handle for r in below}
    sponsor = next(r for r in at_line if r.handle == "@vp-customer-success")
    assert "revenue at risk $250,000" in sponsor.reason


def test_exec_sponsor_joins_past_the_cost_per_hour_line() -> None:
    interop = PlaybookLibrary.load(SHIPPED).get("interop-defect")

    below = responders_for(interop, severity=3, revenue_at_risk=None, cost_per_hour=Decimal("24999.99"), text="")
    at_line = responders_for(interop, severity=3, revenue_at_risk=None, cost_per_hour=Decimal("25000.00"), text="")

    assert "@vp-engineering" not in {r.handle for r in below}
    sponsor = next(r for r in at_line if r.handle == "@vp-engineering")
    assert sponsor.reason == "exec sponsor: cost per hour $25,000/h is at or past the line ($25,000/h)"


def test_a_cost_per_hour_line_is_read_and_checked_like_the_revenue_line(tmp_path: Path) -> None:
    line = "exec_sponsor:\n  people: ['@vp']\n  when: {cost_per_hour_at_least: %s}\n"
    good = write_folder(tmp_path / "good", broken=BROKEN + line % "40_000")
    sponsor = PlaybookLibrary.load(good).get("broken").exec_sponsor
    assert sponsor is not None and sponsor.cost_per_hour_at_least == Decimal(40000)
    bad = write_folder(tmp_path / "bad", broken=BROKEN + line % "lots")
    [problem] = check(bad)
    assert "exec_sponsor.when.cost_per_hour_at_least must be a number such as 250000, not text 'lots'" in problem


def test_billing_dispute_pulls_the_exec_sponsor_on_revenue_alone() -> None:
    billing = PlaybookLibrary.load(SHIPPED).get("billing-dispute")

    small = responders_for(billing, severity=1, revenue_at_risk=Decimal("1895"), text="credit")
    big = responders_for(billing, severity=4, revenue_at_risk=Decimal("2000000"), text="credit")

    assert "@vp-sales" not in {r.handle for r in small}
    assert "@vp-sales" in {r.handle for r in big}


def test_product_engineering_joins_only_when_the_product_is_involved() -> None:
    interop = PlaybookLibrary.load(SHIPPED).get("interop-defect")

    by_text = responders_for(interop, severity=2, revenue_at_risk=None, text="POS registers freeze at checkout")
    by_name = responders_for(interop, severity=2, revenue_at_risk=None, text="", products=["Store-Network"])
    uninvolved = responders_for(interop, severity=2, revenue_at_risk=None, text="customer unhappy")

    text_handles = {r.handle for r in by_text}
    assert {"@pos-eng-oncall", "@pos-eng-lead"} <= text_handles
    assert "@payments-eng-oncall" not in text_handles
    assert next(r for r in by_text if r.handle == "@pos-eng-oncall").reason == "engineering for pos"
    assert "@store-net-oncall" in {r.handle for r in by_name}
    assert not {r for r in uninvolved if r.team == "engineering"}


# --- vendors -------------------------------------------------------------------------------------------


def test_vendor_is_found_by_name_or_alias_ignoring_case_and_spaces() -> None:
    rma = PlaybookLibrary.load(SHIPPED).get("hardware-rma")

    for spelling in ("Northwind Distribution", "northwind", " NWD "):
        found = rma.vendor(spelling)
        assert found is not None and found.name == "Northwind Distribution", spelling
    assert rma.vendor("north") is None
    assert rma.vendors[0].matches("nwd")
    assert not rma.vendors[0].matches("nwd ltd")


# --- team ladders and how each kind of ask is chased ---------------------------------------------------

TEAMS = """\
team_ladders:
  payments-eng:
    aliases: [payments]
    lead: "@payments-eng-oncall"
    manager: "@payments-eng-manager"
    exec_sponsor: "@vp-engineering"
    remind_every: 2h
chase:
  root_cause: {remind_every: 1bd, escalate_after: 3}
"""


def test_every_shipped_playbook_has_team_ladders_lead_manager_and_exec_sponsor() -> None:
    library = PlaybookLibrary.load(SHIPPED)
    for name in library.names:
        playbook = library.get(name)
        assert playbook.team_ladders, name
        for team in playbook.team_ladders:
            assert team.lead and team.manager and team.exec_sponsor, (name, team.name)
        assert str(playbook.rhythm("root_cause").every) == "1bd", name
    outage = library.get("service-provider-outage")
    assert outage.rhythm("root_cause").escalate_after == 3
    payments = library.get("interop-defect").team("@Payments")
    assert payments is not None and payments.name == "payments-eng" and str(payments.every) == "2h"


def test_team_ladders_and_chase_are_read(tmp_path: Path) -> None:
    folder = write_folder(tmp_path, broken=BROKEN + TEAMS)
    playbook = PlaybookLibrary.load(folder).get("broken")
    [team] = playbook.team_ladders
    assert (team.lead, team.manager, team.exec_sponsor) == (
        "@payments-eng-oncall",
        "@payments-eng-manager",
        "@vp-engineering",
    )
    assert playbook.team("payments") is team and playbook.team("@payments-eng") is team
    assert playbook.rhythm("root_cause").escalate_after == 3
    assert playbook.rhythm("vendor").escalate_after == 2  # what the file does not say keeps its default


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        pytest.param(
            '    lead: "@payments-eng-oncall"\n', "", 20, "team_ladders.payments-eng is missing 'lead'", id="no-lead"
        ),
        pytest.param('"@payments-eng-manager"', '"payments manager"', 22, "neither a handle", id="bad-handle"),
        pytest.param("remind_every: 2h", "remind_every: 0bd", 24, "must be 1 to 20 business days", id="bad-every"),
        pytest.param("remind_every: 2h", "remind_every: 1m", 24, "chase every 15m at the most often", id="too-often"),
        pytest.param("escalate_after: 3}", "escalate_after: 0}", 26, "at least 1, not 0", id="escalate-after"),
        pytest.param("  root_cause:", "  rca:", 26, "unknown key 'rca' in chase", id="unknown-kind"),
        pytest.param("  payments-eng:", "  Payments:", 19, "must be a lowercase name", id="team-name"),
        pytest.param("aliases: [payments]", "aliases: [payments]\n    pager: x", 21, "unknown key 'pager'", id="key"),
    ],
)
def test_each_team_ladder_mistake_is_reported_with_its_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, fragment: str
) -> None:
    text = BROKEN + TEAMS
    assert old in text
    problems = check(write_folder(tmp_path, broken=text.replace(old, new, 1)))
    assert any(f"broken.yaml:{line}:" in p and fragment in p for p in problems), problems


def test_reach_top_within_defaults_to_three_business_days_and_a_vendor_takes_its_playbooks(tmp_path: Path) -> None:
    from bot.when import Every

    library = PlaybookLibrary.load(SHIPPED)
    assert library.get("default").reach_top == Every(business_days=3)
    rma = library.get("hardware-rma")
    assert rma.vendor("northwind") is not None and rma.vendor("northwind").reach_top == Every(business_days=3)  # type: ignore[union-attr]
    text = (
        BROKEN.replace("vendors:\n", "reach_top_within: 2bd\nvendors:\n").replace(
            "    remind_every: 1d\n", "    remind_every: 1d\n    reach_top_within: 36h\n"
        )
        + SECOND_VENDOR
    )
    playbook = PlaybookLibrary.load(write_folder(tmp_path, broken=text.replace("name: NWD", "name: Litware"))).get(
        "broken"
    )
    assert playbook.reach_top == Every(business_days=2)
    assert [v.reach_top for v in playbook.vendors] == [Every(timedelta(hours=36)), Every(business_days=2)]


@pytest.mark.parametrize(
    ("old", "new", "line", "fragment"),
    [
        pytest.param("vendors:\n", "reach_top_within: soon\nvendors:\n", 8, "reach_top_within: ", id="playbook"),
        pytest.param("    remind_every: 1d\n", "    remind_every: 1d\n    reach_top_within: 0bd\n", 14,
                     "vendors[1].reach_top_within: '0bd' must be 1 to 20 business days", id="vendor"),
    ],
)  # fmt: skip
def test_a_bad_reach_top_within_is_reported_with_its_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, fragment: str
) -> None:
    problems = problems_with(tmp_path, old, new)
    assert reported(problems, f"{tmp_path / 'broken.yaml'}:{line}: ", fragment), problems


@pytest.mark.parametrize(
    ("permissions", "line", "fragment"),
    [
        ("  archive: [commander]\n", 7, "permissions: 'archive' is not something people do; use a verb (open,"),
        ("  close: [commander, boss]\n", 7, "permissions.close: 'boss' is not a role; the roles are commander,"),
        ("  close: []\n", 7, "permissions.close names no role; say `anyone`"),
        ("  close: everyone\n", 7, "permissions.close must be a list"),
    ],
)
def test_permissions_refuse_unknown_actions_and_roles_with_file_and_line(
    tmp_path: Path, permissions: str, line: int, fragment: str
) -> None:
    text = BROKEN.replace("updates:", "permissions:\n" + permissions + "updates:", 1)
    problems = check(write_folder(tmp_path, broken=text))

    assert reported(problems, f"{tmp_path / 'broken.yaml'}:{line}: ", fragment), problems


def test_permissions_override_the_defaults_one_action_at_a_time(tmp_path: Path) -> None:
    text = BROKEN.replace(
        "updates:", "permissions:\n  close: anyone\n  note: [scribe, comms]\n  sev down: [commander]\nupdates:"
    )
    book = PlaybookLibrary.load(write_folder(tmp_path, broken=text)).get("broken")

    assert book.permissions["close"] == () and book.permissions["note"] == ("scribe", "comms")
    assert book.permissions["sev down"] == ("commander",)
    assert book.permissions["role"] == ("commander", "exec_sponsor")  # not named: the default holds
    shipped = PlaybookLibrary.load(SHIPPED).get("default")
    assert shipped.permissions["close unresolved"] == ("commander", "exec_sponsor")
    assert "note" not in shipped.permissions  # anyone in the room
