"""The Bot Connector through botbuilder's CloudAdapter: inbound auth, and posts from stored conversation references."""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any, TypeVar

from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.auth import (
    AppCredentials,
    AuthenticationConstants,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msrest.exceptions import ClientRequestError, HttpOperationError
from urllib3 import Retry

from adapters.teams.cards import CARD_CONTENT_TYPE, adaptive_card
from adapters.teams.graph import TokenSource
from adapters.teams.pacing import RETRYABLE, Backoff, Pacer, Retryable, failure, retry_after, with_retries
from bot.chat import Message
from bot.errors import ChatError
from bot.observe import QUIET, Observer

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNEL = "msteams"
BOT_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE + "/.default"
# Where Teams takes proactive posts when no activity has told us a regional serviceUrl yet.
TEAMS_SERVICE_URL = "https://smba.trafficmanager.net/teams/"


class TeamsCallError(ChatError):
    """A call Teams answered with an error status; 400 and 413 (MessageSizeTooBig) refuse the payload itself."""

    def __init__(self, what: str, status: int, detail: str) -> None:
        self.status = status
        self.refused = status in REFUSED
        super().__init__(f"Teams refused to {what}: HTTP {status} {detail}")


REFUSED = frozenset({400, 413})  # the same activity would be refused again: never resent unchanged


def base_channel(conversation_id: str) -> str:
    """`19:…@thread.tacv2;messageid=42` → `19:…@thread.tacv2`: the channel a thread lives in."""
    return conversation_id.split(";messageid=", 1)[0]


@dataclass(frozen=True)
class Address:
    """Where a room lives, persisted as its room address: a conversation reference plus what Warroom knows."""

    reference: dict[str, Any]  # a serialized botbuilder ConversationReference, without an activity id
    kind: str  # "conversation" (a chat or a channel post), "thread" (a war room thread), "channel" (Graph)
    name: str
    team_id: str | None = None  # the Bot Framework team id (the General channel's id), for the roster
    channel_id: str | None = None  # the Teams channel a thread or channel room is in
    tenant_id: str | None = None
    private: bool = False

    @property
    def conversation_id(self) -> str:
        return str(self.reference["conversation"]["id"])

    @property
    def service_url(self) -> str:
        return str(self.reference["serviceUrl"])

    def to_data(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Address:
        fields = ("reference", "kind", "name", "team_id", "channel_id", "tenant_id", "private")
        return cls(**{k: data[k] for k in fields if k in data})

    @classmethod
    def of(cls, activity: Any, *, kind: str, name: str) -> Address:
        """The address of the conversation an incoming activity came from."""
        reference = TurnContext.get_conversation_reference(activity)
        reference.activity_id = None  # posts start a message in the conversation, not a reply to this one
        channel_data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        team = (channel_data.get("team") or {}).get("id")
        channel = (channel_data.get("channel") or {}).get("id")
        if channel is None and activity.conversation.conversation_type == "channel":
            channel = activity.conversation.id  # e.g. the install event, posted to the General channel itself
        tenant = (channel_data.get("tenant") or {}).get("id")
        return cls(reference.serialize(), kind, name, team, channel and base_channel(channel), tenant)

    def moved_to(self, conversation_id: str, *, kind: str, name: str, channel_id: str | None = None) -> Address:
        """The same service, bot and tenant, another conversation."""
        reference = copy.deepcopy(self.reference)
        reference["conversation"] = {"id": conversation_id, "isGroup": True, "conversationType": "channel"}
        reference.pop("user", None)
        return replace(self, reference=reference, kind=kind, name=name, channel_id=channel_id or self.channel_id)


def message_activity(message: Message) -> Any:
    """A message as a Bot Framework activity carrying one Adaptive Card."""
    card = Attachment(content_type=CARD_CONTENT_TYPE, content=adaptive_card(message))
    return Activity(type=ActivityTypes.message, attachments=[card], summary=message.title[:200])


class _TokenCredentials(AppCredentials):  # type: ignore[misc]
    """Connector credentials whose token comes from our msal app, warmed off the event loop before each call."""

    def __init__(self, app_id: str, tokens: TokenSource) -> None:
        super().__init__(app_id=app_id, oauth_scope=AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)
        self._tokens = tokens

    def get_access_token(self, force_refresh: bool = False) -> str:
        return self._tokens.token_now(BOT_SCOPE)


class _CredentialsFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """botbuilder's credential hook: our app id, our token source (its authority is configurable)."""

    def __init__(self, app_id: str | None, tokens: TokenSource | None) -> None:
        self.app_id, self.tokens = app_id, tokens

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(self.app_id) and app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        if not self.app_id or self.tokens is None:
            return MicrosoftAppCredentials.empty()
        if app_id != self.app_id:
            raise PermissionError(f"unknown app id {app_id!r}")
        return _TokenCredentials(app_id, self.tokens)


class Connector:
    """CloudAdapter plus what Teams asks of a well-behaved bot: paced posts, retried throttling, clear errors."""

    def __init__(
        self,
        *,
        app_id: str | None,
        tokens: TokenSource | None,
        backoff: Backoff,
        pacer: Pacer,
        channel_auth: Mapping[str, str] | None = None,
        observer: Observer = QUIET,
    ) -> None:
        self.app_id, self.tokens, self.backoff, self.pacer = app_id, tokens, backoff, pacer
        self.observer = observer  # told every request to the Bot Connector (retries included) and every failed call
        # channel_auth holds botbuilder's cloud settings (TO_BOT_FROM_CHANNEL_TOKEN_ISSUER, …) for other clouds.
        settings = SimpleNamespace(APP_ID=app_id or "", APP_TYPE="MultiTenant", **(channel_auth or {}))
        self.auth = ConfigurationBotFrameworkAuthentication(
            settings, credentials_factory=_CredentialsFactory(app_id, tokens)
        )
        self.adapter = CloudAdapter(self.auth)

    async def authenticate(self, activity: Any, auth_header: str) -> Any:
        """botbuilder's own check of the Bot Framework JWT (or nothing, when no app id is configured)."""
        return await self.auth.authenticate_request(activity, auth_header)

    async def run_turn(self, authenticated: Any, activity: Any, logic: Callable[[Any], Awaitable[None]]) -> Any:
        """Run an authenticated activity through the adapter; returns an invoke response or None."""
        return await self.adapter.process_activity(authenticated, activity, logic)

    def prepare(self, turn_context: Any) -> None:
        """Make the turn's connector client ours to retry: no hidden retries inside `requests`."""
        _no_hidden_retries(turn_context.turn_state.get(self.adapter.BOT_CONNECTOR_CLIENT_KEY))

    async def reply(self, turn_context: Any, message: Message) -> str:
        """Answer the person in the conversation their message came from."""
        await self._warm()
        conversation = turn_context.activity.conversation.id

        async def send() -> Any:
            return await turn_context.send_activity(message_activity(message))

        response = await self._call(send, key=conversation, what="reply", method="reply_to_activity")
        return str(getattr(response, "id", "") or "")

    async def send(self, address: Address, message: Message) -> str:
        """Post proactively into a stored conversation; returns the new activity id."""

        async def op(client: Any, reference: Any) -> Any:
            activity = TurnContext.apply_conversation_reference(message_activity(message), reference)
            return await client.conversations.send_to_conversation(reference.conversation.id, activity)

        response = await self._proactive(
            address, op, key=address.conversation_id, what="post", method="send_to_conversation"
        )
        return str(response.id)

    async def start_thread(self, address: Address, channel_id: str, message: Message) -> tuple[str, str]:
        """A new top-level post in a channel (a new reply chain); returns (conversation id, activity id)."""

        async def op(client: Any, reference: Any) -> Any:
            activity = message_activity(message)
            activity.from_property = reference.bot
            params = ConversationParameters(
                is_group=True,
                bot=reference.bot,
                channel_data={"channel": {"id": channel_id}},
                activity=activity,
                tenant_id=address.tenant_id,
            )
            return await client.conversations.create_conversation(params)

        created = await self._proactive(
            address, op, key=channel_id, what="start a thread", method="create_conversation"
        )
        conversation = str(created.id or "")
        if ";messageid=" not in conversation:
            conversation = f"{channel_id};messageid={created.activity_id}"
        return conversation, str(created.activity_id or base_channel(conversation))

    async def update(self, address: Address, conversation_id: str, activity_id: str, message: Message) -> None:
        """Replace a posted card."""

        async def op(client: Any, reference: Any) -> Any:
            activity = message_activity(message)
            activity.id, activity.conversation = activity_id, ConversationAccount(id=conversation_id)
            return await client.conversations.update_activity(conversation_id, activity_id, activity)

        await self._proactive(address, op, key=conversation_id, what="edit", method="update_activity")

    async def members(self, address: Address, roster_id: str) -> list[dict[str, Any]]:
        """The people of a team (or chat), as Teams describes them: id, name, aadObjectId, email, UPN."""

        async def op(client: Any, reference: Any) -> Any:
            people: list[dict[str, Any]] = []
            token = None
            for _ in range(50):  # 50 pages of 500 people is as big as a team gets
                page = await client.conversations.get_teams_conversation_paged_members(roster_id, 500, token)
                people += [m.serialize() for m in page.members or []]
                token = page.continuation_token
                if not token:
                    break
            return people

        result: list[dict[str, Any]] = await self._proactive(
            address, op, key=None, what="list members", method="get_conversation_paged_members"
        )
        return result

    async def _proactive(
        self, address: Address, op: Callable[[Any, Any], Awaitable[T]], *, key: str | None, what: str, method: str
    ) -> T:
        """Run ``op`` with a connector for the address, through continue_conversation as botbuilder intends."""
        await self._warm()
        reference = ConversationReference().deserialize(address.reference)
        box: list[T] = []

        async def callback(turn_context: Any) -> None:
            client = turn_context.turn_state.get(self.adapter.BOT_CONNECTOR_CLIENT_KEY)
            _no_hidden_retries(client)
            box.append(await self._call(lambda: op(client, reference), key=key, what=what, method=method))

        try:
            await self.adapter.continue_conversation(reference, callback, self.app_id or None)
        except ChatError:
            raise
        except Exception as err:  # botbuilder wraps little; anything here means the post did not happen
            raise ChatError(f"{what} in {address.name}: {err}") from err
        return box[0]

    async def _call(self, call: Callable[[], Awaitable[T]], *, key: str | None, what: str, method: str) -> T:
        async def once() -> T:
            if key is not None:
                await self.pacer.wait(key)
            try:
                result = await call()
            except HttpOperationError as err:
                status = getattr(err.response, "status_code", 0)
                self.observer.chat_request("teams", method, str(status))
                if status in RETRYABLE:
                    raise Retryable(status, str(err), retry_after(err.response.headers)) from err
                raise TeamsCallError(what, status, str(err)) from err
            except ClientRequestError as err:
                self.observer.chat_request("teams", method, "unreachable")
                raise ChatError(f"Teams is unreachable ({what}): {err}") from err
            self.observer.chat_request("teams", method, "2xx")  # msrest does not say which success it was
            return result

        try:
            return await with_retries(once, backoff=self.backoff, what=f"Teams {what}")
        except ChatError as err:
            self.observer.chat_error("teams", method, failure(err))
            raise

    async def _warm(self) -> None:
        # The connector asks for its token synchronously on the event loop; fetch it first, off the loop.
        if self.app_id and self.tokens is not None:
            await self.tokens.token(BOT_SCOPE)

    def bot_account(self) -> Any:
        return ChannelAccount(id=f"28:{self.app_id}" if self.app_id else "28:warroom", name="Warroom")


def _no_hidden_retries(client: Any) -> None:
    # msrest's `requests` pipeline would retry 5xx itself, blocking a thread and hiding the status from us.
    if client is not None:
        client.config.retry_policy.policy = Retry(total=0, status_forcelist=(), raise_on_status=False)
