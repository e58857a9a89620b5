"""POST /api/messages end to end: the real server, a real database, the shipped playbooks, a fake Bot Connector."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from adapters.teams.surface import TeamsSurface, from_this_machine
from bot.app import make_surface
from bot.config import ConfigError, Settings
from tests.adapters.fake_teams import APP_ID, DANA, GENERAL, PEOPLE, card_of, card_text
from tests.adapters.fake_teams_world import TeamsWorld, eventually, microsoft, teams_world

OPEN = 'incident open "Router dead on arrival" sev:2'
KIM = next(p for p in PEOPLE if p["id"] == "29:kim")


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[TeamsWorld]:
    """No credentials: the local default, as a new user first tries it."""
    async with microsoft(tmp_path) as fakes, teams_world(fakes, f"sqlite:///{tmp_path / 'warroom.db'}") as world:
        yield world


async def incidents(world: TeamsWorld) -> int:
    async with world.app.db.transaction() as store:
        return len(await store.incidents(include_closed=True))


async def test_open_in_a_channel_opens_a_thread_and_posts_the_kickoff_card_there(world: TeamsWorld) -> None:
    post = world.activity(OPEN)
    assert await world.send(post) == 200

    room = await world.incident_room()
    assert room.startswith(f"{GENERAL};messageid=")
    assert world.connector.threads_in(GENERAL) == [room]  # one new reply chain in the channel
    kickoff = await eventually(
        lambda: [a for a in world.connector.posts_in(room) if "INC-1 · Router dead on arrival" in card_text(a)],
        what="the kickoff card in the war-room thread",
    )
    card = card_of(kickoff[0])
    assert card["type"] == "AdaptiveCard"
    facts = {f["title"]: f["value"] for e in card["body"] if e["type"] == "FactSet" for f in e["facts"]}
    assert facts["Severity"].startswith("2")
    # The playbook's responders found in the team's roster are mentioned for real, by their Entra id.
    mentioned = {e["mentioned"]["name"]: e["mentioned"]["id"] for e in card["msteams"]["entities"]}
    assert mentioned["Dana Scully"] == DANA["aadObjectId"]
    assert "Casey Lead" in mentioned and "<at>Casey Lead</at>" in card_text(kickoff[0])
    # The person who typed `open` is answered where they typed it.
    origin = post["conversation"]["id"]
    assert "Opened INC-1" in world.connector.texts_in(origin)[-1]


async def test_with_an_app_id_an_unsigned_request_gets_401_and_changes_nothing(tmp_path: Path) -> None:
    async with (
        microsoft(tmp_path, credentials=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'warroom.db'}") as world,
    ):
        assert await world.send(world.activity(OPEN), signed=False) == 401
        forged = world.activity(OPEN)
        assert world.http is not None
        for header in ("Bearer not-a-jwt", "Basic ZGFuYTpodW50ZXIy"):
            async with world.http.post(
                f"{world.url}/api/messages", json=forged, headers={"Authorization": header}
            ) as resp:
                assert resp.status == 401
        assert world.fakes.issuer is not None
        wrong_audience = world.fakes.issuer.sign(forged["serviceUrl"], audience="someone-elses-bot")
        async with world.http.post(
            f"{world.url}/api/messages", json=forged, headers={"Authorization": f"Bearer {wrong_audience}"}
        ) as resp:
            assert resp.status == 401

        assert world.connector.calls == []
        assert await incidents(world) == 0
        async with world.app.db.transaction() as store:
            assert await store.room_addresses("teams") == {}


async def test_with_an_app_id_a_signed_request_is_served_and_posts_carry_the_bots_token(tmp_path: Path) -> None:
    async with (
        microsoft(tmp_path, credentials=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'warroom.db'}") as world,
    ):
        assert await world.send(world.activity(OPEN)) == 200
        room = await world.incident_room()
        assert any("INC-1 · Router dead" in t for t in world.connector.texts_in(room))
        # Every connector call carried the token msal got from the (configured) sign-in service.
        assert world.connector.calls and all(
            c.headers.get("Authorization") == "Bearer connector-token" for c in world.connector.calls
        )
        assert world.fakes.login is not None
        assert any("api.botframework.com" in scope for scope in world.fakes.login.issued)


async def test_a_request_that_is_not_an_activity_is_refused(world: TeamsWorld) -> None:
    assert world.http is not None
    async with world.http.post(f"{world.url}/api/messages", data="hello", headers={"Content-Type": "text/plain"}) as r:
        assert r.status == 415
    async with world.http.post(f"{world.url}/api/messages", json={"text": "no type"}) as r:
        assert r.status == 400
    assert await incidents(world) == 0


async def test_the_same_grammar_in_a_one_to_one_chat(world: TeamsWorld) -> None:
    chat = "a:1on1-with-dana"
    world.connector.chats.add(chat)
    assert await world.say(OPEN) == 200
    assert await world.say("status INC-1", conversation=chat, mention_bot=False) == 200
    status = world.connector.texts_in(chat)[-1]
    assert status.startswith("INC-1 · Router dead on arrival")
    assert await world.say("incident help vendor", conversation=chat, mention_bot=False) == 200
    assert "vendor <vendor> <ask>".replace("<", "&lt;").replace(">", "&gt;") in world.connector.texts_in(chat)[-1]
    # A 1:1 chat has no threads: `open` there says where to go, and records nothing.
    assert await world.say('open "Printer on fire"', conversation=chat, mention_bot=False) == 200
    assert "team channel" in world.connector.texts_in(chat)[-1]
    assert await incidents(world) == 1


async def test_a_mention_in_a_command_names_the_person_mentioned(world: TeamsWorld) -> None:
    await world.say(OPEN)
    room = await world.incident_room()
    before = len(world.connector.posts_in(room))
    text = f"role comms <at>{KIM['name']}</at>"
    mention = {"id": KIM["id"], "name": KIM["name"]}  # Teams puts the Teams id (29:…) in mention entities
    assert await world.say(text, conversation=room, mentions=(mention,)) == 200

    async with world.app.db.transaction() as store:
        roles = {r.role: r.person for r in await store.roles(1)}
    assert roles["comms"].name == "Kim Park" and roles["comms"].id == KIM["aadObjectId"]
    announced = world.connector.posts_in(room)[before:]
    assert any("new comms" in card_text(a) for a in announced)


async def test_clicking_a_card_button_runs_its_command_in_the_war_room(world: TeamsWorld) -> None:
    await world.say(OPEN)
    room = await world.incident_room()
    kickoff = next(a for a in world.connector.posts_in(room) if "INC-1 · Router" in card_text(a))
    button = next(action for e in card_of(kickoff)["body"] if e["type"] == "ActionSet" for action in e["actions"])
    assert button["type"] == "Action.Submit" and button["title"] == "Status"
    before = len(world.connector.posts_in(room))

    assert await world.click(button["data"], conversation=room) == 200

    answer = await eventually(lambda: world.connector.posts_in(room)[before:], what="the status card")
    assert card_text(answer[0]).startswith("INC-1 · Router dead on arrival in #inc-1-router-dead-on-arrival")


async def test_a_redelivered_message_is_handled_once(world: TeamsWorld) -> None:
    post = world.activity(OPEN)
    assert await world.send(post) == 200
    assert await world.send(post) == 200
    assert await incidents(world) == 1
    assert len(world.connector.threads_in(GENERAL)) == 1


def test_teams_is_the_surface_when_slack_is_not_configured(tmp_path: Path) -> None:
    assert isinstance(make_surface(Settings()), TeamsSurface)
    with pytest.raises(ConfigError, match="MICROSOFT_APP_PASSWORD"):
        make_surface(Settings(microsoft_app_id=APP_ID))
    with pytest.raises(ConfigError, match="MICROSOFT_APP_TENANT_ID"):
        make_surface(Settings(microsoft_app_id=APP_ID, microsoft_app_password="x", teams_team_id="team"))


async def test_a_command_accepted_by_a_replica_that_died_is_carried_out_once_by_another(
    world: TeamsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is written to the inbox before it runs; the replica dies before running it. Bot Framework
    redelivers it (no 200 came back), and the redelivery is recognised — not run, not dropped: whichever replica's
    inbox worker is alive carries it out once the dead one's lease runs out, and answers in the conversation."""
    surface, inbox = world.surface, world.surface.inbox

    async def died(*_args: object, **_kwargs: object) -> int:
        raise ConnectionResetError("the replica was killed here")

    assert await world.say(OPEN) == 200
    room = await world.incident_room()
    post = world.activity("incident note the spare router shipped", conversation=room)
    with monkeypatch.context() as m:
        m.setattr(inbox, "work", died)
        assert await world.send(post) == 500  # accepted and written down, then the replica died
    assert await world.send(post) == 200  # the redelivery: the same command, still owed
    assert await notes(world) == []
    before = len(world.connector.posts_in(room))

    world.clock.advance(timedelta(minutes=3))  # the dead replica's lease runs out
    assert await inbox.work(surface.carry_out) == 1
    assert await notes(world) == ["the spare router shipped"]
    answer = await eventually(lambda: world.connector.posts_in(room)[before:], what="the answer in the conversation")
    assert "noted" in card_text(answer[0]).lower()
    assert await world.send(post) == 200  # delivered once more, much later: still once
    assert await inbox.work(surface.carry_out) == 0
    assert await notes(world) == ["the spare router shipped"]


