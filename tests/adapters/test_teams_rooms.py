"""War rooms on Teams: Graph channels (standard and private) with a team id and credentials; names Teams accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.teams.graph import MAX_CHANNEL_NAME, channel_name
from tests.adapters.fake_teams import DANA, GENERAL, PEOPLE, TEAM_GROUP_ID, card_text
from tests.adapters.fake_teams_world import Sleeps, TeamsWorld, fast_backoff, microsoft, teams_world
from tests.conftest import PLAYBOOKS

OPEN = 'incident open "Router dead on arrival" sev:2'


def private_playbooks(tmp_path: Path, *, pattern: str = "inc-{number}-{slug}") -> Path:
    """The default playbook, made private, alone in a folder."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    text = (PLAYBOOKS / "default.yaml").read_text()
    text = text.replace("private: false", "private: true").replace('"inc-{number}-{slug}"', f'"{pattern}"')
    (folder / "default.yaml").write_text(text)
    return folder


def entra(handle: str) -> str:
    return next(str(p["aadObjectId"]) for p in PEOPLE if p["id"] == f"29:{handle}")


async def room_of(world: TeamsWorld) -> str:
    return await world.incident_room()


async def test_with_a_team_id_a_war_room_is_a_new_graph_channel_with_the_kickoff_in_it(tmp_path: Path) -> None:
    async with (
        microsoft(tmp_path, team=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world,
    ):
        assert await world.send(world.activity(OPEN)) == 200

        assert fakes.graph is not None
        created = fakes.graph.named("inc-1-router-dead-on-arrival")
        assert created["membershipType"] == "standard"
        assert created["description"].startswith("INC-1 sev 2: Router dead on arrival")
        create_call = next(c for c in fakes.graph.calls if c.method == "POST")
        assert create_call.path == f"/v1.0/teams/{TEAM_GROUP_ID}/channels"
        assert create_call.headers["Authorization"] == "Bearer graph-token"
        room = await room_of(world)
        assert room == created["id"]
        # The kickoff is a new conversation in the channel, created through the Bot Connector.
        roots = {
            t: card_text(fakes.connector.activities[t.split("=")[-1]]["activity"])
            for t in fakes.connector.threads_in(room)
        }
        thread = next(t for t, text in roots.items() if text.startswith("INC-1 · Router dead on arrival"))
        assert fakes.connector.threads_in(GENERAL) == []  # nothing was opened in the channel we typed in

        # Anyone replying under any post in the war-room channel is in the war room.
        assert await world.say("status", conversation=thread) == 200
        assert card_text(fakes.connector.posts_in(thread)[-1]).startswith("INC-1 · Router dead on arrival")


async def test_a_private_playbook_makes_a_private_channel_with_the_responders_as_members(tmp_path: Path) -> None:
    folder = private_playbooks(tmp_path, pattern="_{customer}-{number}-{slug}_")
    async with (
        microsoft(tmp_path, team=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}", playbooks=folder) as world,
    ):
        text = 'incident open "Router dead on arrival at the flagship store downtown" customer:"Acme Retail Group"'
        assert await world.send(world.activity(text)) == 200

        assert fakes.graph is not None
        [channel] = fakes.graph.channels.values()
        assert channel["membershipType"] == "private"
        name = channel["displayName"]
        assert len(name) <= MAX_CHANNEL_NAME and not name.startswith(("_", ".")) and not name.endswith(("_", "."))
        assert name.startswith("acme-retail-group-1-router-dead")
        # The person who typed `open` owns it; the playbook's people found in the team were added.
        create = next(c for c in fakes.graph.calls if c.path.endswith("/channels"))
        assert create.body["members"][0]["roles"] == ["owner"]
        assert channel["members"][0] == DANA["aadObjectId"]
        for handle in ("csm-lead", "support-duty", "support-manager", "acct-exec"):
            assert entra(handle) in channel["members"], handle
        assert await room_of(world) == channel["id"]
        assert fakes.connector.threads_in(channel["id"])  # the kickoff went into the private channel


@pytest.mark.parametrize("status", [409, 400])
async def test_a_taken_channel_name_gets_a_suffix(tmp_path: Path, status: int) -> None:
    async with (
        microsoft(tmp_path, team=True, duplicate_status=status) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world,
    ):
        assert fakes.graph is not None
        fakes.graph.channels["19:old@thread.tacv2"] = {
            "id": "19:old@thread.tacv2",
            "displayName": "inc-1-router-dead-on-arrival",
            "membershipType": "standard",
            "members": [],
        }
        assert await world.send(world.activity(OPEN)) == 200
        assert fakes.graph.named("inc-1-router-dead-on-arrival-2")["id"] == await room_of(world)


async def test_graph_throttling_is_retried_as_graph_asks(tmp_path: Path) -> None:
    sleeps = Sleeps()
    async with (
        microsoft(tmp_path, team=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}", backoff=fast_backoff(sleeps)) as world,
    ):
        assert fakes.graph is not None
        fakes.graph.fail_next(429, retry_after="7", matching="POST /v1.0/teams")
        fakes.graph.fail_next(504, matching="POST /v1.0/teams")
        assert await world.send(world.activity(OPEN)) == 200
        assert len(fakes.graph.channels) == 1
        assert sleeps.asked[0] == 7.0 and len(sleeps.asked) == 2


async def test_when_graph_refuses_nothing_is_recorded_and_the_person_is_told(tmp_path: Path) -> None:
    async with (
        microsoft(tmp_path, team=True) as fakes,
        teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world,
    ):
        assert fakes.graph is not None
        fakes.graph.fail_next(403, matching="POST /v1.0/teams")
        post = world.activity(OPEN)
        assert await world.send(post) == 200
        assert "could not open the war room" in fakes.connector.texts_in(post["conversation"]["id"])[-1]
        async with world.app.db.transaction() as store:
            assert await store.incidents(include_closed=True) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("inc-1-registers-down", "inc-1-registers-down"),
        ('INC 7: "POS" #down / stores?', "INC 7- -POS- -down - stores"),
        ("__.inc-2..fix.", "inc-2.fix"),
        ("general", "general-room"),
        ("", "war-room"),
        ("x" * 80, "x" * 50),
    ],
)
def test_channel_names_follow_teams_rules(raw: str, expected: str) -> None:
    assert channel_name(raw) == expected


def test_a_deduped_channel_name_stays_within_fifty_characters() -> None:
    name = channel_name("y" * 60, "-12")
    assert len(name) == MAX_CHANNEL_NAME and name.endswith("y-12")
    forbidden = set("~#%&*{}+/\\:<>?|'\",")
    assert not forbidden & set(channel_name("a~b#c%d&e*f{g}h+i/j\\k:l<m>n?o|p'q\"r,s"))
