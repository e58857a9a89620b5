"""The door of POST /slack/events: size and signature are checked on the raw bytes before anything parses them.

Bolt parses a body before it verifies it, and logs the whole body of a badly signed request; so nothing reaches
Bolt here until the request is known to come from Slack and to be readable. Nothing here waits on anything: the
check that a signed request is new needs the database, so it runs after the ack, with the work (see SlackSurface).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_bolt_request
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.nesting import deeper_than

log = logging.getLogger(__name__)
# Slack documents no request size; its largest payloads (a submitted 100-block modal, a message event with
# attachments) are tens of kilobytes. A megabyte is ample, and is what aiohttp would buffer by default anyway.
MAX_BODY = 1024 * 1024
WINDOW = 5 * 60  # Slack's signature window: a timestamp further than five minutes from our clock is refused
# A signature is valid from five minutes before its timestamp to five minutes after, so one remembered for ten
# minutes from whenever it is first seen cannot come back while it is still valid (clock skew included).
REPLAY_TTL = timedelta(seconds=2 * WINDOW)
SIGNATURE = "warroom_signature"  # where an admitted request's signature waits in Bolt's context for the replay check
LOG_EVERY = 60.0  # seconds between two log lines about the same kind of refusal
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SSL_CHECK_MAX = 512  # bytes: `ssl_check=1&token=…`, which Slack sends unsigned


class RefusalLog:
    """One short line per kind of refusal per ``every`` seconds, with how many were left out; never a body."""

    def __init__(
        self, logger: logging.Logger, *, every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger, self.every, self.clock = logger, every, clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def refused(self, status: int, reason: str) -> None:
        now = self.clock()
        if now - self._last.get(reason, float("-inf")) < self.every:
            self._quiet[reason] = self._quiet.get(reason, 0) + 1
            return
        self._last[reason] = now
        quiet = self._quiet.pop(reason, 0)
        more = f"; {quiet} more since the last such line" if quiet else ""
        self.logger.warning("refused a request to POST /slack/events: %s (%s)%s", reason, status, more)


def replay_key(signature: str) -> str:
    """The idempotency key of one signed request: the same bytes at the same second carry the same signature."""
    return f"slack:signature:{signature}"


class SlackEdge:
    """Admits a request to Bolt, or answers it: 413 too large, 401 not from Slack, 400 unreadable."""

    def __init__(self, signing_secret: str, *, max_body: int = MAX_BODY, refusals: RefusalLog | None = None) -> None:
        self.verifier = SignatureVerifier(signing_secret)
        self.max_body = max_body
        self.refusals = refusals or RefusalLog(log)

    async def admit(self, request: web.Request) -> AsyncBoltRequest | web.Response:
        """The request as Bolt reads it, once it is known to be Slack's and readable; else the answer to it."""
        if request.content_length is not None and request.content_length > self.max_body:
            return self._refuse(413, "body too large")
        try:
            body = await _read(request, self.max_body)
        except _TooLarge:
            return self._refuse(413, "body too large")
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        signature = request.headers.get("X-Slack-Signature")
        if timestamp is None and signature is None and _is_ssl_check(body):
            return web.Response(status=200)  # Slack checking our certificate: unsigned, and it asks for nothing
        if not timestamp or not signature:
            return self._refuse(401, "missing signature")
        if not _TIMESTAMP.fullmatch(timestamp):
            return self._refuse(401, "bad timestamp")
        if abs(time.time() - int(timestamp)) > WINDOW:
            return self._refuse(401, "expired timestamp")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return self._refuse(401, "bad signature")  # Slack signs UTF-8; these bytes were not signed by Slack
        if not self.verifier.is_valid(text, timestamp, signature):
            return self._refuse(401, "bad signature")
        try:
            bolt_request = await to_bolt_request(request)  # reads the body buffered above
        except (ValueError, TypeError, AttributeError):  # not JSON, not a form, or JSON that is not an object
            return self._refuse(400, "malformed body")
        except RecursionError:  # JSON nested deeper than the parser's stack: signed, but no Slack payload
            return self._refuse(400, "body nested too deeply")
        if not isinstance(bolt_request.body, dict):
            return self._refuse(400, "malformed body")
        if deeper_than(bolt_request.body):  # parsed, but deep enough to exhaust the stack of whatever walks it next
            return self._refuse(400, "body nested too deeply")
        bolt_request.context[SIGNATURE] = signature
        return bolt_request

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.refusals.refused(status, reason)
        return web.json_response({"error": reason}, status=status)


class _TooLarge(Exception):
    pass


async def _read(request: web.Request, limit: int) -> bytes:
    """The whole body, buffered on the request (so Bolt's adapter reads it again), or _TooLarge past ``limit``."""
    try:
        body = await request.read()  # aiohttp stops reading at the application's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise _TooLarge from None
    if len(body) > limit:
        raise _TooLarge
    return body


def _is_ssl_check(body: bytes) -> bool:
    if len(body) > _SSL_CHECK_MAX:
        return False
    try:
        return parse_qs(body.decode("ascii"), strict_parsing=True).get("ssl_check") == ["1"]
    except (UnicodeDecodeError, ValueError):
        return False
