"""The README stays a front page: the two commands, what Warroom is, a short tour and links that resolve.

The documentation site itself is checked by `mkdocs build --strict` in `.ci/run` (broken links and anchors fail)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_readme_opens_with_the_two_commands_and_stays_short() -> None:
    lines = README.splitlines()
    assert len(lines) < 250
    block = README[README.index("```bash\n") + len("```bash\n") : README.index("```", README.index("```bash\n") + 3)]
    commands = block.strip().splitlines()
    assert commands[0].endswith("pip install . && warroom demo")
    assert "pip install -e '.[test]' && pytest" in commands[1]


def test_every_relative_link_in_the_readme_names_a_file_that_exists() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert local, "the README links to its documentation pages"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []


def test_every_docs_page_is_in_the_site_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    in_nav = set(pages(config["nav"]))
    on_disk = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert on_disk - in_nav == set()
    assert in_nav - on_disk == set()
