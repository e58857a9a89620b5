"""Webhook settings, the event table, signatures and the retry policy, without a database."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, Settings
from bot.domain import EventKind
from bot.webhook_delivery import backoff, retry_after
from bot.webhooks import EVENTS, WebhookTarget, occurrences, sign

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
SECRET = "0123456789abcdef0123456789abcdef"  # as random as `openssl rand -hex 16` looks


DEFAULT = "s3cret-default-0123456789abcdefghijk"


def settings(hooks: str, secret: str | None = DEFAULT) -> Settings:
    env = {"WARROOM_WEBHOOKS": hooks} | ({"WARROOM_WEBHOOK_SECRET": secret} if secret else {})
    return Settings.from_env(env)


def test_webhooks_setting_lists_subscriptions_with_their_events_and_secrets() -> None:
    found = settings(
        "https://a.example/hook events=incident.opened,incident.closed;\n"
        "  http://b.example:8080/in secret=per-subscription-secret-1-0123456789\n"
    ).webhooks
    assert found == (
        WebhookTarget("https://a.example/hook", ("incident.opened", "incident.closed"), DEFAULT),
        WebhookTarget("http://b.example:8080/in", (), "per-subscription-secret-1-0123456789"),
    )
    described = str(settings("https://a.example/hook secret=never-logged-secret-0123456789abcdef").describe())
    assert "a.example/hook" in described and "never-logged-secret-0123456789abcdef" not in described
    assert "s3cret-default" not in str(settings("https://a.example/hook").describe())


@pytest.mark.parametrize(
    ("value", "secret", "error"),
    [
        ("ftp://a.example/hook", SECRET, "WARROOM_WEBHOOKS: webhooks go to http:// or https:// URLs only, not"),
        ("https://a.example/h events=incident.exploded", SECRET, "unknown webhook event 'incident.exploded'"),
        ("https://a.example/h", None, "has no signing secret: set WARROOM_WEBHOOK_SECRET or add secret="),
        ("https://a.example/h colour=blue", SECRET, "'colour=blue' is not events=a,b or secret="),
        ("https://a.example/h; https://a.example/h", SECRET, "is listed twice"),
        ("https://a.example:99999/h", SECRET, "is not a URL"),
    ],
)
def test_a_webhooks_setting_warroom_cannot_use_is_one_line_naming_the_problem(
    value: str, secret: str | None, error: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(value, secret)
    assert error in str(caught.value) and "\n" not in str(caught.value)


def test_the_first_chase_is_overdue_later_ones_are_not_news() -> None:
    first = occurrences(EventKind.CHASED, {"follow_up": 1, "overdue": True}, text="V1 chased", actor=None)
    assert [o.type for o in first] == ["follow_up.overdue"]
    assert first[0].data == {"follow_up": 1, "overdue": True, "text": "V1 chased", "actor": None}
    assert occurrences(EventKind.CHASED, {"follow_up": 1, "overdue": False}, text="", actor=None) == []
    assert occurrences(EventKind.NOTE, {}, text="a note", actor=None) == []


def test_an_update_that_tells_bad_news_is_also_bad_news_told() -> None:
    found = occurrences(EventKind.UPDATE, {"update": 3, "tells": [1, 2]}, text="U3", actor={"id": "u", "name": "U"})
    assert [(o.type, o.data.get("bad_news")) for o in found] == [
        ("update.recorded", None),
        ("bad_news.told", 1),
        ("bad_news.told", 2),
    ]
    mapped = {
        o.type for kind in EventKind for o in occurrences(kind, {"overdue": True, "tells": [1]}, text="", actor=None)
    }
    assert mapped == set(EVENTS)  # every documented event has a timeline event behind it


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"id": "evt_1"}'
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("secret", 1700000000, body) == f"v1={expected}"


def test_backoff_doubles_from_ten_seconds_with_jitter_up_to_an_hour() -> None:
    assert [backoff(n, 0.5) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (10, 20, 40)]
    assert backoff(1, 0.0) == timedelta(seconds=8) and backoff(1, 1.0) == timedelta(seconds=12)
    assert backoff(30, 1.0) == timedelta(hours=1)


def test_retry_after_in_seconds_or_as_a_date_is_capped() -> None:
    assert retry_after("120", NOW) == timedelta(minutes=2)
    assert retry_after("Mon, 23 Nov 2026 14:05:00 GMT", NOW) == timedelta(minutes=5)
    assert retry_after("999999", NOW) == timedelta(hours=6)
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None
