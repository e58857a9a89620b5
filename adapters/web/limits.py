"""How long a client may take to send a request, and the runner that enforces it.

aiohttp waits for a request's head and body as long as a client likes, so one that sends a byte a second holds a
connection (and, by the thousand, the server) forever. Here:

- the head (request line and headers) must arrive within HEADER_TIMEOUT of the connection opening or of the
  previous answer on it: aiohttp's keep-alive timer runs from exactly those moments and closes a connection whose
  next request has not been read in full by then, however slowly it trickles in;
- the body must arrive within BODY_TIMEOUT of the head; a request still sending is cut and its handler stopped
  quietly (a 408 nobody reads, no traceback).

A long answer (a live page's event stream) is not limited: only what the client sends is.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

log = logging.getLogger(__name__)
HEADER_TIMEOUT = 5.0  # seconds for a request's head, and the longest a kept-alive connection idles between requests
BODY_TIMEOUT = 10.0  # seconds for a request's body, from its head: our largest bodies are a megabyte


def runner(web_application: web.Application, *, shutdown_timeout: float) -> web.AppRunner:
    """The AppRunner every Warroom server listens with: heads must arrive within HEADER_TIMEOUT."""
    return web.AppRunner(web_application, shutdown_timeout=shutdown_timeout, keepalive_timeout=HEADER_TIMEOUT)


def body_deadline(timeout: float = BODY_TIMEOUT) -> Middleware:
    """A middleware that closes the connection of a request whose body has not fully arrived ``timeout`` seconds
    after its head; the handler reading it ends with a 408 that is not sent, and nothing is logged but one line."""

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        cut = False

        def expire() -> None:
            nonlocal cut
            if not request.content.is_eof() and request.transport is not None:
                cut = True
                log.info("closed a connection whose request body did not arrive within %gs", timeout)
                request.transport.close()

        timer = asyncio.get_running_loop().call_later(timeout, expire)
        try:
            return await handler(request)
        except (ConnectionError, web.HTTPException) as err:
            if not cut:
                raise
            return web.Response(status=408, text=f"the request body did not arrive within {timeout:g}s ({err})")
        finally:
            timer.cancel()

    return deadline