async def notes(world: TeamsWorld) -> list[str]:
    async with world.app.db.transaction() as store:
        return [e.text for e in await store.timeline(1) if e.kind == "note"]


async def test_a_team_members_email_address_comes_from_the_roster_for_a_chase_to_copy_them(world: TeamsWorld) -> None:
    from bot.chat import UserRef

    assert await world.send(world.activity(OPEN)) == 200  # the bot learns the team (and its roster) from a command
    await world.incident_room()
    chat = world.surface.chat
    assert await chat.email_of(UserRef(str(DANA["aadObjectId"]), "Dana Scully")) == "dana@contoso.com"
    assert await chat.email_of(UserRef("nobody-there", "Nobody")) is None


async def test_opening_from_the_api_starts_a_thread_in_the_channel_the_bot_was_last_talked_to_in(
    world: TeamsWorld,
) -> None:
    """Without WARROOM_TEAMS_TEAM_ID war rooms are threads: the API opens one in the team channel the bot knows."""
    from bot.tokens import Scope, new_token, token_hash

    token = new_token()
    async with world.app.db.transaction() as store:
        await store.add_token("alerts", Scope.WRITE, token_hash(token), now=world.clock.now())
    assert world.http is not None
    alert = {"title": "POS freeze", "severity": 1, "customer": "Acme"}
    headers = {"Authorization": f"Bearer {token}"}

    async def open_from_the_api() -> tuple[int, dict[str, object]]:
        assert world.http is not None
        async with world.http.post(f"{world.url}/api/v1/incidents", json=alert, headers=headers) as response:
            return response.status, await response.json(content_type=None)

    status, problem = await open_from_the_api()
    assert status == 501 and "nobody has talked to the bot in one yet" in str(problem["detail"])
    assert await incidents(world) == 0 and world.connector.threads_in(GENERAL) == []
    assert await world.say("incident help") == 200  # someone talks to the bot in the General channel
    status, opened = await open_from_the_api()
    assert status == 201 and opened["ref"] == "INC-1"
    room = await world.incident_room()
    assert world.connector.threads_in(GENERAL) == [room]
    await eventually(
        lambda: [a for a in world.connector.posts_in(room) if "INC-1 · POS freeze" in card_text(a)],
        what="the kickoff card in the new thread",
    )


