"""`GET /metrics` (issue 10, point 2) against the real app, worker and database, and across
`serve --workers 2` processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings
from tests.conftest import Harness, Tenant, run_cli, start_harness, with_settings
from tests.exports.conftest import create, run_worker
from tests.servers import free_port

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Series:
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


def labelled(series: Series, name: str) -> list[dict[str, str]]:
    return [dict(labels) for (sample, labels) in series if sample == name]


async def scrape(harness: Harness, headers: Mapping[str, str] | None = None) -> Series:
    response = await harness.client.get("/metrics", headers=dict(headers or {}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


REQUESTS = "exports_gateway_http_requests_total"
OPERATIONS = "exports_gateway_graphql_operations_total"


async def test_requests_operations_and_exports_show_up(harness: Harness, tenant: Tenant) -> None:
    before = await scrape(harness)
    created = await create(
        harness, tenant, {"name": "M", "resource": "transactions", "format": "csv"}
    )
    export_id = created["id"]
    for _ in range(3):
        got = await harness.client.get(f"/data-exports/{export_id}", headers=tenant.headers)
        assert got.status_code == 200
    missing = await harness.client.get("/data-exports/no-such-id", headers=tenant.headers)
    assert missing.status_code == 404
    stray = await harness.client.get("/no/such/route/abc123")
    assert stray.status_code == 404
    query = "query MyExports { dataExports { id } }"
    answered = await harness.client.post("/graphql", json={"query": query}, headers=tenant.headers)
    assert answered.status_code == 200, answered.text
    anonymous = '{ dataExport(id: "nope") { id } }'
    await harness.client.post("/graphql", json={"query": anonymous}, headers=tenant.headers)
    broken = await harness.client.post(
        "/graphql", json={"query": "query Broken { nothingHere }"}, headers=tenant.headers
    )
    assert broken.json()["errors"]

    queued = await scrape(harness)
    assert value(queued, "exports_gateway_exports", status="pending", format="csv") == 1
    assert value(queued, "exports_gateway_export_queue_depth") == 1
    assert value(queued, "exports_gateway_export_queue_oldest_due_seconds") >= 0

    await run_worker(harness)
    after = await scrape(harness)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    item = "/data-exports/{id}"
    assert delta(REQUESTS, method="GET", route=item, status="200") == 3
    assert delta(REQUESTS, method="GET", route=item, status="404") == 1
    assert delta(REQUESTS, method="POST", route="/data-exports", status="201") == 1
    assert delta(REQUESTS, method="GET", route="unmatched", status="404") == 1
    assert (
        delta(
            "exports_gateway_http_request_duration_seconds_count",
            method="GET",
            route=item,
            status="200",
        )
        == 3
    )
    routes = {labels["route"] for labels in labelled(after, REQUESTS)}
    assert not any(export_id in route or "no-such-id" in route for route in routes), routes
    assert not any("abc123" in route for route in routes), routes

    assert delta(OPERATIONS, operation="MyExports", type="query") == 1
    assert delta(OPERATIONS, operation="anonymous", type="query") == 1
    assert (
        delta("exports_gateway_graphql_operation_errors_total", operation="Broken", type="query")
        == 1
    )
    assert (
        delta(
            "exports_gateway_graphql_operation_duration_seconds_count",
            operation="MyExports",
            type="query",
        )
        == 1
    )

    assert value(after, "exports_gateway_exports", status="completed", format="csv") == 1
    assert value(after, "exports_gateway_exports", status="pending", format="csv") == 0
    assert value(after, "exports_gateway_export_queue_depth") == 0
    assert value(after, "exports_gateway_export_queue_oldest_due_seconds") == 0
    assert delta("exports_gateway_export_runs_total", format="csv", outcome="completed") == 1
    assert (
        delta("exports_gateway_export_duration_seconds_count", format="csv", outcome="completed")
        == 1
    )
    assert delta("exports_gateway_export_rows_written_total", format="csv") >= 0
    assert ("exports_gateway_db_pool_checked_out_connections", frozenset()) in after


async def test_rows_written_count_what_the_file_holds(harness: Harness, tenant: Tenant) -> None:
    from tests.exports.conftest import fetch, seed

    await seed(harness, customers=5, transactions=40)
    before = await scrape(harness)
    created = await create(
        harness, tenant, {"name": "Rows", "resource": "transactions", "format": "csv"}
    )
    await run_worker(harness)
    done = await fetch(harness, tenant, created["id"])
    after = await scrape(harness)
    rows = "exports_gateway_export_rows_written_total"
    written = value(after, rows, format="csv") - value(before, rows, format="csv")
    assert written == done["recordCount"] > 0


async def test_the_token_guards_metrics(settings: Settings) -> None:
    guarded = with_settings(settings, metrics_token="s3cret-metrics-token")
    async for harness in start_harness(guarded):
        assert (await harness.client.get("/metrics")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await harness.client.get("/metrics", headers=wrong)).status_code == 401
        basic = {"Authorization": "Basic s3cret-metrics-token"}
        assert (await harness.client.get("/metrics", headers=basic)).status_code == 401
        series = await scrape(harness, {"Authorization": "Bearer s3cret-metrics-token"})
        assert ("exports_gateway_export_queue_depth", frozenset()) in series


async def test_production_without_a_token_hides_metrics(settings: Settings) -> None:
    async for harness in start_harness(with_settings(settings, app_env="production")):
        assert (await harness.client.get("/metrics")).status_code == 404
    async for harness in start_harness(
        with_settings(settings, app_env="production", metrics_token="t0ken")
    ):
        assert (await harness.client.get("/metrics")).status_code == 401
        ok = await harness.client.get("/metrics", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200


def test_the_token_is_a_setting() -> None:
    assert Settings.from_env({"METRICS_TOKEN": "abc"}).metrics_token == "abc"
    assert Settings.from_env({}).metrics_token is None
    assert "abc" not in repr(Settings(metrics_token="abc"))


def test_serve_with_two_workers_counts_every_request(tmp_path: Path) -> None:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    var_dir = tmp_path / "var"
    stale = var_dir / "metrics"
    stale.mkdir(parents=True)
    (stale / "counter_99999.db").write_bytes(b"left over from an earlier run")
    env = {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mp.db'}",
        "VAR_DIR": str(var_dir),
        "WORKER_MODE": "off",
        "METRICS_TOKEN": "mp-token",
    }
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    migrated = run_cli(["migrate"], env, cwd)
    assert migrated.returncode == 0, migrated.stderr
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Bearer mp-token"}
    requests = 40
    route = "/health/live"
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=5) as client:
            while True:
                assert process.poll() is None, log.read_text()
                try:
                    client.get("/metrics", headers=auth)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, log.read_text()
                    time.sleep(0.1)
            assert not (stale / "counter_99999.db").exists()
            for _ in range(requests):
                # A new connection each time, so either process may take it.
                assert httpx.get(f"{base}/health/live", timeout=5).status_code == 200
            for _ in range(10):  # whichever process answers adds up both
                response = client.get("/metrics", headers=auth)
                assert response.status_code == 200, response.text
                series = parse(response.text)
                counted = value(series, REQUESTS, method="GET", route=route, status="200")
                assert counted == requests, (counted, response.text[:2000])
            assert client.get("/metrics").status_code == 401
        files = [p.name for p in (var_dir / "metrics").iterdir()]
        live = [name for name in files if name.startswith("gauge_livesum_")]
        assert len(live) == 2, files  # one per server process: both write here
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        # Marked dead on exit: their live gauges (the pool's) no longer count.
        left = [p.name for p in (var_dir / "metrics").iterdir()]
        assert not [name for name in left if name.startswith("gauge_livesum_")], left
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
