"""Issue 11, points 3 and 4 over REST: a typo in an enumerated filter value is a 422 naming
`filter` (or `arguments.filter` at creation) instead of `200 []` or an empty export; both
path spellings work in `fields`, `filter` and `sort`; unknown fields are listed."""

from __future__ import annotations

from typing import Any

import pytest

from app.exports.resources import RESOURCES, query_fields
from tests.conftest import Harness, Tenant
from tests.rest.conftest import assert_problem, body, insert_export, post_export, set_status


def problem_fields(response: Any) -> dict[str, str]:
    problem = assert_problem(response, 422)
    return {item["field"]: item["message"] for item in problem["invalidFields"]}


async def listing(harness: Harness, tenant: Tenant, **params: str) -> Any:
    return await harness.client.get("/data-exports", params=params, headers=tenant.headers)


@pytest.mark.parametrize(
    ("filter", "message"),
    [
        (
            "status:complete",
            "Unknown value 'complete' for status: one of pending, queued, processing, "
            "completed, failed (did you mean 'completed'?)",
        ),
        (
            "resource:transaction",
            "Unknown value 'transaction' for resource: one of transactions, customers, "
            "subscriptions, invoices, invoiceItems (did you mean 'transactions'?)",
        ),
        (
            "format:jsonapi",
            "Unknown value 'jsonapi' for format: one of csv, json, json-api, xml, pdf "
            "(did you mean 'json-api'?)",
        ),
    ],
)
async def test_a_typo_in_the_collection_filter_is_a_422(
    harness: Harness, tenant: Tenant, filter: str, message: str
) -> None:
    await insert_export(harness, tenant)
    response = await listing(harness, tenant, filter=filter)
    assert problem_fields(response) == {"filter": message}


@pytest.mark.parametrize(
    ("filter", "bad"),
    [
        ("status:!complete", "complete"),
        ("status:!pending,!faild", "faild"),
        ("status:pendng..queued", "pendng"),
        ("status:..faild", "faild"),
        ("format:csv,jsn", "jsn"),
    ],
)
async def test_negated_listed_and_range_values_are_checked(
    harness: Harness, tenant: Tenant, filter: str, bad: str
) -> None:
    response = await listing(harness, tenant, filter=filter)
    assert problem_fields(response)["filter"].startswith(f"Unknown value {bad!r} for ")


async def test_allowed_values_match_in_any_case(harness: Harness, tenant: Tenant) -> None:
    done = await insert_export(harness, tenant, name="done", resource="invoices", format="json")
    await set_status(harness, done, "completed")
    waiting = await insert_export(harness, tenant, name="waiting", format="json-api")

    async def ids(filter: str) -> list[str]:
        response = await listing(harness, tenant, filter=filter)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    assert await ids("status:COMPLETED") == [done]
    assert await ids("status:!Completed") == [waiting]
    assert await ids("status:!COMPLETED,!Pending") == []
    assert await ids("resource:INVOICES") == [done]
    assert await ids("format:JSON-API") == [waiting]
    assert await ids("status:Completed..PENDING") == [waiting, done]


async def test_an_unknown_collection_field_lists_the_fields(
    harness: Harness, tenant: Tenant
) -> None:
    response = await listing(harness, tenant, filter="stauts:pending")
    message = problem_fields(response)["filter"]
    assert "use one of: createdTime, format, id, name, resource, scheduledTime, status" in message
    assert message.endswith('(did you mean "status"?).')
    response = await listing(harness, tenant, sort="-createTime")
    message = problem_fields(response)["sort"]
    assert "use one of: createdTime, format, id, name" in message
    assert message.endswith('(did you mean "createdTime"?).')


# --- arguments.filter at export creation --------------------------------------------------

TYPOS = [
    ("transactions", "type:sael", "sale"),
    ("transactions", "status:refundd", "refunded"),
    ("transactions", "result:aproved", "approved"),
    ("transactions", "currency:USX", "USD"),
    ("customers", "lifetimeRevenue.currency:EUO", "EUR"),
    ("subscriptions", "status:actve", "active"),
    ("invoices", "status:past_due", "past-due"),
    ("invoices", "currency:GPB", "GBP"),
    ("invoiceItems", "type:debt", "debit"),
    ("invoiceItems", "currency:caf", "CAD"),
]


def test_the_typos_cover_every_enumerated_resource_field() -> None:
    covered = {(resource, text.split(":")[0]) for resource, text, _ in TYPOS}
    enumerated = {
        (resource.name, name)
        for resource in RESOURCES.values()
        for name, field in query_fields(resource).items()
        if field.allowed is not None
    }
    assert covered == enumerated


