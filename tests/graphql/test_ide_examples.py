"""The example operations GraphiQL offers (app/graphql/ide/examples/, bundled by the frontend):
each is bundled, parses, validates against the live schema, and declares exactly the variables
its `.variables.json` gives, which coerce. Then they run as a user would: create, list, follow
the export to COMPLETED over a real WebSocket, download the file from the signed URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import OperationDefinitionNode, OperationType, parse, validate
from graphql.execution.values import get_variable_values
from websockets.asyncio.client import connect

from app.exports import changes
from app.exports.worker import Worker
from app.graphql.ide import IDE_DIR
from app.graphql.schema import build_schema
from app.main import create_app
from app.settings import Settings
from tests.conftest import Harness, Tenant
from tests.graphql.browser import serve_asgi
from tests.graphql.conftest import data

EXAMPLES_DIR = IDE_DIR / "examples"
FRONTEND_EXAMPLES = IDE_DIR / "frontend" / "src" / "examples.js"
NAMES = ("list-exports", "create-export", "follow-export", "download-export")
TIMEOUT = 10.0


def _query(name: str) -> str:
    return (EXAMPLES_DIR / f"{name}.graphql").read_text(encoding="utf-8")


def _variables(name: str, **changes: Any) -> dict[str, Any]:
    variables: dict[str, Any] = json.loads(
        (EXAMPLES_DIR / f"{name}.variables.json").read_text(encoding="utf-8")
    )
    return {**variables, **changes}


def _operation(name: str) -> OperationDefinitionNode:
    operations = [
        node
        for node in parse(_query(name)).definitions
        if isinstance(node, OperationDefinitionNode)
    ]
    assert len(operations) == 1, f"{name}: one operation per example"
    return operations[0]


def test_the_frontend_bundles_every_example() -> None:
    on_disk = {path.name for path in EXAMPLES_DIR.iterdir()}
    assert on_disk == {f"{n}.graphql" for n in NAMES} | {f"{n}.variables.json" for n in NAMES}
    source = FRONTEND_EXAMPLES.read_text(encoding="utf-8")
    for name in NAMES:
        assert f"'../../examples/{name}.graphql'" in source
        assert f"'../../examples/{name}.variables.json'" in source


@pytest.mark.parametrize("name", NAMES)
def test_example_is_valid_against_the_live_schema(name: str) -> None:
    schema = build_schema()._schema
    errors = validate(schema, parse(_query(name)))
    assert [error.message for error in errors] == []

    operation = _operation(name)
    assert operation.name is not None  # its tab's title
    declared = {node.variable.name.value for node in operation.variable_definitions}
    variables = _variables(name)
    assert set(variables) == declared
    coerced = get_variable_values(schema, operation.variable_definitions, variables)
    assert not isinstance(coerced, list), [str(error) for error in coerced]  # a list of errors


def test_the_examples_cover_the_common_tasks() -> None:
    kinds = {name: _operation(name).operation for name in NAMES}
    assert kinds == {
        "list-exports": OperationType.QUERY,
        "create-export": OperationType.MUTATION,
        "follow-export": OperationType.SUBSCRIPTION,
        "download-export": OperationType.QUERY,
    }
    assert "offset: $offset" in _query("list-exports")  # paging
    assert "dataExportUpdates(id: $id)" in _query("follow-export")
    assert "downloadUrl" in _query("download-export")


@pytest.fixture
def ws_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(changes, "POLL_SECONDS", 0.05)
    with serve_asgi(create_app(settings)) as base_url:
        yield base_url.replace("http://", "ws://") + "/graphql"


async def _follow(ws_url: str, key: str, export_id: str, harness: Harness) -> list[dict[str, Any]]:
    """FollowExport as GraphiQL runs it: key in connection_init, then updates until complete;
    the worker runs once the first update (the export as it is now) arrived."""
    updates: list[dict[str, Any]] = []
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:

        async def receive() -> dict[str, Any]:
            message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            return message

        await ws.send(json.dumps({"type": "connection_init", "payload": {"REB-APIKEY": key}}))
        assert await receive() == {"type": "connection_ack"}
        payload = {
            "query": _query("follow-export"),
            "variables": _variables("follow-export", id=export_id),
        }
        await ws.send(json.dumps({"id": "follow", "type": "subscribe", "payload": payload}))
        while (message := await receive())["type"] == "next":
            assert "errors" not in message["payload"], message
            updates.append(message["payload"]["data"]["dataExportUpdates"])
            if len(updates) == 1:
                await Worker(
                    harness.settings, harness.app.state.sessionmaker, harness.app.state.storage
                ).run(once=True)
        assert message == {"id": "follow", "type": "complete"}
    return updates


async def test_the_examples_run_one_export_from_creation_to_download(
    harness: Harness, tenant: Tenant, ws_url: str
) -> None:
    headers = tenant.headers
    empty = await data(harness.client, _query("list-exports"), headers, _variables("list-exports"))
    assert empty["dataExports"]["total"] == 0

    created = await data(
        harness.client, _query("create-export"), headers, _variables("create-export")
    )
    export = created["createDataExport"]
    assert export["__typename"] == "DataExport", export
    assert export["status"] == "PENDING"

    listed = await data(harness.client, _query("list-exports"), headers, _variables("list-exports"))
    page = listed["dataExports"]
    assert (page["total"], page["limit"], page["offset"]) == (1, 10, 0)
    assert [item["id"] for item in page["items"]] == [export["id"]]
    assert page["items"][0]["user"] == {"email": tenant.user.email}

    updates = await _follow(ws_url, tenant.key, export["id"], harness)
    assert updates[0]["status"] == "PENDING"
    assert updates[-1]["status"] == "COMPLETED"
    assert updates[-1]["file"]["name"]

    downloaded = await data(
        harness.client,
        _query("download-export"),
        headers,
        _variables("download-export", id=export["id"]),
    )
    file = downloaded["dataExport"]["file"]
    assert file["contentType"].startswith("text/csv")
    response = await harness.client.get(file["downloadUrl"])  # signed: no key sent
    assert response.status_code == 200, response.text
    assert response.content.decode("utf-8").splitlines()[0] == "id,email,firstName,lastName"
    assert len(response.content) == file["size"]
