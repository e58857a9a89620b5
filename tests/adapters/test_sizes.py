"""Messages at realistic extremes, posted through the real adapters to fakes as strict as Slack and Teams.

The incidents of the size issue — 300 timeline events with 40 long lessons and actions; 30 follow-ups and 30
commitments; a 60-person playbook; 3,000-character fields full of `&<>` — produce no payload the fakes refuse
(Slack: `msg_blocks_too_long` past 12,000 characters of block text, `invalid_blocks`, `msg_too_long`; Teams: 413 past
100 KB of UTF-16), and everything the summary holds can be read in what was posted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.cards import utf16_size
from bot.chat import Invocation, RoomRef, UserRef
from bot.runtime import Runtime
from tests.adapters.fake_slack import MAX_BLOCK_TEXT, PEOPLE, Channel, text_of, user_id
from tests.adapters.fake_teams import DANA, MAX_MESSAGE, TEAM_ID, card_of, person
from tests.adapters.fake_teams import PEOPLE as TEAMS_PEOPLE
from tests.adapters.fake_teams_world import TeamsWorld, microsoft, teams_world
from tests.adapters.slack_world import SlackWorld, slack_world
from tests.conftest import PLAYBOOKS

ENGINEERS = [f"eng-{n:02d}" for n in range(60)]
HOSTILE = "&<b>R&D</b> <!channel> *bold* _it_ [link](x) "  # escapes to several times its length on both platforms
IMPACT = (HOSTILE * 80)[:3000].strip()
TYPED_IMPACT = html.escape(IMPACT, quote=False)  # how Slack and Teams deliver `&<>` someone typed


def big_playbook(tmp_path: Path) -> Path:
    """The default playbook with 60 engineers among its responders, alone in a folder."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    text = (PLAYBOOKS / "default.yaml").read_text()
    engineers = ", ".join(f'"@{e}"' for e in ENGINEERS)
    text = text.replace(
        '  account_management: ["@acct-exec"]', f'  account_management: ["@acct-exec"]\n  engineering: [{engineers}]'
    )
    (folder / "default.yaml").write_text(text)
    return folder


def lesson(n: int) -> str:
    return f"lesson {n}: " + f"the distributor {HOSTILE}was a single point of failure; " * 5


def action(n: int) -> str:
    return f"action {n}: " + f"qualify a second distributor {HOSTILE}for region {n}; " * 4


async def drive(app: Runtime, room: RoomRef, who: UserRef, commands: Iterable[str]) -> None:
    for text in commands:
        reply = await app.warroom.handle(Invocation(text, who, room))
        assert reply.ok, reply.messages[0].title


def long_incident() -> list[str]:
    """300 timeline events, 40 long lessons, 40 long actions, then resolve and close."""
    notes = [f"note {n}: store {n} reports {HOSTILE}registers frozen again" for n in range(300)]
    return [
        *(f'note "{n}"' for n in notes),
        *(f'lesson "{lesson(n)}"' for n in range(40)),
        *(f'action "{action(n)}" owner:@lee' for n in range(40)),
        "resolve firmware rolled out",
        "close",
    ]


def busy_incident() -> list[str]:
    """30 follow-ups with long asks and 30 commitments with long promises."""
    ask = "send the firmware logs of every register " + HOSTILE * 6
    return [
        *(f'vendor fabrikam "{n}: {ask[:330]}" due:2d' for n in range(30)),
        *(f'commit "{n}: we fix the registers {HOSTILE * 6}" due:3d' for n in range(30)),
    ]


def items(lines: Iterable[str]) -> list[str]:
    """Bullet items as a reader sees them: a piece ending in `…` joined to the `…` piece that continues it."""
    merged: list[str] = []
    for line in lines:
        if merged and merged[-1].endswith("…") and line.startswith("…"):
            merged[-1] = merged[-1][:-1] + line[1:]
        else:
            merged.append(line)
    return merged


