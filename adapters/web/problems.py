"""RFC 9457 problem documents: every error of the API as `application/problem+json` with a one-line detail."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

PROBLEM_TYPE = "application/problem+json"
# RFC 9110's names, the same on every Python (3.13 renamed some of http.HTTPStatus's phrases to these).
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class FieldError(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(description="where in the body or query, e.g. severity")
    message: str


class Problem(BaseModel):
    """What went wrong, for people (title, detail) and programs (status, type)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field("about:blank", description="about:blank: the status code says it all")
    title: str = Field(description="the status code's phrase, e.g. Unprocessable Content")
    status: int
    detail: str = Field(description="one line saying what to change")
    errors: list[FieldError] | None = Field(None, description="each field refused (422)")
    reply: str | None = Field(None, description="the whole answer a person typing the command would get")


def problem(
    status: int,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
    reply: str | None = None,
) -> web.Response:
    """A problem document response; the detail is cut to one line."""
    line = " ".join(detail.split())[:500]
    title = TITLES.get(status) or HTTPStatus(status).phrase
    body = Problem(title=title, status=status, detail=line, errors=errors, reply=reply)
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type=PROBLEM_TYPE,
        headers=dict(headers or {}),
    )


class ProblemError(Exception):
    """Raised by a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        errors: list[FieldError] | None = None,
        reply: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.errors, self.reply = status, detail, headers, errors, reply

    def response(self) -> web.Response:
        return problem(self.status, self.detail, headers=self.headers, errors=self.errors, reply=self.reply)
