"""Reading requests and writing answers for the API: JSON bodies within a limit, query strings, problem refusals."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from adapters.web.models import CommandReply, OpenIncident, ReplyMessage
from adapters.web.problems import FieldError, ProblemError
from bot.chat import Reply
from bot.render import plain_text

MAX_BODY = 64 * 1024
MAX_INCIDENT = 2**31 - 1  # what the database's integer column holds
M = TypeVar("M", bound=BaseModel)


def json_body(model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A model as the JSON answer."""
    return web.Response(text=model.model_dump_json(), status=status, content_type="application/json", headers=headers)


def field_errors(err: ValidationError) -> list[FieldError]:
    """Each refused field, as the problem document lists it."""
    found = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "body"
        message = "is not a field of this request" if e["type"] == "extra_forbidden" else str(e["msg"])
        found.append(FieldError(field=where, message=message))
    return found


def refused(err: ValidationError, status: int) -> ProblemError:
    """A validation error as a problem: the first fields refused make the one-line detail."""
    errors = field_errors(err)
    return ProblemError(status, "; ".join(f"{e.field}: {e.message}" for e in errors[:3]), errors=errors)


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model``: unknown, repeated or out-of-range parameters are a 400."""
    if len(set(request.query)) != len(request.query):
        raise ProblemError(400, "a query parameter is given twice")
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as err:
        raise refused(err, 400) from None


FORM = "application/x-www-form-urlencoded"  # curl's label for `-d` without -H 'Content-Type: application/json'


async def read_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``: refused when not JSON, over 64 KB (before reading it), or not the model."""
    kind = request.content_type
    # `curl -d '{…}'` labels JSON as a form; a bearer token is never sent by a browser on its own, so reading such a
    # body as JSON opens no cross-site hole, and the JSON must still parse
    if not (kind in ("application/json", FORM) or (kind.startswith("application/") and kind.endswith("+json"))):
        raise ProblemError(415, f"send the body as application/json, not {kind[:60] or 'nothing'}")
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
    except RecursionError:  # `[[[[…` within the size limit: no request of ours nests so deep
        raise ProblemError(400, "the body is not valid JSON: it nests too deeply") from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise refused(err, 422) from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def incident_number(request: web.Request) -> int:
    """The {n} of the path; past what the database holds is an incident that does not exist."""
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


def command_reply(reply: Reply) -> CommandReply:
    """The core's reply as plain text, the way a person reads it."""
    messages = [ReplyMessage(title=m.title, text=plain_text(m), tone=str(m.tone)) for m in reply.messages]
    return CommandReply(ok=reply.ok, text="\n\n".join(m.text for m in messages), messages=messages)


def refusal(reply: Reply) -> ProblemError:
    """A command the core refused (422) or that broke (500), with its one-line reason."""
    answer = command_reply(reply)
    first = reply.messages[0].title if reply.messages else "refused"
    return ProblemError(500 if reply.failed else 422, first, reply=answer.text)