def squash(text: str) -> str:
    """Text without its whitespace: a cut at a space drops that space, which a reader's eye puts back."""
    return "".join(text.split())


def assert_all_there(posted: list[str], wanted: Iterable[str]) -> None:
    """Every wanted text is in what was posted, whole (pieces cut between posts joined back)."""
    seen = [squash(i) for i in items(posted)]
    missing = [w for w in wanted if not any(squash(w) in s for s in seen)]
    assert not missing, f"{len(missing)} missing, e.g. {missing[0][:120]!r}"


# --- Slack -----------------------------------------------------------------------------------------------


def slack_lines(message: dict[str, Any]) -> list[str]:
    """A posted Slack message as the lines people read: sections and fields, unescaped, bullets without `• `."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        texts = [block["text"]["text"]] if "text" in block else [f["text"] for f in block.get("fields", [])]
        for text in texts:
            for line in text.split("\n"):
                plain = html.unescape(line)
                lines.append(plain[2:] if plain.startswith("• ") else plain)
    return lines


def slack_refusals(slack: SlackWorld) -> list[str]:
    return [str(c.error) for c in slack.fake.calls if c.error and c.method.startswith("chat.")]


async def slack_room(slack: SlackWorld, tmp: str) -> tuple[Channel, RoomRef, UserRef]:
    channel = await slack.opened(f'open "Registers frozen in 300 stores" sev:1 impact:"{TYPED_IMPACT}"')
    return channel, RoomRef(channel.id, channel.name), UserRef(user_id("dana"), "dana")


async def test_slack_a_60_person_kickoff_and_3000_character_fields_fit_and_lose_nothing(tmp_path: Path) -> None:
    people = [*PEOPLE, *ENGINEERS]
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}", people=people, playbooks=big_playbook(tmp_path)) as slack:
        channel, _, _ = await slack_room(slack, "")
        [kickoff] = [m for m in slack.posts(channel) if "thread_ts" not in m]
        replies = slack.fake.thread(channel, kickoff["ts"])
        posted = [kickoff, *replies]
        assert all(text_of(m["blocks"]) <= MAX_BLOCK_TEXT and len(m["blocks"]) <= 50 for m in posted)
        mentioned = set(re.findall(r"<@(U[A-Z0-9]+)>", " ".join(str(m["blocks"]) for m in posted)))
        assert {user_id(e) for e in ENGINEERS} <= mentioned  # the 60 responders are all on the card
        impact = [line.removeprefix("*Impact*\n") for m in posted for line in _fields(m, "Impact")]
        assert squash("".join(impact).replace("…", "")) == squash(IMPACT)  # the whole impact, entities intact
        assert not slack_refusals(slack) and not slack.fake.refused_responses


def _fields(message: dict[str, Any], label: str) -> list[str]:
    return [
        html.unescape(f["text"])
        for b in message.get("blocks") or []
        for f in b.get("fields", [])
        if f["text"].startswith(f"*{label}*")
    ]


async def test_slack_30_follow_ups_and_30_commitments_fit_in_status_and_in_the_update_reminder(tmp_path: Path) -> None:
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}") as slack:
        channel, room, dana = await slack_room(slack, "")
        await drive(slack.app, room, dana, busy_incident())
        before = len(slack.fake.responses)
        assert await slack.command("status", room=channel) == 200
        await slack.until(lambda: len(slack.fake.responses) > before, "the status card")
        await slack.surface.idle()
        said = [line for r in slack.fake.responses[before:] for line in slack_lines(r)]
        assert all(f"V{n} " in "\n".join(said) for n in range(1, 31))
        assert all(f"C{n} " in "\n".join(said) for n in range(1, 31))
        await slack.app.engine.run_until(slack.clock.now() + timedelta(hours=2), slack.clock)
        prompts = [m for m in slack.posts(channel) if "customer update" in m["text"]]
        assert prompts and not any("(A short version:" in m["text"] for m in prompts)
        assert not slack_refusals(slack) and not slack.fake.refused_responses


async def test_slack_a_300_event_incident_posts_its_whole_summary_in_a_thread(tmp_path: Path) -> None:
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}") as slack:
        channel, room, dana = await slack_room(slack, "")
        await drive(slack.app, room, dana, long_incident())
        [head] = [m for m in slack.posts(channel) if m["text"].startswith("Lessons learned") and "thread_ts" not in m]
        thread = slack.fake.thread(channel, head["ts"])
        assert len(thread) > 3
        assert all(text_of(m["blocks"]) <= MAX_BLOCK_TEXT for m in [head, *thread])
        posted = [line for m in [head, *thread] for line in slack_lines(m)]
        assert_all_there(posted, [f"note {n}: store {n} reports {HOSTILE}registers frozen again" for n in range(300)])
        assert_all_there(posted, [f"L{n + 1}: {lesson(n)}" for n in range(40)])
        assert_all_there(posted, [f"A{n + 1}: {action(n)}" for n in range(40)])
        assert not slack_refusals(slack) and not slack.fake.refused_responses


# --- Teams -----------------------------------------------------------------------------------------------


def teams_lines(activity: dict[str, Any]) -> list[str]:
    """A posted card as the lines people read: markdown escapes undone, entities decoded, bullets without `• `."""
    lines: list[str] = []
    for element in card_of(activity).get("body", []):
        texts = [element["text"]] if element.get("type") == "TextBlock" else []
        texts += [f"{f['title']}: {f['value']}" for f in element.get("facts", [])]
        for text in texts:
            plain = html.unescape(re.sub(r"\\([\\*_\[\]])", r"\1", text))
            lines.append(plain[2:] if plain.startswith("• ") else plain)
    return lines


async def teams_room(world: TeamsWorld) -> tuple[str, RoomRef, UserRef]:
    assert await world.say(f'incident open "Registers frozen in 300 stores" sev:1 impact:"{TYPED_IMPACT}"') == 200
    room_id = await world.incident_room()
    return room_id, RoomRef(room_id, "war room"), UserRef(str(DANA["aadObjectId"]), str(DANA["name"]))


def assert_teams_sizes(world: TeamsWorld) -> None:
    connector = world.fakes.connector
    assert not connector.refused
    assert all(utf16_size(a["activity"]) <= MAX_MESSAGE for a in connector.activities.values())


async def test_teams_a_60_person_kickoff_and_3000_character_fields_fit_and_lose_nothing(tmp_path: Path) -> None:
    async with microsoft(tmp_path) as fakes:
        engineers = [person(e, e, 100 + n) for n, e in enumerate(ENGINEERS)]
        fakes.connector.members[TEAM_ID] = [*TEAMS_PEOPLE, *engineers]
        async with teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}", playbooks=big_playbook(tmp_path)) as world:
            room_id, _, _ = await teams_room(world)
            posts = fakes.connector.posts_in(room_id)
            assert any(a["activity"] for a in fakes.connector.activities.values())
            cards = [a["activity"] for a in fakes.connector.activities.values()]
            mentioned = {e["mentioned"]["id"] for a in cards for e in card_of(a).get("msteams", {}).get("entities", [])}
            assert {str(e["aadObjectId"]) for e in engineers} <= mentioned
            lines = [line for a in [*cards, *posts] for line in teams_lines(a)]
            impact = [line.removeprefix("Impact: ") for line in lines if line.startswith("Impact: ")]
            assert squash("".join(dict.fromkeys(impact)).replace("…", "")) == squash(IMPACT)
            assert_teams_sizes(world)


async def test_teams_30_follow_ups_and_30_commitments_fit_in_status_and_in_the_update_reminder(tmp_path: Path) -> None:
    async with microsoft(tmp_path) as fakes, teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world:
        room_id, room, dana = await teams_room(world)
        await drive(world.app, room, dana, busy_incident())
        before = len(fakes.connector.posts_in(room_id))
        assert await world.say("incident status", conversation=room_id) == 200
        said = "\n".join(line for a in fakes.connector.posts_in(room_id)[before:] for line in teams_lines(a))
        assert all(f"V{n} " in said for n in range(1, 31)) and all(f"C{n} " in said for n in range(1, 31))
        await world.app.engine.run_until(world.clock.now() + timedelta(hours=2), world.clock)
        prompts = [a for a in fakes.connector.posts_in(room_id) if "customer update" in a.get("summary", "")]
        assert prompts and not any("(A short version:" in "\n".join(teams_lines(a)) for a in prompts)
        assert_teams_sizes(world)


async def test_teams_a_300_event_incident_posts_its_whole_summary_in_replies(tmp_path: Path) -> None:
    async with microsoft(tmp_path) as fakes, teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world:
        room_id, room, dana = await teams_room(world)
        await drive(world.app, room, dana, long_incident())
        posts = fakes.connector.posts_in(room_id)
        start = next(i for i, a in enumerate(posts) if a.get("summary", "").startswith("Lessons learned · INC-1 · R"))
        summary = posts[start:]
        assert len(summary) > 2
        posted = [line for a in summary for line in teams_lines(a)]
        assert_all_there(posted, [f"note {n}: store {n} reports {HOSTILE}registers frozen again" for n in range(300)])
        assert_all_there(posted, [f"L{n + 1}: {lesson(n)}" for n in range(40)])
        assert_all_there(posted, [f"A{n + 1}: {action(n)}" for n in range(40)])
        assert_teams_sizes(world)


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["invalid_blocks", "msg_too_long", "msg_blocks_too_long", "invalid_arguments"])
async def test_slack_a_refused_post_is_sent_once_in_short_and_the_person_who_asked_is_told(
    tmp_path: Path, code: str
) -> None:
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}") as slack:
        channel = await slack.opened('open "Registers frozen" sev:3')
        await slack.until(lambda: bool(slack.fake.responses), "the answer to open")
        slack.fake.fail["chat.postMessage"] = code
        before = len(slack.fake.responses)
        assert await slack.command("sev 2 half the stores", room=channel) == 200
        await slack.until(lambda: len(slack.fake.responses) > before, "the answer")
        said = "\n".join(slack_lines(slack.fake.responses[-1]))
        assert "⚠ Recorded — but in the war room: “INC-1: Severity raised from 3 to 2" in said
        assert f"was refused as it was (Slack chat.postMessage failed: {code}); a short version is posted" in said
        refused = [c for c in slack.fake.calls if c.error == code]
        assert len(refused) == 1  # the refused payload is never sent again
        shorts = [m for m in slack.posts(channel) if "(A short version:" in m["text"]]
        assert len(shorts) == 1 and "Severity raised from 3 to 2" in shorts[0]["text"]


async def test_teams_a_post_refused_as_too_big_is_sent_once_in_short_and_the_person_who_asked_is_told(
    tmp_path: Path,
) -> None:
    async with microsoft(tmp_path) as fakes, teams_world(fakes, f"sqlite:///{tmp_path / 'w.db'}") as world:
        room_id, _, _ = await teams_room(world)
        fakes.connector.fail_next(413, matching="/activities")
        before, calls = len(fakes.connector.posts_in(room_id)), len(fakes.connector.calls)
        assert await world.say("incident sev 2 half the stores", conversation=room_id) == 200
        posted = fakes.connector.posts_in(room_id)[before:]
        said = "\n".join(line for a in posted for line in teams_lines(a))
        assert "(A short version:" in said and "HTTP 413" in said
        assert "⚠ Recorded — but in the war room: “INC-1: Severity raised from 1 to 2" not in said  # a fall, not a rise
        assert "was refused as it was (Teams refused to post: HTTP 413" in said
        sent = [c for c in fakes.connector.calls[calls:] if "/activities" in c.path]
        assert len(sent) == len(posted) + 1  # one refused, never sent again
