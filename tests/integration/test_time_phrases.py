"""Times as a new user types them, tried in `warroom console --start "2026-03-02 09:00" --tz America/New_York`."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import warroom

SESSION = """\
/incident open "Registers frozen" sev:1 customer:"Acme Retail"
/incident commit "a fix in every store" due:"next friday 17:00"
/incident commit "the logs reviewed" due:"end of day"
/incident commit "a workaround" due:"tomorrow morning"
/incident commit "a root-cause report" due:"in 4 months"
/incident commit "a call with their CIO" due:noon
/incident update "told them we are on it" next:"this friday"
/incident update "told them again" next:1m
/incident update "told them again" next:1min
/incident vendor northwind "the replacement unit" due:1mo
/incident commit "a fix" due:"11/12"
"""


def test_phrases_are_accepted_and_echoed_as_absolute_times_and_a_short_m_is_refused(tmp_path: Path) -> None:
    args = ("console", "--start", "2026-03-02 09:00", "--tz", "America/New_York")
    out = warroom(*args, stdin=SESSION, env={"WARROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}).stdout
    assert "C1 promised: a fix in every store, by Fri 6 Mar 2026 17:00 EST" in out
    assert "C2 promised: the logs reviewed, by Mon 2 Mar 2026 17:00 EST" in out
    assert "C3 promised: a workaround, by Tue 3 Mar 2026 09:00 EST" in out
    assert "C4 promised: a root-cause report, by Thu 2 Jul 2026 09:00 EDT" in out
    assert "C5 promised: a call with their CIO, by Mon 2 Mar 2026 12:00 EST" in out
    assert "U1 recorded: told them we are on it. Next update due Fri 6 Mar 2026 09:00 EST." in out
    assert "✖ (only you see this) '1m' is one minute: write 1min if you mean it, 1mo for a month" in out
    assert "U2 recorded: told them again. Next update due Mon 2 Mar 2026 09:01 EST." in out
    assert "U3" not in out  # the refused update changed nothing
    assert "V1 asked Northwind Distribution for the replacement unit, due Thu 2 Apr 2026 09:00 EDT" in out
    assert "✖ (only you see this) I can't read '11/12' as a time" in out and "C6" not in out
