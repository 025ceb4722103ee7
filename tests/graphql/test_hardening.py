"""Hardening: depth, alias and token limits (configurable), no mutations over GET, masked
unexpected errors with a logged correlation id, a per-operation timeout, and switches for
introspection and the IDE."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql.language import Lexer, Source, TokenKind

from app.exports import reads, service
from app.settings import Settings
from tests.conftest import Harness, Tenant, start_harness, with_settings
from tests.graphql.conftest import count_exports, data, errors, invalid_field_names, post

DEPTH_MESSAGE = "exceeds maximum operation depth of"


def nested(depth: int) -> str:
    """An operation whose deepest field is at `depth` (root fields are at depth 0)."""
    fields = [f"f{i}" for i in range(depth + 1)]
    return "{ " + " { ".join(fields) + " }" * (depth + 1)


@pytest.mark.parametrize(("depth", "rejected"), [(10, False), (11, True), (30, True)])
async def test_depth_limit(harness: Harness, tenant: Tenant, depth: int, rejected: bool) -> None:
    # The schema is not that deep, so the fields are made up; the depth rule still runs and
    # reports alongside the unknown-field errors.
    found = await errors(harness.client, nested(depth), tenant.headers)
    messages = [e["message"] for e in found]
    assert any(DEPTH_MESSAGE + " 10" in m for m in messages) is rejected, messages


async def test_real_deep_query_within_the_default_limit(harness: Harness, tenant: Tenant) -> None:
    query = (
        "{ dataExportsConnection { edges { node { file { links { href } } "
        "user { links { rel } } } } } }"
    )
    assert await data(harness.client, query, tenant.headers) == {
        "dataExportsConnection": {"edges": []}
    }


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"


async def test_alias_limit(harness: Harness, tenant: Tenant) -> None:
    ok = await data(harness.client, aliases(15), tenant.headers)
    assert len(ok) == 15
    (error,) = await errors(harness.client, aliases(16), tenant.headers)
    assert "16 aliases" in error["message"]
    assert "15" in error["message"]

    # Aliases on real fields count the same.
    many = "{ " + " ".join(f"e{i}: dataExports {{ total }}" for i in range(16)) + " }"
    response = await post(harness.client, many, tenant.headers)
    assert response.status_code < 500
    assert response.json()["data"] is None
    assert "aliases" in response.json()["errors"][0]["message"]


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def tokens(count: int) -> str:
    """A valid operation of exactly `count` tokens: a long list literal (one token per item;
    a thousand sibling fields would trip graphql-core's own recursion guard instead)."""

    def build(items: int) -> str:
        emails = " ".join(['"s"'] * items)
        return (
            'mutation { createDataExport(input: {name: "t", resource: CUSTOMERS, format: CSV, '
            f"emailNotification: [{emails}]}}) {{ __typename }} }}"
        )

    document = build(count - token_count(build(0)))
    assert token_count(document) == count
    return document


async def test_token_limit(harness: Harness, tenant: Tenant) -> None:
    ok = await data(harness.client, tokens(2000), tenant.headers)
    assert ok == {"createDataExport": {"__typename": "ValidationError"}}  # too many emails

    for count in (2001, 50_000):
        (error,) = await errors(harness.client, tokens(count), tenant.headers)
        assert "more than 2000 tokens" in error["message"]
    assert await count_exports(harness) == 0


async def test_a_huge_document_is_refused_quickly(harness: Harness, tenant: Tenant) -> None:
    query = "{ " + "__typename " * 200_000 + "}"
    started = time.monotonic()
    response = await post(harness.client, query, tenant.headers)
    assert time.monotonic() - started < 5
    assert response.status_code < 500
    assert response.json()["data"] is None


@pytest.fixture
async def shallow(settings: Settings) -> AsyncIterator[Harness]:
    changed = with_settings(settings, graphql_max_depth=3, graphql_max_aliases=2)
    async for h in start_harness(changed):
        yield h


async def test_limits_are_configurable(shallow: Harness) -> None:
    tenant = await shallow.tenant("acme")
    depth3 = "{ dataExports { items { user { email } } } }"
    depth4 = "{ dataExportsConnection { edges { node { user { email } } } } }"
    assert await data(shallow.client, depth3, tenant.headers) == {"dataExports": {"items": []}}
    (error,) = await errors(shallow.client, depth4, tenant.headers)
    assert DEPTH_MESSAGE + " 3" in error["message"]

    assert await data(shallow.client, aliases(2), tenant.headers)
    (error,) = await errors(shallow.client, aliases(3), tenant.headers)
    assert "Allowed: 2" in error["message"]


async def test_mutations_over_get_are_refused(harness: Harness, tenant: Tenant) -> None:
    mutation = (
        'mutation { createDataExport(input: {name: "x", resource: CUSTOMERS, format: CSV}) '
        "{ __typename } }"
    )
    response = await harness.client.get(
        "/graphql", params={"query": mutation}, headers=tenant.headers
    )
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"
    body = response.json()
    assert body["data"] is None
    assert "mutation" in body["errors"][0]["message"].lower()
    assert body["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert await count_exports(harness) == 0

    # Queries over GET work (same credentials).
    got = await harness.client.get(
        "/graphql", params={"query": "{ viewer { organizationId } }"}, headers=tenant.headers
    )
    assert got.json() == {"data": {"viewer": {"organizationId": "acme"}}}

    # And the same mutation over POST is allowed.
    posted = await data(harness.client, mutation, tenant.headers)
    assert posted == {"createDataExport": {"__typename": "DataExport"}}


async def test_unexpected_errors_are_masked_and_logged(
    harness: Harness,
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_exports", broken)
    monkeypatch.setattr(reads, "export_page", broken)  # the plain listing's hot path
    with caplog.at_level(logging.ERROR):
        response = await post(harness.client, "{ dataExports { total } }", tenant.headers)
    assert response.status_code == 200
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    (error,) = response.json()["errors"]
    correlation = error["extensions"]["correlationId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert len(correlation) >= 16
    assert correlation in error["message"]
    assert error["path"] == ["dataExports"]

    logged = [r for r in caplog.records if correlation in r.getMessage()]
    assert logged, caplog.text
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None
    assert "secret internals" in caplog.text  # the details stay on the server

    # A second failure gets its own id.
    again = await post(harness.client, "{ dataExports { total } }", tenant.headers)
    assert again.json()["errors"][0]["extensions"]["correlationId"] != correlation


async def test_unexpected_errors_in_mutations_are_masked_too(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "create_export", broken)
    response = await post(
        harness.client,
        'mutation { createDataExport(input: {name: "x", resource: CUSTOMERS, format: CSV})'
        " { __typename } }",
        tenant.headers,
    )
    assert response.status_code == 200
    assert "secret internals" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    monkeypatch.undo()
    assert await count_exports(harness) == 0


async def test_client_errors_reach_the_client_intact(harness: Harness, tenant: Tenant) -> None:
    (unknown,) = await errors(harness.client, "{ dataExports { nope } }", tenant.headers)
    assert unknown["message"] == "Cannot query field 'nope' on type 'DataExportPage'."

    (syntax,) = await errors(harness.client, "{ dataExports { ", tenant.headers)
    assert syntax["message"].startswith("Syntax Error")

    (bad_var,) = await errors(
        harness.client,
        "query($n: Int!) { dataExports(limit: $n) { total } }",
        tenant.headers,
        {"n": "ten"},
    )
    assert "$n" in bad_var["message"]

    (bounds,) = await errors(
        harness.client, "{ dataExports(offset: -3) { total } }", tenant.headers
    )
    assert invalid_field_names(bounds) == ["offset"]
    assert bounds["extensions"]["invalidFields"][0]["message"] == "Must be 0 or more."

    created = await data(
        harness.client,
        'mutation { createDataExport(input: {name: "", resource: CUSTOMERS, format: CSV}) '
        "{ __typename ... on ValidationError { code invalidFields { field } } } }",
        tenant.headers,
    )
    assert created["createDataExport"] == {
        "__typename": "ValidationError",
        "code": "VALIDATION_FAILED",
        "invalidFields": [{"field": "name"}],
    }

    await harness.client.post(
        "/data-exports",
        json={"name": "n", "resource": "customers", "format": "csv"},
        headers=tenant.headers,
    )
    (ttl,) = await errors(
        harness.client,
        "{ dataExports { items { nextOccurrences(count: 0) } } }",
        tenant.headers,
    )
    assert invalid_field_names(ttl) == ["count"]


@pytest.fixture
async def impatient(settings: Settings) -> AsyncIterator[Harness]:
    async for h in start_harness(with_settings(settings, graphql_timeout_seconds=0.3)):
        yield h


async def test_operations_time_out_with_504(
    impatient: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await impatient.tenant("acme")

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(service, "list_exports", slow)
    monkeypatch.setattr(reads, "export_page", slow)
    started = time.monotonic()
    response = await post(impatient.client, "{ dataExports { total } }", tenant.headers)
    elapsed = time.monotonic() - started
    assert elapsed < 5, elapsed
    assert response.status_code == 504
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"

    # The endpoint is fine afterwards: no session or connection was left poisoned. A poisoned
    # one fails every time; within a 0.3 s budget a loaded machine may miss once, so a few tries.
    monkeypatch.undo()
    answers = []
    for _ in range(3):
        ok = await post(impatient.client, "{ dataExports { total } }", tenant.headers)
        answers.append(ok.json())
        if ok.status_code == 200:
            break
    assert answers[-1] == {"data": {"dataExports": {"total": 0}}}, answers


@pytest.fixture
async def locked_down(settings: Settings) -> AsyncIterator[Harness]:
    changed = with_settings(settings, graphql_introspection=False, graphql_ide=False)
    async for h in start_harness(changed):
        yield h


@pytest.mark.parametrize(
    "query",
    [
        "{ __schema { types { name } } }",
        '{ __type(name: "DataExport") { name } }',
        "query IntrospectionQuery { __schema { queryType { name } } }",
    ],
)
async def test_introspection_can_be_disabled(locked_down: Harness, query: str) -> None:
    tenant = await locked_down.tenant("acme")
    for headers in ({}, tenant.headers):
        response = await post(locked_down.client, query, headers)
        assert response.status_code < 500
        body = response.json()
        assert body["data"] is None
        assert "introspection has been disabled" in body["errors"][0]["message"]
    # Ordinary queries still work.
    ok = await data(locked_down.client, "{ viewer { organizationId } }", tenant.headers)
    assert ok == {"viewer": {"organizationId": "acme"}}


async def test_introspection_is_on_by_default(harness: Harness) -> None:
    ok = await data(harness.client, "{ __schema { queryType { name } } }")
    assert ok == {"__schema": {"queryType": {"name": "Query"}}}


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def test_ide_can_be_disabled(locked_down: Harness) -> None:
    response = await locked_down.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert not response.headers.get("content-type", "").startswith("text/html")
    assert "graphiql" not in response.text.lower()
    assert response.status_code != 200
    asset = await locked_down.client.get("/graphql/ide/static/graphiql.js")
    assert asset.status_code == 404


async def test_ide_is_served_by_default(harness: Harness) -> None:
    response = await harness.client.get("/graphql", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="graphiql"' in response.text or "GraphiQL assets are not built" in response.text
    assert "content-security-policy" in response.headers


async def test_repeated_operations_are_validated_once(harness: Harness, tenant: Tenant) -> None:
    """The limits are validation rules; they must not defeat the validation cache (a fresh rule
    class per operation would make every request re-validate its document)."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    from app.graphql.schema import CACHE_SIZE

    cache = _get_validate_cache(CACHE_SIZE)
    # `viewer` keeps it on the standard executor (app/graphql/fastpath.py answers repeated
    # export reads without validating again at all).
    query = (
        "query CacheProbe { viewer { organizationId } "
        "dataExports(limit: 3) { total items { id user { email } } } }"
    )
    await data(harness.client, query, tenant.headers)
    before = cache.cache_info()
    for _ in range(3):
        await data(harness.client, query, tenant.headers)
    after = cache.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (3, 0)
    # …and the limits still apply to cached documents.
    for _ in range(2):
        (error,) = await errors(harness.client, aliases(16), tenant.headers)
        assert "16 aliases" in error["message"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_other_methods_get_a_json_405(harness: Harness, tenant: Tenant, method: str) -> None:
    response = await harness.client.request(
        method, "/graphql", json={"query": "{ viewer { organizationId } }"}, headers=tenant.headers
    )
    assert response.status_code == 405, response.text
    assert "POST" in response.headers["allow"]
    assert response.headers["content-type"].startswith(("application/json", "application/problem"))
    assert response.json()


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_subscriptions_over_http_are_a_400_pointing_at_websocket(
    harness: Harness, tenant: Tenant, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    query = 'subscription { dataExportUpdates(id: "exp_x") { id } }'
    for headers in (tenant.headers, {}):
        if method == "GET":
            response = await harness.client.get(
                "/graphql", params={"query": query}, headers=headers
            )
        else:
            response = await harness.client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["data"] is None
        assert "WebSocket" in body["errors"][0]["message"]
        assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
async def test_a_get_without_a_query_is_a_400_saying_what_to_send(
    harness: Harness, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    response = await harness.client.get("/graphql", headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["data"] is None
    assert "query" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_head_is_a_405_allowing_get_and_post(harness: Harness) -> None:
    response = await harness.client.head("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


async def test_without_the_ide_a_get_without_a_query_does_not_point_at_a_browser(
    locked_down: Harness,
) -> None:
    response = await locked_down.client.get("/graphql", headers={"Accept": "*/*"})
    assert response.status_code == 400, response.text
    message = response.json()["errors"][0]["message"]
    assert "query" in message
    assert "GraphiQL" not in message
