"""The webhook HTTP client: one aiohttp session POSTing signed deliveries; a receiver's failure is an answer, not
an exception, so the core decides about retries."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Mapping

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.addresses import why_private
from bot.webhook_delivery import Answer
from bot.webhooks import ALLOW_PRIVATE, SubscriptionError, check_url

TIMEOUT = 10.0  # seconds a receiver has to answer; a slower one is retried like one that failed


class PrivateAddress(OSError):
    """A name resolved to an address webhooks may not go to."""


class PublicOnly(AbstractResolver):
    """A resolver that answers only with addresses on the internet: every address a name resolves to is checked, and
    aiohttp connects to the very addresses it returns (no second lookup a rebinding DNS server could answer
    differently)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for result in found:
            reason = why_private(ipaddress.ip_address(result["host"]))
            if reason is not None:
                raise PrivateAddress(errno.EACCES, f"{host} resolves to {reason}; {ALLOW_PRIVATE}=1 allows it")
        return found

    async def close(self) -> None:
        await self._inner.close()


class HttpWebhookPoster:
    """POSTs webhook deliveries with aiohttp; redirects are not followed (a subscriber names its real URL). Unless
    ``allow_private`` (for every subscription: WARROOM_WEBHOOKS_ALLOW_PRIVATE) or the delivery's own subscription
    allows it (`webhook add --allow-private`), a URL whose host is (or resolves to) a loopback, private, link-local or
    unspecified address is not connected to: checked at each delivery, after DNS."""

    def __init__(
        self, *, timeout: float = TIMEOUT, allow_private: bool = False, resolver: AbstractResolver | None = None
    ) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.allow_private = allow_private
        self.resolver = resolver  # the DNS lookups (the system's by default), checked unless allow_private
        self._sessions: dict[bool, aiohttp.ClientSession] = {}  # by whether private addresses may be connected to

    def _client(self, private: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(private)
        if session is None or session.closed:
            resolver = self.resolver if private else PublicOnly(self.resolver)
            connector = aiohttp.TCPConnector(resolver=resolver) if resolver is not None else None
            session = self._sessions[private] = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        return session

    async def post(
        self, url: str, payload: bytes, headers: Mapping[str, str], *, allow_private: bool = False
    ) -> Answer:
        """One attempt: the receiver's status (and Retry-After), or why there was none. ``allow_private``: this
        delivery's subscription may go to this machine or its network."""
        private = self.allow_private or allow_private
        if not private:
            try:
                check_url(url)  # an address in any spelling (aiohttp does not resolve an IP literal)
            except SubscriptionError as err:
                return Answer(None, f"not sent: {err}")
        try:
            async with self._client(private).post(
                url, data=payload, headers=dict(headers), allow_redirects=False
            ) as answer:
                status = answer.status
                wait = answer.headers.get("Retry-After") if status in (429, 503) else None
                return Answer(status, None if 200 <= status < 300 else f"HTTP {status}", wait)
        except aiohttp.ClientConnectorError as err:
            if isinstance(err.os_error, PrivateAddress):
                return Answer(None, f"not sent: {err.os_error.strerror}")
            return Answer(None, f"{type(err).__name__}: {str(err)[:200]}")
        except TimeoutError:
            return Answer(None, f"no answer within {self.timeout.total:g}s")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as err:
            return Answer(None, f"{type(err).__name__}: {str(err)[:200]}")

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
