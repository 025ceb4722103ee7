"""GraphQL over WebSocket (graphql-transport-ws) on a real uvicorn server: credentials in
`connection_init`, 4403 for bad ones, operations, and the `dataExportUpdates` subscription."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.exports import changes, reads, service
from app.exports.worker import Worker
from app.main import create_app
from app.settings import Settings
from tests.conftest import Harness, Tenant, with_settings
from tests.graphql.browser import serve_asgi
from tests.graphql.conftest import rest_body

PROTOCOL = "graphql-transport-ws"
TIMEOUT = 10.0


@pytest.fixture
def server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real app under uvicorn with a pool of ONE database connection: no socket may hold
    one between operations. Yields its ws:// URL for /graphql."""
    monkeypatch.setattr(changes, "POLL_SECONDS", 0.05)
    with serve_asgi(create_app(with_settings(settings, database_pool_size=1))) as base_url:
        yield base_url.replace("http://", "ws://") + "/graphql"


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert isinstance(message, dict)
    return message


async def _open(url: str, payload: dict[str, Any] | None) -> AsyncIterator[ClientConnection]:
    async with connect(url, subprotocols=[PROTOCOL], open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol == PROTOCOL
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await ws.send(json.dumps(init))
        yield ws


async def _closed_code(url: str, payload: dict[str, Any] | None) -> int | None:
    async for ws in _open(url, payload):
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code
    raise AssertionError("unreachable")


async def _subscribe(ws: ClientConnection, op_id: str, query: str, variables: Any = None) -> None:
    payload: dict[str, Any] = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))


async def test_api_key_in_connection_init_then_a_query(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "1", "{ viewer { organizationId user { email } } }")
        assert await _recv(ws) == {
            "id": "1",
            "type": "next",
            "payload": {
                "data": {"viewer": {"organizationId": "acme", "user": {"email": tenant.user.email}}}
            },
        }
        assert await _recv(ws) == {"id": "1", "type": "complete"}


async def test_bearer_token_and_nested_headers_are_accepted(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    assert harness.settings.jwt_secret
    token = jwt.encode(
        {"sub": tenant.user.id, "org": "acme", "permissions": ["read"], "exp": time.time() + 60},
        harness.settings.jwt_secret,
        algorithm="HS256",
    )
    for payload in (
        {"Authorization": f"Bearer {token}"},
        {"headers": {"reb-apikey": tenant.read_key}},
    ):
        async for ws in _open(server, payload):
            assert await _recv(ws) == {"type": "connection_ack"}
            await _subscribe(ws, "q", "{ viewer { permissions } }")
            message = await _recv(ws)
            assert message["payload"] == {"data": {"viewer": {"permissions": ["read"]}}}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"REB-APIKEY": ""},
        {"REB-APIKEY": "wrong-wrong-wrong-wrong-wrong-wrong"},
        {"Authorization": "Bearer nope"},
        {"headers": {"REB-APIKEY": "wrong-wrong-wrong-wrong-wrong-wrong"}},
    ],
)
async def test_bad_or_missing_credentials_close_with_4403(
    server: str, harness: Harness, tenant: Tenant, payload: dict[str, Any] | None
) -> None:
    assert await _closed_code(server, payload) == 4403


