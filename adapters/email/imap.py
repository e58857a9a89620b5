"""Replies in from an IMAP mailbox with aioimaplib: new messages by UID past a cursor, IDLE where the server has it.

Messages are read, never changed: no flag is set and nothing is moved, so a person can keep using the mailbox and
several replicas can read it side by side (the database says what was taken in). A large message is read up to
``read_limit`` bytes: the text of a reply comes first, the attachments after it are not needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aioimaplib

from bot.config import MailServer
from bot.mail.port import Cursor, Fetched, MailError

log = logging.getLogger(__name__)
TIMEOUT = 30.0  # seconds for each IMAP command
READ_LIMIT = 1_000_000  # bytes of a message read at most
_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_UIDNEXT = re.compile(rb"UIDNEXT (\d+)")
_FETCH = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


class _Redact(logging.Filter):
    """aioimaplib logs each command at DEBUG and scrubs the password only as typed, not as quoted on the wire."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        wire = secret.replace("\\", "\\\\").replace('"', '\\"')  # as IMAP quotes it
        # … and as it shows inside the repr of the bytes sent, which is what gets logged
        self.secrets = sorted({v for x in (secret, wire) for v in (x, repr(x.encode())[2:-1]) if v}, key=len)[::-1]

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(secret in text for secret in self.secrets):
            for secret in self.secrets:
                text = text.replace(secret, "***")
            record.msg, record.args = text, None
        return True


class ImapMailbox:
    """The email port's mailbox over IMAP: one folder of one account."""

    def __init__(
        self,
        server: MailServer,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = TIMEOUT,
        read_limit: int = READ_LIMIT,
    ) -> None:
        self.server = server
        self.name = str(server)  # never with the password
        self.ssl_context = ssl_context
        self.timeout, self.read_limit = timeout, read_limit
        self._uidnext: int | None = None  # what the last look saw: a wait that finds more returns at once
        if server.password:
            logging.getLogger("aioimaplib.aioimaplib").addFilter(_Redact(server.password))

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[aioimaplib.IMAP4, int, int]]:
        """Logged in, the folder selected: (client, UIDVALIDITY, UIDNEXT)."""
        s = self.server
        try:
            if s.implicit_tls:
                client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                    host=s.host, port=s.port, timeout=self.timeout, ssl_context=self.ssl_context
                )
            else:
                client = aioimaplib.IMAP4(host=s.host, port=s.port, timeout=self.timeout)
            await client.wait_hello_from_server()
        except (OSError, TimeoutError, aioimaplib.AioImapException) as err:
            raise MailError(f"cannot reach {self.name}: {str(err)[:200] or type(err).__name__}") from None
        try:
            login = await client.login(s.username or "", s.password or "")
            if login.result != "OK":
                raise MailError(f"{self.name} refused the login")
            selected = await client.select(s.folder)  # messages are read with BODY.PEEK: none is marked read
            if selected.result != "OK":
                raise MailError(f"{self.name} has no folder {s.folder!r}")
            text = b" ".join(line for line in selected.lines if isinstance(line, bytes))
            validity = _UIDVALIDITY.search(text)
            nxt = _UIDNEXT.search(text)
            if validity is None:
                raise MailError(f"{self.name} did not say the folder's UIDVALIDITY")
            yield client, int(validity.group(1)), int(nxt.group(1)) if nxt else 0
        except (OSError, TimeoutError, aioimaplib.AioImapException) as err:
            raise MailError(f"{self.name}: {str(err)[:200] or type(err).__name__}") from None
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.logout(), timeout=5)

    async def fetch_new(self, after: Cursor, *, limit: int) -> list[Fetched]:
        """Messages with a UID past the cursor, oldest first (at most ``limit``), each read up to the limit."""
        found: list[Fetched] = []
        async with self._session() as (client, validity, uidnext):
            last = await after(self.server.folder, validity)
            if uidnext and uidnext <= last + 1:
                self._uidnext = uidnext
                return []
            search = await client.uid_search(f"UID {last + 1}:*", charset=None)
            if search.result != "OK":
                raise MailError(f"{self.name} refused the search")
            uids = sorted(
                int(u) for line in search.lines if isinstance(line, bytes) for u in line.split() if u.isdigit()
            )
            for uid in [u for u in uids if u > last][:limit]:  # `n:*` also answers the last UID when none is past n
                response = await client.uid("fetch", str(uid), f"(UID RFC822.SIZE BODY.PEEK[]<0.{self.read_limit}>)")
                if response.result != "OK":
                    raise MailError(f"{self.name} refused to give message {uid}")
                fetched = _fetched(response.lines, self.server.folder, validity, uid)
                if fetched is not None:
                    found.append(fetched)
            self._uidnext = uidnext
        return found

    async def wait(self, at_most: float) -> None:
        """Until the server pushes news of the folder (IDLE), or ``at_most`` seconds; a plain wait without IDLE."""
        try:
            async with self._session() as (client, _validity, uidnext):
                if self._uidnext is not None and uidnext > self._uidnext:
                    return  # mail came since the last look
                if not client.has_capability("IDLE"):
                    await asyncio.sleep(at_most)
                    return
                idle = await client.idle_start(timeout=at_most)
                with contextlib.suppress(TimeoutError):
                    await client.wait_server_push(timeout=at_most)
                client.idle_done()
                with contextlib.suppress(TimeoutError, aioimaplib.AioImapException):
                    await asyncio.wait_for(idle, timeout=5)
        except MailError as err:
            log.warning("waiting on %s: %s", self.name, err)
            await asyncio.sleep(min(at_most, 30))


def _fetched(lines: list[bytes | bytearray], folder: str, validity: int, uid: int) -> Fetched | None:
    """The message in a UID FETCH answer: the literal after the line naming its UID and size."""
    header = b""
    for line in lines:
        if isinstance(line, bytearray):
            found = _FETCH.search(header)
            if found is None or int(found.group(1)) != uid:
                continue
            size = _SIZE.search(header)
            raw = bytes(line)
            return Fetched(folder, validity, uid, raw, int(size.group(1)) if size else len(raw))
        header = line
    return None