async def test_without_an_app_id_only_a_service_url_on_this_machine_is_answered(world: TeamsWorld) -> None:
    assert world.http is not None
    for elsewhere in ("https://evil.example/", "http://10.0.0.5:3978/", "http://169.254.169.254/"):
        stranger = world.activity(OPEN) | {"serviceUrl": elsewhere}
        async with world.http.post(f"{world.url}/api/messages", json=stranger) as r:
            assert r.status == 403 and "loopback" in (await r.json())["error"]
    assert await incidents(world) == 0 and world.connector.activities == {}
    assert await world.send(world.activity(OPEN)) == 200  # the fake connector on 127.0.0.1 is this machine
    assert await incidents(world) == 1


async def test_without_an_app_id_a_caller_from_elsewhere_gets_403_and_changes_nothing(world: TeamsWorld) -> None:
    """With only the dashboard's sign-in, `serve` may listen beyond this machine: its unauthenticated Teams endpoint
    must still answer nobody but this machine, whatever serviceUrl the activity names."""
    assert world.http is not None
    for proxied in ({"X-Forwarded-For": "203.0.113.7"}, {"Forwarded": "for=203.0.113.7"}, {"X-Real-IP": "10.1.2.3"}):
        async with world.http.post(f"{world.url}/api/messages", json=world.activity(OPEN), headers=proxied) as r:
            assert r.status == 403 and "loopback" in (await r.json())["error"]
    assert await incidents(world) == 0 and world.connector.activities == {}
    assert await world.send(world.activity(OPEN)) == 200  # straight from this machine: answered
    assert await incidents(world) == 1


