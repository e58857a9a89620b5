"""The README's walk-through with curl, run as written by bash against `warroom serve --console`, on a database that
already holds the console tour's incident: the walk-through reads the new incident's number from the answer."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from tests.conftest import PLAYBOOKS, ROOT
from tests.integration.test_serve import warroom_serve

# The walk-through after its TOKEN= and API= lines, exactly as the documentation prints it.
WALKTHROUGH = r"""
ALERT='{"title": "POS freeze", "severity": 1, "customer": "Acme", "cost_per_hour": 40000, "revenue_at_risk": 2000000}'

# Open an incident from an alert, with its war room, exactly as `/incident open` does: the room is created,
# the playbook's responders invited and the kickoff card posted. 201, with Location: /api/v1/incidents/<n>.
# Its number is the next free one (INC-2 after the console tour's INC-1): read it from the answer.
N=$(curl -s -X POST "$API/incidents" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: alert-7781' -d "$ALERT" |
  python3 -c 'import json, sys; a = json.load(sys.stdin); print(a.get("number") or sys.exit(a.get("detail")))')
echo "opened INC-$N"

# The alerting tool retries (a timeout, a redelivery): the same Idempotency-Key opens nothing new and answers
# 200 with the same incident — from any replica.
curl -s -X POST "$API/incidents" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: alert-7781' -d "$ALERT"

# Run any command of the chat grammar in the incident's war room, as the token; the answer is the reply a person
# gets. With an Idempotency-Key a retry runs nothing again and gets the first reply (header Idempotent-Replayed: true).
curl -s -X POST "$API/incidents/$N/commands" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: jira-4471-note' \
  -d '{"text": "vendor northwind \"tracking number for the replacement unit\" due:2h ref:RMA-4471"}'

# What is late: follow-ups past due across every incident not closed, earliest due first.
curl -s "$API/follow-ups?state=overdue" -H "Authorization: Bearer $TOKEN"

# The lessons-learned summary (a draft until the incident closes, as `warroom summary` prints it).
curl -s "$API/incidents/$N/summary?format=markdown" -H "Authorization: Bearer $TOKEN"
"""

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


async def test_the_curl_walk_through_works_after_the_console_tour(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
    }
    toured = await _warroom(env, "console", "--user", "you", stdin=TOUR)  # the tour leaves INC-1, closed
    assert "Lessons learned · INC-1" in toured
    token = (await _warroom(env, "token", "create", "pagerduty", "--scope", "write")).strip()
    with (tmp_path / "terminal.txt").open("w") as terminal:
        async with warroom_serve(tmp_path, {}, args=["--console"], stdout=terminal, patience=STARTUP) as server:
            shell = await asyncio.create_subprocess_exec(
                "bash", "-euo", "pipefail", "-c", WALKTHROUGH, cwd=tmp_path,
                env={**os.environ, "TOKEN": token, "API": f"{server.base}/api/v1"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out_bytes, err_bytes = await asyncio.wait_for(shell.communicate(), timeout=120)
    out, err = out_bytes.decode(), err_bytes.decode()
    assert shell.returncode == 0, err
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


async def test_the_walk_through_says_why_when_the_incident_is_not_opened(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'served.db'}",
        "WARROOM_PLAYBOOKS": str(PLAYBOOKS),
    }
    token = (await _warroom(env, "token", "create", "grafana")).strip()  # read only: it may not open one
    with (tmp_path / "terminal.txt").open("w") as terminal:
        async with warroom_serve(tmp_path, {}, args=["--console"], stdout=terminal, patience=STARTUP) as server:
            shell = await asyncio.create_subprocess_exec(
                "bash", "-euo", "pipefail", "-c", WALKTHROUGH, cwd=tmp_path,
                env={**os.environ, "TOKEN": token, "API": f"{server.base}/api/v1"},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out_bytes, err_bytes = await asyncio.wait_for(shell.communicate(), timeout=120)
    assert shell.returncode != 0 and out_bytes == b""  # it stops at once, running nothing against no incident
    [reason] = err_bytes.decode().strip().splitlines()
    assert "write" in reason  # the problem's one-line detail, not a traceback
