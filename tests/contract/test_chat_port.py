"""The chat-port contract: every chat adapter passes this same suite (Slack and Teams join as they land)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from adapters.console import ConsoleChat
from adapters.memory import InMemoryChat
from bot.chat import Actions, Bullets, Button, Capability, ChatPort, Mention, Message, MessageRef, Section, UserRef
from bot.clock import SimClock
from bot.errors import ChatError

Factory = Callable[[], AbstractAsyncContextManager[ChatPort]]


def _plain(make: Callable[[], ChatPort]) -> Factory:
    """An adapter that needs nothing around it."""

    @asynccontextmanager
    async def factory() -> AsyncIterator[ChatPort]:
        yield make()

    return factory


@asynccontextmanager
async def _slack() -> AsyncIterator[ChatPort]:
    """The Slack port on the real AsyncWebClient, against the fake Slack Web API on loopback."""
    from adapters.slack.chat import SlackChat, web_client
    from tests.adapters.fake_slack import BOT_TOKEN, FakeSlack

    fake = FakeSlack(people=())
    for name in ("lee", "sam", "kim"):
        fake.add_user(name, uid=name)
    api = await fake.start()
    chat = SlackChat(web_client(BOT_TOKEN, api), post_interval=0.0)
    try:
        yield chat
    finally:
        await chat.close()
        await fake.close()


@asynccontextmanager
async def _teams(*, graph: bool) -> AsyncIterator[ChatPort]:
    """The Teams port through botbuilder's CloudAdapter against a fake Bot Connector (and fake Graph) on loopback."""
    from tests.adapters.fake_teams_world import teams_port

    async with teams_port(graph=graph) as chat:
        yield chat


ADAPTERS: dict[str, Factory] = {
    "memory": _plain(InMemoryChat),
    "console": _plain(
        lambda: ConsoleChat(io.StringIO(), SimClock(datetime(2026, 11, 23, tzinfo=UTC)), ZoneInfo("UTC"))
    ),
    "slack": _slack,
    "teams": lambda: _teams(graph=False),
    "teams-graph": lambda: _teams(graph=True),
}


@pytest.fixture(params=sorted(ADAPTERS))
async def chat(request: pytest.FixtureRequest) -> AsyncIterator[ChatPort]:
    async with ADAPTERS[request.param]() as port:
        yield port


MESSAGE = Message(
    "INC-1 · Registers down",
    (
        Section.of("Owner ", Mention(UserRef("lee", "lee")), " — <!channel> & <b>"),
        Actions((Button("Status", "status"),)),
    ),
)


def test_adapter_satisfies_the_port(chat: ChatPort) -> None:
    assert isinstance(chat, ChatPort)
    assert chat.platform and isinstance(chat.capabilities, Capability)


async def test_rooms_get_the_name_asked_for_and_a_distinct_one_when_taken(chat: ChatPort) -> None:
    first = await chat.open_room("inc-1-registers-down", topic="INC-1 sev 1: Registers down")
    second = await chat.open_room("inc-1-registers-down", topic="again")
    assert first.name == "inc-1-registers-down"
    assert second.name != first.name and second.name.startswith("inc-1-registers-down")
    assert second.id != first.id


async def test_posts_land_in_the_room_and_can_be_edited_and_pinned(chat: ChatPort) -> None:
    room = await chat.open_room("inc-2-x", topic="t")
    ref = await chat.post(room, MESSAGE)
    assert isinstance(ref, MessageRef) and ref.room == room
    if Capability.EDIT in chat.capabilities:
        await chat.update(ref, Message("INC-1 · Registers down (resolved)"))
    if Capability.PIN in chat.capabilities:
        await chat.pin(ref)


async def test_editing_a_message_that_does_not_exist_is_a_chat_error(chat: ChatPort) -> None:
    room = await chat.open_room("inc-3-x", topic="t")
    if Capability.EDIT not in chat.capabilities:
        pytest.skip("platform cannot edit")
    with pytest.raises(ChatError):
        await chat.update(MessageRef(room, "no-such-message"), MESSAGE)


async def test_inviting_the_same_people_twice_is_harmless(chat: ChatPort) -> None:
    room = await chat.open_room("inc-4-x", topic="t")
    users = [UserRef("lee", "lee"), UserRef("sam", "sam")]
    await chat.invite(room, users)
    await chat.invite(room, users)


async def test_handles_and_emails_resolve_to_people(chat: ChatPort) -> None:
    lee = await chat.find_user("@lee")
    assert lee is not None and lee.name == "lee"
    by_email = await chat.find_user("kim@example.com")
    assert by_email is not None
    assert await chat.find_user("@") is None


async def test_the_console_shows_user_text_as_text() -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, SimClock(datetime(2026, 11, 23, tzinfo=UTC)), ZoneInfo("UTC"))
    room = await chat.open_room("inc-5-x", topic="t")
    await chat.post(room, MESSAGE)
    assert "Owner @lee — <!channel> & <b>" in out.getvalue()


async def test_a_reply_lands_in_the_thread_of_the_post_it_continues(chat: ChatPort) -> None:
    room = await chat.open_room("inc-6-x", topic="t")
    head = await chat.post(room, MESSAGE)
    reply = await chat.post(room, Message("INC-1 · the details"), thread=head, key="wr-thread-1")
    assert reply.room == room and reply.id != head.id


async def test_a_message_too_big_for_one_post_is_split_into_posts_the_platform_takes(chat: ChatPort) -> None:
    items = tuple(f"item {n}: " + "&<x> " * 150 for n in range(200))  # ~150,000 characters once escaped
    big = Message("INC-1 · big", (Bullets(items), Actions((Button("Status", "status"),))))
    parts = chat.split(big)
    shown = [i for part in parts for b in part.blocks if isinstance(b, Bullets) for i in b.items]
    assert "".join("".join(shown).replace("…", "").split()) == "".join("".join(items).split())  # nothing dropped
    assert any(isinstance(b, Actions) for b in parts[0].blocks)  # the buttons stay where the message starts
    room = await chat.open_room("inc-7-x", topic="t")
    head = await chat.post(room, parts[0])
    for part in parts[1:]:
        await chat.post(room, part, thread=head)
