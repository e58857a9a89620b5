"""The Slack chat port against the fake Web API: names, one invite, people, errors, 429s, 5xx and pacing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.slack.chat import SlackCallError, SlackChat, channel_name, web_client
from bot.chat import Message, MessageRef, RoomRef, Section, UserRef
from bot.errors import ChatError
from tests.adapters.fake_slack import BOT_TOKEN, BOT_USER, Channel, FakeSlack, user_id


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    await slack.start()
    yield slack
    await slack.close()


def make_chat(fake: FakeSlack, *, token: str = BOT_TOKEN, post_interval: float = 0.0) -> SlackChat:
    return SlackChat(web_client(token, fake.url + "api/"), post_interval=post_interval)


@pytest.fixture
async def chat(fake: FakeSlack) -> AsyncIterator[SlackChat]:
    slack = make_chat(fake)
    yield slack
    await slack.close()


@pytest.mark.parametrize(
    ("asked", "made"),
    [
        ("inc-1-router-dead", "inc-1-router-dead"),
        ("INC-7 Café: POS/Payments!!", "inc-7-caf-pos-payments"),
        ("--weird__--", "weird"),
        ("x" * 100, "x" * 80),
        ("", "incident"),
    ],
)
def test_channel_names_follow_slacks_rules(asked: str, made: str) -> None:
    assert channel_name(asked) == made


async def test_a_taken_name_gets_a_suffix_and_long_names_stay_within_80(chat: SlackChat, fake: FakeSlack) -> None:
    long = "inc-12-" + "a" * 90
    first = await chat.open_room(long, topic="t")
    second = await chat.open_room(long, topic="t")
    third = await chat.open_room(long, topic="t")

    assert len(first.name) == 80 and second.name.endswith("-2") and third.name.endswith("-3")
    assert all(len(r.name) <= 80 for r in (second, third))
    codes = [c.error for c in fake.called("conversations.create", ok=False)]
    assert codes == [None, "name_taken", None, "name_taken", "name_taken", None]


async def test_everyone_is_invited_in_one_call_and_people_already_there_are_no_error(
    chat: SlackChat, fake: FakeSlack
) -> None:
    room = await chat.open_room("inc-1-x", topic="t")
    people = [UserRef(user_id(n), n) for n in ("lee", "sam", "kim")] + [UserRef(BOT_USER, "warroom")]

    await chat.invite(room, people)
    await chat.invite(room, people[:2])

    assert len(fake.called("conversations.invite", ok=False)) == 2
    assert fake.channels[room.id].members == {BOT_USER, user_id("lee"), user_id("sam"), user_id("kim")}


async def test_an_unknown_user_in_an_invite_is_a_chat_error_naming_slacks_code(chat: SlackChat) -> None:
    room = await chat.open_room("inc-1-x", topic="t")
    with pytest.raises(ChatError, match="UGHOST \\(user_not_found\\)"):
        await chat.invite(room, [UserRef(user_id("lee"), "lee"), UserRef("UGHOST", "ghost")])


async def test_people_are_found_by_mention_email_and_handle_with_lookups_cached(
    chat: SlackChat, fake: FakeSlack
) -> None:
    assert await chat.find_user("<@U123ABC|dana>") == UserRef("U123ABC", "dana")
    assert not fake.calls  # mention syntax carries the id: no lookup

    assert await chat.find_user("@lee") == UserRef(user_id("lee"), "lee")
    assert await chat.find_user("sam") == UserRef(user_id("sam"), "sam")
    assert await chat.find_user("@nobody") is None
    assert len(fake.called("users.list")) == 1  # one directory load answers all three

    assert await chat.find_user("KIM@example.com") == UserRef(user_id("kim"), "kim")  # from the directory
    assert not fake.called("users.lookupByEmail")
    fake.add_user("newcomer")
    assert await chat.find_user("newcomer@example.com") == UserRef(user_id("newcomer"), "newcomer")
    assert await chat.find_user("ghost@example.com") is None
    assert await chat.find_user("ghost@example.com") is None
    assert len(fake.called("users.lookupByEmail", ok=False)) == 2  # misses are cached too
    assert await chat.find_user("@") is None and await chat.find_user("<!channel>") is None


async def test_slack_errors_become_chat_errors_with_slacks_code(fake: FakeSlack) -> None:
    wrong = make_chat(fake, token="xoxb-revoked")
    with pytest.raises(ChatError, match="Slack conversations.create failed: invalid_auth"):
        await wrong.open_room("inc-1-x", topic="t")
    await wrong.close()


async def test_posting_where_the_bot_is_not_and_editing_what_does_not_exist_fail(
    chat: SlackChat, fake: FakeSlack
) -> None:
    fake.channels["CELSEWHERE"] = Channel("CELSEWHERE", "elsewhere", False, {user_id("lee")})
    with pytest.raises(ChatError, match="not_in_channel"):
        await chat.post(RoomRef("CELSEWHERE", "elsewhere"), Message("hello"))
    room = await chat.open_room("inc-2-x", topic="t")
    with pytest.raises(ChatError, match="message_not_found"):
        await chat.update(MessageRef(room, "1.2"), Message("x"))


async def test_a_429_storm_delays_posts_but_loses_none_and_keeps_their_order(chat: SlackChat, fake: FakeSlack) -> None:
    room = await chat.open_room("inc-1-x", topic="t")
    fake.ratelimit(3, retry_after=1)

    await asyncio.gather(*(chat.post(room, Message(f"update {n}")) for n in range(4)))

    assert [m["text"] for m in fake.channels[room.id].messages.values()] == [f"update {n}" for n in range(4)]
    assert [c.status for c in fake.called("chat.postMessage", ok=False)].count(429) == 3


async def test_server_errors_are_retried(chat: SlackChat, fake: FakeSlack) -> None:
    room = await chat.open_room("inc-1-x", topic="t")
    fake.server_errors(2)

    ref = await chat.post(room, Message("after two 503s"))

    assert [c.status for c in fake.called("chat.postMessage", ok=False)] == [503, 503, 200]
    assert ref.id in fake.channels[room.id].messages


async def test_posts_are_paced_to_one_a_second_per_channel_and_channels_do_not_wait_for_each_other(
    fake: FakeSlack,
) -> None:
    chat = make_chat(fake, post_interval=1.0)
    busy, quiet = await chat.open_room("inc-1-busy", topic="t"), await chat.open_room("inc-2-quiet", topic="t")
    try:
        await asyncio.gather(
            *(chat.post(busy, Message(f"busy {n}", (Section.of("x"),))) for n in range(3)),
            chat.post(quiet, Message("quiet")),
        )
    finally:
        await chat.close()

    at = {str(c.args["text"]).split("\n")[0]: c.at for c in fake.called("chat.postMessage")}
    assert at["busy 1"] - at["busy 0"] >= 0.95 and at["busy 2"] - at["busy 1"] >= 0.95
    assert at["quiet"] < at["busy 1"]


@pytest.mark.parametrize("how", ["500", "drop"])
async def test_a_post_slack_stored_before_failing_is_found_by_its_key_not_posted_again(
    chat: SlackChat, fake: FakeSlack, how: str
) -> None:
    room = await chat.open_room("inc-1-exactly-once", topic="t")
    fake.fail_after_processing("chat.postMessage", how)
    ref = await chat.post(room, Message("⏰ V1 is overdue"), key="wr-abc")
    messages = fake.channels[room.id].messages
    assert list(messages) == [ref.id] and messages[ref.id]["metadata"]["event_payload"] == {"key": "wr-abc"}
    assert len(fake.called("chat.postMessage", ok=False)) == 1  # no blind resend after the 500 or the drop


async def test_a_retry_after_a_crash_looks_the_key_up_before_posting(chat: SlackChat, fake: FakeSlack) -> None:
    room = await chat.open_room("inc-1-after-a-crash", topic="t")
    first = await chat.post(room, Message("📣 update due"), key="wr-crash")  # posted, then the replica died
    again = await chat.post(room, Message("📣 update due"), key="wr-crash", retry=True)
    assert again == first and len(fake.channels[room.id].messages) == 1
    fresh = await chat.post(room, Message("📣 another"), key="wr-new", retry=True)  # not there yet: posted
    assert fresh != first and len(fake.channels[room.id].messages) == 2


async def test_a_post_slack_never_took_is_reported_for_the_outbox_to_retry(chat: SlackChat, fake: FakeSlack) -> None:
    room = await chat.open_room("inc-1-down", topic="t")
    fake.server_errors(1)  # refused before any work: nothing in the channel
    with pytest.raises(SlackCallError) as refused:
        await chat.post(room, Message("⏰ V1"), key="wr-down")
    assert refused.value.unknown_outcome and fake.channels[room.id].messages == {}


async def test_a_persons_email_address_comes_from_the_directory_for_a_chase_to_copy_them(
    chat: SlackChat, fake: FakeSlack
) -> None:
    assert await chat.email_of(UserRef(user_id("lee"), "lee")) == "lee@example.com"
    assert await chat.email_of(UserRef("UGHOST", "ghost")) is None
    assert len(fake.called("users.list")) <= 2
