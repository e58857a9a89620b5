"""Signed Slack requests through the real aiohttp server: ack first, then the war room, once, on every database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.adapters.fake_slack import BOT_USER, LOBBY, PEOPLE, user_id
from tests.adapters.slack_world import FORM, SlackWorld, slack_world

RESPONDERS = ("dana", "csm-lead", "support-duty", "partner-desk", "acct-exec", "logistics-desk", "net-eng-oncall")


@pytest.fixture
async def slack(tmp_path: Path) -> AsyncIterator[SlackWorld]:
    """The Slack surface on a throwaway SQLite database."""
    async with slack_world(f"sqlite:///{tmp_path / 'warroom.db'}") as world:
        yield world


@pytest.fixture
async def slack_each_db(database_url: str) -> AsyncIterator[SlackWorld]:
    """The Slack surface on SQLite, then on PostgreSQL (the replicas' database)."""
    async with slack_world(database_url) as world:
        yield world


async def test_a_signed_open_is_acked_before_slack_is_touched_then_the_war_room_is_staffed(
    slack_each_db: SlackWorld,
) -> None:
    world, fake = slack_each_db, slack_each_db.fake
    fake.gates["conversations.create"] = asyncio.Event()  # Slack is slow: creating the channel hangs

    assert await world.command('open "Router dead on arrival" sev:2') == 200

    assert list(fake.channels) == [LOBBY]  # acked while the channel is still being created
    fake.gates.pop("conversations.create").set()
    await world.until(lambda: bool(fake.called("pins.add")), "the kickoff pinned")
    await world.until(lambda: bool(fake.responses), "the reply to the person who typed it")

    room = fake.channel_named("inc-1-router-dead-on-arrival")
    assert room.topic == "INC-1 sev 2: Router dead on arrival"
    [invite] = fake.called("conversations.invite", ok=False)
    assert sorted(str(invite.args["users"]).split(",")) == sorted(user_id(p) for p in RESPONDERS)
    assert room.members == {BOT_USER, *(user_id(p) for p in RESPONDERS)}
    [kickoff] = world.posts(room)
    assert room.pins == [kickoff["ts"]]
    section_text = " ".join(b.get("text", {}).get("text", "") for b in kickoff["blocks"])
    assert "*INC-1 · Router dead on arrival*" in section_text
    assert f"<@{user_id('csm-lead')}>" in section_text  # a real mention, not "@csm-lead" text
    assert kickoff["text"].startswith("INC-1 · Router dead on arrival")
    [reply] = fake.responses
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Opened INC-1 in #inc-1-router-dead-on-arrival")
    assert f"<#{room.id}>" in str(reply["blocks"])
    [incident] = await world.incidents()
    assert (incident.room_id, incident.kickoff_message_id) == (room.id, kickoff["ts"])
    used = sorted({c.method for c in fake.calls})
    assert used == [
        "auth.test",
        "chat.postMessage",
        "conversations.create",
        "conversations.invite",
        "conversations.setTopic",
        "pins.add",
        "users.list",
    ]


async def test_unsigned_stale_and_forged_requests_get_401_and_change_nothing(slack: SlackWorld) -> None:
    body = slack.command_body('open "Router dead on arrival"')
    assert await slack.send(body, FORM, signed=False) == 401
    assert await slack.send(body, FORM, timestamp=int(time.time()) - 6 * 60) == 401
    assert await slack.send(body, FORM, **{"X-Slack-Signature": "v0=" + "0" * 64}) == 401

    # a valid request behind them, to know they were all handled; reading is answered in the ack itself
    assert await slack.ask("list") == "No open incidents."
    await slack.surface.idle()
    assert slack.replies() == []
    assert not slack.fake.called("conversations.create", ok=False)
    assert await slack.incidents() == []


async def test_a_429_storm_delays_the_open_but_loses_nothing(slack: SlackWorld) -> None:
    started = len(slack.fake.calls)  # auth.test, at start
    slack.fake.ratelimit(3, retry_after=1)

    room = await slack.opened()

    assert [c.status for c in slack.fake.calls[started : started + 4]] == [429, 429, 429, 200]
    assert len(slack.fake.called("conversations.create")) == 1
    assert len(slack.fake.called("conversations.invite")) == 1
    assert len(slack.posts(room)) == 1 and room.pins


async def test_user_text_is_shown_never_executed(slack: SlackWorld) -> None:
    room = await slack.opened()
    # Slack sends typed `<`, `>` and `&` escaped, and a typed @channel as <!channel>
    assert await slack.command("mitigate &lt;!channel&gt; &amp; &lt;@U1&gt; <!channel> *ok*", room=room) == 200
    await slack.until(lambda: len(slack.posts(room)) == 2, "the mitigation posted")

    posted = slack.posts(room)[-1]
    title = posted["blocks"][0]["text"]["text"]
    assert title == "*INC-1: Mitigated: &lt;!channel&gt; &amp; &lt;@U1&gt; @channel *ok**"
    assert "<!channel>" not in str(posted) and "<@U1>" not in str(posted)
    assert posted["text"].startswith("INC-1: Mitigated: &lt;!channel&gt; &amp; &lt;@U1&gt; @channel")


async def test_event_retries_with_the_same_event_id_are_processed_once(slack: SlackWorld) -> None:
    room = await slack.opened()
    mention = {"type": "app_mention", "user": user_id("dana"), "channel": room.id, "ts": "1.1", "event_ts": "1.1"}
    note = {**mention, "text": f"<@{BOT_USER}> note the courier lost the unit"}

    assert await slack.event(note, event_id="Ev1") == 200
    await slack.until(lambda: len(slack.fake.called("chat.postEphemeral")) == 1, "the answer to the mention")
    assert await slack.event(note, event_id="Ev1", retry=1) == 200
    assert await slack.event(note, event_id="Ev1", retry=2) == 200
    assert await slack.event({**mention, "text": f"<@{BOT_USER}> status"}, event_id="Ev2") == 200
    await slack.until(lambda: len(slack.fake.called("chat.postEphemeral")) == 2, "the answer to `status`")
    await slack.surface.idle()

    async with slack.app.db.transaction() as store:
        notes = [e for e in await store.timeline(1) if "courier" in e.text]
    assert len(notes) == 1
    assert len(slack.fake.called("chat.postEphemeral")) == 2


async def test_the_same_command_twice_within_a_minute_opens_one_incident(slack_each_db: SlackWorld) -> None:
    world = slack_each_db
    text = 'open "Router dead on arrival" sev:2'

    assert await world.command(text) == 200
    status, second = await world.exchange(world.command_body(text), FORM)
    await world.until(lambda: len(world.fake.responses) == 1, "the answer to the first")
    await world.surface.idle()

    assert len(world.fake.called("conversations.create")) == 1
    assert len(await world.incidents()) == 1
    assert status == 200 and "I ran it once" in json.loads(second)["text"]  # said in the ack of the copy

    world.clock.advance(timedelta(seconds=61))  # a minute later it is a new request
    assert await world.command(text) == 200
    await world.until(lambda: len(world.fake.called("conversations.create")) == 2, "the second incident")
    await world.until(lambda: len(world.fake.responses) == 2, "its answer")
    assert len(await world.incidents()) == 2


async def test_a_responder_who_cannot_be_found_is_reported_in_the_channel(tmp_path: Path) -> None:
    people = [p for p in PEOPLE if p != "logistics-desk"]
    async with slack_world(f"sqlite:///{tmp_path / 'w.db'}", people=people) as world:
        room = await world.opened()
        await world.until(lambda: len(world.posts(room)) == 2, "the note about who is missing")

        missing = world.posts(room)[1]
        assert missing["text"].startswith("Some responders are not in the room yet")
        assert "@logistics-desk (logistics)" in missing["text"]
        [invite] = world.fake.called("conversations.invite")
        assert user_id("logistics-desk") not in str(invite.args["users"])
        assert user_id("acct-exec") in room.members


async def test_when_the_channel_cannot_be_created_the_user_is_told_nothing_is_recorded_and_a_retry_works(
    slack: SlackWorld,
) -> None:
    slack.fake.fail["conversations.create"] = "restricted_action"

    assert await slack.command('open "Router dead on arrival" sev:2') == 200
    await slack.until(lambda: bool(slack.fake.responses), "the error")

    [said] = slack.replies()
    assert "could not open the war room (Slack conversations.create failed: restricted_action)" in said
    assert await slack.incidents() == []
    assert not slack.fake.called("conversations.invite", ok=False)
    room = await slack.opened()  # the same command again, at once: not mistaken for a double submit
    assert room.name.startswith("inc-")


async def test_reminders_arrive_as_slack_posts_and_their_buttons_run_their_command(slack: SlackWorld) -> None:
    room = await slack.opened()
    assert await slack.command('vendor northwind "replacement unit" due:2h', room=room) == 200
    await slack.until(lambda: len(slack.fake.responses) == 2, "the follow-up opened")

    fired = await slack.app.engine.run_until(slack.clock.now() + timedelta(hours=3), slack.clock)

    assert fired >= 1
    chase = next(p for p in slack.posts(room) if p["text"].startswith("⏰ V1"))
    buttons = {e["text"]["text"]: e for b in chase["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert buttons["Received"]["value"] == "vendor done V1"
    assert buttons["Heard back"]["style"] == "primary"

    assert await slack.click(buttons["Received"], room=room, user="lee") == 200
    await slack.until(lambda: len(slack.fake.responses) == 3, "the answer to the click")
    assert "V1" in slack.replies()[-1] and slack.fake.responses[-1]["replace_original"] is False
    async with slack.app.db.transaction() as store:
        [follow_up] = await store.follow_ups(1)
    assert follow_up.state.value == "received"


async def test_open_without_a_title_opens_a_form_and_its_submission_opens_the_incident(slack: SlackWorld) -> None:
    assert await slack.command('open sev:1 customer:"Acme Retail" at-risk:2M') == 200
    await slack.until(lambda: bool(slack.fake.called("views.open")), "the form")
    view = slack.fake.called("views.open")[0].args["view"]
    assert view["callback_id"] == "warroom:open"
    assert view["blocks"][1]["element"]["initial_option"]["value"] == "1"

    values = {
        "title": {"value": {"type": "plain_text_input", "value": 'Registers "frozen" in 300 stores'}},
        "sev": {"value": {"type": "static_select", "selected_option": {"value": "1"}}},
        "customer": {"value": {"type": "plain_text_input", "value": "Acme Retail"}},
        "impact": {"value": {"type": "plain_text_input", "value": None}},
    }
    submitted = {**view, "id": "V1", "state": {"values": values}}
    user = {"id": user_id("dana"), "username": "dana", "name": "dana", "team_id": "T0ACME"}
    status = await slack.interact(
        {"type": "view_submission", "team": {"id": "T0ACME"}, "user": user, "view": submitted}
    )
    assert status == 200
    await slack.until(lambda: bool(slack.fake.called("pins.add")), "the war room")
    await slack.until(lambda: bool(slack.fake.responses), "the answer, through the command's response_url")

    [incident] = await slack.incidents()
    assert (incident.title, incident.severity, incident.customer) == (
        "Registers 'frozen' in 300 stores",
        1,
        "Acme Retail",
    )
    assert incident.revenue_at_risk == 2_000_000
    assert slack.replies()[0].startswith("Opened INC-1")


async def test_slacks_url_check_is_answered_and_an_expired_response_url_falls_back_to_an_ephemeral_post(
    slack: SlackWorld,
) -> None:
    challenge = '{"token": "x", "challenge": "c-123", "type": "url_verification"}'
    assert await slack.send(challenge, "application/json") == 200

    body = slack.command_body("sev 1").replace("response%2F", "gone%2F")  # Slack no longer takes this response_url
    assert await slack.send(body, FORM) == 200
    await slack.until(lambda: bool(slack.fake.called("chat.postEphemeral")), "the ephemeral answer")
    [said] = slack.fake.called("chat.postEphemeral")
    assert (said.args["channel"], said.args["user"], said.args["text"]) == (
        LOBBY,
        user_id("dana"),
        "this is not a war room: run `sev` in the incident's own war room (here you can `open`, `list`, `help` or"
        " read one with `status INC-42`); nothing was recorded",
    )


async def test_a_failure_after_the_ack_is_reported_to_the_person_with_a_reference(
    slack: SlackWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(slack.app.warroom, "handle", broken)
    assert await slack.command('open "Router dead on arrival"') == 200
    await slack.until(lambda: bool(slack.fake.responses), "the error")

    said = slack.replies()[0]
    assert said.startswith("Something went wrong (ref ") and "nothing was recorded" not in said  # it will be
    assert said.endswith("not recorded yet: I will try it again in two minutes, no need to send it again.")
    monkeypatch.undo()
    slack.clock.advance(timedelta(minutes=3))  # the command's lease runs out: it is carried out again
    await slack.surface._inbox.work(slack.surface._carry_out)
    await slack.until(lambda: len(slack.replies()) == 2, "the answer to the retried command")
    assert slack.replies()[1].startswith("Opened INC-1 in #inc-1-router-dead-on-arrival")


async def test_an_open_form_is_offered_only_within_the_parsers_limits(slack: SlackWorld) -> None:
    assert await slack.command(f'open sev:1 impact:"{"x" * 8000}"') == 200
    await slack.until(lambda: bool(slack.fake.responses) or bool(slack.fake.ephemerals), "the answer")
    said = slack.replies()[0]
    assert said.startswith("that text is 8000 characters; the limit is 3000") and "Nothing was recorded" in said
    assert not slack.fake.called("views.open") and await slack.incidents() == []


async def test_a_long_option_list_stays_server_side_and_the_submitted_form_still_runs_it(slack: SlackWorld) -> None:
    products = ",".join(f"product-{n:03d}" for n in range(300))  # 3,300 characters: more than private_metadata holds
    assert await slack.command(f'open sev:2 impact:"{"tills down " * 250}" products:{products} at-risk:2M') == 200
    await slack.until(lambda: bool(slack.fake.called("views.open")), "the form")
    [view] = slack.fake.views
    assert len(view["private_metadata"]) < 300 and "product-" not in view["private_metadata"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert inputs["title"]["max_length"] == 200 and inputs["customer"]["max_length"] == 200
    assert inputs["impact"]["max_length"] == 3000 and len(inputs["impact"]["initial_value"]) <= 3000

    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Registers frozen"}},
        "sev": {"value": {"type": "static_select", "selected_option": {"value": "2"}}},
        "customer": {"value": {"type": "plain_text_input", "value": None}},
        "impact": {"value": {"type": "plain_text_input", "value": None}},
    }
    user = {"id": user_id("dana"), "username": "dana", "name": "dana", "team_id": "T0ACME"}
    submitted = {**view, "id": "V1", "state": {"values": values}}
    assert await slack.interact({"type": "view_submission", "team": {"id": "T0ACME"}, "user": user, "view": submitted})
    await slack.until(lambda: bool(slack.fake.called("pins.add")), "the war room")
    [incident] = await slack.incidents()
    assert incident.revenue_at_risk == 2_000_000  # the options typed with the command reached it


async def test_a_form_that_cannot_run_says_so_on_the_form_and_records_nothing(slack: SlackWorld) -> None:
    lost = {
        "id": "V9",
        "type": "modal",
        "team_id": "T0ACME",
        "callback_id": "warroom:open",
        "private_metadata": '{"channel_id": "C1", "draft": "gone"}',
        "state": {"values": {}},
    }
    cut = {**lost, "private_metadata": '{"channel_id": "C1", "extra": "products:a,b,c'}  # cut mid-JSON
    user = {"id": user_id("dana"), "username": "dana", "name": "dana", "team_id": "T0ACME"}
    for view in (lost, cut):
        payload = {"type": "view_submission", "team": {"id": "T0ACME"}, "user": user, "view": view}
        status, body = await slack.exchange(urlencode({"payload": json.dumps(payload)}), FORM)
        answer = json.loads(body)
        assert status == 200 and answer["response_action"] == "errors"
        assert "Nothing was recorded" in answer["errors"]["title"]
    assert await slack.incidents() == []


async def test_a_repeated_status_is_answered_from_memory_in_the_ack_until_something_changes(
    slack_each_db: SlackWorld,
) -> None:
    world = slack_each_db
    room = await world.opened()
    first = await world.ask("status", room=room)
    kept = world.app.warroom.answers.hits
    for _ in range(3):
        status, body = await world.exchange(world.command_body("status", channel=room.id, channel_name=room.name), FORM)
        answer = json.loads(body)
        assert status == 200 and answer["text"] == first and answer["response_type"] == "ephemeral"
        assert answer["blocks"]  # the whole card, not only its fallback text
    assert world.app.warroom.answers.hits > kept  # answered without a read (background writes may force one)

    assert await world.command('vendor northwind "RMA tracking number" due:2h', room=room) == 200
    await world.until(lambda: len(world.fake.responses) >= 2, "the vendor command's answer")
    await world.surface.idle()
    assert "RMA tracking number" in await world.ask("status", room=room)
