"""API tokens: their shape, their hash, what each scope may do, and open commands built from an alert."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.web.bodies import open_command
from adapters.web.models import OpenIncident
from adapters.web.problems import ProblemError
from bot import commands as c
from bot.errors import BadInput
from bot.tokens import ApiToken, Scope, check_name, looks_like_token, new_token, token_hash


def test_a_token_is_the_prefix_and_32_random_bytes_kept_as_its_sha256() -> None:
    one, two = new_token(), new_token()
    assert one != two and looks_like_token(one) and len(one) == 46
    assert token_hash(one) == hashlib.sha256(one.encode()).hexdigest()
    assert not looks_like_token("wr_short") and not looks_like_token("Bearer " + one)


def test_a_write_token_may_read_a_read_token_may_not_write() -> None:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    read, write = (ApiToken(1, "x", s, "h", at) for s in (Scope.READ, Scope.WRITE))
    assert read.may(Scope.READ) and not read.may(Scope.WRITE)
    assert write.may(Scope.READ) and write.may(Scope.WRITE)


def test_token_names_are_plain_words() -> None:
    assert check_name("pagerduty.prod-1") == "pagerduty.prod-1"
    for bad in ("", "two words", "-dash", "x" * 81, "ünïcode"):
        with pytest.raises(BadInput):
            check_name(bad)


def test_an_alert_becomes_the_open_command_a_person_would_type() -> None:
    alert = OpenIncident.model_validate(
        {
            "title": 'POS "freeze"',
            "severity": 1,
            "customer": "Acme Retail",
            "impact": "no sales",
            "cost_per_hour": "40000",
            "revenue_at_risk": 2000000,
            "products": ["pos", "payments"],
        }
    )
    parsed = c.parse(open_command(alert))
    assert parsed == c.OpenIncident(
        title='POS "freeze"',
        severity=1,
        customer="Acme Retail",
        impact="no sales",
        cost_per_hour=Decimal(40000),
        revenue_at_risk=Decimal(2000000),
        products=("pos", "payments"),
    )
    with pytest.raises(ProblemError):
        open_command(OpenIncident(title='a "b" \u201cc\u201d'))
