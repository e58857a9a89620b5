"""The HTTP API, /api/v1 on the one aiohttp server: bearer tokens, JSON in and out, problem documents for errors.

Every request is authenticated before its body is read: the token's hash is looked up in the database on every
request (an indexed read), so a revoked token is refused at once by every replica.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adapters.web.bodies import (
    MAX_BODY,
    command_reply,
    incident_number,
    json_body,
    open_command,
    read_body,
    read_query,
    refusal,
)
from adapters.web.models import (
    CommandReply,
    CommitmentList,
    CommitmentQuery,
    FollowUpList,
    FollowUpQuery,
    IncidentQuery,
    OpenIncident,
    RunCommand,
    ScorecardQuery,
    SummaryQuery,
    Timeline,
)
from adapters.web.openapi import Body, Route, document
from adapters.web.problems import PROBLEM_TYPE, Problem, ProblemError, problem
from bot import __version__, views
from bot import commands as c
from bot.chat import Capability, Invocation, Reply, RoomRef, UserRef
from bot.errors import NotFound, WarroomError
from bot.playbooks import PlaybookLibrary
from bot.runtime import Runtime
from bot.store.tokens import USED_EVERY, SeenRequest
from bot.summary import build_summary, to_markdown
from bot.tokens import ApiToken, Scope, api_user_id, looks_like_token, same_hash, token_hash

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
STALE = timedelta(minutes=2)  # a request with an Idempotency-Key still pending after this died midway
_KEY_CHARS = frozenset(chr(i) for i in range(0x21, 0x7F))
NO_ROOMS = (
    "war rooms here are threads under a team channel, and nobody has talked to the bot in one yet, so there is none "
    "to open them under: mention the bot in a channel first, or set WARROOM_TEAMS_TEAM_ID so that war rooms are "
    "channels (to try the API without a chat platform: `warroom serve --console`); nothing was recorded"
)
TokenHandler = Callable[[web.Request, ApiToken | None], Awaitable[web.StreamResponse]]


class Api:
    """The handlers of /api/v1 over the running core."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    @property
    def now(self) -> datetime:
        return self.runtime.warroom.desk.now

    @property
    def playbooks(self) -> PlaybookLibrary:
        return self.runtime.warroom.core.playbooks

    async def authenticate(self, request: web.Request, scope: Scope) -> ApiToken:
        """The token the request carries, refused (401) when missing, unknown or revoked, 403 when read-only."""
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="warroom"'}
        if scheme.lower() != "bearer" or not given.strip():
            raise ProblemError(401, "send a token: Authorization: Bearer wr_…", headers=challenge)
        given = given.strip()
        invalid = {"WWW-Authenticate": 'Bearer realm="warroom", error="invalid_token"'}
        if not looks_like_token(given):
            raise ProblemError(401, "that is not a Warroom token", headers=invalid)
        wanted = token_hash(given)
        async with self.runtime.db.read() as store:
            token = await store.token_by_hash(wanted)
        if token is None or not same_hash(token.token_hash, wanted):
            raise ProblemError(401, "unknown token", headers=invalid)
        if token.revoked:
            raise ProblemError(401, "this token was revoked", headers=invalid)  # whoever holds it learns no name
        if not token.may(scope):
            raise ProblemError(403, f"the token {token.name} may only read; this needs a write token")
        if token.last_used_at is None or self.now - token.last_used_at >= USED_EVERY:
            async with self.runtime.db.transaction() as store:  # not a write per request: once a minute at most
                await store.touch_token(token.id, now=self.now)
        return token

    # --- reads ---------------------------------------------------------------------------------------

    async def list_incidents(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = read_query(request, IncidentQuery)
        async with self.runtime.db.read() as store:
            page = await views.incident_list(
                store,
                playbooks=self.playbooks,
                now=self.now,
                state=q.state,
                severity=q.severity,
                customer=q.customer,
                limit=q.limit,
                offset=q.offset,
            )
        return json_body(page)

    async def get_incident(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        n = incident_number(request)
        async with self.runtime.db.read() as store:
            return json_body(await views.incident_detail(store, n, playbooks=self.playbooks, now=self.now))

    async def get_timeline(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        n = incident_number(request)
        async with self.runtime.db.read() as store:
            return json_body(Timeline(items=await views.timeline(store, n)))

    async def get_summary(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        """The lessons-learned summary; for an incident not closed yet, the draft (as `warroom summary` prints)."""
        n, q = incident_number(request), read_query(request, SummaryQuery)
        async with self.runtime.db.read() as store:
            stored = await store.summary(n)
            if stored is None:
                incident = await store.get_incident(n)
                try:
                    cadence = self.playbooks.get(incident.playbook).update_cadence
                except NotFound:  # its playbook was removed since: the summary still reads, without silences
                    cadence = MappingProxyType({})
                data = await build_summary(store, incident, cadence)
                data["draft"] = True
                stored = (to_markdown(data), data)
        markdown, data = stored
        if q.format == "json":
            return web.json_response({"draft": False, **data}, dumps=lambda v: json.dumps(v, sort_keys=True))
        if data.get("draft"):
            markdown = f"> Draft: {data['incident']} is not closed yet.\n\n{markdown}"
        return web.Response(text=markdown, content_type="text/markdown")

    async def list_follow_ups(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = read_query(request, FollowUpQuery)
        async with self.runtime.db.read() as store:
            items = await views.follow_ups(store, now=self.now, state=q.state, vendor=q.vendor)
        return json_body(FollowUpList(items=items))

    async def list_commitments(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = read_query(request, CommitmentQuery)
        async with self.runtime.db.read() as store:
            items = await views.commitments(store, now=self.now, state=q.state)
        return json_body(CommitmentList(items=items))

    async def get_scorecard(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = read_query(request, ScorecardQuery)
        async with self.runtime.db.read() as store:
            return json_body(await views.scorecard(store, now=self.now, vendor=q.vendor))

    async def openapi(self, _request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        return web.json_response(OPENAPI)

    # --- writes --------------------------------------------------------------------------------------

    async def open_incident(self, request: web.Request, token: ApiToken | None) -> web.StreamResponse:
        """Open an incident and its war room as `/incident open` does; an Idempotency-Key makes a retry open none."""
        assert token is not None
        key = idempotency_key(request)
        body = await read_body(request, OpenIncident)
        identity = UserRef(api_user_id(token.name), token.name)
        invocation = Invocation(open_command(body), identity, RoomRef("", f"API ({token.name})"))
        fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        reply = await self._run_once(token, key, fingerprint, invocation)
        if isinstance(reply, web.StreamResponse):
            return reply
        if not reply.ok or not reply.rooms_opened:
            if key is not None and reply.ok:  # answered without opening anything: the key is free again
                await self._settle(token.id, key, None, failed=False)
            if reply.room_refused:  # nothing recorded: the chat platform would not open the room
                if Capability.CREATE_ROOM not in self.runtime.warroom.core.chat.capabilities:
                    raise ProblemError(501, NO_ROOMS)
                raise ProblemError(502, reply.messages[0].title)
            raise refusal(reply)
        async with self.runtime.db.read() as store:
            incident = await store.incident_in_room(reply.rooms_opened[-1].id)
        assert incident is not None  # the war room was recorded before the reply was made
        if key is not None:
            await self._settle(token.id, key, incident.number, failed=False)
        return await self._incident(incident.number, status=201)

    async def _run_once(
        self, token: ApiToken, key: str | None, fingerprint: str, invocation: Invocation
    ) -> Reply | web.StreamResponse:
        """The core's reply to ``invocation``. With an Idempotency-Key it runs once: a retry gets the first request's
        answer instead; a refusal frees the key, and a break keeps it (it may have recorded something)."""
        if key is not None:
            async with self.runtime.db.transaction() as store:
                seen = await store.claim_request(token.id, key, fingerprint, now=self.now)
            if seen is not None:
                return await self._repeat(seen, same=seen.fingerprint == fingerprint)
        try:
            reply = await self.runtime.warroom.handle(invocation)
        except BaseException:
            if key is not None:  # nothing says whether it recorded anything: keep the key, so a retry runs none
                await self._settle(token.id, key, None, failed=True)
            raise
        if key is not None and not reply.ok:
            await self._settle(token.id, key, None, failed=reply.failed)
        return reply

    async def _settle(
        self, token_id: int, key: str, incident: int | None, *, failed: bool, reply: str | None = None
    ) -> None:
        async with self.runtime.db.transaction() as store:
            if incident is None and reply is None and not failed:
                await store.drop_request(token_id, key)  # refused: nothing was recorded, the key is free again
            else:
                await store.finish_request(token_id, key, incident, state="failed" if failed else "done", reply=reply)

    async def _repeat(self, seen: SeenRequest, *, same: bool) -> web.StreamResponse:
        if not same:
            raise ProblemError(422, "this Idempotency-Key was used for a different request; use a new key")
        if seen.state == "done" and seen.reply is not None:  # a command: its reply again, nothing run twice
            return json_body(CommandReply.model_validate_json(seen.reply), headers={"Idempotent-Replayed": "true"})
        if seen.state == "done" and seen.incident is not None:
            return await self._incident(seen.incident, status=200)
        # An open takes seconds; one pending for minutes died with its replica, after or before it recorded anything.
        if seen.state == "failed" or self.now - seen.at > STALE:
            raise ProblemError(
                409,
                "the first request with this Idempotency-Key broke midway; check GET /incidents (or the incident's "
                "timeline), then use a new key",
            )
        raise ProblemError(409, "the first request with this Idempotency-Key is still being carried out; retry shortly")

    async def _incident(self, number: int, *, status: int) -> web.StreamResponse:
        async with self.runtime.db.read() as store:
            detail = await views.incident_detail(store, number, playbooks=self.playbooks, now=self.now)
        return json_body(detail, status=status, headers={"Location": f"{PREFIX}/incidents/{number}"})

    async def run_command(self, request: web.Request, token: ApiToken | None) -> web.StreamResponse:
        """Run one command in the incident's war room as the token, answered as a person typing it would be."""
        assert token is not None
        n = incident_number(request)
        key = idempotency_key(request)
        body = await read_body(request, RunCommand)
        async with self.runtime.db.read() as store:
            incident = await store.get_incident(n)
        try:
            parsed: c.Command | None = c.parse(body.text)
        except WarroomError:
            parsed = None  # the core answers it with the same words a person gets
        if isinstance(parsed, c.OpenIncident):
            raise ProblemError(422, "`open` starts another incident: POST /api/v1/incidents")
        if parsed is not None and parsed.incident not in (None, n):
            raise ProblemError(422, f"this runs commands in {incident.ref}; drop INC-{parsed.incident}")
        if incident.room_id is None:
            raise ProblemError(409, f"{incident.ref} has no war room to run commands in")
        room = RoomRef(incident.room_id, incident.room_name or incident.ref)
        identity = UserRef(api_user_id(token.name), token.name)
        fingerprint = hashlib.sha256(f"{n} {body.model_dump_json()}".encode()).hexdigest()
        reply = await self._run_once(token, key, fingerprint, Invocation(body.text, identity, room))
        if isinstance(reply, web.StreamResponse):
            return reply
        if not reply.ok:
            raise refusal(reply)
        answer = command_reply(reply)
        if key is not None:
            await self._settle(token.id, key, n, failed=False, reply=answer.model_dump_json())
        return json_body(answer)


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key header, checked: 1 to 200 visible ASCII characters."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 200 and set(key) <= _KEY_CHARS):
        raise ProblemError(400, "Idempotency-Key: 1 to 200 visible ASCII characters")
    return key


def _guard(api: Api, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    handler: TokenHandler = route.handler

    async def guarded(request: web.Request) -> web.StreamResponse:
        token = await api.authenticate(request, Scope(route.scope)) if route.scope else None
        return await handler(request, token)

    return guarded


@web.middleware
async def problems(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error under /api/v1 as a problem document; other paths are left as they are."""
    if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
        return await handler(request)
    response = await _answer(request, handler)
    # What an incident says is not for caches to keep, nor for a browser to read as anything but what it is.
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


async def _answer(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProblemError as err:
        return err.response()
    except NotFound as err:
        return problem(404, str(err))
    except web.HTTPMethodNotAllowed as err:
        allowed = ", ".join(sorted(err.allowed_methods))
        return problem(405, f"{request.method} is not allowed here; use {allowed}", headers={"Allow": allowed})
    except web.HTTPRequestEntityTooLarge:
        return problem(413, f"the body is over the limit of {MAX_BODY} bytes")
    except web.HTTPException as err:
        if err.status < 400:
            raise
        return problem(err.status, err.reason if err.status != 404 else f"there is nothing at {request.path[:80]}")
    except WarroomError as err:
        return problem(422, str(err))
    except Exception:
        log.exception("the API failed on %s %s", request.method, request.path)
        return problem(500, "something broke on our side; it is in the server's log")


def routes(api: Api) -> list[Route]:
    """The route table: what is served, and what the OpenAPI document says of it."""
    return [
        Route("GET", "/openapi.json", api.openapi, "openapi", "This document", None,
              {200: Body("the OpenAPI 3.1 document", schema={"type": "object"})}),
        Route("GET", "/incidents", api.list_incidents, "listIncidents", "A page of incidents, worst first", "read",
              {200: Body("a page of incidents", views.IncidentPage)}, query=IncidentQuery),
        Route("POST", "/incidents", api.open_incident, "openIncident", "Open an incident and its war room", "write",
              {201: Body("opened", views.IncidentDetail, headers={"Location": "where the incident is"}),
               200: Body("already opened by a request with this Idempotency-Key", views.IncidentDetail,
                         headers={"Location": "where the incident is"}),
               501: Body("war rooms are threads and no channel is known to open one under", Problem,
                         media=PROBLEM_TYPE),
               502: Body("the chat platform would not open the war room; nothing was recorded", Problem,
                         media=PROBLEM_TYPE)},
              body=OpenIncident, headers={"Idempotency-Key": "a retry with the same key opens nothing new"}),
        Route("GET", "/incidents/{n}", api.get_incident, "getIncident", "One incident in full", "read",
              {200: Body("the incident", views.IncidentDetail)}),
        Route("GET", "/incidents/{n}/timeline", api.get_timeline, "getTimeline", "An incident's timeline", "read",
              {200: Body("oldest first", Timeline)}),
        Route("GET", "/incidents/{n}/summary", api.get_summary, "getSummary", "The lessons-learned summary", "read",
              {200: Body("the summary (a draft until it closes)", schema={"type": "string"}, media="text/markdown")},
              query=SummaryQuery),
        Route("POST", "/incidents/{n}/commands", api.run_command, "runCommand", "Run a command in the war room",
              "write", {200: Body("the reply a person would get (again, to a retry with the same key)", CommandReply)},
              body=RunCommand, headers={"Idempotency-Key": "a retry with the same key runs nothing again"}),
        Route("GET", "/follow-ups", api.list_follow_ups, "listFollowUps", "Follow-ups of incidents not closed", "read",
              {200: Body("earliest due first", FollowUpList)}, query=FollowUpQuery),
        Route("GET", "/commitments", api.list_commitments, "listCommitments", "Commitments of incidents not closed",
              "read", {200: Body("earliest due first", CommitmentList)}, query=CommitmentQuery),
        Route("GET", "/scorecard", api.get_scorecard, "getScorecard", "The vendor scorecard", "read",
              {200: Body("slowest to answer first", views.Scorecard)}, query=ScorecardQuery),
    ]  # fmt: skip


def _document() -> dict[str, Any]:
    table = routes(Api(None))  # type: ignore[arg-type]  # the table's shape only: no handler runs
    doc = document(table, title="Warroom API", version=__version__, prefix=PREFIX)
    summary = doc["paths"][f"{PREFIX}/incidents/{{n}}/summary"]["get"]["responses"]["200"]["content"]
    summary["application/json"] = {"schema": {"type": "object", "description": "format=json: the summary's data"}}
    return doc


OPENAPI = _document()


def mount(web_application: web.Application, runtime: Runtime) -> None:
    """Serve /api/v1 on the one aiohttp server."""
    api = Api(runtime)
    web_application.middlewares.append(problems)
    for route in routes(api):
        web_application.router.add_route(route.method, PREFIX + route.aiohttp_path, _guard(api, route))
