"""The HTTP API, /api/v1 on the one aiohttp server: bearer tokens, JSON in and out, problem documents for errors.

Every request is authenticated before its body is read: the token's hash is looked up in the database on every
request (an indexed read), so a revoked token is refused at once by every replica.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapters.web.models import (
    CommandReply,
    CommitmentList,
    CommitmentQuery,
    FollowUpList,
    FollowUpQuery,
    IncidentQuery,
    OpenIncident,
    ReplyMessage,
    RunCommand,
    ScorecardQuery,
    SummaryQuery,
    Timeline,
)
from adapters.web.openapi import Body, Route, document
from adapters.web.problems import FieldError, ProblemError, problem
from bot import __version__, views
from bot import commands as c
from bot.chat import Invocation, Reply, RoomRef, UserRef
from bot.errors import NotFound, WarroomError
from bot.playbooks import PlaybookLibrary
from bot.render import plain_text
from bot.runtime import Runtime
from bot.summary import build_summary, to_markdown
from bot.tokens import ApiToken, Scope, api_user_id, looks_like_token, same_hash, token_hash

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
MAX_BODY = 64 * 1024
MAX_INCIDENT = 2**31 - 1  # what the database's integer column holds
_KEY_CHARS = frozenset(chr(i) for i in range(0x21, 0x7F))
M = TypeVar("M", bound=BaseModel)
TokenHandler = Callable[[web.Request, ApiToken | None], Awaitable[web.StreamResponse]]


def _json(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json", headers=headers)


def _field_errors(err: ValidationError) -> list[FieldError]:
    found = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        message = "is not a field of this request" if e["type"] == "extra_forbidden" else str(e["msg"])
        found.append(FieldError(field=where, message=message))
    return found


def _refused(err: ValidationError, status: int) -> ProblemError:
    errors = _field_errors(err)
    return ProblemError(status, "; ".join(f"{e.field}: {e.message}" for e in errors[:3]), errors=errors)


def _query(request: web.Request, model: type[M]) -> M:
    if len(set(request.query)) != len(request.query):
        raise ProblemError(400, "a query parameter is given twice")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as err:
        raise _refused(err, 400) from None


async def _body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``: refused when not JSON, over 64 KB (before reading it), or not the model."""
    if request.content_type != "application/json":
        raise ProblemError(415, f"send the body as application/json, not {request.content_type[:60] or 'nothing'}")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ProblemError(413, f"the body is {request.content_length} bytes; the limit is {MAX_BODY}")
    raw = bytearray()
    while chunk := await request.content.read(16 * 1024):
        raw += chunk
        if len(raw) > MAX_BODY:  # sent without a length (chunked): stop reading at the limit
            raise ProblemError(413, f"the body is over the limit of {MAX_BODY} bytes")
    try:
        data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise ProblemError(400, f"the body is not valid JSON: {str(err)[:120]}") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _refused(err, 422) from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _number(request: web.Request) -> int:
    n = int(request.match_info["n"])
    if not 1 <= n <= MAX_INCIDENT:
        raise ProblemError(404, f"there is no INC-{n}")
    return n


def _quoted(value: str, what: str) -> str:
    """A value as one word of the command grammar: in straight quotes, or curly ones when it holds a straight one."""
    if '"' not in value:
        return f'"{value}"'
    if "\u201d" not in value and "\u201c" not in value:
        return f"\u201c{value}\u201d"
    raise ProblemError(422, f"{what} cannot hold both straight and curly double quotes")


def open_command(body: OpenIncident) -> str:
    """The `open` command an alert's fields make, so the API opens exactly as `/incident open` does."""
    words = ["open", _quoted(body.title, "title")]
    if body.severity is not None:
        words.append(f"sev:{body.severity}")
    for option, value in (("customer", body.customer), ("playbook", body.playbook), ("impact", body.impact)):
        if value is not None:
            words.append(f"{option}:{_quoted(value, option)}")
    if body.cost_per_hour is not None:
        words.append(f"cost:{body.cost_per_hour}/h")
    if body.revenue_at_risk is not None:
        words.append(f"at-risk:{body.revenue_at_risk}")
    if body.products:
        if any(not p or any(ch.isspace() or ch in ',"' for ch in p) for p in body.products):
            raise ProblemError(422, "products: each is one word, without spaces, commas or quotes")
        words.append("products:" + ",".join(body.products))
    return " ".join(words)


def _reply(reply: Reply) -> CommandReply:
    messages = [ReplyMessage(title=m.title, text=plain_text(m), tone=str(m.tone)) for m in reply.messages]
    return CommandReply(ok=reply.ok, text="\n\n".join(m.text for m in messages), messages=messages)


