"""The door of POST /slack/events: nothing too large, unsigned, unreadable or replayed reaches Bolt or the core."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import pytest

from adapters.slack.edge import RefusalLog
from bot.store import Database
from tests.adapters.fake_slack import LOBBY, user_id
from tests.adapters.slack_world import FORM, SlackWorld, sign, slack_world
from tests.silent import silent_postgres

JSON = "application/json"
# Signed or not, none of these is something Slack sends; Bolt used to answer them with a 500 and a traceback.
MALFORMED = [
    ('{"type":', JSON),
    ("[1,2]", JSON),
    ('"just a string"', JSON),
    ("payload=%7Bnot+json", FORM),
    ("payload=%5B1%2C2%5D", FORM),
    ('{"type": "event_callback", "event": "not an object"}', JSON),
    ('{"team": 5, "user": 7, "enterprise": 3}', JSON),
    ('{"type": "block_suggestion", "action_id": []}', JSON),
    (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": 5}]})}), FORM),
    (urlencode({"payload": json.dumps({"type": "view_submission", "view": {"callback_id": "warroom:open"}})}), FORM),
    (urlencode({"payload": json.dumps({"type": "view_submission", "view": "not an object"})}), FORM),
]


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackWorld]:
    async with slack_world(f"sqlite:///{tmp_path / 'warroom.db'}") as world:
        yield world


async def answered_list(world: SlackWorld) -> None:
    """The server still serves: a valid `/incident list` is acked, and answered in the ack."""
    assert await world.ask("list") == "No open incidents."


async def test_signed_but_malformed_bodies_get_400_without_a_traceback(
    slack: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    answers = [await slack.exchange(body, kind) for body, kind in MALFORMED]

    assert answers == [(400, '{"error": "malformed body"}')] * len(MALFORMED)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    await answered_list(slack)
    assert await slack.incidents() == []


async def test_unsigned_and_badly_timestamped_requests_get_401_whatever_their_body(slack: SlackWorld) -> None:
    body = slack.command_body('open "Router dead on arrival"')
    good = sign(body)

    for malformed, kind in MALFORMED:
        assert await slack.exchange(malformed, kind, signed=False) == (401, '{"error": "missing signature"}')
    for timestamp in ("soon", "１７００００００００", "", "1e9", "-5"):
        headers = {**good, "X-Slack-Request-Timestamp": timestamp}
        assert (await slack.exchange(body, FORM, signed=False, **headers))[0] == 401
    old = int(time.time()) - 6 * 60
    assert await slack.exchange(body, FORM, timestamp=old) == (401, '{"error": "expired timestamp"}')
    assert await slack.exchange(b"text=\xff\xfe", FORM) == (401, '{"error": "bad signature"}')

    await answered_list(slack)
    assert await slack.incidents() == []


async def test_a_body_over_a_megabyte_gets_413_before_its_signature_is_read(
    slack: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    huge = "text=" + "x" * (1024 * 1024)

    assert (await slack.exchange(huge, FORM, signed=False))[0] == 413
    assert (await slack.exchange(huge, FORM))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the size is only known by reading
        for _ in range(40):
            yield b"x" * 65536

    async with slack.http.post(slack.url, data=chunks(), headers={"Content-Type": FORM}) as response:
        assert response.status == 413
    await answered_list(slack)
    said = [r.getMessage() for r in caplog.records if "POST /slack/events" in r.getMessage()]
    assert said == ["refused a request to POST /slack/events: body too large (413)"]  # three refusals, one line


async def test_slacks_unsigned_certificate_check_is_answered_and_nothing_else_is(slack: SlackWorld) -> None:
    assert await slack.exchange("ssl_check=1&token=legacy", FORM, signed=False) == (200, "")
    assert (await slack.exchange("ssl_check=1&command=/incident&text=list", FORM, signed=False))[0] == 200
    assert (await slack.exchange("ssl_check=0&text=list", FORM, signed=False))[0] == 401
    assert not slack.fake.responses  # the certificate check ran nothing


async def test_refusals_are_logged_as_one_short_line_per_kind_never_with_the_body(
    slack: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, Bolt's INFO lines included
    marker = "PRIVATE-BODY-" + "y" * 100_000

    for _ in range(20):
        assert await slack.send(f"text={marker}", FORM, signed=False) == 401
        assert await slack.send(f"text={marker}", FORM, **{"X-Slack-Signature": "v0=" + "0" * 64}) == 401

    logged = [r.getMessage() for r in caplog.records]
    assert not [m for m in logged if "PRIVATE-BODY" in m]
    refusals = [m for m in logged if m.startswith("refused a request to POST /slack/events")]
    assert refusals == [
        "refused a request to POST /slack/events: missing signature (401)",
        "refused a request to POST /slack/events: bad signature (401)",
    ]


def test_the_refusal_log_says_how_many_lines_it_left_out() -> None:
    now = [1000.0]
    logger = logging.getLogger("test.refusals")
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.addHandler(Keep())
    refusals = RefusalLog(logger, every=60, clock=lambda: now[0])
    try:
        for _ in range(5):
            refusals.refused(401, "bad signature")
        refusals.refused(413, "body too large")
        now[0] += 61
        refusals.refused(401, "bad signature")
    finally:
        logger.handlers.clear()

    assert lines == [
        "refused a request to POST /slack/events: bad signature (401)",
        "refused a request to POST /slack/events: body too large (413)",
        "refused a request to POST /slack/events: bad signature (401); 4 more since the last such line",
    ]


async def test_a_signed_request_replayed_inside_the_five_minute_window_runs_once(slack: SlackWorld) -> None:
    body = slack.command_body('open "Router dead on arrival" sev:2')
    a_minute_ago = int(time.time()) - 64  # still well inside Slack's window

    assert await slack.exchange(body, FORM, timestamp=a_minute_ago) == (200, "")
    assert await slack.exchange(body, FORM, timestamp=a_minute_ago) == (200, "")  # acked, and nothing more
    await slack.until(lambda: bool(slack.fake.responses), "the answer to the open")
    await slack.surface.idle()

    assert len(await slack.incidents()) == 1
    assert [r.split(" in ")[0] for r in slack.replies()] == ["Opened INC-1"]  # no "this copy was ignored" either


async def test_a_replay_sent_to_another_replica_is_refused_there(database_url: str) -> None:
    async with slack_world(database_url) as first, slack_world(database_url) as second:
        body = first.command_body('note "the courier lost the unit"')
        now = int(time.time())

        assert await first.exchange(body, FORM, timestamp=now) == (200, "")
        assert await second.exchange(body, FORM, timestamp=now) == (200, "")
        await first.until(lambda: bool(first.fake.responses), "the answer on the first replica")
        await first.surface.idle()
        await second.surface.idle()

        assert len(first.fake.responses) == 1  # the answer goes to the request's response_url: the second ran nothing


async def test_when_the_database_is_silent_the_ack_still_goes_and_the_person_is_told_nothing_was_recorded(
    slack: SlackWorld,
) -> None:
    async with silent_postgres() as url:
        silent = Database(url)
        slack.surface._app = replace(slack.app, db=silent)
        try:
            acked = await slack.exchange(slack.command_body('open "Router dead"'), FORM)
            mention = {"type": "app_mention", "user": user_id("dana"), "channel": LOBBY, "text": "<@UBOT> list"}
            event_acked = await slack.event(mention, event_id="Ev-silent")
            await slack.until(lambda: bool(slack.fake.called("chat.postEphemeral")), "the answer to the mention")
        finally:
            slack.surface._app = slack.app
            await silent.dispose()

    nothing = "Warroom cannot reach its database right now, so nothing was recorded. Try again in a minute."
    # within Slack's 3 seconds, database or not; the command could not be written down, and the ack says so
    assert acked[0] == 200 and json.loads(acked[1]) == {"text": nothing, "response_type": "ephemeral"}
    assert event_acked == 200
    assert slack.replies() == []
    assert [c.args["text"] for c in slack.fake.called("chat.postEphemeral")] == [nothing]
    assert not slack.fake.called("conversations.create", ok=False)


async def test_a_signed_body_nested_too_deeply_gets_400_never_a_recursion_error(
    slack: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    deep = '{"type": "event_callback", "event": ' + "[" * 100_000 + "]" * 100_000 + "}"
    shallow_enough_to_parse = '{"type": "event_callback", "event": ' + '{"a": ' * 500 + "1" + "}" * 500 + "}"
    in_a_form = urlencode({"payload": '{"type": "block_actions", "actions": ' + "[" * 5000 + "]" * 5000 + "}"})

    answers = [
        await slack.exchange(deep, JSON),
        await slack.exchange(shallow_enough_to_parse, JSON),
        await slack.exchange(in_a_form, FORM),
    ]

    assert answers == [(400, '{"error": "body nested too deeply"}')] * 3
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert "RecursionError" not in caplog.text
    await answered_list(slack)
