"""The parts of the customer's voice: templates checked with file and line, locales, the guard, honest telling."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.errors import PlaybookError
from bot.playbooks import PlaybookLibrary, check
from bot.voice.guard import Guard, Name
from bot.voice.honesty import mentions
from bot.voice.language import Speaker
from bot.voice.templates import sample_facts, shipped
from tests.conftest import PLAYBOOKS, ROOT


def folder_with(tmp_path: Path, extra: str) -> Path:
    """The shipped playbooks, with ``extra`` appended to billing-dispute.yaml; returns (folder, first extra line)."""
    shutil.copytree(PLAYBOOKS, tmp_path / "playbooks")
    path = tmp_path / "playbooks" / "billing-dispute.yaml"
    path.write_text(path.read_text() + extra)
    return tmp_path / "playbooks"


def line_of(folder: Path, needle: str) -> int:
    lines = (folder / "billing-dispute.yaml").read_text().splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def test_a_template_reaching_outside_the_sandbox_or_naming_an_unknown_variable_is_refused_with_file_and_line(
    tmp_path: Path,
) -> None:
    folder = folder_with(
        tmp_path,
        "language: fr\ncustomer_templates:\n  update: |\n    Bonjour,\n    {{ ''.__class__.__mro__ }}\n"
        '  bad_news: "{{ nope }}"\n  final: "{{ promises[7].text }}"\n',
    )
    problems = check(folder)
    source = folder / "billing-dispute.yaml"
    escape, unknown, failing = line_of(folder, "__mro__"), line_of(folder, "nope"), line_of(folder, "promises[7]")
    assert f"{source}:{escape}: customer_templates.update: '__class__' is outside what a template may reach" in (
        "\n".join(problems)
    )
    assert any(
        p.startswith(f"{source}:{unknown}: customer_templates.bad_news: unknown variable 'nope'") for p in problems
    )
    assert any(p.startswith(f"{source}:{failing}: customer_templates.final: UndefinedError") for p in problems)
    with pytest.raises(PlaybookError):
        PlaybookLibrary.load(folder)


def test_a_runtime_escape_through_a_filter_is_refused_too(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "customer_templates:\n  watch: \"{{ now | attr('__class__') }}\"\n")
    [problem] = check(folder)
    assert problem.startswith(f"{folder / 'billing-dispute.yaml'}:{line_of(folder, 'attr(')}: customer_templates.watch")
    assert "SecurityError" in problem


def test_a_language_babel_does_not_know_or_without_shipped_templates_is_refused(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, "language: xx-nowhere\n")
    [problem] = check(folder)
    assert f"billing-dispute.yaml:{line_of(folder, 'xx-nowhere')}: 'xx-nowhere' is not a language tag" in problem
    german = folder_with(tmp_path / "de", "language: de\n")
    [problem] = check(german)
    assert (
        f"billing-dispute.yaml:{line_of(german, 'language: de')}: customer texts are shipped in en, fr, not in 'de'"
        in (problem)
    )


def test_a_playbook_template_overrides_the_shipped_one_and_keeps_the_others() -> None:
    speaker = Speaker("en", "America/Chicago")
    assert shipped("en").render("email_subject", sample_facts(), speaker) == (
        "Update: The disruption at Sample Customer since Monday"
    )


def test_the_cli_check_and_the_bot_refuse_a_bad_template(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, 'customer_templates:\n  update: "{{ nope }}"\n')
    env = {"WARROOM_PLAYBOOKS": str(folder), "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}

    def warroom(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args], input="/incident list\n", capture_output=True, text=True,
            timeout=60, cwd=ROOT, env={"PATH": "/usr/bin:/bin", **env},
        )  # fmt: skip

    checked = warroom("playbooks", "check")
    assert checked.returncode == 1
    assert f"billing-dispute.yaml:{line_of(folder, 'nope')}: customer_templates.update: unknown variable" in (
        checked.stderr
    )
    started = warroom("console")
    assert started.returncode == 2 and "invalid playbooks" in started.stderr and "unknown variable" in started.stderr


def test_dates_times_and_amounts_read_in_the_customers_language_and_zone() -> None:
    at = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    fr = Speaker("fr", "Europe/Paris")
    assert fr.date(at) == "lundi 7 décembre 2026"
    assert fr.datetime(at) == "lundi 7 décembre 2026 à 12:00 (heure de Paris)"
    assert fr.money(1895) == "1\u202f895,00\xa0$US"
    en = Speaker("en-GB", "Europe/London")
    assert en.datetime(at) == "Monday, 7 December 2026 at 11:00 (London time)"
    assert Speaker("en", "UTC").datetime(at) == "Monday, December 7, 2026 at 11:00 AM (UTC)"


def test_the_guard_finds_whole_names_addresses_and_domains_but_not_ordinary_words() -> None:
    guard = Guard(
        [
            Name("Northwind Distribution", "a vendor"),
            Name("nwd", "an alias"),
            Name("sam.ortiz@northwind.example", "a contact"),
            Name("Lee", "one of our people"),
            Name("you", "one of our people"),  # the console's user
            Name("@support", "a team"),
        ]
    )
    assert [n.text for n in guard.found("Northwind  Distribution is late")] == ["Northwind  Distribution"]
    assert guard.found("the fleet is fine, and so are you; our support team is on it") == []
    assert [n.text for n in guard.found("write to ops@northwind.example")] == ["northwind.example"]
    assert [n.text for n in guard.found("NWD said so")] == ["NWD"]
    assert [n.text for n in guard.found("Lee will call")] == ["Lee"]


def test_an_update_mentions_bad_news_only_when_it_shares_a_content_word_with_it() -> None:
    about = ["V1 Northwind is overdue with replacement router", "The replacement router is late."]
    assert not mentions("told them it's taking a bit longer", about)
    assert mentions("told them the routers are delayed", about)
    assert mentions("le routeur de remplacement est en retard", ["replacement router", "remplacement"])


@pytest.mark.parametrize("language", ["English", "French"])
def test_the_documented_template_examples_pass_the_check_and_render(tmp_path: Path, language: str) -> None:
    guide = (ROOT / "docs" / "CUSTOMER_TEMPLATES.md").read_text()
    example = guide.split(f"### Example: {language}\n", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    folder = folder_with(tmp_path, example)
    assert check(folder) == []
    book = PlaybookLibrary.load(folder).get("billing-dispute")
    assert book.customer_templates is not None
    speaker = Speaker(book.language, "Europe/Paris")
    text = book.customer_templates.render("update", sample_facts(), speaker)
    assert text.startswith("Here is where things stand" if language == "English" else "Voici où nous en sommes")
    assert "{" not in text and "\n" not in text


def test_the_money_filter_is_documented_as_it_renders() -> None:
    assert Speaker("en", "UTC").money(1895, "EUR") == "€1,895.00"
