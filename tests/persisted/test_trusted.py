"""Trusted documents: both manifest formats load, their ids run by `documentId` or by the
persisted-query hash, and with GRAPHQL_TRUSTED_DOCUMENTS_ONLY nothing else runs (over HTTP
or WebSocket) and nothing is registered."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from app.main import create_app
from app.persisted.manifest import ManifestError, load
from app.persisted.operations import sha256_hex
from app.preflight import PreflightError, require_manifest
from app.settings import Settings, SettingsError
from tests.conftest import Harness, Tenant, start_harness, with_settings
from tests.graphql.browser import serve_asgi

VIEWER = "query Viewer { viewer { organizationId } }"
TYPENAME = "query Name { __typename }"


def codegen_manifest(path: Path) -> Path:
    path.write_text(json.dumps({"v1": VIEWER, "t1": TYPENAME}))
    return path


def apollo_manifest(path: Path) -> Path:
    operations = [
        {"id": "v1", "name": "Viewer", "type": "query", "body": VIEWER},
        {"id": "t1", "name": "Name", "type": "query", "body": TYPENAME},
    ]
    body = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(body))
    return path


@pytest.fixture(params=[codegen_manifest, apollo_manifest], ids=["codegen", "apollo"])
def manifest(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path: Path = request.param(tmp_path / "manifest.json")
    return path


async def _harness(settings: Settings, manifest: Path, only: bool) -> AsyncIterator[Harness]:
    changed = with_settings(
        settings, graphql_trusted_documents=manifest, graphql_trusted_documents_only=only
    )
    async for harness in start_harness(changed):
        yield harness


async def _post(harness: Harness, tenant: Tenant, body: dict[str, Any]) -> httpx.Response:
    return await harness.client.post("/graphql", json=body, headers=tenant.headers)


def _pq(sha: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


@pytest.mark.parametrize("only", [False, True])
async def test_manifest_ids_run_by_document_id_or_hash(
    settings: Settings, tenant: Tenant, manifest: Path, only: bool
) -> None:
    async for harness in _harness(settings, manifest, only):
        for body in (
            {"documentId": "v1"},
            {"documentId": "sha256:v1"},
            {"extensions": _pq("v1")},
        ):
            response = await _post(harness, tenant, body)
            assert response.json() == {"data": {"viewer": {"organizationId": "acme"}}}, body
        by_get = await harness.client.get(
            "/graphql", params={"documentId": "t1"}, headers=tenant.headers
        )
        assert by_get.json() == {"data": {"__typename": "Query"}}
        unknown = await _post(harness, tenant, {"documentId": "nope"})
        assert unknown.status_code == 404
        assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        both = await _post(harness, tenant, {"documentId": "v1", "query": VIEWER})
        assert both.status_code == 400


async def test_trusted_only_refuses_every_other_document(
    settings: Settings, tenant: Tenant, manifest: Path
) -> None:
    async for harness in _harness(settings, manifest, only=True):
        free = await _post(harness, tenant, {"query": "{ viewer { permissions } }"})
        assert free.status_code == 403
        error = free.json()["errors"][0]
        assert error["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
        assert "GRAPHQL_TRUSTED_DOCUMENTS_ONLY" in error["message"]
        # The manifest's text itself, sent in full, runs.
        same = await _post(harness, tenant, {"query": VIEWER})
        assert same.json() == {"data": {"viewer": {"organizationId": "acme"}}}
        # An APQ client cannot register anything: a hash outside the list is no miss to retry.
        document = "{ viewer { permissions } }"
        sha = sha256_hex(document)
        miss = await _post(harness, tenant, {"extensions": _pq(sha)})
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"
        register = await _post(harness, tenant, {"query": document, "extensions": _pq(sha)})
        assert register.json()["errors"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"


async def test_without_trusted_only_other_documents_still_run(
    settings: Settings, tenant: Tenant, manifest: Path
) -> None:
    async for harness in _harness(settings, manifest, only=False):
        free = await _post(harness, tenant, {"query": "{ viewer { permissions } }"})
        assert free.json()["data"]["viewer"]["permissions"]


async def test_trusted_only_holds_over_websocket(
    settings: Settings, tenant: Tenant, manifest: Path, harness: Harness
) -> None:
    changed = with_settings(
        settings, graphql_trusted_documents=manifest, graphql_trusted_documents_only=True
    )
    with serve_asgi(create_app(changed)) as base_url:
        url = base_url.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            init = {"type": "connection_init", "payload": {"REB-APIKEY": tenant.key}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            for op_id, query in (("1", "{ viewer { permissions } }"), ("2", VIEWER)):
                message = {"id": op_id, "type": "subscribe", "payload": {"query": query}}
                await ws.send(json.dumps(message))
            received = [json.loads(await ws.recv()) for _ in range(3)]  # error, next, complete
            by_type = {message["type"]: message for message in received}
            assert by_type["error"]["id"] == "1"
            assert by_type["error"]["payload"][0]["extensions"]["code"] == "QUERY_NOT_IN_SAFELIST"
            assert by_type["next"] == {
                "id": "2",
                "type": "next",
                "payload": {"data": {"viewer": {"organizationId": "acme"}}},
            }


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"v1": 5}', "document's text"),
        ('{"format": "apollo-persisted-query-manifest", "version": 2}', "version 1"),
        (
            '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{}]}',
            "operations[0]",
        ),
    ],
)
def test_a_bad_manifest_is_a_one_line_error(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError, match=r"m\.json") as raised:
        load(path)
    assert fragment in str(raised.value)
    with pytest.raises(PreflightError, match="GRAPHQL_TRUSTED_DOCUMENTS"):
        require_manifest(path)
    with pytest.raises(PreflightError, match="cannot read"):
        require_manifest(tmp_path / "missing.json")


def test_trusted_only_needs_a_manifest(tmp_path: Path) -> None:
    env = {"VAR_DIR": str(tmp_path), "GRAPHQL_TRUSTED_DOCUMENTS_ONLY": "true"}
    with pytest.raises(SettingsError, match="needs GRAPHQL_TRUSTED_DOCUMENTS"):
        Settings.from_env(env)
