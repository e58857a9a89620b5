"""The chat port over Slack's Web API: channels, one-call invites, posts paced per channel, pins, people."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.slack.blocks import blocks, fallback_text, split
from bot.chat import Capability, Message, MessageRef, RoomRef, UserRef
from bot.errors import ChatError
from bot.observe import QUIET, Observer

log = logging.getLogger(__name__)
SLACK_API = "https://slack.com/api/"
MAX_NAME = 80
MAX_TOPIC = 250
DIRECTORY_TTL = 300.0  # users.list is Tier 2 (20 a minute): reload the directory at most every five minutes
_MENTION = re.compile(r"<@([A-Za-z0-9._-]+)(?:\|([^>]*))?>")
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
_HANDLE = re.compile(r"@?([\w.\-]{1,80})")
_HARMLESS = {"already_in_channel", "cant_invite_self", "already_pinned"}
_METHOD = re.compile(r"[A-Za-z]+(\.[A-Za-z]+)+")  # a Web API method: `chat.postMessage`, `admin.users.list`
# Slack refused the payload itself: the same payload would be refused again, so it is never resent unchanged.
REFUSED = {
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "msg_blocks_too_long",
    "invalid_arguments",
    "invalid_attachments",
    "too_many_attachments",
    "no_text",
    "invalid_metadata_format",
    "metadata_too_large",
}
DELIVERY_EVENT = "warroom_delivery"  # message metadata carrying the outbox's delivery key
HISTORY_LOOKBACK = 100  # messages searched for a key: a room's posts since the failed attempt


class SlackCallError(ChatError):
    """A Web API call Slack refused; ``code`` is Slack's error code (`name_taken`, `not_in_channel`, …)."""

    def __init__(self, method: str, code: str, *, unknown_outcome: bool = False) -> None:
        self.method, self.code = method, code
        self.unknown_outcome = unknown_outcome  # Slack may have done it: a 5xx, a timeout, a dropped connection
        self.refused = code in REFUSED
        super().__init__(f"Slack {method} failed: {code}")


class AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a 502 or 504 from a proxy in front of Slack is as transient."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and 500 <= response.status_code < 600


def retry_handlers() -> list[AsyncRetryHandler]:
    """429 waits out Retry-After; 5xx and dropped connections back off exponentially (slack_sdk's handlers)."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=8),
        AnyServerErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
    ]


def web_client(token: str | None, base_url: str | None) -> AsyncWebClient:
    """An AsyncWebClient on Slack's API (or SLACK_API_URL) that retries what is worth retrying."""
    return AsyncWebClient(token=token, base_url=base_url or SLACK_API, retry_handlers=retry_handlers())


