"""Prometheus metric objects (the official `prometheus_client`), shared by every layer.

Counters and histograms are updated where things happen (requests, GraphQL operations, the
worker, the mailer, the connection pools). What the database knows (exports by status and
format, queue depth) is not kept here: `/metrics` computes it when scraped, so it is the same
whichever process answers and whichever process did the work.

Under `serve --workers N` (N > 1) the CLI sets `PROMETHEUS_MULTIPROC_DIR` before the server
processes start: every process writes its values to files there and `/metrics` adds them up
(`registry()` below). The variable must be set before `prometheus_client` is imported."""

from __future__ import annotations

import atexit
import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "exports_gateway"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_EXPORT_SECONDS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

http_requests = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
http_duration = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "HTTP request latency, by method, route template and status",
    ["method", "route", "status"],
    buckets=_LATENCY,
)
graphql_operations = Counter(
    f"{PREFIX}_graphql_operations",
    "GraphQL operations, by operation name (or anonymous) and type",
    ["operation", "type"],
)
graphql_errors = Counter(
    f"{PREFIX}_graphql_operation_errors",
    "GraphQL operations answered with errors, by operation name and type",
    ["operation", "type"],
)
graphql_duration = Histogram(
    f"{PREFIX}_graphql_operation_duration_seconds",
    "GraphQL operation latency, by operation name and type",
    ["operation", "type"],
    buckets=_LATENCY,
)
persisted_queries = Counter(
    f"{PREFIX}_graphql_persisted_queries",
    "GraphQL requests that named a document by hash or id, by outcome",
    ["outcome"],
)
export_runs = Counter(
    f"{PREFIX}_export_runs",
    "Export runs a worker of this server finished, by format and outcome "
    "(completed, failed, retried, lost)",
    ["format", "outcome"],
)
export_duration = Histogram(
    f"{PREFIX}_export_duration_seconds",
    "Time a worker spent on one export run, by format and outcome",
    ["format", "outcome"],
    buckets=_EXPORT_SECONDS,
)
export_rows = Counter(
    f"{PREFIX}_export_rows_written", "Rows written into published export files", ["format"]
)
export_retries = Counter(
    f"{PREFIX}_export_retries", "Export runs that failed and were queued again", ["format"]
)
emails = Counter(
    f"{PREFIX}_emails",
    "Completion emails, by outcome (sent, logged when no SMTP_HOST is set, failed)",
    ["outcome"],
)
webhooks = Counter(
    f"{PREFIX}_webhook_deliveries",
    "Webhook delivery attempts, by outcome (delivered, retried, failed for good)",
    ["outcome"],
)
db_pool_checked_out = Gauge(
    f"{PREFIX}_db_pool_checked_out_connections",
    "Database connections checked out of the pools of the server's processes",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def use_multiprocess_dir(path: Path) -> None:
    """Start every process that follows with an empty directory for its metric files (a
    previous run's files would be added to this one's). Before the server processes start."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)


def registry() -> CollectorRegistry | None:
    """A registry adding up every process's files in multiprocess mode; None for the default."""
    path = multiprocess_dir()
    if path is None:
        return None
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected, path=path)  # type: ignore[no-untyped-call]
    return collected


def mark_process_dead() -> None:
    """In multiprocess mode, this process's live gauges (the pool's) stop counting. Called as
    the server's lifespan ends (uvicorn's worker processes end on a re-raised SIGTERM, which
    skips `atexit`) and at exit otherwise."""
    path = multiprocess_dir()
    if path is not None and os.path.isdir(path):
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


atexit.register(mark_process_dead)
