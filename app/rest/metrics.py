"""`GET /metrics` (Prometheus text format) and the middleware counting HTTP requests.

Requests are labelled by route template (`/data-exports/{id}`), never by the raw path, so ids
never become series; a request no route matched is `unmatched`. Guard (`METRICS_TOKEN`): when
set, the scrape needs `Authorization: Bearer <token>` (401 otherwise); unset, `/metrics` is
open in development and a 404 in production."""

from __future__ import annotations

import hmac
import time

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.exports.observed import Snapshot, snapshot
from app.metrics import PREFIX, http_duration, http_requests, mark_process_dead, registry
from app.rest.problems import problem
from app.settings import Settings

UNMATCHED = "unmatched"


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED
    return path.replace(":path}", "}")  # EncodedSlashRoute's `{id:path}` is `{id}`


def _marking_dead_on_shutdown(send: Send) -> Send:
    async def send_after_marking(message: Message) -> None:
        if message["type"] == "lifespan.shutdown.complete":
            mark_process_dead()
        await send(message)

    return send_after_marking


class RequestMetrics:
    """Counts and times every HTTP request by method, route template and status; marks the
    process dead for the multiprocess collector as the lifespan ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _marking_dead_on_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the app is answered as one

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            labels = (scope["method"], route_template(scope), str(status))
            http_requests.labels(*labels).inc()
            http_duration.labels(*labels).observe(time.perf_counter() - started)


class _Observed(Collector):
    """The database's numbers, read for this scrape (app/exports/observed.py)."""

    def __init__(self, observed: Snapshot) -> None:
        self.observed = observed

    def collect(self) -> list[Metric]:
        exports = GaugeMetricFamily(
            f"{PREFIX}_exports", "Exports by status and format", labels=["status", "format"]
        )
        for status, fmt, count in self.observed.exports:
            exports.add_metric([status, fmt], count)
        depth = GaugeMetricFamily(
            f"{PREFIX}_export_queue_depth",
            "Exports due now and not yet taken by a worker",
            value=self.observed.queue_depth,
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_export_queue_oldest_due_seconds",
            "How long the oldest due export has waited (0 when none is due)",
            value=self.observed.oldest_due_seconds,
        )
        return [exports, depth, oldest]


def _allowed(request: Request, settings: Settings) -> Response | None:
    """None when the scrape may proceed, else the refusal."""
    token = settings.metrics_token
    if token is None:
        return problem(404, "No such route.") if settings.production else None
    sent = request.headers.get("authorization", "")
    scheme, _, credentials = sent.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    ):
        return None
    return problem(
        401, "Send the metrics token as a bearer token.", headers={"WWW-Authenticate": "Bearer"}
    )


async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    refused = _allowed(request, settings)
    if refused is not None:
        return refused
    core = request.app.state.core
    observed = await snapshot(core.sessions, core.clock())
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Observed(observed))
    body = generate_latest(registry() or REGISTRY) + generate_latest(scrape)
    return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
