"""Idle WebSockets hold no database connection: 50 authenticated sockets, each with a live
subscription, while REST keeps answering on a real uvicorn server with the default pool."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from contextlib import AsyncExitStack

import httpx
from websockets.asyncio.client import connect

from app.main import create_app
from app.settings import Settings
from tests.conftest import Harness, Tenant, with_settings
from tests.graphql.browser import serve_asgi

SOCKETS = 50
PROTOCOL = "graphql-transport-ws"
WATCH = "subscription ($id: ID!) { dataExportUpdates(id: $id) { id status } }"


async def _rest_latencies(client: httpx.AsyncClient, tenant: Tenant, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        response = await client.get("/data-exports?limit=5", headers=tenant.headers)
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    return latencies


async def test_fifty_idle_subscribed_sockets_leave_rest_answering(
    settings: Settings, harness: Harness, tenant: Tenant
) -> None:
    created = await harness.client.post(
        "/data-exports",
        headers=tenant.headers,
        json={"name": "watched", "resource": "customers", "format": "csv"},
    )
    export_id = created.json()["id"]
    served = with_settings(settings, database_pool_size=5)
    with serve_asgi(create_app(served)) as base_url:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=30) as client,
            AsyncExitStack() as stack,
        ):
            alone = await _rest_latencies(client, tenant, 20)
            url = base_url.replace("http://", "ws://") + "/graphql"
            for n in range(SOCKETS):
                ws = await stack.enter_async_context(connect(url, subprotocols=[PROTOCOL]))
                await ws.send(json.dumps({"type": "connection_init", "payload": tenant.headers}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                payload = {"query": WATCH, "variables": {"id": export_id}}
                await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": payload}))
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert first["payload"]["data"]["dataExportUpdates"]["status"] == "PENDING"
            crowded = await _rest_latencies(client, tenant, 40)
    # Figures for the record (`pytest -s`); the assertion is that nothing waited on the pool.
    print(
        f"\nREST p50 alone {statistics.median(alone) * 1000:.1f} ms, "
        f"with {SOCKETS} subscribed sockets {statistics.median(crowded) * 1000:.1f} ms "
        f"(max {max(crowded) * 1000:.1f} ms)"
    )
    assert max(crowded) < 5.0, "a REST request waited for a database connection"
