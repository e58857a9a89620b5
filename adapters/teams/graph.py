"""Microsoft Graph for war-room channels, with app-only tokens from msal's client-credentials flow."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any
from urllib.parse import quote

import aiohttp
import msal
import requests

from adapters.teams.pacing import RETRYABLE, Backoff, Retryable, failure, retry_after, with_retries
from bot.errors import ChatError
from bot.observe import QUIET, Observer

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.microsoft.com/v1.0"
LOGIN_URL = "https://login.microsoftonline.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
MAX_CHANNEL_NAME = 50
# Teams refuses these in channel names, and a name may not start with `_` or `.` nor end with `.`.
_FORBIDDEN = re.compile(r"[~#%&*{}+/\\:<>?|'\",\x00-\x1f]")
_RESERVED = {"general", "forms", "con", "prn", "aux", "nul", "desktop.ini"}
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def channel_name(name: str, suffix: str = "") -> str:
    """A Teams-legal channel name of at most 50 characters, ending in ``suffix`` (e.g. `-2` to dedupe)."""
    clean = _FORBIDDEN.sub("-", name)
    clean = re.sub(r"\.{2,}", ".", re.sub(r"\s+", " ", clean))
    clean = re.sub(r"-{2,}", "-", clean).strip(" -_.")
    if clean.lower() in _RESERVED:
        clean += "-room"
    clean = clean[: MAX_CHANNEL_NAME - len(suffix)].rstrip(" -_.")
    return (clean or "war-room") + suffix


def graph_user_id(user_id: str) -> str | None:
    """The id Graph accepts for a person (an Entra object id or a UPN), or None for a Teams-only id."""
    return user_id if _GUID.match(user_id) or _EMAIL.match(user_id) else None


class TokenSource:
    """App-only tokens for one app registration; msal caches each until shortly before it expires."""

    def __init__(self, *, client_id: str, secret: str, authority: str, verify: bool | str = True) -> None:
        self.client_id, self.authority = client_id, authority
        self._secret, self._verify = secret, verify
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def token_now(self, scope: str) -> str:
        """A token for ``scope``; blocks on the network when msal's cache is cold, so prefer ``token``."""
        try:
            with self._lock:
                if self._app is None:
                    # No instance discovery: the authority is configured, so nothing is looked up on the internet.
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id,
                        client_credential=self._secret,
                        authority=self.authority,
                        instance_discovery=False,
                        http_client=_PinnedSession(self._verify) if isinstance(self._verify, str) else None,
                    )
            result: dict[str, Any] = self._app.acquire_token_for_client(scopes=[scope])
        except Exception as err:  # msal raises ValueError or requests' errors when the authority is unreachable
            raise ChatError(f"could not reach the sign-in service at {self.authority}: {err}") from err
        if "access_token" not in result:
            raise ChatError(
                f"sign-in refused for app {self.client_id}: {result.get('error')} — {result.get('error_description')}"
            )
        return str(result["access_token"])

    async def token(self, scope: str) -> str:
        """A token for ``scope``, fetched off the event loop (msal is synchronous)."""
        return await asyncio.to_thread(self.token_now, scope)


class _PinnedSession(requests.Session):
    """Requests to the sign-in service trusting exactly the CA bundle configured, whatever REQUESTS_CA_BUNDLE says."""

    def __init__(self, ca_bundle: str) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        # requests lets REQUESTS_CA_BUNDLE override Session.verify; a per-request verify wins over it.
        kwargs["verify"] = self.ca_bundle if kwargs.get("verify") in (None, True) else kwargs["verify"]
        kwargs.setdefault("timeout", 30)
        return super().request(*args, **kwargs)


class GraphError(ChatError):
    """Graph answered with an error status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Graph said {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message

    @property
    def name_taken(self) -> bool:
        # Graph documents 409 Conflict; in practice it also answers 400 "Channel name already existed".
        return self.status == 409 or (self.status == 400 and "already exist" in self.message.lower())


class GraphClient:
    """The few Graph calls war rooms need: create a channel, add members to a private one."""

    def __init__(self, *, base_url: str, tokens: TokenSource, backoff: Backoff, observer: Observer = QUIET) -> None:
        self.base_url, self.tokens, self.backoff = base_url.rstrip("/"), tokens, backoff
        self.observer = observer  # told every request to Graph (retries included) and every failed call
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def create_channel(
        self, team_id: str, name: str, *, description: str, private: bool, owner: str | None
    ) -> tuple[str, str]:
        """Create a channel, trying `name`, `name-2`, … while the name is taken; returns (id, name)."""
        for n in range(1, 30):
            candidate = channel_name(name, "" if n == 1 else f"-{n}")
            body: dict[str, Any] = {
                "displayName": candidate,
                "description": description[:1024],
                "membershipType": "private" if private else "standard",
            }
            if private:
                if owner is None:
                    raise ChatError("a private channel needs an owner; open it from Teams so I know who you are")
                body["members"] = [self._member(owner, owner=True)]
            try:
                data = await self._call("POST", f"/teams/{quote(team_id)}/channels", body, name="create_channel")
            except GraphError as err:
                if err.name_taken:
                    continue
                raise
            return str(data["id"]), str(data.get("displayName") or candidate)
        raise ChatError(f"every channel name like {name} is taken in the team")

    async def add_member(self, team_id: str, channel_id: str, user_id: str) -> None:
        """Add a person to a private channel; already being a member is fine."""
        path = f"/teams/{quote(team_id)}/channels/{quote(channel_id)}/members"
        try:
            await self._call("POST", path, self._member(user_id, owner=False), name="add_channel_member")
        except GraphError as err:
            if err.status != 409:
                raise

    def _member(self, user_id: str, *, owner: bool) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": ["owner"] if owner else [],
            "user@odata.bind": f"{self.base_url}/users('{user_id}')",
        }

    async def _call(self, method: str, path: str, body: dict[str, Any], *, name: str) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            token = await self.tokens.token(GRAPH_SCOPE)
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            try:
                async with self._session.request(
                    method, self.base_url + path, json=body, headers={"Authorization": f"Bearer {token}"}
                ) as resp:
                    self.observer.chat_request("teams", name, str(resp.status))
                    data = await _json(resp)
                    if resp.status in RETRYABLE:
                        raise Retryable(resp.status, _message(data), retry_after(resp.headers))
                    if resp.status >= 400:
                        error = data.get("error")
                        code = str(error.get("code", "")) if isinstance(error, dict) else ""
                        raise GraphError(resp.status, code, _message(data))
                    return data
            except aiohttp.ClientError as err:
                self.observer.chat_request("teams", name, "unreachable")
                raise ChatError(f"Graph is unreachable at {self.base_url}: {err}") from err

        try:
            return await with_retries(once, backoff=self.backoff, what=f"Graph {method} {path}")
        except ChatError as err:  # a taken channel name too: it is how a free one is found, but Graph refused it
            self.observer.chat_error("teams", name, failure(err))
            raise


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _message(data: dict[str, Any]) -> str:
    error = data.get("error")
    return str(error.get("message", "")) if isinstance(error, dict) else ""
