"""Authentication over HTTP (the REST credentials), GraphQL-shaped 401s, anonymous
introspection, and tenant isolation."""

from __future__ import annotations

import time
from typing import Any

import graphql
import jwt
import pytest

from app.settings import Settings
from tests.conftest import Harness, Tenant
from tests.graphql.conftest import data, post, rest_body

VIEWER = "{ viewer { organizationId permissions user { id email } } }"


def _token(settings: Settings, **claims: Any) -> str:
    assert settings.jwt_secret
    payload = {"exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, settings.jwt_secret, algorithm=settings.jwt_algorithm)


async def test_api_key_and_bearer_token_both_work(harness: Harness, tenant: Tenant) -> None:
    by_key = (await data(harness.client, VIEWER, tenant.headers))["viewer"]
    token = _token(harness.settings, sub=tenant.user.id, org="acme", permissions=["read"])
    by_token = (await data(harness.client, VIEWER, {"Authorization": f"Bearer {token}"}))["viewer"]
    assert by_key["user"] == by_token["user"] == {"id": tenant.user.id, "email": "ada@example.com"}
    assert by_key["permissions"] == ["read", "write"]
    assert by_token["permissions"] == ["read"]

    # Both headers: the Bearer token wins (its permissions show).
    both = (
        await data(
            harness.client,
            VIEWER,
            {"Authorization": f"Bearer {token}", "REB-APIKEY": tenant.key},
        )
    )["viewer"]
    assert both["permissions"] == ["read"]


def _bad_credentials(settings: Settings, tenant: Tenant) -> list[dict[str, str]]:
    return [
        {},
        {"REB-APIKEY": ""},
        {"REB-APIKEY": "not-a-real-key-not-a-real-key-0000"},
        {"REB-APIKEY": tenant.key[:-1] + ("A" if tenant.key[-1] != "A" else "B")},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Bearer " + _token(settings, sub=tenant.user.id, org="acme", exp=1)},
        {"Authorization": "Bearer " + _token(settings, sub="usr_ghost", org="acme")},
        {"Authorization": "Bearer " + _token(settings, sub=tenant.user.id, org="globex")},
        {
            "Authorization": "Bearer "
            + jwt.encode(
                {"sub": tenant.user.id, "org": "acme", "exp": int(time.time()) + 60},
                "some-other-secret-that-is-also-long-enough",
                algorithm="HS256",
            )
        },
        {"REB-APIKEY": "x" * 5000},
    ]


@pytest.mark.parametrize(
    "query",
    [
        VIEWER,
        "{ dataExports { total } }",
        '{ dataExport(id: "x") { id } }',
        "{ __typename viewer { organizationId } }",
        'mutation { deleteDataExport(id: "x") { __typename } }',
    ],
)
async def test_bad_credentials_are_a_graphql_shaped_401(
    harness: Harness, tenant: Tenant, query: str
) -> None:
    for headers in _bad_credentials(harness.settings, tenant):
        response = await post(harness.client, query, headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["www-authenticate"] == (
            'REB-APIKEY realm="exports-gateway", Bearer realm="exports-gateway"'
        )
        body = response.json()
        assert body["data"] is None, body
        assert body["errors"], body
        assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
        assert all(e["message"] for e in body["errors"])


async def test_introspection_needs_no_credentials(harness: Harness) -> None:
    full = await post(harness.client, graphql.get_introspection_query(descriptions=True))
    assert full.status_code == 200
    schema = graphql.build_client_schema(full.json()["data"])
    assert schema.query_type is not None
    assert "dataExports" in schema.query_type.fields

    for query in (
        "{ __typename }",
        '{ __type(name: "DataExport") { name fields { name } } }',
        "query Q { __schema { queryType { name } } }",
    ):
        response = await post(harness.client, query)
        assert response.status_code == 200, response.text
        assert "errors" not in response.json()

    # Over GET too (what GraphiQL-like tools may send).
    got = await harness.client.get("/graphql", params={"query": "{ __schema { types { name } } }"})
    assert got.status_code == 200
    assert "errors" not in got.json()


async def test_anonymous_introspection_touches_no_database(harness: Harness) -> None:
    with harness.count_statements() as counter:
        response = await post(harness.client, "{ __schema { types { name } } }")
    assert response.status_code == 200
    assert counter.count == 0


async def test_tenant_isolation(harness: Harness, tenant: Tenant) -> None:
    other = await harness.tenant("globex", "eve@example.com")
    theirs = await harness.client.post(
        "/data-exports", json=rest_body(name="Globex secret"), headers=other.headers
    )
    assert theirs.status_code == 201
    their_id = theirs.json()["id"]
    mine = await harness.client.post(
        "/data-exports", json=rest_body(name="Acme"), headers=tenant.headers
    )
    my_id = mine.json()["id"]

    single = await post(
        harness.client,
        "query($id: ID!) { dataExport(id: $id) { id name } }",
        tenant.headers,
        {"id": their_id},
    )
    assert single.json() == {"data": {"dataExport": None}}

    page = await data(
        harness.client,
        "{ dataExports { total items { id } } dataExportsConnection { totalCount edges "
        "{ node { id } } } }",
        tenant.headers,
    )
    assert page["dataExports"] == {"total": 1, "items": [{"id": my_id}]}
    assert page["dataExportsConnection"]["totalCount"] == 1
    assert [e["node"]["id"] for e in page["dataExportsConnection"]["edges"]] == [my_id]

    filtered = await data(
        harness.client,
        "query($f: String) { dataExports(filter: $f) { total } }",
        tenant.headers,
        {"f": f"id:{their_id}"},
    )
    assert filtered["dataExports"]["total"] == 0

    user = await data(
        harness.client,
        "query($id: ID!) { user(id: $id) { id } }",
        tenant.headers,
        {"id": other.user.id},
    )
    assert user == {"user": None}

    for mutation in (
        'mutation($id: ID!) { updateDataExport(id: $id, input: {name: "pwned"}) '
        "{ __typename ... on Error { code } } }",
        "mutation($id: ID!) { deleteDataExport(id: $id) { __typename ... on Error { code } } }",
    ):
        result = await data(harness.client, mutation, tenant.headers, {"id": their_id})
        (value,) = result.values()
        assert value == {"__typename": "NotFoundError", "code": "NOT_FOUND"}

    still = await harness.client.get(f"/data-exports/{their_id}", headers=other.headers)
    assert still.status_code == 200
    assert still.json()["name"] == "Globex secret"
    assert "Globex" not in single.text


async def test_resource_metadata_needs_credentials(harness: Harness, tenant: Tenant) -> None:
    query = "{ exportResources { name defaultFields } }"
    anonymous = await post(harness.client, query, {})
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    names = [
        r["name"] for r in (await data(harness.client, query, tenant.headers))["exportResources"]
    ]
    assert names == ["TRANSACTIONS", "CUSTOMERS", "SUBSCRIPTIONS", "INVOICES", "INVOICE_ITEMS"]