@pytest.mark.parametrize(("resource", "filter", "suggestion"), TYPOS)
async def test_a_typo_in_arguments_filter_is_a_422_at_creation(
    harness: Harness, tenant: Tenant, resource: str, filter: str, suggestion: str
) -> None:
    response = await harness.client.post(
        "/data-exports",
        json=body(resource=resource, arguments={"filter": filter}),
        headers=tenant.headers,
    )
    fields = problem_fields(response)
    assert list(fields) == ["arguments.filter"]
    name, _, value = filter.partition(":")
    message = fields["arguments.filter"]
    assert message.startswith(f"Unknown value {value!r} for {name}: ")
    assert message.endswith(f"(did you mean {suggestion!r}?)")
    listed = await listing(harness, tenant)
    assert listed.json() == []  # nothing was created


async def test_the_issue_example_export_is_refused(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports", json=body(arguments={"filter": "type:sael"}), headers=tenant.headers
    )
    assert problem_fields(response) == {
        "arguments.filter": "Unknown value 'sael' for type: one of sale, authorize, capture, "
        "refund, void, credit, setup, 3ds-authentication (did you mean 'sale'?)"
    }


async def test_a_typo_is_refused_on_update_too(harness: Harness, tenant: Tenant) -> None:
    created = await post_export(harness, tenant)
    response = await harness.client.put(
        f"/data-exports/{created['id']}",
        json=body(arguments={"filter": "result:!declined,!aproved"}),
        headers=tenant.headers,
    )
    assert "did you mean 'approved'?" in problem_fields(response)["arguments.filter"]


async def test_valid_values_in_any_case_are_stored_as_sent(
    harness: Harness, tenant: Tenant
) -> None:
    arguments = {"filter": "type:SALE,Refund;status:!Voided;currency:usd..gbp", "sort": "-amount"}
    created = await post_export(harness, tenant, arguments=arguments)
    assert created["arguments"] == arguments


# --- one path syntax ----------------------------------------------------------------------


async def test_fields_filter_and_sort_take_both_spellings(harness: Harness, tenant: Tenant) -> None:
    arguments = {
        "filter": "billingAddress/country:US;paymentInstrument.method:ach",
        "sort": "billingAddress.lastName,-billingAddress/firstName",
    }
    fields = ["id", "billingAddress.country", "paymentInstrument/method"]
    created = await post_export(harness, tenant, arguments=arguments, fields=fields)
    # `fields` is stored in the spec's `/` spelling; arguments are kept as the client sent them.
    assert created["fields"] == ["id", "billingAddress/country", "paymentInstrument/method"]
    assert created["arguments"] == arguments
    again = await harness.client.get(f"/data-exports/{created['id']}", headers=tenant.headers)
    assert again.json()["fields"] == created["fields"]
    # The round trip: what GET returns is accepted back unchanged.
    update = {k: again.json()[k] for k in ("name", "resource", "format", "arguments", "fields")}
    response = await harness.client.put(
        f"/data-exports/{created['id']}", json=update, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["fields"] == created["fields"]


async def test_a_field_spelled_both_ways_is_a_duplicate(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports",
        json=body(fields=["billingAddress/country", "billingAddress.country"]),
        headers=tenant.headers,
    )
    assert problem_fields(response) == {"fields.1": "Duplicate field 'billingAddress.country'."}


async def test_an_unknown_field_lists_the_fields(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports",
        json=body(
            resource="subscriptions",
            fields=["id", "billingAddress.contry"],
            arguments={"filter": "plan:basic", "sort": "-renewal"},
        ),
        headers=tenant.headers,
    )
    fields = problem_fields(response)
    assert fields["fields.1"] == (
        "Unknown field 'billingAddress.contry' for subscriptions: use one of id, customerId, "
        "planId, status, quantity, billingAddress/country, renewalTime, canceledTime, "
        "createdTime, updatedTime (did you mean 'billingAddress/country'?)."
    )
    assert fields["arguments.filter"] == (
        'Invalid filter term "plan:basic": unknown field "plan"; use one of: '
        "billingAddress.country, canceledTime, createdTime, customerId, id, planId, quantity, "
        'renewalTime, status, updatedTime (did you mean "planId"?).'
    )
    assert fields["arguments.sort"].startswith('Unknown sort field "renewal"; use one of: ')
    assert fields["arguments.sort"].endswith('(did you mean "renewalTime"?).')
