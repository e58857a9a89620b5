"""No secret reaches a log line: a filter that redacts credentials from every record, whichever library wrote it.

HTTP servers and clients put request lines, headers and URLs in their messages (aiohttp logs the raw line of a
request it cannot parse); those carry `Authorization` and `Cookie` headers, bearer tokens, `token=` query
parameters and Slack signatures. ``install`` puts the filter on the root logger, on the HTTP libraries' loggers and
on every handler, and wraps the record factory so a record is redacted where it is made, before any handler sees
it. Only credentials are hidden: the rest of each line stays, so a log still says what happened.
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "[redacted]"
_VALUE_END = r"""(?:[^\s'"\\,;&]|\\(?![rnt'"\\]))+"""  # up to a space, a quote, a separator or an escape like \n
_HEADERS = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
    "x-csrf-token",
    "x-slack-signature",
    "warroom-signature",
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A header line, in any quoting a library may use: `Authorization: …`, 'Cookie': '…', b"Cookie: …\r\n".
    (
        re.compile(
            rf"""(?i)((?:{"|".join(re.escape(h) for h in _HEADERS)})['"]?\s*[:=]\s*['"]?)"""
            r"""(?:[^\r\n'"\\]|\\(?![rn'"]))+"""
        ),
        rf"\1{MASK}",
    ),
    # Credentials after an auth scheme, wherever they appear.
    (
        re.compile(r"(?i)\b(bearer)(\s+)(?:(?=[\w.~+/=-]*[0-9_.~+/=-])[\w.~+/=-]{8,}|[A-Za-z]{20,})"),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"\b(Basic|Digest)(\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"), rf"\1\2{MASK}"),
    # Query or form parameters that carry secrets: ?token=…, &access_token=…, password=…; an OAuth code and state.
    (
        re.compile(
            r"(?i)([?&;\s'\"]|^)((?:[\w-]*token|[\w-]*secret|password|passwd|pwd|signature|sig|api[_-]?key|key|"
            r"session)=)" + _VALUE_END
        ),
        rf"\1\2{MASK}",
    ),
    (re.compile(r"([?&])((?:code|state)=)" + _VALUE_END), rf"\1\2{MASK}"),
    # Credentials in a URL: scheme://user:password@host.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@'\"]+:[^/\s@'\"]*@"), rf"\1{MASK}@"),
    # Tokens by their shape: Warroom API tokens, Slack tokens, webhook secrets, Slack and webhook signatures.
    (re.compile(r"\bwr_[A-Za-z0-9_-]{20,}"), f"wr_{MASK}"),
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{6,}|\bxapp-[A-Za-z0-9-]{6,}"), MASK),
    (re.compile(r"\bwhsec_[A-Za-z0-9_-]{8,}"), f"whsec_{MASK}"),
    (re.compile(r"\b(v[01])=[0-9a-fA-F]{32,}"), rf"\1={MASK}"),
    # JSON Web Tokens (ID tokens, Bot Framework tokens): three base64url parts starting with a JSON header.
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), MASK),
)


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class Redact(logging.Filter):
    """Rewrites a record's message (and its traceback) with the credentials redacted; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave the record as logging would report it
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._redacted = True
    return record


LIBRARY_LOGGERS = ("aiohttp", "aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.client", "asyncio")
_FILTER = Redact()


def install() -> None:
    """Redact every log record from now on (idempotent): the filter on the root logger, the HTTP libraries'
    loggers and every root handler, and a record factory that redacts a record as it is made."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in LIBRARY_LOGGERS)]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for handler in logging.getLogger().handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts", False):
        return

    def redacting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(factory(*args, **kwargs))

    redacting.redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting)