def _refusal(reply: Reply) -> ProblemError:
    """A command the core refused (422) or that broke (500), with its one-line reason."""
    answer = _reply(reply)
    first = reply.messages[0].title if reply.messages else "refused"
    return ProblemError(500 if reply.failed else 422, first, reply=answer.text)


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
            raise ProblemError(401, f"the token {token.name} was revoked", headers=invalid)
        if not token.may(scope):
            raise ProblemError(403, f"the token {token.name} may only read; this needs a write token")
        async with self.runtime.db.transaction() as store:
            await store.touch_token(token.id, now=self.now)
        return token

    # --- reads ---------------------------------------------------------------------------------------

    async def list_incidents(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = _query(request, IncidentQuery)
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
        return _json(page)

    async def get_incident(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        n = _number(request)
        async with self.runtime.db.read() as store:
            return _json(await views.incident_detail(store, n, playbooks=self.playbooks, now=self.now))

    async def get_timeline(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        n = _number(request)
        async with self.runtime.db.read() as store:
            return _json(Timeline(items=await views.timeline(store, n)))

    async def get_summary(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        """The lessons-learned summary; for an incident not closed yet, the draft (as `warroom summary` prints)."""
        n, q = _number(request), _query(request, SummaryQuery)
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
        q = _query(request, FollowUpQuery)
        async with self.runtime.db.read() as store:
            items = await views.follow_ups(store, now=self.now, state=q.state, vendor=q.vendor)
        return _json(FollowUpList(items=items))

    async def list_commitments(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = _query(request, CommitmentQuery)
        async with self.runtime.db.read() as store:
            items = await views.commitments(store, now=self.now, state=q.state)
        return _json(CommitmentList(items=items))

    async def get_scorecard(self, request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        q = _query(request, ScorecardQuery)
        async with self.runtime.db.read() as store:
            return _json(await views.scorecard(store, now=self.now, vendor=q.vendor))

    async def openapi(self, _request: web.Request, _token: ApiToken | None) -> web.StreamResponse:
        return web.json_response(OPENAPI)

    # --- writes --------------------------------------------------------------------------------------

    async def open_incident(self, request: web.Request, token: ApiToken | None) -> web.StreamResponse:
        """Open an incident and its war room as `/incident open` does; an Idempotency-Key makes a retry open none."""
        assert token is not None
        key = request.headers.get("Idempotency-Key")
        if key is not None and not (1 <= len(key) <= 200 and set(key) <= _KEY_CHARS):
            raise ProblemError(400, "Idempotency-Key: 1 to 200 visible ASCII characters")
        body = await _body(request, OpenIncident)
        text = open_command(body)
        db = self.runtime.db
        if key is not None:
            fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
            async with db.transaction() as store:
                seen = await store.claim_request(token.id, key, fingerprint, now=self.now)
            if seen is not None:
                return await self._repeat(seen.fingerprint == fingerprint, seen.state, seen.incident)
        identity = UserRef(api_user_id(token.name), token.name)
        try:
            reply = await self.runtime.warroom.handle(Invocation(text, identity, RoomRef("", f"API ({token.name})")))
        except BaseException:
            if key is not None:  # nothing says whether it recorded anything: keep the key, so a retry opens none
                await self._settle(token.id, key, None, failed=True)
            raise
        if not reply.ok or not reply.rooms_opened:
            if key is not None:
                await self._settle(token.id, key, None, failed=reply.failed)
            raise _refusal(reply)
        async with db.read() as store:
            incident = await store.incident_in_room(reply.rooms_opened[-1].id)
        assert incident is not None  # the war room was recorded before the reply was made
        if key is not None:
            await self._settle(token.id, key, incident.number, failed=False)
        return await self._incident(incident.number, status=201)

    async def _settle(self, token_id: int, key: str, incident: int | None, *, failed: bool) -> None:
        async with self.runtime.db.transaction() as store:
            if incident is None and not failed:
                await store.drop_request(token_id, key)  # refused: nothing was recorded, the key is free again
            else:
                await store.finish_request(token_id, key, incident, state="failed" if failed else "done")

    async def _repeat(self, same: bool, state: str, incident: int | None) -> web.StreamResponse:
        if not same:
            raise ProblemError(422, "this Idempotency-Key was used for a different request; use a new key")
        if state == "done" and incident is not None:
            return await self._incident(incident, status=200)
        if state == "failed":
            raise ProblemError(
                409,
                "the first request with this Idempotency-Key broke midway; check GET /incidents, then use a new key",
            )
        raise ProblemError(409, "the first request with this Idempotency-Key is still being carried out; retry shortly")

    async def _incident(self, number: int, *, status: int) -> web.StreamResponse:
        async with self.runtime.db.read() as store:
            detail = await views.incident_detail(store, number, playbooks=self.playbooks, now=self.now)
        return _json(detail, status=status, headers={"Location": f"{PREFIX}/incidents/{number}"})

    async def run_command(self, request: web.Request, token: ApiToken | None) -> web.StreamResponse:
        """Run one command in the incident's war room as the token, answered as a person typing it would be."""
        assert token is not None
        n = _number(request)
        body = await _body(request, RunCommand)
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
        reply = await self.runtime.warroom.handle(Invocation(body.text, identity, room))
        if not reply.ok:
            raise _refusal(reply)
        return _json(_reply(reply))


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
                         headers={"Location": "where the incident is"})},
              body=OpenIncident, headers={"Idempotency-Key": "a retry with the same key opens nothing new"}),
        Route("GET", "/incidents/{n}", api.get_incident, "getIncident", "One incident in full", "read",
              {200: Body("the incident", views.IncidentDetail)}),
        Route("GET", "/incidents/{n}/timeline", api.get_timeline, "getTimeline", "An incident's timeline", "read",
              {200: Body("oldest first", Timeline)}),
        Route("GET", "/incidents/{n}/summary", api.get_summary, "getSummary", "The lessons-learned summary", "read",
              {200: Body("the summary (a draft until it closes)", schema={"type": "string"}, media="text/markdown")},
              query=SummaryQuery),
        Route("POST", "/incidents/{n}/commands", api.run_command, "runCommand", "Run a command in the war room",
              "write", {200: Body("the reply a person would get", CommandReply)}, body=RunCommand),
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