async def test_credentials_are_bound_to_the_connection_not_the_upgrade(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    """A key on the HTTP upgrade request alone does not authenticate the socket."""
    async with connect(
        server,
        subprotocols=[PROTOCOL],
        additional_headers={"REB-APIKEY": tenant.key},
        open_timeout=TIMEOUT,
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_data_export_updates_until_completed(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    created = await harness.client.post(
        "/data-exports", json=rest_body(resource="customers", format="json"), headers=tenant.headers
    )
    assert created.status_code == 201
    export_id = created.json()["id"]
    query = """subscription($id: ID!) {
      dataExportUpdates(id: $id) {
        id status fileId recordCount user { email } file { id } files { id }
      }
    }"""
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "s1", query, {"id": export_id})
        first = await _recv(ws)
        assert first["type"] == "next", first
        assert first["payload"]["data"]["dataExportUpdates"] == {
            "id": export_id,
            "status": "PENDING",
            "fileId": None,
            "recordCount": None,
            "user": {"email": tenant.user.email},
            "file": None,
            "files": [],
        }

        worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
        await worker.run(once=True)

        updates = []
        while True:
            message = await _recv(ws)
            if message["type"] == "complete":
                assert message["id"] == "s1"
                break
            assert message["type"] == "next", message
            updates.append(message["payload"]["data"]["dataExportUpdates"])
        assert updates, "no update after the worker ran"
        last = updates[-1]
        assert last["status"] == "COMPLETED"
        assert last["fileId"]
        assert last["recordCount"] == 0
        assert last["file"] == {"id": last["fileId"]}
        assert last["files"] == [{"id": last["fileId"]}]  # not the list cached at the start
        for update in updates:
            assert update["status"] in {"QUEUED", "PROCESSING", "COMPLETED"}

        # The socket stays usable after the subscription completed.
        await _subscribe(ws, "q2", "{ __typename }")
        assert (await _recv(ws))["payload"] == {"data": {"__typename": "Query"}}


async def test_subscription_to_another_organizations_export_is_an_error(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    other = await harness.tenant("globex", "eve@example.com")
    theirs = await harness.client.post("/data-exports", json=rest_body(), headers=other.headers)
    their_id = theirs.json()["id"]
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        query = "subscription($id: ID!) { dataExportUpdates(id: $id) { id name } }"
        await _subscribe(ws, "s", query, {"id": their_id})
        message = await _recv(ws)
        # An execution error (graphql-transport-ws sends those as `next`), coded like HTTP's.
        assert message["type"] == "next", message
        assert message["id"] == "s"
        assert message["payload"]["data"] is None
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        # Located like any field error over HTTP.
        assert error["path"] == ["dataExportUpdates"]
        assert error["locations"] == [{"line": 1, "column": 26}]
        assert await _recv(ws) == {"id": "s", "type": "complete"}


async def test_unexpected_errors_are_masked_over_websocket(
    server: str, harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_exports", broken)
    monkeypatch.setattr(reads, "export_page", broken)
    monkeypatch.setattr(service, "find_export", broken)
    monkeypatch.setattr(reads, "export_by_id", broken)
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "q", "{ dataExports { total } }")
        await _subscribe(ws, "s", 'subscription { dataExportUpdates(id: "x") { id } }')
        seen: dict[str, dict[str, Any]] = {}
        while len(seen) < 2:
            message = await _recv(ws)
            if message["type"] == "next":
                seen[message["id"]] = message["payload"]
        for op_id, payload in seen.items():
            assert "secret internals" not in json.dumps(payload)
            (error,) = payload["errors"]
            assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
            assert error["extensions"]["correlationId"] in error["message"]
            assert error["path"] == [{"q": "dataExports", "s": "dataExportUpdates"}[op_id]]
            assert error["locations"] == [{"line": 1, "column": {"q": 3, "s": 16}[op_id]}]


async def test_several_operations_need_an_operation_name(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    document = "query A { a: __typename } query B { b: __typename }"
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "two", document)
        message = await _recv(ws)
        assert message["payload"] == {
            "data": None,
            "errors": [
                {"message": "Must provide operation name if query contains multiple operations."}
            ],
        }
        assert await _recv(ws) == {"id": "two", "type": "complete"}


async def test_concurrent_operations_on_one_socket(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    """Operations on one connection share its context (and session): they must not collide."""
    for n in range(3):
        await harness.client.post(
            "/data-exports", json=rest_body(name=f"E{n}"), headers=tenant.headers
        )
    query = "{ viewer { organizationId } dataExports { total items { name user { email } } } }"
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        for n in range(6):
            await _subscribe(ws, f"op{n}", query)
        results: dict[str, Any] = {}
        completed: set[str] = set()
        while len(completed) < 6:
            message = await _recv(ws)
            if message["type"] == "next":
                results[message["id"]] = message["payload"]
            else:
                assert message["type"] == "complete", message
                completed.add(message["id"])
        for payload in results.values():
            assert "errors" not in payload, payload
            assert payload["data"]["dataExports"]["total"] == 3
            emails = {i["user"]["email"] for i in payload["data"]["dataExports"]["items"]}
            assert emails == {tenant.user.email}


async def test_each_operation_on_a_socket_reads_fresh_data(
    server: str, harness: Harness, tenant: Tenant
) -> None:
    """A long-lived connection must not serve one operation from another one's loader cache."""
    created = await harness.client.post(
        "/data-exports", json=rest_body(resource="customers"), headers=tenant.headers
    )
    export_id = created.json()["id"]
    query = "query($id: ID!) { dataExport(id: $id) { status files { id } file { id } } }"
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "before", query, {"id": export_id})
        before = (await _recv(ws))["payload"]["data"]["dataExport"]
        assert before == {"status": "PENDING", "files": [], "file": None}
        assert (await _recv(ws))["type"] == "complete"

        worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
        await worker.run(once=True)

        await _subscribe(ws, "after", query, {"id": export_id})
        after = (await _recv(ws))["payload"]["data"]["dataExport"]
        assert after["status"] == "COMPLETED"
        assert len(after["files"]) == 1
        assert after["file"] == after["files"][0]


@pytest.fixture
def impatient_server(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real app with a 0.3 s operation timeout."""
    monkeypatch.setattr(changes, "POLL_SECONDS", 0.05)
    app = create_app(with_settings(settings, graphql_timeout_seconds=0.3))
    with serve_asgi(app) as base_url:
        yield base_url.replace("http://", "ws://") + "/graphql"


async def test_a_slow_query_over_websocket_times_out_and_the_socket_recovers(
    impatient_server: str, harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.client.post("/data-exports", json=rest_body(), headers=tenant.headers)
    real_list_exports, real_export_page = service.list_exports, reads.export_page

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(service, "list_exports", slow)
    monkeypatch.setattr(reads, "export_page", slow)
    async for ws in _open(impatient_server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        started = time.monotonic()
        await _subscribe(ws, "slow", "{ dataExports { total } }")
        message = await _recv(ws)
        assert time.monotonic() - started < 5
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None
        assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["TIMEOUT"]
        assert await _recv(ws) == {"id": "slow", "type": "complete"}

        # The same connection (and its database session) serves the next operation.
        monkeypatch.setattr(service, "list_exports", real_list_exports)
        monkeypatch.setattr(reads, "export_page", real_export_page)
        await _subscribe(ws, "fast", "{ dataExports { total } }")
        assert (await _recv(ws))["payload"] == {"data": {"dataExports": {"total": 1}}}


async def test_subscriptions_outlive_the_operation_timeout(
    impatient_server: str, harness: Harness, tenant: Tenant
) -> None:
    created = await harness.client.post(
        "/data-exports", json=rest_body(resource="customers"), headers=tenant.headers
    )
    export_id = created.json()["id"]
    query = "subscription($id: ID!) { dataExportUpdates(id: $id) { status } }"
    async for ws in _open(impatient_server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await _subscribe(ws, "s", query, {"id": export_id})
        first = await _recv(ws)
        assert first["payload"]["data"]["dataExportUpdates"] == {"status": "PENDING"}
        await asyncio.sleep(1.0)  # more than three timeouts pass

        worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
        await worker.run(once=True)
        statuses = []
        while (message := await _recv(ws))["type"] == "next":
            statuses.append(message["payload"]["data"]["dataExportUpdates"]["status"])
        assert message == {"id": "s", "type": "complete"}
        assert statuses[-1] == "COMPLETED"


async def test_the_legacy_graphql_ws_protocol_is_refused_with_4406(server: str) -> None:
    """Only graphql-transport-ws is spoken (the one the operation timeout covers)."""
    async with connect(server, subprotocols=["graphql-ws"], open_timeout=TIMEOUT) as ws:
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


@pytest.mark.parametrize(
    "payload",
    [
        {"query": 5},
        {"query": None},
        {},
        {"query": ["{ __typename }"]},
        {"query": "{ __typename }", "operationName": 7},
        {"query": "{ __typename }", "variables": [1]},
        "{ __typename }",
    ],
)
async def test_a_malformed_subscribe_message_closes_with_4400(
    server: str, tenant: Tenant, payload: object, caplog: pytest.LogCaptureFixture
) -> None:
    """The protocol's answer to an invalid message, not a hang or an internal error."""
    async for ws in _open(server, {"REB-APIKEY": tenant.key}):
        assert await _recv(ws) == {"type": "connection_ack"}
        await ws.send(json.dumps({"id": "bad", "type": "subscribe", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
