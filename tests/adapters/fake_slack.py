"""A fake Slack Web API on loopback: checks tokens, validates arguments the way Slack does, records every call.

It is strict where Slack is: a message whose blocks hold more than 12,000 characters of text is refused with
`msg_blocks_too_long`, more than 50 blocks or a section or field over its size with `invalid_blocks`, a `text` over
40,000 characters with `msg_too_long` — in chat.postMessage, chat.update, chat.postEphemeral and on response_url —
and a modal past its limits (title, private_metadata, an input's max_length and initial value) with
`invalid_arguments`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT"
TEAM = "T0ACME"
LOBBY = "CLOBBY"
_NAME = re.compile(r"[a-z0-9_-]+")
MAX_BLOCK_TEXT = 12_000  # Slack reports msg_blocks_too_long past about this much block text (observed, not documented)
MAX_MESSAGE_TEXT = 40_000  # chat.postMessage's `text`: msg_too_long beyond
PEOPLE = (
    "dana",
    "lee",
    "sam",
    "kim",
    "csm-lead",
    "support-duty",
    "support-manager",
    "partner-desk",
    "acct-exec",
    "net-eng-oncall",
    "logistics-desk",
    "vp-customer-success",
)


def user_id(name: str) -> str:
    """The fake's id for a person: `csm-lead` → `UCSMLEAD`."""
    return "U" + re.sub(r"[^A-Z0-9]", "", name.upper())


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200
    error: str | None = None


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool
    members: set[str]
    topic: str = ""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    pins: list[str] = field(default_factory=list)


class SlackError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        self.code, self.extra = code, extra


