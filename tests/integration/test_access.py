"""Who may do what in chat, on SQLite and PostgreSQL: an incident is acted on from its own war room, a private one
does not exist outside it, and the playbook's permissions reserve the big moves to the commander and exec sponsor."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.chat import RoomRef
from bot.store import Database
from tests.conftest import PLAYBOOKS
from tests.harness import LOBBY, Harness

PRIVATE_OPEN = 'open "Globex disputes the Q3 invoice" playbook:billing-dispute customer:"Globex" at-risk:2M sev:2'
PUBLIC_OPEN = 'open "Router dead on arrival" customer:"Acme Retail" sev:2 playbook:default'
# Everything the attacker of issue 24 tried from a lobby on someone else's incident.
ATTACK = (
    "status INC-1",
    "vendors INC-1",
    "note INC-1 pwned",
    "sev INC-1 4",
    "role INC-1 commander @mallory",
    "update INC-1 all fine",
    "resolve INC-1",
    "close INC-1",
    "close INC-1 unresolved nothing to see",
    "outcome INC-1 we lost them",
    "set INC-1 private:no",
    "at-risk INC-1 1",
    "lesson INC-1 nobody watches the lobby",
    "commit INC-1 refund due:2d",
)


async def _timeline(h: Harness, number: int = 1) -> list[str]:
    async with h.db.read() as store:
        return [e.text for e in await store.timeline(number)]


async def _refusal(h: Harness, text: str, *, user: str = "mallory", room: RoomRef = LOBBY) -> str:
    reply = await h.run(text, user=user, room=room)
    assert not reply.ok, f"{text!r} ran: {reply.messages[0].title}"
    assert len(reply.messages) == 1 and not reply.messages[0].blocks
    title = reply.messages[0].title
    assert "\n" not in title and title.endswith("nothing was recorded"), title
    return title


async def test_a_private_incident_does_not_exist_outside_its_war_room(db: Database) -> None:
    h = Harness(db)
    await h.ok(PRIVATE_OPEN)
    room = h.room
    before = await _timeline(h)
    nobody = await _refusal(h, "status INC-99")

    for text in ATTACK:  # word for word what a number nobody opened gets: not even its existence shows
        assert await _refusal(h, text) == nobody.replace("INC-99", "INC-1"), text
    listed = await h.run("list", user="mallory", room=LOBBY)
    assert "INC-1" not in str(listed.messages) and "Globex" not in str(listed.messages)
    in_a_dm = RoomRef("D-MALLORY", "mallory")
    assert await _refusal(h, "status INC-1", room=in_a_dm) == "there is no INC-1; nothing was recorded"

    assert await _timeline(h) == before  # nothing at all went on the timeline
    async with h.db.read() as store:
        incident = await store.get_incident(1)
    assert (incident.severity, incident.state.value, incident.outcome) == (2, "open", None)
    # In its own room it is all there, to anyone who can type in it
    status = await h.run("status", user="lee", room=room)
    assert status.ok and "Globex" in str(status.messages)
    assert "INC-1" in str((await h.run("list", user="lee", room=room)).messages)


async def test_a_public_incident_is_read_by_name_anywhere_and_changed_only_in_its_room(db: Database) -> None:
    h = Harness(db)
    await h.ok(PUBLIC_OPEN)
    room = h.room
    before = await _timeline(h)

    status = await h.run("status INC-1", user="mallory", room=LOBBY)
    assert status.ok and status.messages[0].title.startswith("INC-1 · Router dead on arrival")
    assert (await h.run("vendors INC-1", user="mallory", room=LOBBY)).ok
    assert "INC-1" in str((await h.run("list", user="mallory", room=LOBBY)).messages)
    for text in ATTACK[2:]:
        said = await _refusal(h, text)
        assert said.startswith(f"INC-1 is worked on in its own war room (#{room.name}): run `"), said
    # another incident's war room is not this one's
    await h.ok('open "Second crisis" sev:3', user="kim")
    assert (await _refusal(h, "note INC-1 wrong room", user="kim", room=h.room)).startswith("INC-1 is worked on")
    # nor is a lobby a war room for the verbs that imply their incident
    assert (await _refusal(h, "note hello")).startswith("this is not a war room: run `note` in the incident's")
    assert await _timeline(h) == before

    assert (await h.ok("note INC-1 named from its own room", user="lee", room=room)).startswith("INC-1: noted")


async def test_in_the_room_a_responder_works_and_the_big_moves_are_the_commanders(db: Database) -> None:
    h = Harness(db)
    await h.ok(PUBLIC_OPEN)  # dana opened it: she commands
    assert (await h.ok("note the courier lost the unit", user="lee")).startswith("INC-1: noted")
    assert (await h.ok("sev 1 all stores down", user="lee")).startswith("INC-1: Severity raised")  # raising: anyone
    said = await _refusal(h, "sev 3 it is better", user="lee", room=h.room)
    assert said == "only the commander or the exec sponsor may lower the severity of INC-1 (playbook default);" + (
        " nothing was recorded"
    )
    assert (await _refusal(h, "role commander @lee", user="lee", room=h.room)).startswith(
        "only the commander or the exec sponsor may assign roles in INC-1"
    )
    assert (await _refusal(h, "at-risk 5", user="lee", room=h.room)).startswith(
        "only the commander or the exec sponsor may change the revenue at risk of INC-1"
    )
    assert (await _refusal(h, "set private:yes", user="lee", room=h.room)).startswith(
        "only the commander or the exec sponsor may change who may see INC-1"
    )
    await h.ok("resolve firmware rolled back", user="lee")
    closing = await _refusal(h, "close", user="lee", room=h.room)
    assert closing == "only the commander or the exec sponsor may close INC-1 (playbook default); nothing was recorded"
    async with h.db.read() as store:
        assert (await store.get_incident(1)).state.value == "resolved"

    await h.ok("sev 3 better now")  # the commander may
    await h.ok("role exec_sponsor @kim")
    assert (await h.ok("close", user="kim")).startswith("INC-1")  # and so may the exec sponsor
    async with h.db.read() as store:
        assert (await store.get_incident(1)).state.value == "closed"


async def test_set_private_hides_an_incident_and_set_private_no_shows_it_again(db: Database) -> None:
    h = Harness(db)
    await h.ok(PUBLIC_OPEN)
    said = await h.ok("set private:yes")
    assert "private (invisible outside the war room): no → yes" in said
    assert await _refusal(h, "status INC-1") == "there is no INC-1; nothing was recorded"
    assert "INC-1" not in str((await h.run("list", room=LOBBY)).messages)

    assert "nothing changed" in await h.ok("set private:true")
    await h.ok("set private:no")
    assert (await h.run("status INC-1", user="mallory", room=LOBBY)).ok
    bad = await h.run("set private:maybe")
    assert not bad.ok and bad.messages[0].title.startswith("private: is yes or no, not 'maybe'")


def _playbooks(tmp: Path, permissions: str) -> Path:
    folder = tmp / "playbooks"
    shutil.copytree(PLAYBOOKS, folder)
    text = (folder / "default.yaml").read_text(encoding="utf-8")
    (folder / "default.yaml").write_text(text + permissions, encoding="utf-8")
    return folder


async def test_a_playbook_reserves_and_frees_verbs_by_role(db: Database, tmp_path: Path) -> None:
    folder = _playbooks(tmp_path, "permissions:\n  close: anyone\n  note: [scribe, commander]\n")
    h = Harness(db, playbooks=folder)
    await h.ok(PUBLIC_OPEN)
    said = await _refusal(h, "note hello", user="lee", room=h.room)
    assert said == "only the scribe or the commander may note INC-1 (playbook default); nothing was recorded"
    await h.ok("note the commander may")
    await h.ok("resolve fixed", user="lee")
    assert (await h.ok("close", user="lee")).startswith("INC-1")  # `close: anyone` lifted the default
