"""`warroom --help` as a new user reads it: every command and every option says what it is for, the settings are
on a page it names, and that page lists exactly the settings bot/config.py reads."""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli, config
from bot.config import Settings
from bot.webhooks import EVENTS
from tests.conftest import ROOT

SETTINGS_PAGE = ROOT / "docs" / "SETTINGS.md"


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every (sub)command: its words, its parser, and the help its parent lists it with."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, listed.get(name)
                yield from _commands(sub, (*path, name))


def test_every_command_has_a_one_line_summary_and_a_description_of_its_own() -> None:
    commands = list(_commands(cli._parser()))
    names = {" ".join(words) for words, _, _ in commands}
    assert {"demo", "serve", "tick", "summary", "db", "playbooks", "webhook add", "token create"} <= names
    for words, parser, summary in commands:
        assert summary and "\n" not in summary, f"warroom {' '.join(words)} has no one-line summary in its parent"
        assert parser.description, f"`warroom {' '.join(words)} --help` describes nothing"


def test_every_option_and_argument_has_a_help_text() -> None:
    parsers = [("warroom", cli._parser())] + [
        ("warroom " + " ".join(words), parser) for words, parser, _ in _commands(cli._parser())
    ]
    for name, parser in parsers:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{name}: {action.dest} has no help text"


def test_warroom_help_points_to_the_settings_page_and_webhook_add_lists_the_events(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "environment variables: see docs/SETTINGS.md" in top and SETTINGS_PAGE.exists()
    with pytest.raises(SystemExit):
        cli.main(["webhook", "add", "--help"])
    add = capsys.readouterr().out
    for event, when in EVENTS.items():
        assert re.search(rf"^  {re.escape(event)} +{re.escape(when)}$", add, re.M), event


def _read_by_config() -> set[str]:
    """The variables bot/config.py reads: every get("NAME") in it (Settings.from_env and WebSignIn.from_env)."""
    tree = ast.parse(Path(config.__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def _documented() -> dict[str, tuple[str, str]]:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \| (.+) \|$", SETTINGS_PAGE.read_text(), re.M)
    return {name: (default.strip(), meaning.strip()) for name, default, meaning in rows}


def test_the_settings_page_lists_exactly_the_settings_read_with_a_default_and_a_meaning() -> None:
    read, documented = _read_by_config(), _documented()
    assert len(read) > 20  # the walk finds the settings at all
    assert sorted(read - documented.keys()) == [], "read by bot/config.py but missing from docs/SETTINGS.md"
    assert sorted(documented.keys() - read) == [], "in docs/SETTINGS.md but read by nothing"
    for name, (default, meaning) in documented.items():
        assert default and len(meaning) > 10, name


def test_the_defaults_on_the_settings_page_are_the_ones_settings_take() -> None:
    documented, unset = _documented(), Settings.from_env({})
    assert documented["WARROOM_DATABASE_URL"][0] == f"`{unset.database_url}`"
    assert documented["WARROOM_PLAYBOOKS"][0] == f"`./{unset.playbooks_dir}`"
    assert documented["WARROOM_TZ"][0] == f"`{unset.timezone}`"
    assert documented["PORT"][0] == f"`{unset.port}`"
    assert documented["HOST"][0].startswith(f"`{unset.bind_host}`")
    for name, (default, _) in documented.items():  # a setting with no default is unset when not given
        if default == "—":
            assert Settings.from_env({name: ""}) == unset, name
