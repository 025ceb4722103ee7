"""Automatic persisted queries over HTTP, as Apollo Client and urql speak them (their own links
run against a real server in tests/clients/test_persisted_links.py): a hash alone is a miss
until the document has been sent with it, GET and POST, under both response media types."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import PersistedQuery
from app.persisted.operations import sha256_hex
from app.settings import Settings
from tests.conftest import Harness, Tenant, start_harness, with_settings

QUERY = "query Viewer { viewer { organizationId } }"
SHA = sha256_hex(QUERY)
MODERN = "application/graphql-response+json"


def _ext(sha: str = SHA, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


async def _post(
    harness: Harness, tenant: Tenant, body: dict[str, Any], accept: str = "application/json"
) -> httpx.Response:
    return await harness.client.post(
        "/graphql", json=body, headers={**tenant.headers, "accept": accept}
    )


async def _get(
    harness: Harness, tenant: Tenant, params: dict[str, Any], accept: str = "application/json"
) -> httpx.Response:
    encoded = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in params.items()}
    return await harness.client.get(
        "/graphql", params=encoded, headers={**tenant.headers, "accept": accept}
    )


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def _stored(harness: Harness) -> int:
    async with harness.session() as session:
        return int((await session.execute(select(func.count(PersistedQuery.sha256)))).scalar_one())


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (MODERN, 400)])
async def test_a_hash_alone_is_not_found_then_found_once_sent_with_its_document(
    harness: Harness, tenant: Tenant, method: str, accept: str, status: int
) -> None:
    send = _get if method == "GET" else _post
    miss = await send(harness, tenant, {"extensions": _ext()}, accept)
    assert miss.status_code == status
    assert miss.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    assert miss.headers["cache-control"] == "private, no-store"
    assert miss.headers["content-type"].startswith(accept)

    registered = await _post(harness, tenant, {"query": QUERY, "extensions": _ext()}, accept)
    assert registered.status_code == 200, registered.text
    assert registered.json()["data"]["viewer"]["organizationId"] == tenant.organization_id
    assert await _stored(harness) == 1

    hit = await send(harness, tenant, {"extensions": _ext()}, accept)
    assert hit.status_code == 200, hit.text
    assert hit.json() == registered.json()


async def test_another_process_finds_what_one_stored(
    settings: Settings, tenant: Tenant, harness: Harness
) -> None:
    """The store is the database, not the process: a second app on the same database (as
    another `serve` worker) runs the hash the first one stored."""
    await _post(harness, tenant, {"query": QUERY, "extensions": _ext()})
    async for other in start_harness(settings):
        hit = await _post(other, tenant, {"extensions": _ext()})
        assert hit.json()["data"]["viewer"]["organizationId"] == tenant.organization_id


async def test_a_hash_that_is_not_the_documents_is_refused(
    harness: Harness, tenant: Tenant
) -> None:
    wrong = sha256_hex(QUERY + " ")
    for accept in ("application/json", MODERN):
        response = await _post(harness, tenant, {"query": QUERY, "extensions": _ext(wrong)}, accept)
        assert response.status_code == 400
        assert response.json()["errors"][0]["message"].startswith(
            "provided sha does not match query"
        )
        assert _code(response) == "BAD_REQUEST"
    assert await _stored(harness) == 0


@pytest.mark.parametrize(
    "persisted",
    [{"version": 2, "sha256Hash": SHA}, {"version": 1}, {"version": 1, "sha256Hash": 5}, "x", []],
)
async def test_a_malformed_persisted_query_extension_is_a_400(
    harness: Harness, tenant: Tenant, persisted: Any
) -> None:
    response = await _post(harness, tenant, {"extensions": {"persistedQuery": persisted}})
    assert response.status_code == 400
    assert "extensions.persistedQuery" in response.json()["errors"][0]["message"]


async def test_a_document_that_does_not_validate_is_not_stored(
    harness: Harness, tenant: Tenant
) -> None:
    bad = "{ viewer { nope } }"
    response = await _post(harness, tenant, {"query": bad, "extensions": _ext(sha256_hex(bad))})
    assert "nope" in response.json()["errors"][0]["message"]
    assert await _stored(harness) == 0


async def test_a_mutation_by_hash_over_get_is_still_a_405(harness: Harness, tenant: Tenant) -> None:
    mutation = 'mutation { deleteDataExport(id: "x") { __typename } }'
    sha = sha256_hex(mutation)
    await _post(harness, tenant, {"query": mutation, "extensions": _ext(sha)})
    response = await _get(harness, tenant, {"extensions": _ext(sha)})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


async def test_the_store_keeps_the_most_recently_used(settings: Settings, tenant: Tenant) -> None:
    async for harness in start_harness(with_settings(settings, graphql_apq_max_entries=2)):
        documents = [f"query Q{n} {{ __typename }}" for n in range(3)]
        for document in documents:
            await _post(
                harness, tenant, {"query": document, "extensions": _ext(sha256_hex(document))}
            )
        assert await _stored(harness) == 2
        async with harness.session() as session:
            kept = set((await session.execute(select(PersistedQuery.sha256))).scalars())
        assert sha256_hex(documents[0]) not in kept


async def test_with_apq_off_a_hash_is_not_supported(settings: Settings, tenant: Tenant) -> None:
    async for harness in start_harness(with_settings(settings, graphql_apq=False)):
        for body in ({"extensions": _ext()}, {"query": QUERY, "extensions": _ext()}):
            response = await _post(harness, tenant, body)
            assert response.status_code == 200
            assert response.json()["errors"][0]["message"] == "PersistedQueryNotSupported"
            assert _code(response) == "PERSISTED_QUERY_NOT_SUPPORTED"
        plain = await _post(harness, tenant, {"query": QUERY})
        assert plain.json()["data"]["viewer"]["organizationId"] == tenant.organization_id


async def test_a_document_over_256_kib_runs_but_is_not_stored(
    harness: Harness, tenant: Tenant
) -> None:
    big = "# " + "x" * (256 * 1024) + "\n{ __typename }"
    response = await _post(harness, tenant, {"query": big, "extensions": _ext(sha256_hex(big))})
    assert response.json() == {"data": {"__typename": "Query"}}
    assert await _stored(harness) == 0


async def test_a_store_that_is_down_is_a_miss_and_documents_still_run(
    settings: Settings, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis refusing connections (nothing listens on port 1): the hash alone is a miss, and the
    document sent with it runs; both failures are logged, neither is a 500."""
    down = with_settings(settings, graphql_apq_redis_url="redis://127.0.0.1:1/0")
    async for harness in start_harness(down):
        miss = await _post(harness, tenant, {"extensions": _ext()})
        assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        ran = await _post(harness, tenant, {"query": QUERY, "extensions": _ext()})
        assert ran.json()["data"]["viewer"]["organizationId"] == tenant.organization_id
    messages = [record.getMessage() for record in caplog.records]
    assert "the persisted-query store failed a lookup" in messages
    assert "could not store a persisted query" in messages


@pytest.mark.parametrize("params", [{"extensions": _ext()}, {"documentId": SHA}])
async def test_a_browser_get_naming_a_persisted_operation_gets_graphql_not_the_ide_page(
    harness: Harness, tenant: Tenant, params: dict[str, Any]
) -> None:
    """A GET with only a hash or a document id names an operation, even with a browser's
    Accept; the IDE page answers only navigations that name none."""
    answer = await _get(harness, tenant, params, accept="text/html,application/json;q=0.9")
    assert not answer.headers["content-type"].startswith("text/html")
    assert answer.json()["errors"][0]["extensions"]["code"] in (
        "PERSISTED_QUERY_NOT_FOUND",
        "PERSISTED_QUERY_NOT_IN_LIST",
    )
