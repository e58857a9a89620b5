"""The OpenAPI 3.1 document, generated from the route table and the pydantic models it names (never hand-written)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from adapters.web.problems import PROBLEM_TYPE, Problem

REF = "#/components/schemas/{model}"
Handler = Callable[..., Awaitable[web.StreamResponse]]  # (request, token) → response


@dataclass(frozen=True)
class Body:
    """One documented response: a pydantic model as JSON, or a fixed schema in another media type."""

    description: str
    model: type[BaseModel] | None = None
    media: str = "application/json"
    schema: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # header name → what it holds


@dataclass(frozen=True)
class Route:
    method: Literal["GET", "POST"]
    path: str  # as OpenAPI writes it, e.g. /incidents/{n}
    handler: Handler
    operation: str
    summary: str
    scope: Literal["read", "write"] | None  # None: answered without a token
    responses: Mapping[int, Body]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # request headers read → what they do

    @property
    def aiohttp_path(self) -> str:
        """The path as aiohttp routes it: incident numbers are digits, anything else is not a route."""
        return self.path.replace("{n}", r"{n:\d{1,12}}")


_ERRORS = {
    400: "the JSON or the query string cannot be read",
    401: "no token, an unknown one, or a revoked one",
    403: "a read token cannot write",
    404: "there is no such incident",
    409: "the Idempotency-Key's first request is in flight or broke midway, or the incident has no war room yet",
    413: "the body is over 64 KB",
    415: "the body is not application/json",
    422: "the body is refused: see detail (and errors)",
    500: "something broke on our side (the server's log has it)",
}


def _errors(route: Route) -> list[int]:
    codes = []
    if route.scope is not None:
        codes += [401, 500]
    if route.scope == "write":
        codes += [403, 409]
    if route.query is not None or route.body is not None:
        codes.append(400)
    if "{n}" in route.path:
        codes.append(404)
    if route.body is not None:
        codes += [413, 415, 422]
    return sorted(set(codes) - set(route.responses))


def document(routes: list[Route], *, title: str, version: str, prefix: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` served under ``prefix``."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Problem, "serialization")]
    for r in routes:
        wanted += [(m, "validation") for m in (r.query, r.body) if m is not None]
        wanted += [(b.model, "serialization") for b in r.responses.values() if b.model is not None]
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=REF)
    schemas: dict[str, Any] = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(prefix + r.path, {})[r.method.lower()] = _operation(r, refs, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "warroom token create"}},
        },
    }


def _name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[-1]


def _operation(r: Route, refs: Mapping[Any, Any], schemas: Mapping[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": r.operation,
        "summary": r.summary,
        "security": [{"bearer": []}] if r.scope else [],
    }
    parameters: list[dict[str, Any]] = []
    if "{n}" in r.path:
        parameters.append(
            {
                "name": "n",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
                "description": "INC-<n>",
            }
        )
    if r.query is not None:
        query = schemas[_name(refs[(r.query, "validation")])]
        required = set(query.get("required", []))
        for name, schema in query.get("properties", {}).items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    parameters += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": what,
        }
        for name, what in r.headers.items()
    ]
    if parameters:
        op["parameters"] = parameters
    if r.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    for status, body in r.responses.items():
        schema = refs[(body.model, "serialization")] if body.model is not None else dict(body.schema or {})
        answer: dict[str, Any] = {"description": body.description, "content": {body.media: {"schema": schema}}}
        if body.headers:
            answer["headers"] = {h: {"description": d, "schema": {"type": "string"}} for h, d in body.headers.items()}
        responses[str(status)] = answer
    problem = refs[(Problem, "serialization")]
    for status in _errors(r):
        responses[str(status)] = {"description": _ERRORS[status], "content": {PROBLEM_TYPE: {"schema": problem}}}
    op["responses"] = dict(sorted(responses.items()))
    return op
