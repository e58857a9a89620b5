"""Issue 24's attack through the real Slack surface, on SQLite and PostgreSQL: a member who is not in a private
incident's room learns nothing of it and changes nothing; another workspace is refused; a replayed read answers
nothing."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from adapters.slack.surface import STRANGER
from tests.adapters.fake_slack import LOBBY, TEAM, Channel
from tests.adapters.slack_world import FORM, SlackWorld, slack_world

PRIVATE = 'open "Globex disputes the Q3 invoice" playbook:billing-dispute customer:"Globex" at-risk:2M sev:2'
WRITES = (
    "note INC-1 pwned",
    "sev INC-1 4",
    "role INC-1 commander @mallory",
    "update INC-1 all fine",
    "resolve INC-1",
    "close INC-1",
    "outcome INC-1 we lost them",
)


@pytest.fixture
async def slack(database_url: str) -> AsyncIterator[SlackWorld]:
    async with slack_world(database_url) as world:
        yield world


async def opened(world: SlackWorld, text: str = 'open "Router dead on arrival" sev:2') -> Channel:
    """The war room of an incident opened from the lobby, once its opener has been answered."""
    room = await world.opened(text)
    await world.until(lambda: bool(world.fake.responses), "the answer to the open")
    await world.surface.idle()
    return room


async def read(world: SlackWorld, text: str, *, user: str = "dana", room: Channel | None = None) -> str:
    """A read-only command's answer: in its ack, or after it when the ack's second ran out (a loaded machine)."""
    channel, name = (room.id, room.name) if room else (LOBBY, "general")
    before = len(world.fake.responses)
    status, body = await world.exchange(world.command_body(text, user=user, channel=channel, channel_name=name), FORM)
    assert status == 200
    if body:
        return str(json.loads(body)["text"])
    await world.until(lambda: len(world.fake.responses) > before, f"the answer to {text!r}")
    return world.replies()[-1]


async def timeline(world: SlackWorld) -> list[str]:
    async with world.app.db.read() as store:
        return [e.text for e in await store.timeline(1)]


async def answers_to(world: SlackWorld, texts: tuple[str, ...], *, user: str, room: Channel | None = None) -> list[str]:
    """Each command sent and answered in turn (through its response_url): the answers."""
    for text in texts:
        before = len(world.fake.responses)
        assert await world.command(text, user=user, room=room) == 200
        await world.until(lambda n=before: len(world.fake.responses) > n, f"the answer to {text!r}")  # type: ignore[misc]
        await world.surface.idle()
    return world.replies()[-len(texts) :]


async def test_a_member_outside_a_private_room_learns_nothing_and_changes_nothing(slack: SlackWorld) -> None:
    room = await opened(slack, PRIVATE)
    before = await timeline(slack)
    nobody = await read(slack, "status INC-99", user="mallory")

    assert nobody == "there is no INC-99; nothing was recorded"
    assert await read(slack, "status INC-1", user="mallory") == "there is no INC-1; nothing was recorded"
    assert "INC-1" not in await read(slack, "list", user="mallory")
    said = await answers_to(slack, WRITES, user="mallory")
    assert said == ["there is no INC-1; nothing was recorded"] * len(WRITES)
    assert await timeline(slack) == before

    # in the room: a responder notes; a close by someone who is neither commander nor exec sponsor is refused
    lee = await answers_to(
        slack, ("note the customer sent their ledger", "resolve credit issued"), user="lee", room=room
    )
    assert lee[0].startswith("INC-1: noted") and lee[1].startswith("INC-1: Resolved")
    [refused] = await answers_to(slack, ("close",), user="lee", room=room)
    assert refused == (
        "only the commander or the exec sponsor may close INC-1 (playbook billing-dispute); nothing was recorded"
    )
    async with slack.app.db.read() as store:
        assert (await store.get_incident(1)).state.value == "resolved"


async def test_a_public_incident_is_read_from_a_lobby_and_changed_only_in_its_room(slack: SlackWorld) -> None:
    room = await opened(slack)
    before = await timeline(slack)

    assert (await read(slack, "status INC-1", user="mallory")).startswith("INC-1 · Router dead on arrival")
    said = await answers_to(slack, WRITES, user="mallory")
    assert all(s.startswith(f"INC-1 is worked on in its own war room (#{room.name}): run `") for s in said), said
    assert all(s.endswith("; nothing was recorded") for s in said)
    assert await timeline(slack) == before


async def test_a_request_from_another_workspace_is_refused_and_changes_nothing(slack: SlackWorld) -> None:
    room = await opened(slack)
    before = await timeline(slack)
    elsewhere = f"team_id={TEAM}", "team_id=T0EVIL"

    for text in ("status", "note from another workspace", "close unresolved bye"):
        body = slack.command_body(text, channel=room.id, channel_name=room.name).replace(*elsewhere)
        status, answer = await slack.exchange(body, FORM)
        assert (status, json.loads(answer)) == (200, {"text": STRANGER, "response_type": "ephemeral"})
    await slack.surface.idle()
    assert await timeline(slack) == before
    assert not slack.fake.responses[1:]  # nothing but the answer to the open went anywhere


async def test_a_replayed_signed_status_gets_an_empty_200_and_answers_nothing(slack: SlackWorld) -> None:
    room = await opened(slack)
    answered = len(slack.fake.responses)
    body = slack.command_body("status", channel=room.id, channel_name=room.name)
    now = int(time.time())

    status, first = await slack.exchange(body, FORM, timestamp=now)
    if not first:  # not answered within the ack's second (a loaded machine): the answer comes after it
        await slack.until(lambda: len(slack.fake.responses) > answered, "the answer to the first status")
        await slack.surface.idle()
        answered, first = len(slack.fake.responses), json.dumps({"text": slack.replies()[-1]})
    assert status == 200 and json.loads(first)["text"].startswith("INC-1 · Router dead on arrival")
    assert await slack.exchange(body, FORM, timestamp=now) == (200, "")  # the same signature: a copy
    await slack.surface.idle()
    assert len(slack.fake.responses) == answered  # and nothing came later either
    # the same words sent again, newly signed, are a new request and are answered
    assert (await read(slack, "status", room=room)).startswith("INC-1 · Router dead on arrival")