@pytest.mark.parametrize(
    ("peer", "answered"),
    [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("::ffff:127.0.0.1", True), ("203.0.113.7", False),
     ("10.0.0.5", False), ("::ffff:192.0.2.1", False), ("fe80::1%eth0", False), (None, False)],
)  # fmt: skip
def test_only_a_loopback_peer_is_from_this_machine(peer: str | None, answered: bool) -> None:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (peer, 3978) if peer else None
    request = make_mocked_request("POST", "/api/messages", transport=transport)
    assert from_this_machine(request) is answered


async def test_an_activity_nested_too_deeply_gets_400(world: TeamsWorld) -> None:
    assert world.http is not None
    for depth in (100_000, 500):
        deep = world.activity(OPEN) | {"value": {"x": 0}}
        text = json.dumps(deep).replace('{"x": 0}', '{"x": ' * depth + "0" + "}" * depth)
        headers = {"Content-Type": "application/json"}
        async with world.http.post(f"{world.url}/api/messages", data=text, headers=headers) as r:
            assert r.status == 400 and "nested too deeply" in (await r.json())["error"]
    assert await incidents(world) == 0


async def test_the_accept_deadline_counts_from_the_requests_arrival(
    world: TeamsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that spent its deadline before the accept (here: a slow authentication) is not written down: the
    person is told nothing was recorded, and nothing is — the ack is due from arrival, not from the turn's start."""
    assert await world.say(OPEN) == 200
    room = await world.incident_room()
    connector, inbox = world.surface.connector, world.surface.inbox
    authenticate = connector.authenticate

    async def slow(activity: object, header: str) -> object:
        await asyncio.sleep(inbox.deadline + 0.2)
        return await authenticate(activity, header)

    monkeypatch.setattr(inbox, "deadline", 0.3)
    before = len(world.connector.posts_in(room))
    with monkeypatch.context() as m:
        m.setattr(connector, "authenticate", slow)
        assert await world.send(world.activity("incident note too late to be written", conversation=room)) == 200
    answer = await eventually(lambda: world.connector.posts_in(room)[before:], what="the answer in the conversation")
    assert "nothing was recorded" in card_text(answer[0])
    async with world.app.db.transaction() as store:
        assert await store.inbox_waiting() == 0
    assert await notes(world) == []
    assert await world.send(world.activity("incident note in time", conversation=room)) == 200
    assert await notes(world) == ["in time"]
