"""GET /metrics: the App's registry in Prometheus' text format (or OpenMetrics, when the scraper asks for it).

Without WARROOM_METRICS_TOKEN it answers this machine only (a Prometheus or agent beside it), as the dashboard does
without sign-in; with it, anyone who sends the token as a bearer token. Either check runs before anything is read.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from adapters.web.auth import not_local
from bot.metrics import Gauges, Metrics

METRICS_PATH = "/metrics"


def may_see_detail(request: web.Request, token: str | None) -> bool:
    """Whether ``request`` may read what /metrics and /readyz's detail tell: it comes from this machine (no proxy in
    between), or it carries WARROOM_METRICS_TOKEN as a bearer token."""
    if not_local(request) is None:
        return True
    if token is None:
        return False
    given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def mount_metrics(
    web_application: web.Application, metrics: Metrics, gauges: Gauges | None, *, token: str | None
) -> None:
    """Add GET /metrics for ``metrics`` (the gauges are refreshed before each scrape) to the server."""
    expected = f"Bearer {token}".encode() if token else None

    async def scrape(request: web.Request) -> web.Response:
        if expected is None:
            refusal = not_local(request)
            if refusal is not None:  # nothing that does not authenticate answers beyond this machine
                return web.json_response(
                    {"error": f"set WARROOM_METRICS_TOKEN to scrape /metrics from elsewhere ({refusal})"}, status=403
                )
        else:
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, expected):  # constant time: the token is not guessed byte by byte
                return web.json_response(
                    {"error": "send the metrics token as `Authorization: Bearer <WARROOM_METRICS_TOKEN>`"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="warroom metrics"'},
                )
        if gauges is not None:
            await gauges.refresh()
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})

    web_application.router.add_get(METRICS_PATH, scrape)