class FakeSlack:
    """Slack's Web API as far as Warroom uses it; ``ratelimit``/``fail``/``gates``/``down`` shape the next calls."""

    def __init__(self, people: Iterable[str] = PEOPLE) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        for name in people:
            self.add_user(name)
        self.channels: dict[str, Channel] = {LOBBY: Channel(LOBBY, "general", False, {BOT_USER, *self.users})}
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # what was sent to response_url
        self.refused_responses: list[dict[str, Any]] = []  # what response_url refused
        self.ephemerals: list[dict[str, Any]] = []  # what chat.postEphemeral showed
        self.views: list[dict[str, Any]] = []  # modals opened
        self.socket_acks: list[dict[str, Any]] = []
        self.fail: dict[str, str] = {}  # method → the error its next call returns
        self.gates: dict[str, asyncio.Event] = {}  # method → calls wait until the event is set
        self.held: list[str] = []  # the methods of calls that arrived at a gate (waiting there, or let through)
        self.down: dict[str, int] = {}  # method → the HTTP status every call gets until it is removed
        self._ratelimit, self._retry_after, self._server_errors = 0, 1, 0
        self._after: dict[str, list[str]] = {}  # method → how its next calls fail *after* Slack did the work
        self._ids = itertools.count(1)
        self._envelopes: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def add_user(self, name: str, *, email: str | None = None, uid: str | None = None) -> str:
        uid = uid or user_id(name)
        profile = {"display_name": name, "email": email or f"{name}@example.com", "real_name": name.title()}
        self.users[uid] = {"id": uid, "name": name, "deleted": False, "profile": profile}
        return uid

    # --- test controls ---------------------------------------------------------------------------------

    def ratelimit(self, calls: int, *, retry_after: int = 1) -> None:
        """The next ``calls`` calls get HTTP 429 with Retry-After, as Slack does."""
        self._ratelimit, self._retry_after = calls, retry_after

    def server_errors(self, calls: int) -> None:
        """The next ``calls`` calls get HTTP 503."""
        self._server_errors = calls

    def fail_after_processing(self, method: str, *hows: str) -> None:
        """The next calls of ``method`` are carried out, then answered with a 500 (``"500"``) or a dropped
        connection (``"drop"``): the caller cannot know the post went through, as with a real outage."""
        self._after.setdefault(method, []).extend(hows)

    def called(self, method: str, *, ok: bool = True) -> list[Call]:
        """Calls of ``method`` (only the ones that succeeded unless ``ok`` is False)."""
        return [c for c in self.calls if c.method == method and (not ok or (c.status == 200 and c.error is None))]

    def channel_named(self, name: str) -> Channel:
        return next(c for c in self.channels.values() if c.name == name)

    def response_url(self) -> str:
        return f"{self.url}response/{next(self._ids)}"

    async def push(self, envelope: dict[str, Any]) -> None:
        """Send a Socket Mode envelope to the connected client."""
        await self._envelopes.put(envelope)

    # --- the server ------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/"
        return f"{self.url}api/"

    async def close(self) -> None:
        for gate in self.gates.values():  # calls still held answer now: the server's cleanup waits for nobody
            gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        call = Call(method, args, time.monotonic())
        self.calls.append(call)
        if self._ratelimit > 0:
            self._ratelimit -= 1
            call.status, call.error = 429, "ratelimited"
            body = {"ok": False, "error": "ratelimited"}
            return web.json_response(body, status=429, headers={"Retry-After": str(self._retry_after)})
        if self._server_errors > 0:
            self._server_errors -= 1
            call.status = 503
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=503)
        if method in self.down:
            call.status = self.down[method]
            return web.json_response({"ok": False, "error": "service_unavailable"}, status=call.status)
        if method in self.gates:
            self.held.append(method)  # arrived, and waits at its gate
            await self.gates[method].wait()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.get("token", "")
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        try:
            if not token:
                raise SlackError("not_authed")
            if token != wanted:
                raise SlackError("invalid_auth")
            if method in self.fail:
                raise SlackError(self.fail.pop(method))
            handler = getattr(self, "_" + method.replace(".", "_"), None)
            if handler is None:
                raise SlackError("unknown_method")
            result: dict[str, Any] = handler(args)
        except SlackError as err:
            call.error = err.code
            return web.json_response({"ok": False, "error": err.code, **err.extra})
        if self._after.get(method):
            how = self._after[method].pop(0)
            call.status = 500
            if how == "drop" and request.transport is not None:
                request.transport.close()  # the work is done; the answer never arrives
                return web.Response(status=500)
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        return web.json_response({"ok": True, **result})

    async def _stats(self, request: web.Request) -> web.Response:
        """Successful calls per method, for the benchmark in another process."""
        counts: dict[str, int] = {}
        for call in self.calls:
            if call.status == 200 and call.error is None:
                counts[call.method] = counts.get(call.method, 0) + 1
        return web.json_response({"calls": counts, "responses": len(self.responses)})

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            _validate_message(body)
        except SlackError as err:  # response_url answers a refused payload with a 4xx and the error as its body
            self.refused_responses.append(body)
            return web.Response(status=400, text=err.code)
        self.responses.append({"id": request.match_info["id"], **body})
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0WARROOM"}})

        async def sender() -> None:
            while True:
                await ws.send_json(await self._envelopes.get())

        sending = asyncio.create_task(sender())
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(message.data))
        finally:
            sending.cancel()
        return ws

    # --- methods ---------------------------------------------------------------------------------------

    def _channel(self, args: dict[str, Any], *, member: bool = True) -> Channel:
        channel = self.channels.get(str(args.get("channel", "")))
        if channel is None:
            raise SlackError("channel_not_found")
        if member and BOT_USER not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": "https://acme.slack.com/", "team": "Acme", "user": "warroom", "team_id": TEAM} | {
            "user_id": BOT_USER,
            "bot_id": "B0WARROOM",
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.url.replace("http://", "ws://") + "socket"}

    def _conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not _NAME.fullmatch(name):
            raise SlackError("invalid_name_specials")
        if any(c.name == name for c in self.channels.values()):
            raise SlackError("name_taken")
        private = str(args.get("is_private", "")).lower() in ("1", "true")
        channel = Channel(f"C{next(self._ids):06d}", name, private, {BOT_USER})
        self.channels[channel.id] = channel
        return {"channel": {"id": channel.id, "name": name, "is_channel": True, "is_private": private}}

    def _conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        topic = str(args.get("topic", ""))
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        return {"channel": {"id": channel.id, "topic": {"value": topic}}}

    def _conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ids = [u for u in str(args.get("users", "")).split(",") if u]
        if not ids:
            raise SlackError("no_user")
        if len(ids) > 1000:
            raise SlackError("too_many_users")
        errors = []
        for uid in ids:
            if uid == BOT_USER:
                errors.append({"user": uid, "ok": False, "error": "cant_invite_self"})
            elif uid not in self.users:
                errors.append({"user": uid, "ok": False, "error": "user_not_found"})
            elif uid in channel.members:
                errors.append({"user": uid, "ok": False, "error": "already_in_channel"})
        valid = [u for u in ids if u in self.users and u not in channel.members]
        force = str(args.get("force", "")).lower() in ("1", "true")
        if errors and (not force or not valid):
            raise SlackError(errors[0]["error"], errors=errors)
        channel.members.update(valid)
        return {"channel": {"id": channel.id}, **({"errors": errors} if errors else {})}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        blocks = _validate_message(args)
        thread_ts = str(args.get("thread_ts") or "")
        if thread_ts and thread_ts not in channel.messages:
            raise SlackError("thread_not_found")
        ts = f"{1_790_000_000 + next(self._ids)}.000100"
        metadata = args.get("metadata")
        metadata = json.loads(metadata) if isinstance(metadata, str) else metadata
        if metadata is not None and not (isinstance(metadata, dict) and metadata.get("event_type")):
            raise SlackError("invalid_metadata_format")
        channel.messages[ts] = {"ts": ts, "text": args.get("text", ""), "blocks": blocks or []}
        if thread_ts:
            channel.messages[ts]["thread_ts"] = thread_ts
        if metadata:
            channel.messages[ts]["metadata"] = metadata
        return {"channel": channel.id, "ts": ts, "message": channel.messages[ts]}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        limit = min(int(args.get("limit") or 100), 999)
        include = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        top = [m for m in channel.messages.values() if m.get("thread_ts", m["ts"]) == m["ts"]]  # no thread replies
        newest_first = sorted(top, key=lambda m: m["ts"], reverse=True)[:limit]
        shown = [m if include else {k: v for k, v in m.items() if k != "metadata"} for m in newest_first]
        return {"messages": shown, "has_more": len(top) > limit}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("ts", ""))
        if ts not in channel.messages:
            raise SlackError("thread_not_found")
        limit = min(int(args.get("limit") or 1000), 1000)
        include = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        thread = [m for m in channel.messages.values() if m["ts"] == ts or m.get("thread_ts") == ts]
        oldest_first = sorted(thread, key=lambda m: m["ts"])[:limit]
        shown = [m if include else {k: v for k, v in m.items() if k != "metadata"} for m in oldest_first]
        return {"messages": shown, "has_more": len(thread) > limit}

    def thread(self, channel: Channel, ts: str) -> list[dict[str, Any]]:
        """The replies in a message's thread, oldest first."""
        replies = [m for m in channel.messages.values() if m.get("thread_ts") == ts and m["ts"] != ts]
        return sorted(replies, key=lambda m: m["ts"])

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args, member=False)
        ts = str(args.get("ts", ""))
        if ts not in channel.messages:
            raise SlackError("message_not_found")
        blocks = _validate_message(args)
        channel.messages[ts] = {"ts": ts, "text": args.get("text", ""), "blocks": blocks or [], "edited": True}
        return {"channel": channel.id, "ts": ts}

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._channel(args)
        if str(args.get("user", "")) not in self.users:
            raise SlackError("user_not_found")
        _validate_message(args)
        self.ephemerals.append(args)
        return {"message_ts": f"{1_790_000_000 + next(self._ids)}.000200"}

    def _pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("timestamp", ""))
        if not ts:
            raise SlackError("no_item_specified")
        if ts not in channel.messages:
            raise SlackError("message_not_found")
        if ts in channel.pins:
            raise SlackError("already_pinned")
        channel.pins.append(ts)
        return {}

    def _users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        members = list(self.users.values())
        nxt = str(start + limit) if start + limit < len(members) else ""
        return {"members": members[start : start + limit], "response_metadata": {"next_cursor": nxt}}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        found = next((u for u in self.users.values() if u["profile"]["email"] == email), None)
        if found is None:
            raise SlackError("users_not_found")
        return {"user": found}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("user", "")) not in self.users:
            raise SlackError("user_not_found")
        return {"user": self.users[str(args["user"])]}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not str(args.get("trigger_id", "")).startswith("trigger-"):
            raise SlackError("invalid_trigger_id")
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        problems = _view_problems(view)
        if problems:
            raise SlackError("invalid_arguments", response_metadata={"messages": problems})
        self.views.append(view)
        return {"view": {"id": f"V{next(self._ids)}", **view}}


