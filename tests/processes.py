"""`warroom` as a user runs it, in a subprocess: a command to completion, or `warroom dashboard` left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import PLAYBOOKS, ROOT


def warroom(
    *args: str,
    stdin: str = "",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run `warroom ARGS` (as `python -m bot`) to the end, with the shipped playbooks unless ``env`` says others."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or ROOT,
        env={**os.environ, "WARROOM_PLAYBOOKS": str(PLAYBOOKS), **(env or {})},
    )


@dataclass
class Dashboard:
    """A running `warroom dashboard`: the address it printed and the lines it printed after it."""

    url: str
    process: subprocess.Popen[str]

    def next_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline()


@contextmanager
def dashboard(folder: Path, *args: str, database_url: str | None = None) -> Iterator[Dashboard]:
    """`warroom dashboard --port 0 ARGS` started in ``folder`` (without WARROOM_DATABASE_URL unless given: the default
    warroom.db there); stopped with SIGTERM afterwards, which it must answer by exiting 0."""
    env = {**os.environ, "WARROOM_PLAYBOOKS": str(PLAYBOOKS), "PYTHONPATH": str(ROOT)}
    env.pop("WARROOM_DATABASE_URL", None)
    if database_url is not None:
        env["WARROOM_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "dashboard", "--port", "0", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)  # loopback only: no sign-in here
        assert found, line + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        yield Dashboard(found.group(0), process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert code == 0
