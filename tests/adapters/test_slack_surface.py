"""Which surface the settings choose, and Socket Mode against a fake Slack WebSocket on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from adapters.slack.surface import UNSURE, SlackSurface
from bot.app import make_surface
from bot.config import ConfigError, Settings
from tests.adapters.fake_slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.adapters.slack_world import FORM, slack_world


def test_a_bot_token_selects_slack_over_http_and_an_app_token_selects_socket_mode() -> None:
    http = make_surface(Settings(slack_bot_token=BOT_TOKEN, slack_signing_secret="s"))
    socket = make_surface(Settings(slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN))

    assert isinstance(http, SlackSurface) and not http.socket_mode
    assert isinstance(socket, SlackSurface) and socket.socket_mode


def test_slack_needs_a_signing_secret_or_an_app_token() -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        make_surface(Settings(slack_bot_token=BOT_TOKEN))


async def test_socket_mode_receives_a_command_over_the_websocket_and_acks_its_envelope(tmp_path: Path) -> None:
    async with slack_world(
        f"sqlite:///{tmp_path / 'w.db'}", slack_app_token=APP_TOKEN, slack_signing_secret=None
    ) as world:
        assert world.fake.called("apps.connections.open")
        body = world.command_body('open "Router dead on arrival" sev:2')
        assert await world.send(body, FORM, signed=False) == 404  # no signing secret: no HTTP endpoint to forge

        payload = dict(parse_qsl(body))
        await world.fake.push(
            {"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True, "payload": payload}
        )

        await world.until(lambda: any(a.get("envelope_id") == "env-1" for a in world.fake.socket_acks), "the ack")
        await world.until(lambda: bool(world.fake.called("pins.add")), "the war room")
        await world.until(lambda: bool(world.fake.responses), "the answer")
        assert world.replies()[0].startswith("Opened INC-1 in #inc-1-router-dead-on-arrival")


async def test_a_slow_auth_test_holds_back_no_ack(tmp_path: Path) -> None:
    fake = FakeSlack()
    slow = fake.gates["auth.test"] = asyncio.Event()  # Slack takes its time to say who the bot is

    async with asyncio.timeout(60), slack_world(f"sqlite:///{tmp_path / 'w.db'}", fake=fake) as world:
        # acked while auth.test hangs; answered once the bot knows its workspace (a request from another one runs
        # nothing, so the answer waits for that)
        assert await world.exchange(world.command_body("list"), FORM) == (200, "")
        assert await world.command('open "Router dead on arrival" sev:2') == 200
        assert not slow.is_set() and fake.called("auth.test") and not fake.responses

        slow.set()
        await world.until(lambda: len(fake.responses) == 2, "the answers, once Slack answers")
        assert sorted(world.replies())[0].startswith("No open incidents.")
        assert sorted(world.replies())[1].startswith("Opened INC-1 in #inc-1-router-dead-on-arrival")


async def test_a_failing_auth_test_holds_back_no_ack_and_is_tried_again(tmp_path: Path) -> None:
    fake = FakeSlack()
    fake.down["auth.test"] = 503  # Slack is unreachable for auth.test, whatever the retries

    async with asyncio.timeout(60), slack_world(f"sqlite:///{tmp_path / 'w.db'}", fake=fake) as world:
        assert await world.exchange(world.command_body("list"), FORM) == (200, "")  # the ack is not held back
        await world.until(lambda: bool(fake.responses), "the answer")
        assert world.replies() == [UNSURE]  # it ran nothing: the bot cannot tell its workspace yet, and says so
        assert {c.status for c in fake.calls if c.method == "auth.test"} == {503}

        del fake.down["auth.test"]
        await world.until(lambda: bool(fake.called("auth.test")), "auth.test tried again, and answered")
        assert await world.ask("list") == "No open incidents."
