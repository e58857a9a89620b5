"""The walk-through with curl in docs/API.md, run as written by bash against `warroom serve --console`, on a
database that already holds the console tour's incident: the walk-through reads the new incident's number from
the answer."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.conftest import PLAYBOOKS, ROOT
from tests.integration.test_serve import warroom_serve


def _walkthrough() -> str:
    """The walk-through after its TOKEN= and API= lines, exactly as docs/API.md prints it."""
    page = (ROOT / "docs" / "API.md").read_text()
    start = page.index("API=http://localhost:3000/api/v1\n") + len("API=http://localhost:3000/api/v1\n")
    end = page.index("\n", page.index('summary?format=markdown" -H "Authorization: Bearer $TOKEN"'))
    return page[start:end]


WALKTHROUGH = _walkthrough()

STARTUP = 180  # seconds `warroom serve` may take to answer on a machine busy with other tests (a second alone)

TOUR = """\
/incident open "POS registers freeze in 300 stores" sev:1 customer:"Acme Retail" cost:40k/h
/incident resolve firmware 4.2.1 rolled out
/incident close
"""


async def _warroom(env: dict[str, str], *args: str, stdin: str = "") -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _walk(base: str, token: str, folder: Path) -> tuple[int, str, str]:
    """docs/API.md's walk-through run by bash with TOKEN and API set: its exit code, output and errors."""
    shell = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", WALKTHROUGH, cwd=folder,
        env={**os.environ, "TOKEN": token, "API": f"{base}/api/v1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(shell.communicate(), timeout=120)
    assert shell.returncode is not None
    return shell.returncode, out.decode(), err.decode()


# One server for both runs: starting `warroom serve` costs seconds (minutes on a busy machine), and the refused run
# going first also shows it changed nothing: the walk-through then still opens INC-2.
async def test_the_curl_walk_through_says_why_with_a_read_token_and_works_after_the_console_tour(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
    }
    toured = await _warroom(env, "console", "--user", "you", stdin=TOUR)  # the tour leaves INC-1, closed
    assert "Lessons learned · INC-1" in toured
    reader = (await _warroom(env, "token", "create", "grafana")).strip()  # read only: it may not open one
    token = (await _warroom(env, "token", "create", "pagerduty", "--scope", "write")).strip()
    with (tmp_path / "terminal.txt").open("w") as terminal:
        async with warroom_serve(tmp_path, {}, args=["--console"], stdout=terminal, patience=STARTUP) as server:
            refused = await _walk(server.base, reader, tmp_path)
            code, out, err = await _walk(server.base, token, tmp_path)

    refused_code, refused_out, refused_err = refused
    assert refused_code != 0 and refused_out == ""  # it stops at once, running nothing against no incident
    [reason] = refused_err.strip().splitlines()
    assert "write" in reason  # the problem's one-line detail, not a traceback

    assert code == 0, err
    first, rest = out.split("\n", 1)
    assert first == "opened INC-2"
    answers, at = [], 0
    for _ in range(3):  # curl prints each JSON answer without a newline after it, as a terminal would show them
        value, at = json.JSONDecoder().raw_decode(rest, at)
        answers.append(value)
    again, command, late = answers
    assert again["ref"] == "INC-2" and again["title"] == "POS freeze"  # the retry: the same incident
    assert "V1" in json.dumps(command) and "Northwind" in json.dumps(command)
    assert late["items"] == []  # nothing overdue yet: V1 is due in two hours
    summary = rest[at:]
    assert summary.startswith("> Draft: INC-2 is not closed yet.") or "# INC-2 — POS freeze" in summary
    assert "INC-1" not in summary and "tracking number for the replacement unit" in summary
    export = await _warroom(env, "summary", "INC-1", "--format", "json")
    assert "replacement unit" not in export  # the tour's closed incident was left alone
