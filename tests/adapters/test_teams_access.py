"""The same incident-access policy through the real Teams surface, on SQLite and PostgreSQL: a private incident does
not exist outside its war-room thread, a close is the commander's, and another tenant is refused."""

from __future__ import annotations

from pathlib import Path

from adapters.teams.surface import STRANGER
from tests.adapters.fake_teams import GENERAL, PEOPLE
from tests.adapters.fake_teams_world import TeamsWorld, eventually, microsoft, teams_world

PRIVATE = 'incident open "Globex disputes the Q3 invoice" playbook:billing-dispute customer:"Globex" at-risk:2M'
KIM = next(p for p in PEOPLE if p["id"] == "29:kim")


async def timeline(world: TeamsWorld) -> list[str]:
    async with world.app.db.read() as store:
        return [e.text for e in await store.timeline(1)]


async def said_in_general(world: TeamsWorld, text: str) -> str:
    """``text`` posted by Kim as a new message in the General channel: the answer in its reply chain."""
    post = world.activity(text, sender=KIM)
    assert await world.send(post) == 200
    texts = await eventually(lambda: world.connector.texts_in(post["conversation"]["id"]), what=f"the answer to {text}")
    return str(texts[-1])


async def test_a_private_incident_does_not_exist_outside_its_thread(tmp_path: Path, database_url: str) -> None:
    async with microsoft(tmp_path) as fakes, teams_world(fakes, database_url) as world:
        assert await world.say(PRIVATE) == 200
        room = await world.incident_room()
        before = await timeline(world)

        nobody = await said_in_general(world, "incident status INC-99")
        assert "there is no INC-99; nothing was recorded" in nobody
        for text in ("status INC-1", "note INC-1 pwned", "sev INC-1 4", "close INC-1"):
            assert await said_in_general(world, f"incident {text}") == nobody.replace("INC-99", "INC-1"), text
        assert "Globex" not in await said_in_general(world, "incident list")
        assert await timeline(world) == before

        # in the thread, Kim is in the room: a note goes on; a close is the commander's (Dana opened it)
        assert await world.say("incident note ledger received", conversation=room, sender=KIM) == 200
        assert await world.say("incident resolve credit issued", conversation=room, sender=KIM) == 200
        assert await world.say("incident close", conversation=room, sender=KIM) == 200
        texts = world.connector.texts_in(room)
        assert any("only the commander or the exec sponsor may close INC-1" in t for t in texts), texts
        async with world.app.db.read() as store:
            assert (await store.get_incident(1)).state.value == "resolved"
        assert any("ledger received" in t for t in await timeline(world))


async def test_an_activity_from_another_tenant_is_refused_and_changes_nothing(
    tmp_path: Path, database_url: str
) -> None:
    async with microsoft(tmp_path, credentials=True) as fakes, teams_world(fakes, database_url) as world:
        post = world.activity('incident open "Router dead on arrival" sev:2')
        post["conversation"]["tenantId"] = post["channelData"]["tenant"]["id"] = "another-tenant"
        assert await world.send(post) == 200

        answer = await eventually(lambda: world.connector.texts_in(post["conversation"]["id"]), what="the refusal")
        assert answer == [STRANGER]
        async with world.app.db.read() as store:
            assert await store.incidents(include_closed=True) == []
            assert await store.room_addresses("teams") == {}  # not even where it came from is remembered
        assert world.connector.threads_in(GENERAL) == []
