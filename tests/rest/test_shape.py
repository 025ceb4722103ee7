"""The export's JSON shape against the seed's sample and spec §1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Harness, Tenant
from tests.rest.conftest import BASE, ISO_Z, MEMBER_ORDER, body, snapshot

TRANSACTION_DEFAULT_FIELDS = [
    "id",
    "customerId",
    "type",
    "status",
    "result",
    "amount",
    "currency",
    "gatewayName",
    "processedTime",
    "createdTime",
]


async def test_member_order_and_defaults(harness: Harness, tenant: Tenant) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    response = await harness.client.post("/data-exports", json=body(), headers=tenant.headers)
    after = datetime.now(UTC)
    assert response.status_code == 201
    export = response.json()
    assert list(export) == MEMBER_ORDER
    assert export["id"].startswith("exp_")
    assert export["name"] == "Monthly"
    assert export["resource"] == "transactions"
    assert export["format"] == "csv"
    assert export["arguments"] == {}
    assert export["emailNotification"] == []
    assert export["fields"] == TRANSACTION_DEFAULT_FIELDS
    assert export["recurring"] is None
    assert export["userId"] == tenant.user.id
    assert export["fileId"] is None
    assert export["recordCount"] is None
    assert export["status"] == "pending"
    assert export["failureReason"] is None
    assert export["dateRange"] is None
    assert (export["attempts"], export["lastError"]) == (0, None)
    assert (export["nextAttemptTime"], export["progress"]) == (None, None)
    assert export["_links"] == [
        {"rel": "self", "href": f"{BASE}/data-exports/{export['id']}"},
        {"rel": "user", "href": f"{BASE}/users/{tenant.user.id}"},
    ]
    for member in ("scheduledTime", "createdTime", "updatedTime"):
        assert ISO_Z.match(export[member]), export[member]
        stamp = datetime.strptime(export[member], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert before <= stamp <= after
    # The same shape on every read surface.
    fetched = await harness.client.get(f"/data-exports/{export['id']}", headers=tenant.headers)
    assert fetched.json() == export
    assert list(fetched.json()) == MEMBER_ORDER
    listed = await harness.client.get("/data-exports", headers=tenant.headers)
    assert listed.json() == [export]


async def test_full_body_round_trips(harness: Harness, tenant: Tenant) -> None:
    payload = {
        "name": "Everything",
        "resource": "customers",
        "format": "json-api",
        "arguments": {"filter": "email:a@example.com", "sort": "-createdTime", "q": "ada"},
        "emailNotification": ["ops@example.com", "cfo@example.com"],
        "fields": ["id", "email", "primaryAddress/country"],
        "recurring": {"instruction": "FREQ=WEEKLY;BYDAY=MO", "start": "2099-03-01T08:00:00Z"},
        "dateRange": {"start": "2026-01-01T00:00:00Z", "end": "now", "field": "updatedTime"},
    }
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    export = response.json()
    assert list(export) == MEMBER_ORDER
    assert export["arguments"] == payload["arguments"]
    assert export["emailNotification"] == payload["emailNotification"]
    assert export["fields"] == payload["fields"]
    assert export["recurring"] == payload["recurring"]
    assert export["dateRange"] == payload["dateRange"]
    assert export["scheduledTime"] == "2099-03-01T08:00:00Z"


@pytest.mark.parametrize("empty", [None, {}, []], ids=["null", "object", "array"])
async def test_empty_inputs_mean_none(harness: Harness, tenant: Tenant, empty: Any) -> None:
    payload = {
        **body(),
        "arguments": empty,
        "emailNotification": empty,
        "fields": empty,
        "recurring": empty,
        "dateRange": empty,
    }
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    export = response.json()
    assert export["arguments"] == {}
    assert export["emailNotification"] == []
    assert export["fields"] == TRANSACTION_DEFAULT_FIELDS
    assert export["recurring"] is None
    assert export["dateRange"] is None


async def test_empty_argument_members_are_dropped(harness: Harness, tenant: Tenant) -> None:
    payload = body(arguments={"filter": "", "sort": None, "q": "x"})
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert response.status_code == 201
    assert response.json()["arguments"] == {"q": "x"}


async def test_read_only_fields_in_the_body_are_ignored(harness: Harness, tenant: Tenant) -> None:
    other_user = "usr_someone_else"
    read_only = {
        "id": "chosen-by-client",
        "userId": other_user,
        "fileId": "fil_123",
        "recordCount": 99,
        "scheduledTime": "2000-01-01T00:00:00Z",
        "createdTime": "2000-01-01T00:00:00Z",
        "updatedTime": "2000-01-01T00:00:00Z",
        "status": "completed",
        "failureReason": "max-retries-reached",
        "_links": [{"rel": "self", "href": "http://evil.example.com/"}],
        "_embedded": {"user": None},
    }
    before = await snapshot(harness)
    response = await harness.client.post(
        "/data-exports", json={**body(), **read_only}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    export = response.json()
    assert export["id"] != "chosen-by-client"
    assert export["userId"] == tenant.user.id
    assert export["fileId"] is None
    assert export["recordCount"] is None
    assert export["status"] == "pending"
    assert export["failureReason"] is None
    assert not export["createdTime"].startswith("2000")
    assert not export["scheduledTime"].startswith("2000")
    assert "_embedded" not in export
    assert all("evil" not in link["href"] for link in export["_links"])
    assert (await snapshot(harness))["data_exports"] == before["data_exports"] + 1

    # The same on PUT (except that a matching id is allowed).
    put = await harness.client.put(
        f"/data-exports/{export['id']}",
        json={**body(name="Again"), **read_only, "id": export["id"]},
        headers=tenant.headers,
    )
    assert put.status_code == 200, put.text
    assert put.json()["status"] == "pending"
    assert put.json()["userId"] == tenant.user.id
    assert put.json()["createdTime"] == export["createdTime"]


@pytest.mark.parametrize(
    ("resource", "default_field"),
    [
        ("transactions", "processedTime"),
        ("customers", "createdTime"),
        ("subscriptions", "createdTime"),
        ("invoices", "issuedTime"),
        ("invoiceItems", "issuedTime"),
    ],
)
async def test_omitted_date_range_field_shows_the_resource_default(
    harness: Harness, tenant: Tenant, resource: str, default_field: str
) -> None:
    payload = body(resource=resource, dateRange={"start": "7 days ago", "end": "now"})
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    assert response.json()["dateRange"] == {
        "start": "7 days ago",
        "end": "now",
        "field": default_field,
    }
    assert list(response.json()["dateRange"]) == ["start", "end", "field"]


@pytest.mark.parametrize(
    ("resource", "defaults"),
    [
        ("customers", ["id", "email", "firstName", "lastName", "createdTime"]),
        ("subscriptions", ["id", "customerId", "planId", "status", "quantity", "renewalTime"]),
    ],
)
async def test_omitted_fields_are_the_resource_defaults(
    harness: Harness, tenant: Tenant, resource: str, defaults: list[str]
) -> None:
    response = await harness.client.post(
        "/data-exports", json=body(resource=resource), headers=tenant.headers
    )
    assert response.json()["fields"] == defaults


async def test_links_use_public_base_url_and_canonical_paths(public: Harness) -> None:
    tenant = await public.tenant("acme")
    base = "https://exports.example.com"
    response = await public.client.post(
        "/organizations/acme/experimental/data-exports", json=body(), headers=tenant.headers
    )
    assert response.status_code == 201
    export = response.json()
    assert response.headers["location"] == f"{base}/data-exports/{export['id']}"
    assert export["_links"] == [
        {"rel": "self", "href": f"{base}/data-exports/{export['id']}"},
        {"rel": "user", "href": f"{base}/users/{tenant.user.id}"},
    ]
    put = await public.client.put(
        "/experimental/organizations/acme/data-exports/custom-id",
        json=body(),
        headers=tenant.headers,
    )
    assert put.headers["location"] == f"{base}/data-exports/custom-id"
    user = await public.client.get(f"/users/{tenant.user.id}?expand=user", headers=tenant.headers)
    assert user.json()["_links"] == [{"rel": "self", "href": f"{base}/users/{tenant.user.id}"}]
    embedded = await public.client.get("/data-exports?expand=user", headers=tenant.headers)
    for item in embedded.json():
        assert item["_embedded"]["user"]["_links"][0]["href"].startswith(base + "/users/")


async def test_links_follow_the_request_origin_without_public_base_url(
    harness: Harness, tenant: Tenant
) -> None:
    response = await harness.client.post(
        "https://api.internal:8443/organizations/acme/data-exports",
        json=body(),
        headers=tenant.headers,
    )
    assert response.status_code == 201
    export_id = response.json()["id"]
    assert response.headers["location"] == f"https://api.internal:8443/data-exports/{export_id}"
    assert response.json()["_links"][0]["href"] == response.headers["location"]


async def test_scheduled_time_for_a_future_recurring_start(
    harness: Harness, tenant: Tenant
) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await harness.client.post(
        "/data-exports",
        json=body(recurring={"instruction": "FREQ=DAILY", "start": stamp}),
        headers=tenant.headers,
    )
    assert response.json()["scheduledTime"] == stamp
    assert response.json()["recurring"] == {"instruction": "FREQ=DAILY", "start": stamp}


async def test_recurring_start_in_another_offset_is_shown_in_utc(
    harness: Harness, tenant: Tenant
) -> None:
    response = await harness.client.post(
        "/data-exports",
        json=body(recurring={"instruction": "FREQ=DAILY", "start": "2099-06-01T10:00:00.75+02:00"}),
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["recurring"]["start"] == "2099-06-01T08:00:00Z"
    assert response.json()["scheduledTime"] == "2099-06-01T08:00:00Z"
