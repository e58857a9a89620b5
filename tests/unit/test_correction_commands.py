"""The grammar of corrections: `commit at-risk`, `commit kept … late`, `rca owner`, and what a vendor name carries."""

from __future__ import annotations

import pytest

from bot.commands import AskVendor, KeepCommitment, OwnRootCause, RiskCommitment, parse
from bot.errors import BadInput


def test_commit_at_risk_reads_its_number_and_reason_in_every_spelling() -> None:
    wanted = RiskCommitment(number=1, reason="parts delayed")
    assert parse('commit at-risk C1 "parts delayed"') == wanted
    assert parse("commit at risk c1 parts delayed") == wanted
    assert parse("commit at_risk C1 parts delayed") == wanted
    assert parse("commit at-risk C2") == RiskCommitment(number=2)


def test_commit_kept_late_is_a_flag_and_the_rest_is_the_note() -> None:
    assert parse("commit kept C1 late") == KeepCommitment(number=1, late=True)
    assert parse("commit kept C1 late courier came") == KeepCommitment(number=1, note="courier came", late=True)
    assert parse('commit kept C1 "late shipment, but here"') == KeepCommitment(number=1, note="late shipment, but here")
    assert parse("commit kept C1 done early") == KeepCommitment(number=1, note="done early")


def test_a_vendor_name_carries_the_unquoted_words_after_it() -> None:
    assert parse("vendor fourth coffee voice due:1d") == AskVendor(
        vendor="fourth", ask="coffee voice", due="1d", trailing=("coffee", "voice")
    )
    assert parse('vendor fourth coffee "voice logs" due:1d').trailing == ("coffee",)  # type: ignore[attr-defined]
    assert parse('vendor "fourth coffee" voice due:1d').trailing == ()  # type: ignore[attr-defined]
    assert parse('vendor fourth "voice logs" due:1d').trailing == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("commit at-risk", "`commit at-risk` needs a commitment number like C1"),
        ("commit at-risk C1 due:1d", "`commit at-risk` takes no options"),
        ("commit kept late", "`commit kept` needs a commitment number like C1"),
    ],
)
def test_bad_corrections_are_one_line_with_an_example(text: str, reason: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse(text)
    message = str(caught.value)
    assert reason in message and "\n" not in message and "e.g. `" in message


def test_rca_owner_names_the_owner_and_its_due_time_is_optional() -> None:
    assert parse("rca owner us due:2d") == OwnRootCause(owner_side="us", due="2d")
    assert parse("rca owner US") == parse("rca us") == OwnRootCause(owner_side="us")
    assert parse('rca owner tailspin "full RCA" ref:TS-9') == OwnRootCause(
        owner_side="tailspin", ask="full RCA", reference="TS-9"
    )