def channel_name(name: str) -> str:
    """Slack's rules: lowercase, letters, digits, `-` and `_` only, at most 80 characters."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9_-]+", "-", name.lower())).strip("-_")
    return cleaned[:MAX_NAME].rstrip("-_") or "incident"


class Pacer:
    """One post per ``interval`` per channel (Slack's posting limit), in order; other channels do not wait."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    async def run(self, channel: str, call: Callable[[], Awaitable[AsyncSlackResponse]]) -> AsyncSlackResponse:
        """Make ``call`` once the channel's previous post is ``interval`` old."""
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last.get(channel, 0.0) + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await call()
            finally:
                self._last[channel] = time.monotonic()
                if len(self._last) > 10_000:
                    self._forget_quiet_channels()

    def _forget_quiet_channels(self) -> None:
        """Drop what we keep for channels nobody posted to for a minute (a long-running bot sees thousands)."""
        cutoff = time.monotonic() - 60
        for channel, last in list(self._last.items()):
            lock = self._locks.get(channel)
            if last < cutoff and (lock is None or not lock.locked()):
                del self._last[channel]
                self._locks.pop(channel, None)


@dataclass
class _Directory:
    by_name: dict[str, UserRef]
    by_email: dict[str, UserRef]
    names: dict[str, str]
    loaded_at: float = float("-inf")


class SlackChat:
    """Warroom's chat port on a Slack workspace; every failure is a ChatError carrying Slack's error code."""

    platform = "slack"
    capabilities = (
        Capability.CREATE_ROOM
        | Capability.INVITE
        | Capability.TOPIC
        | Capability.PIN
        | Capability.EDIT
        | Capability.BUTTONS
    )

    def __init__(self, client: AsyncWebClient, *, post_interval: float = 1.0, observer: Observer = QUIET) -> None:
        self.client = client
        self.observer = observer  # told every HTTP request to Slack (retries included) and every failed call
        self.pacer = Pacer(post_interval)
        self._directory = _Directory({}, {}, {})
        self._missing_emails: dict[str, float] = {}
        self._identity: AsyncSlackResponse | None = None
        self._post_client: AsyncWebClient | None = None
        self._identity_lock = asyncio.Lock()
        self._directory_lock = asyncio.Lock()

    # --- plumbing ------------------------------------------------------------------------------------

    async def api(self, method: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
        """Await one Web API call; Slack's refusals and network failures become ChatErrors."""
        try:
            return await call
        except SlackApiError as err:
            data = getattr(err.response, "data", None)
            code = data.get("error") if isinstance(data, dict) else None
            status = getattr(err.response, "status_code", None) or getattr(err.response, "status", "?")
            server = isinstance(status, int) and status >= 500
            self.observer.chat_error("slack", method, str(code) if code and status == 200 else f"http_{status}")
            raise SlackCallError(method, str(code or f"HTTP {status}"), unknown_outcome=server) from None
        except (aiohttp.ClientError, TimeoutError) as err:
            self.observer.chat_error("slack", method, "unreachable")
            raise SlackCallError(method, f"{type(err).__name__}: cannot reach Slack", unknown_outcome=True) from None

    def open_session(self) -> None:
        """One pooled HTTP session for every call (slack_sdk opens one per call otherwise); made inside the loop."""
        if self.client.session is None or self.client.session.closed:
            self.client.session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.client.timeout), trace_configs=[self._counted()]
            )

    def _counted(self) -> aiohttp.TraceConfig:
        """Every HTTP request on the pooled session reported to the observer as it ends: each attempt of a retried
        call counts, as Slack's rate limits do."""
        trace = aiohttp.TraceConfig()

        async def answered(_s: aiohttp.ClientSession, _c: SimpleNamespace, end: aiohttp.TraceRequestEndParams) -> None:
            self.observer.chat_request("slack", self._method_of(str(end.url)), str(end.response.status))

        async def unanswered(
            _s: aiohttp.ClientSession, _c: SimpleNamespace, failed: aiohttp.TraceRequestExceptionParams
        ) -> None:
            self.observer.chat_request("slack", self._method_of(str(failed.url)), "unreachable")

        trace.on_request_end.append(answered)
        trace.on_request_exception.append(unanswered)
        return trace

    def _method_of(self, url: str) -> str:
        """The Web API method a URL calls; `response_url` for an answer to a command (its URL is a secret)."""
        base = self.client.base_url
        if not url.startswith(base):
            return "response_url"
        method = url[len(base) :].split("?", 1)[0]
        return method if _METHOD.fullmatch(method) else "other"

    async def close(self) -> None:
        """Close the pooled HTTP session."""
        if self.client.session is not None and not self.client.session.closed:
            await self.client.session.close()

    async def identity(self) -> AsyncSlackResponse:
        """auth.test, once: who the bot is (its user id, its team)."""
        async with self._identity_lock:
            if self._identity is None:
                self.open_session()
                self._identity = await self.api("auth.test", self.client.auth_test())
            return self._identity

    def stranger(self, *, team_id: str, enterprise_id: str | None) -> bool | None:
        """Whether a request comes from another workspace than the bot's (its auth.test): None while that is not
        known yet. An org-wide install on Enterprise Grid is at home in every workspace of its organisation."""
        me = self._identity
        if me is None:
            return None
        if me.get("is_enterprise_install") and me.get("enterprise_id"):
            return enterprise_id != me.get("enterprise_id")
        return not team_id or team_id != me.get("team_id")

    def authorize(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Bolt's authorize hook, which stands before every ack: never a Web API call.

        The cached auth.test when it has answered; until then the token alone, for the request's workspace, which is
        all the listeners need to ack and hand the work on (Bolt uses the bot's ids only to drop the bot's own events).
        """
        if self._identity is not None:
            return AuthorizeResult.from_auth_test_response(
                bot_token=self.client.token, auth_test_response=self._identity
            )
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=self.client.token)

    def remember(self, people: Mapping[str, str]) -> None:
        """Names Slack already resolved in a command's mentions (name → user id): no lookup needed for them."""
        for name, user_id in people.items():
            self._directory.by_name[name.lower()] = UserRef(user_id, name)
            self._directory.names.setdefault(user_id, name)

    # --- the port ------------------------------------------------------------------------------------

    async def open_room(
        self, name: str, *, topic: str, private: bool = False, origin: RoomRef | None = None
    ) -> RoomRef:
        """conversations.create with a valid name, `-2`, `-3`… while it is taken; then the topic."""
        self.open_session()
        base = channel_name(name)
        for n in itertools.count(1):
            suffix = f"-{n}" if n > 1 else ""
            candidate = base[: MAX_NAME - len(suffix)].rstrip("-_") + suffix
            try:
                created = await self.api(
                    "conversations.create", self.client.conversations_create(name=candidate, is_private=private)
                )
                break
            except SlackCallError as err:
                if err.code != "name_taken" or n >= 50:
                    raise
        channel = created["channel"]
        room = RoomRef(channel["id"], channel["name"])
        try:
            await self.api(
                "conversations.setTopic",
                self.client.conversations_setTopic(channel=room.id, topic=topic[:MAX_TOPIC]),
            )
        except ChatError as err:  # the room exists and will be recorded: a missing topic must not undo it
            log.warning("could not set the topic of #%s: %s", room.name, err)
        return room

    async def invite(self, room: RoomRef, users: Sequence[UserRef]) -> None:
        """One conversations.invite for everyone; people already there (or the bot itself) are not an error."""
        self.open_session()
        me = (await self.identity()).get("user_id")
        ids = list(dict.fromkeys(u.id for u in users if u.id != me))
        if not ids:
            return
        try:
            done = await self.api(
                "conversations.invite", self.client.conversations_invite(channel=room.id, users=ids, force=True)
            )
        except SlackCallError as err:
            if err.code in _HARMLESS:
                return
            raise
        failed = [e for e in done.get("errors") or [] if e.get("error") not in _HARMLESS]
        if failed:
            raise ChatError(
                "Slack conversations.invite failed for "
                + ", ".join(f"{e.get('user')} ({e.get('error')})" for e in failed)
            )

    async def post(
        self,
        room: RoomRef,
        message: Message,
        *,
        key: str | None = None,
        retry: bool = False,
        thread: MessageRef | None = None,
    ) -> MessageRef:
        """chat.postMessage (in the thread of ``thread`` when given), paced to one a second per channel, exactly
        once per delivery key.

        The key rides in the message's metadata. Only 429s are retried blindly (Slack did not take the post);
        when the outcome is unknown — a 5xx, a timeout, a dropped connection, or a retry after a crash — the
        channel's recent history (or the thread's) is searched for the key before anything is posted again.
        A payload Slack refuses (`msg_blocks_too_long`, `invalid_blocks`, …) is a ChatError with ``refused`` set.
        """
        self.open_session()
        if key is not None and retry and (found := await self._posted_under(room, key, thread)):
            return found
        text, rendered = fallback_text([message]), blocks([message])
        metadata = {"event_type": DELIVERY_EVENT, "event_payload": {"key": key}} if key else None
        # With a key, a lost answer is looked up, so only 429s are retried; without one (the kickoff card,
        # whose id is needed at once) slack_sdk's usual retries give at least once.
        client = self._poster() if key else self.client

        def call() -> Awaitable[AsyncSlackResponse]:
            return client.chat_postMessage(
                channel=room.id,
                text=text,
                blocks=rendered,
                unfurl_links=False,
                metadata=metadata,
                thread_ts=thread.id if thread else None,
            )

        try:
            posted = await self.api("chat.postMessage", self.pacer.run(room.id, call))
        except SlackCallError as err:
            if key is None or not err.unknown_outcome:
                raise
            found = await self._posted_under(room, key, thread)
            if found is None:
                raise
            return found
        return MessageRef(room, str(posted["ts"]))

    def split(self, message: Message) -> list[Message]:
        """Parts that each fit one Slack message: block text, blocks, fields and lines within Slack's limits."""
        return split(message)

    def _poster(self) -> AsyncWebClient:
        """The client posts go through: it waits out 429s but never resends blindly after a 5xx or a drop."""
        if self._post_client is None:
            self._post_client = AsyncWebClient(
                token=self.client.token,
                base_url=self.client.base_url,
                timeout=self.client.timeout,
                retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=8)],
            )
        self._post_client.session = self.client.session
        return self._post_client

    async def _posted_under(self, room: RoomRef, key: str, thread: MessageRef | None = None) -> MessageRef | None:
        """The message posted under a delivery key, from the channel's recent history — or the thread's, for a
        reply, which the channel's history does not list (None if not there)."""
        if thread is not None:
            history = await self.api(
                "conversations.replies",
                self.client.conversations_replies(
                    channel=room.id, ts=thread.id, limit=HISTORY_LOOKBACK, include_all_metadata=True
                ),
            )
        else:
            history = await self.api(
                "conversations.history",
                self.client.conversations_history(channel=room.id, limit=HISTORY_LOOKBACK, include_all_metadata=True),
            )
        for item in history.get("messages") or []:
            payload = (item.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == key:
                return MessageRef(room, str(item["ts"]))
        return None

    async def update(self, ref: MessageRef, message: Message) -> None:
        """chat.update in place."""
        self.open_session()
        await self.api(
            "chat.update",
            self.client.chat_update(
                channel=ref.room.id, ts=ref.id, text=fallback_text([message]), blocks=blocks([message])
            ),
        )

    async def pin(self, ref: MessageRef) -> None:
        """pins.add; already pinned is fine."""
        self.open_session()
        try:
            await self.api("pins.add", self.client.pins_add(channel=ref.room.id, timestamp=ref.id))
        except SlackCallError as err:
            if err.code not in _HARMLESS:
                raise

    async def find_user(self, handle: str) -> UserRef | None:
        """`<@U…|name>` read directly; emails via users.lookupByEmail; `@name` in the (cached) users.list."""
        handle = handle.strip()
        if m := _MENTION.fullmatch(handle):
            return UserRef(m.group(1), m.group(2) or self._directory.names.get(m.group(1), m.group(1)))
        if _EMAIL.fullmatch(handle):
            return await self._by_email(handle.lower())
        if m := _HANDLE.fullmatch(handle):
            return await self._by_name(m.group(1).lower())
        return None

    async def email_of(self, user: UserRef) -> str | None:
        """A person's email address from the workspace directory (`users:read.email`): a chase copies its owner."""
        for attempt in range(2):
            found = next((email for email, u in self._directory.by_email.items() if u.id == user.id), None)
            if found is not None or attempt:
                return found
            await self._load_directory()
        return None

    # --- people --------------------------------------------------------------------------------------

    async def _by_name(self, name: str) -> UserRef | None:
        if name in self._directory.by_name:
            return self._directory.by_name[name]
        await self._load_directory()
        return self._directory.by_name.get(name)

    async def _by_email(self, email: str) -> UserRef | None:
        if email in self._directory.by_email:
            return self._directory.by_email[email]
        if time.monotonic() - self._missing_emails.get(email, float("-inf")) < DIRECTORY_TTL:
            return None
        self.open_session()
        try:
            found = await self.api("users.lookupByEmail", self.client.users_lookupByEmail(email=email))
        except SlackCallError as err:
            if err.code != "users_not_found":
                raise
            self._missing_emails[email] = time.monotonic()
            return None
        user = self._add(found["user"])
        self._directory.by_email[email] = user
        return user

    async def _load_directory(self) -> None:
        async with self._directory_lock:
            if time.monotonic() - self._directory.loaded_at < DIRECTORY_TTL:
                return
            self.open_session()
            cursor: str | None = None
            while True:
                page = await self.api("users.list", self.client.users_list(limit=200, cursor=cursor))
                for member in page.get("members") or []:
                    if not member.get("deleted"):
                        self._add(member)
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
            self._directory.loaded_at = time.monotonic()

    def _add(self, member: Mapping[str, Any]) -> UserRef:
        user = UserRef(str(member["id"]), str(member.get("name") or member["id"]))
        directory = self._directory
        directory.names[user.id] = user.name
        directory.by_name[user.name.lower()] = user
        profile = member.get("profile") or {}
        display = str(profile.get("display_name") or "").lower()
        if display and _HANDLE.fullmatch(display):
            directory.by_name.setdefault(display, user)
        if email := profile.get("email"):
            directory.by_email[str(email).lower()] = user
        return user
