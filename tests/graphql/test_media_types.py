"""GraphQL over HTTP's two response media types: `application/graphql-response+json` when the
client asks for it (a request error is a 400 without `data`, an executed operation a 200 even
with field errors, a 401 keeps UNAUTHENTICATED in the body), `application/json` otherwise, with
its answers unchanged (request errors are 200s with `data: null`), and a 406 for neither."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.graphql.negotiation import GRAPHQL_RESPONSE_JSON, JSON, negotiate
from tests.conftest import Harness, Tenant

MODERN = {"accept": GRAPHQL_RESPONSE_JSON}
#: Each request error, and what it is: parse, validation, variable coercion, operation choice.
REQUEST_ERRORS = [
    ({"query": "{"}, "Syntax Error"),
    ({"query": "{ dataExports { nope } }"}, "nope"),
    ({"query": "query($n: Int!) { dataExport(id: $n) { id } }", "variables": {}}, "$n"),
    ({"query": "query A { __typename } query B { __typename }"}, "operation name"),
]


async def send(harness: Harness, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
    return await harness.client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", JSON),
        (f"*/*, {GRAPHQL_RESPONSE_JSON}", GRAPHQL_RESPONSE_JSON),
        (f"{GRAPHQL_RESPONSE_JSON};q=0, */*", JSON),
        ("text/html, application/*;q=0.1", JSON),
        ("text/html", None),
        ("application/json;q=0", None),
        (f"{GRAPHQL_RESPONSE_JSON};q=2", None),  # out of range: not acceptable
        ("application/json;q=nan", None),
    ],
)
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


async def test_an_executed_query_is_a_200_in_the_asked_type(
    harness: Harness, tenant: Tenant
) -> None:
    body = {"query": "{ __typename }"}
    modern = await send(harness, body, {**tenant.headers, **MODERN})
    assert modern.status_code == 200
    assert modern.headers["content-type"] == f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    assert modern.headers["vary"] == "Accept"
    assert modern.json() == {"data": {"__typename": "Query"}}
    legacy = await send(harness, body, tenant.headers)
    assert legacy.headers["content-type"].startswith("application/json")
    assert legacy.json() == modern.json()


@pytest.mark.parametrize(("body", "says"), REQUEST_ERRORS)
async def test_a_request_error_is_a_400_without_data(
    harness: Harness, tenant: Tenant, body: dict[str, Any], says: str
) -> None:
    response = await send(harness, body, {**tenant.headers, **MODERN})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    answer = response.json()
    assert "data" not in answer
    assert says in answer["errors"][0]["message"]


@pytest.mark.parametrize(("body", "says"), REQUEST_ERRORS)
async def test_under_application_json_a_request_error_is_still_a_200_with_null_data(
    harness: Harness, tenant: Tenant, body: dict[str, Any], says: str
) -> None:
    response = await send(harness, body, {**tenant.headers, "accept": "application/json"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["data"] is None
    assert says in answer["errors"][0]["message"]


async def test_a_field_error_in_an_executed_operation_is_a_200_even_with_null_data(
    harness: Harness, tenant: Tenant
) -> None:
    """A resolver's error nulls its non-null parent up to `data`; the operation was executed,
    so the spec's answer is a 200 with `data: null`, not a request error."""
    query = "{ dataExports(limit: -5) { total } __typename }"
    response = await send(harness, {"query": query}, {**tenant.headers, **MODERN})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["data"] is None
    assert answer["errors"][0]["path"] == ["dataExports"]
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_401_keeps_its_status_and_unauthenticated_code(harness: Harness) -> None:
    """What Apollo clients read: the status, and `extensions.code` in the body."""
    query = {"query": "{ dataExports { total } }"}
    modern = await send(harness, query, MODERN)
    assert modern.status_code == 401
    assert modern.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "www-authenticate" in modern.headers
    body = modern.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    legacy = await send(harness, query, {"accept": "application/json"})
    assert legacy.status_code == 401
    assert legacy.json()["data"] is None
    assert legacy.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_transport_errors_are_written_in_the_asked_type(
    harness: Harness, tenant: Tenant
) -> None:
    headers = {**tenant.headers, **MODERN, "content-type": "application/json"}
    bad_json = await harness.client.post("/graphql", content=b"{", headers=headers)
    assert bad_json.status_code == 400
    assert bad_json.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "data" not in bad_json.json()
    mutation = await harness.client.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers=headers
    )
    assert mutation.status_code == 405
    assert mutation.headers["allow"] == "POST"
    assert mutation.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert "data" not in mutation.json()


async def test_neither_type_acceptable_is_a_406(harness: Harness, tenant: Tenant) -> None:
    response = await send(
        harness, {"query": "{ __typename }"}, {**tenant.headers, "accept": "text/csv"}
    )
    assert response.status_code == 406
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    assert GRAPHQL_RESPONSE_JSON in body["errors"][0]["message"]
