"""Queries: one export, pages with the REST grammar and bounds, cursor paging, users, the
viewer and the exportable resources."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness, Tenant, add_user
from tests.graphql.conftest import (
    data,
    errors,
    invalid_field_names,
    rest_body,
    seed_exports,
)

PAGE = """query($filter: String, $sort: String, $q: String, $limit: Int!, $offset: Int!) {
  dataExports(filter: $filter, sort: $sort, q: $q, limit: $limit, offset: $offset) {
    total limit offset items { id }
  }
}"""

CONNECTION = """query($first: Int!, $after: String, $filter: String, $sort: String) {
  dataExportsConnection(first: $first, after: $after, filter: $filter, sort: $sort) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""


async def _create_rest(harness: Harness, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = await harness.client.post(
        "/data-exports", json=rest_body(**body), headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_data_export_by_id(harness: Harness, tenant: Tenant) -> None:
    created = await _create_rest(harness, tenant, name="Find me", resource="customers")
    found = await data(
        harness.client,
        "query($id: ID!) { dataExport(id: $id) { id name resource userId status } }",
        tenant.headers,
        {"id": created["id"]},
    )
    assert found["dataExport"] == {
        "id": created["id"],
        "name": "Find me",
        "resource": "CUSTOMERS",
        "userId": tenant.user.id,
        "status": "PENDING",
    }

    missing = await data(harness.client, '{ dataExport(id: "exp_nope") { id } }', tenant.headers)
    assert missing == {"dataExport": None}

    (error,) = await errors(harness.client, '{ dataExport(id: "bad id!") { id } }', tenant.headers)
    assert invalid_field_names(error) == ["id"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"filter": "resource:customers,invoices"},
        {"filter": "resource:!customers;format:csv"},
        {"filter": "name:Alpha", "sort": "createdTime"},
        {"filter": "createdTime:2000-01-01T00:00:00Z.."},
        {"sort": "name"},
        {"sort": "-name,id"},
        {"q": "alp"},
        {"q": "%"},
        {"limit": 2},
        {"limit": 2, "offset": 3},
        {"limit": 0},
        {"offset": 100},
        {"sort": "-format", "limit": 3, "offset": 1},
    ],
)
async def test_data_exports_match_rest(
    harness: Harness, tenant: Tenant, params: dict[str, Any]
) -> None:
    for name, resource, fmt in [
        ("Alpha", "customers", "csv"),
        ("beta", "invoices", "json"),
        ("Gamma 100%", "transactions", "csv"),
        ("alphabet", "customers", "xml"),
        ("Delta", "subscriptions", "pdf"),
        ("epsilon", "invoiceItems", "json-api"),
    ]:
        await _create_rest(harness, tenant, name=name, resource=resource, format=fmt)
    rest = await harness.client.get("/data-exports", params=params, headers=tenant.headers)
    assert rest.status_code == 200, rest.text
    variables = {"limit": 100, "offset": 0, **params}
    page = (await data(harness.client, PAGE, tenant.headers, variables))["dataExports"]
    assert [item["id"] for item in page["items"]] == [item["id"] for item in rest.json()]
    assert page["total"] == int(rest.headers["Pagination-Total"])
    assert page["limit"] == int(rest.headers["Pagination-Limit"])
    assert page["offset"] == int(rest.headers["Pagination-Offset"])


async def test_data_exports_defaults_and_filtering_work(harness: Harness, tenant: Tenant) -> None:
    ids = await seed_exports(harness, "acme", [tenant.user], 3)
    page = (await data(harness.client, "{ dataExports { total limit offset } }", tenant.headers))[
        "dataExports"
    ]
    assert page == {"total": 3, "limit": 100, "offset": 0}
    only = await data(
        harness.client, PAGE, tenant.headers, {"filter": f"id:{ids[1]}", "limit": 10, "offset": 0}
    )
    assert only["dataExports"]["items"] == [{"id": ids[1]}]
    assert only["dataExports"]["total"] == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter": "bogus:1"}, "filter"),
        ({"filter": "createdTime:not-a-date.."}, "filter"),
        ({"filter": "name"}, "filter"),
        ({"sort": "nope"}, "sort"),
        ({"limit": 1001}, "limit"),
        ({"limit": -1}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
async def test_data_exports_reject_what_rest_rejects(
    harness: Harness, tenant: Tenant, params: dict[str, Any], field: str
) -> None:
    variables = {"limit": 100, "offset": 0, **params}
    response = await harness.client.post(
        "/graphql", json={"query": PAGE, "variables": variables}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None
    (error,) = body["errors"]
    assert error["path"] == ["dataExports"]
    assert field in invalid_field_names(error)

    rest = await harness.client.get("/data-exports", params=params, headers=tenant.headers)
    assert rest.status_code == 422
    assert [f["field"] for f in rest.json()["invalidFields"]] == invalid_field_names(error)


async def test_connection_pages_through_everything(harness: Harness, tenant: Tenant) -> None:
    bob = await add_user(harness, "acme", "bob@example.com")
    await seed_exports(harness, "acme", [tenant.user, bob], 25)
    rest = await harness.client.get(
        "/data-exports", params={"sort": "name"}, headers=tenant.headers
    )
    expected = [item["id"] for item in rest.json()]
    assert len(expected) == 25

    seen: list[str] = []
    after: str | None = None
    pages: list[dict[str, Any]] = []
    while True:
        variables = {"first": 10, "after": after, "sort": "name"}
        conn = (await data(harness.client, CONNECTION, tenant.headers, variables))[
            "dataExportsConnection"
        ]
        pages.append(conn)
        assert conn["totalCount"] == 25
        seen += [edge["node"]["id"] for edge in conn["edges"]]
        info = conn["pageInfo"]
        assert info["startCursor"] == conn["edges"][0]["cursor"]
        assert info["endCursor"] == conn["edges"][-1]["cursor"]
        assert info["hasPreviousPage"] is (after is not None)
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
        assert len(pages) < 10
    assert [len(p["edges"]) for p in pages] == [10, 10, 5]
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert seen == expected
    cursors = [edge["cursor"] for p in pages for edge in p["edges"]]
    assert len(set(cursors)) == 25

    # Past the last cursor: an empty page that says so.
    tail = (
        await data(
            harness.client,
            CONNECTION,
            tenant.headers,
            {"first": 10, "after": after, "sort": "name"},
        )
    )["dataExportsConnection"]
    tail2 = (
        await data(
            harness.client,
            CONNECTION,
            tenant.headers,
            {"first": 10, "after": pages[-1]["pageInfo"]["endCursor"], "sort": "name"},
        )
    )["dataExportsConnection"]
    assert len(tail["edges"]) == 5
    assert tail2["edges"] == []
    assert tail2["pageInfo"]["hasNextPage"] is False
    assert tail2["pageInfo"]["endCursor"] is None

    # A filter narrows totalCount the same way.
    filtered = (
        await data(
            harness.client,
            CONNECTION,
            tenant.headers,
            {"first": 100, "filter": f"userId:{bob.id}"},
        )
    )["dataExportsConnection"]
    assert filtered["totalCount"] == 12
    assert filtered["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 10, "after": "not a cursor"}, "after"),
        ({"first": 10, "after": "b2Zmc2V0Oi01"}, "after"),  # "offset:-5"
        ({"first": 10, "after": "aGVsbG8="}, "after"),  # "hello"
        ({"first": 1001}, "first"),
        ({"first": -1}, "first"),
        ({"first": 10, "filter": "bogus:1"}, "filter"),
    ],
)
async def test_connection_rejects_bad_arguments(
    harness: Harness, tenant: Tenant, variables: dict[str, Any], field: str
) -> None:
    (error,) = await errors(harness.client, CONNECTION, tenant.headers, variables)
    assert invalid_field_names(error) == [field]


async def test_connection_first_zero_is_an_empty_page(harness: Harness, tenant: Tenant) -> None:
    await seed_exports(harness, "acme", [tenant.user], 2)
    conn = (await data(harness.client, CONNECTION, tenant.headers, {"first": 0}))[
        "dataExportsConnection"
    ]
    assert conn["edges"] == []
    assert conn["totalCount"] == 2
    assert conn["pageInfo"]["hasNextPage"] is True


USER = """query($id: ID!) {
  user(id: $id) { id email firstName lastName createdTime links { rel href } }
}"""


async def test_user_matches_rest_and_stays_in_the_organization(
    harness: Harness, tenant: Tenant
) -> None:
    found = (await data(harness.client, USER, tenant.headers, {"id": tenant.user.id}))["user"]
    rest = (await harness.client.get(f"/users/{tenant.user.id}", headers=tenant.headers)).json()
    assert found["id"] == rest["id"]
    assert found["email"] == rest["email"] == "ada@example.com"
    assert (found["firstName"], found["lastName"]) == (rest["firstName"], rest["lastName"])
    assert found["createdTime"] == rest["createdTime"]
    assert found["links"] == rest["_links"]

    stranger = await harness.tenant("globex", "eve@example.com")
    other = await data(harness.client, USER, tenant.headers, {"id": stranger.user.id})
    assert other == {"user": None}
    unknown = await data(harness.client, USER, tenant.headers, {"id": "usr_missing"})
    assert unknown == {"user": None}


async def test_viewer(harness: Harness, tenant: Tenant) -> None:
    query = "{ viewer { organizationId permissions user { id email } } }"
    full = (await data(harness.client, query, tenant.headers))["viewer"]
    assert full == {
        "organizationId": "acme",
        "permissions": ["read", "write"],
        "user": {"id": tenant.user.id, "email": "ada@example.com"},
    }
    read_only = (await data(harness.client, query, tenant.read_headers))["viewer"]
    assert read_only["permissions"] == ["read"]


RESOURCES = """{
  exportResources {
    name defaultFields dateFields defaultDateField textSearchFields
    fields { path filterName kind description isDefault }
  }
}"""

SPEC_DEFAULT_DATE_FIELDS = {
    "TRANSACTIONS": "processedTime",
    "CUSTOMERS": "createdTime",
    "SUBSCRIPTIONS": "createdTime",
    "INVOICES": "issuedTime",
    "INVOICE_ITEMS": "issuedTime",
}

SPEC_FIELDS = {
    "TRANSACTIONS": ["id", "paymentInstrument/method", "billingAddress/country", "processedTime"],
    "CUSTOMERS": ["email", "primaryAddress/city", "lifetimeRevenue/amount", "isEddRequired"],
    "SUBSCRIPTIONS": ["planId", "quantity", "renewalTime", "canceledTime"],
    "INVOICES": ["invoiceNumber", "amountDue", "dueTime", "paidTime"],
    "INVOICE_ITEMS": ["invoiceId", "unitPrice", "productId", "issuedTime"],
}


async def test_export_resources(harness: Harness, tenant: Tenant) -> None:
    resources = (await data(harness.client, RESOURCES, tenant.headers))["exportResources"]
    by_name = {r["name"]: r for r in resources}
    assert sorted(by_name) == sorted(SPEC_DEFAULT_DATE_FIELDS)
    for name, resource in by_name.items():
        paths = [f["path"] for f in resource["fields"]]
        assert set(SPEC_FIELDS[name]) <= set(paths), name
        assert resource["defaultDateField"] == SPEC_DEFAULT_DATE_FIELDS[name]
        assert resource["defaultDateField"] in resource["dateFields"]
        assert resource["defaultFields"]
        assert set(resource["defaultFields"]) <= set(paths)
        assert len(resource["defaultFields"]) < len(paths)
        assert [f["path"] for f in resource["fields"] if f["isDefault"]] == [
            p for p in paths if p in resource["defaultFields"]
        ]
        for entry in resource["fields"]:
            assert entry["filterName"] == entry["path"].replace("/", ".")
            assert entry["description"]
        kinds = {f["path"]: f["kind"] for f in resource["fields"]}
        for date_field in resource["dateFields"]:
            assert kinds[date_field] == "DATETIME"
    money = {f["path"]: f["kind"] for f in by_name["INVOICES"]["fields"]}
    assert money["amount"] == "MONEY"
    assert by_name["CUSTOMERS"]["textSearchFields"] == ["email", "firstName", "lastName"]

    one = await data(
        harness.client,
        RESOURCES.replace("exportResources", "exportResource(name: INVOICE_ITEMS)"),
        tenant.headers,
    )
    assert one["exportResource"] == by_name["INVOICE_ITEMS"]


async def test_omitted_fields_default_to_the_resource_defaults(
    harness: Harness, tenant: Tenant
) -> None:
    created = await _create_rest(harness, tenant, resource="subscriptions")
    found = await data(
        harness.client,
        """query($id: ID!) {
          dataExport(id: $id) { fields dateRange { field } }
          exportResource(name: SUBSCRIPTIONS) { defaultFields }
        }""",
        tenant.headers,
        {"id": created["id"]},
    )
    assert found["dataExport"]["fields"] == found["exportResource"]["defaultFields"]
    assert found["dataExport"]["dateRange"] is None
