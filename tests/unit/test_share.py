"""`share` as typed, and what makes a link to the customer's page live, its token and its rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import commands as c
from bot.domain import Person
from bot.errors import BadInput
from bot.share import QUESTIONS_PER_HOUR, CustomerLink, new_token, token_hash

AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_share_parses_its_three_forms() -> None:
    assert c.parse("share") == c.ShareLink()
    assert c.parse("share to:ops@acme.example,CIO@acme.example") == c.ShareLink(
        to=("ops@acme.example", "cio@acme.example")
    )
    assert c.parse("share INC-4 list") == c.ListShares(incident=4)
    assert c.parse("share revoke") == c.RevokeShare()
    assert c.parse("share revoke 2") == c.RevokeShare(number=2)
    assert c.parse("share revoke #3") == c.RevokeShare(number=3)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("share to:nobody", "not an email address"),
        ("share list now", "takes no words"),
        ("share revoke 1 2", "one link number at most"),
        ("share revoke x", "not a link number"),
        ("share revoke 0", "not a link number"),
        ("share list to:a@b.example", "takes no to:"),
        ("share everyone", "takes list, revoke or to:"),
        ("share due:2d", "has no option due:"),
    ],
)
def test_share_refuses_what_it_cannot_do_in_one_line(text: str, said: str) -> None:
    with pytest.raises(BadInput, match=said):
        c.parse(text)


def test_a_token_is_256_random_bits_and_only_its_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(len(t) == 43 for t in tokens)  # 32 bytes, URL-safe base64
    token = next(iter(tokens))
    assert token_hash(token) == token_hash(token) and len(token_hash(token)) == 64 and token not in token_hash(token)


def link(**changes: object) -> CustomerLink:
    base = CustomerLink(1, 1, 1, AT, Person("dana", "Dana"))
    return CustomerLink(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_a_link_lives_until_revoked_or_its_days_after_close() -> None:
    assert link().live(None, AT + timedelta(days=400))  # open incidents keep their links
    assert not link(revoked_at=AT).live(None, AT)
    closed = AT + timedelta(days=1)
    assert link().live(closed, closed + timedelta(days=30) - timedelta(seconds=1))
    assert not link().live(closed, closed + timedelta(days=30))
    assert not link(days=2).live(closed, closed + timedelta(days=2))


def test_a_few_questions_an_hour() -> None:
    asked = tuple(AT + timedelta(minutes=n) for n in range(QUESTIONS_PER_HOUR))
    left, recent = link(asked=asked).questions_left(AT + timedelta(minutes=30))
    assert left == 0 and len(recent) == QUESTIONS_PER_HOUR
    left, recent = link(asked=asked).questions_left(AT + timedelta(minutes=61))
    assert left == 2 and len(recent) == QUESTIONS_PER_HOUR - 2