def _validate_message(args: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A message as Slack checks it (its text and its blocks); the blocks, parsed."""
    blocks = args.get("blocks")
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    if not args.get("text") and not blocks:
        raise SlackError("no_text")
    if len(str(args.get("text") or "")) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    _validate_blocks(blocks or [])
    return blocks


def text_of(node: Any) -> int:
    """Characters of every `text` string in a block tree: what msg_blocks_too_long is counted over."""
    if isinstance(node, list):
        return sum(text_of(n) for n in node)
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_of(v) for k, v in node.items())
    return 0


def _validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """Slack's Block Kit limits: a message that breaks them fails as a whole with invalid_blocks."""
    if len(blocks) > 50:
        raise SlackError("invalid_blocks", errors=["no more than 50 items allowed"])
    if text_of(blocks) > MAX_BLOCK_TEXT:
        raise SlackError("msg_blocks_too_long")
    action_ids = [e.get("action_id") for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]
    if len(set(action_ids)) != len(action_ids):
        raise SlackError("invalid_blocks", errors=["action_id must be unique within a message"])
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            if len((block.get("text") or {}).get("text", "")) > 3000 or len(block.get("fields", [])) > 10:
                raise SlackError("invalid_blocks")
            if any(len(f["text"]) > 2000 for f in block.get("fields", [])):
                raise SlackError("invalid_blocks")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > 25:
                raise SlackError("invalid_blocks")
            for e in elements:
                if len(e["text"]["text"]) > 75 or len(e.get("value", "")) > 2000:
                    raise SlackError("invalid_blocks")
        elif kind not in ("divider", "context", "header"):
            raise SlackError("invalid_blocks", errors=[f"unknown block type {kind}"])


def _view_problems(view: dict[str, Any]) -> list[str]:
    """What Slack says is wrong with a modal (views.open answers invalid_arguments with these)."""
    problems = []
    if view.get("type") != "modal":
        problems.append("[ERROR] must be a modal [json-pointer:/view/type]")
    for key, limit in (("title", 24), ("submit", 24), ("close", 24)):
        if len((view.get(key) or {}).get("text", "")) > limit:
            problems.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:/view/{key}/text]")
    if len(str(view.get("private_metadata") or "")) > 3000:
        problems.append("[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]")
    if len(str(view.get("callback_id") or "")) > 255:
        problems.append("[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]")
    blocks = view.get("blocks") or []
    if not 0 < len(blocks) <= 100:
        problems.append("[ERROR] must have 1 to 100 blocks [json-pointer:/view/blocks]")
    for n, block in enumerate(blocks):
        where = f"/view/blocks/{n}"
        if len((block.get("label") or {}).get("text", "")) > 2000:
            problems.append(f"[ERROR] must be less than 2001 characters [json-pointer:{where}/label/text]")
        element = block.get("element") or {}
        if element.get("type") == "plain_text_input":
            most = element.get("max_length", 3000)
            if not 1 <= most <= 3000:
                problems.append(f"[ERROR] must be between 1 and 3000 [json-pointer:{where}/element/max_length]")
            if len(str(element.get("initial_value") or "")) > min(most, 3000):
                problems.append(f"[ERROR] must be at most max_length [json-pointer:{where}/element/initial_value]")
    return problems
