"""Issue 11, points 3 and 4 over GraphQL: the same core Invalid, so the same messages as REST
(a BAD_USER_INPUT error naming `filter` for a query, a ValidationError naming
`arguments.filter` for a mutation), and both path spellings in `fields`."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness, Tenant
from tests.graphql.conftest import data, errors, invalid_field_names

LIST = (
    "query($filter: String, $sort: String) { dataExports(filter: $filter, sort: $sort) { total } }"
)

CREATE = """mutation($input: CreateDataExportInput!) {
  createDataExport(input: $input) {
    __typename
    ... on DataExport { fields arguments { filter sort } }
    ... on ValidationError { invalidFields { field message } }
  }
}"""

ISSUE_EXAMPLE = (
    "Unknown value 'complete' for status: one of pending, queued, processing, completed, "
    "failed (did you mean 'completed'?)"
)


async def test_a_typo_in_the_list_filter_has_the_rest_message(
    harness: Harness, tenant: Tenant
) -> None:
    (error,) = await errors(harness.client, LIST, tenant.headers, {"filter": "status:complete"})
    assert invalid_field_names(error) == ["filter"]
    assert error["extensions"]["invalidFields"][0]["message"] == ISSUE_EXAMPLE
    rest = await harness.client.get(
        "/data-exports", params={"filter": "status:complete"}, headers=tenant.headers
    )
    assert rest.json()["invalidFields"] == error["extensions"]["invalidFields"]


async def test_negations_and_ranges_are_checked_and_case_is_ignored(
    harness: Harness, tenant: Tenant
) -> None:
    (error,) = await errors(harness.client, LIST, tenant.headers, {"filter": "format:!csv,!jsn"})
    message = error["extensions"]["invalidFields"][0]["message"]
    assert message.startswith("Unknown value 'jsn' for format: one of csv, json, json-api")
    assert message.endswith("(did you mean 'json'?)")
    (error,) = await errors(harness.client, LIST, tenant.headers, {"filter": "status:..faild"})
    assert "(did you mean 'failed'?)" in error["extensions"]["invalidFields"][0]["message"]
    found = await data(harness.client, LIST, tenant.headers, {"filter": "status:PENDING..queued"})
    assert found == {"dataExports": {"total": 0}}


async def test_an_unknown_sort_field_is_listed_with_the_closest(
    harness: Harness, tenant: Tenant
) -> None:
    (error,) = await errors(harness.client, LIST, tenant.headers, {"sort": "-updateTime"})
    assert invalid_field_names(error) == ["sort"]
    message = error["extensions"]["invalidFields"][0]["message"]
    assert "use one of: createdTime, format, id, name, resource" in message
    assert message.endswith('(did you mean "updatedTime"?).')


async def create(harness: Harness, tenant: Tenant, **input: Any) -> dict[str, Any]:
    base = {"name": "x", "resource": "TRANSACTIONS", "format": "CSV"}
    result = await data(harness.client, CREATE, tenant.headers, {"input": {**base, **input}})
    node: dict[str, Any] = result["createDataExport"]
    return node


async def test_a_typo_in_arguments_filter_is_the_rest_validation_error(
    harness: Harness, tenant: Tenant
) -> None:
    node = await create(harness, tenant, arguments={"filter": "type:sael"})
    assert node["__typename"] == "ValidationError"
    expected = {
        "field": "arguments.filter",
        "message": "Unknown value 'sael' for type: one of sale, authorize, capture, refund, "
        "void, credit, setup, 3ds-authentication (did you mean 'sale'?)",
    }
    assert node["invalidFields"] == [expected]
    rest = await harness.client.post(
        "/data-exports",
        json={
            "name": "x",
            "resource": "transactions",
            "format": "csv",
            "arguments": {"filter": "type:sael"},
        },
        headers=tenant.headers,
    )
    assert rest.json()["invalidFields"] == [expected]


async def test_both_path_spellings_in_fields_filter_and_sort(
    harness: Harness, tenant: Tenant
) -> None:
    node = await create(
        harness,
        tenant,
        fields=["id", "billingAddress.country"],
        arguments={
            "filter": "billingAddress/country:us;currency:Eur",
            "sort": "billingAddress/lastName",
        },
    )
    assert node["__typename"] == "DataExport", node
    assert node["fields"] == ["id", "billingAddress/country"]
    assert node["arguments"] == {
        "filter": "billingAddress/country:us;currency:Eur",
        "sort": "billingAddress/lastName",
    }
    node = await create(harness, tenant, fields=["billingAddress.countri"])
    assert node["__typename"] == "ValidationError"
    (item,) = node["invalidFields"]
    assert item["field"] == "fields.0"
    assert item["message"].startswith("Unknown field 'billingAddress.countri' for transactions: ")
    assert item["message"].endswith("(did you mean 'billingAddress/country'?).")
