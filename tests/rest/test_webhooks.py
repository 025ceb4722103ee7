"""Registering webhooks over REST and GraphQL: tenant-scoped, write permission, clear 4xx for
bad input, private and loopback addresses refused unless WEBHOOK_ALLOW_PRIVATE is set."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.models import Webhook
from tests.conftest import Harness, Tenant

PUBLIC = "https://93.184.215.14/hooks/exports"
"""A public address literal: registering it needs no DNS (this machine has none outside)."""


async def create(harness: Harness, tenant: Tenant, body: dict[str, Any]) -> Any:
    return await harness.client.post("/webhooks", headers=tenant.headers, json=body)


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [f["field"] for f in response.json()["invalidFields"]]


async def test_create_read_list_update_delete(harness: Harness, tenant: Tenant) -> None:
    response = await create(harness, tenant, {"url": PUBLIC})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("whk_")
    assert created["url"] == PUBLIC
    assert created["eventsFilter"] == ["data-export-completed", "data-export-failed"]
    assert created["status"] == "active"
    assert created["secret"].startswith("whsec_")
    assert response.headers["Location"].endswith(f"/webhooks/{created['id']}")
    assert "X-RateLimit-Remaining" in response.headers

    shown = await harness.client.get(f"/webhooks/{created['id']}", headers=tenant.read_headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()  # shown once, never again
    assert shown.json() == {k: v for k, v in created.items() if k != "secret"}
    async with harness.session() as session:  # and never stored
        row = await session.scalar(select(Webhook))
        assert row is not None
        assert created["secret"] not in repr(vars(row))

    listed = await harness.client.get("/webhooks?limit=10", headers=tenant.headers)
    assert listed.headers["Pagination-Total"] == "1"
    assert [w["id"] for w in listed.json()] == [created["id"]]

    changed = await harness.client.patch(
        f"/webhooks/{created['id']}",
        headers=tenant.headers,
        json={"eventsFilter": ["data-export-failed"], "status": "inactive"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["eventsFilter"] == ["data-export-failed"]
    assert (changed.json()["status"], changed.json()["url"]) == ("inactive", PUBLIC)

    gone = await harness.client.delete(f"/webhooks/{created['id']}", headers=tenant.headers)
    assert gone.status_code == 204
    again = await harness.client.get(f"/webhooks/{created['id']}", headers=tenant.headers)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"


async def test_another_organization_sees_nothing_and_changes_nothing(
    harness: Harness, tenant: Tenant
) -> None:
    created = (await create(harness, tenant, {"url": PUBLIC})).json()
    other = await harness.tenant("globex", "bob@example.com")
    path = f"/webhooks/{created['id']}"
    assert (await harness.client.get(path, headers=other.headers)).status_code == 404
    patched = await harness.client.patch(path, headers=other.headers, json={"status": "inactive"})
    assert patched.status_code == 404
    assert (await harness.client.delete(path, headers=other.headers)).status_code == 404
    assert (
        await harness.client.get(f"{path}/deliveries", headers=other.headers)
    ).status_code == 404
    assert (await harness.client.get("/webhooks", headers=other.headers)).json() == []
    in_path = await harness.client.get(
        "/organizations/acme/webhooks", headers=other.headers
    )  # another organization's path
    assert in_path.status_code == 403
    mine = await harness.client.get(path, headers=tenant.headers)
    assert mine.json()["status"] == "active"


async def test_writes_need_the_write_permission(harness: Harness, tenant: Tenant) -> None:
    refused = await harness.client.post(
        "/webhooks", headers=tenant.read_headers, json={"url": PUBLIC}
    )
    assert refused.status_code == 403
    unauthenticated = await harness.client.get("/webhooks")
    assert unauthenticated.status_code == 401
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Webhook)) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": "ftp://93.184.215.14/x"}, "url"),
        ({"url": "https://user:pw@93.184.215.14/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://93.184.215.14:99999/x"}, "url"),
        ({"url": 5}, "url"),
        ({"url": PUBLIC, "eventsFilter": []}, "eventsFilter"),
        ({"url": PUBLIC, "eventsFilter": ["data-export-started"]}, "eventsFilter"),
        ({"url": PUBLIC, "eventsFilter": "data-export-failed"}, "eventsFilter"),
        ({"url": PUBLIC, "status": "paused"}, "status"),
        ({"url": PUBLIC, "secret": "mine"}, "secret"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(
    harness: Harness, tenant: Tenant, body: dict[str, Any], field: str
) -> None:
    assert problem_fields(await create(harness, tenant, body)) == [field]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_and_loopback_addresses_are_refused(
    harness: Harness, tenant: Tenant, url: str
) -> None:
    response = await create(harness, tenant, {"url": url})
    assert problem_fields(response) == ["url"]
    assert "private" in response.json()["invalidFields"][0]["message"]
    created = (await create(harness, tenant, {"url": PUBLIC})).json()
    moved = await harness.client.patch(
        f"/webhooks/{created['id']}", headers=tenant.headers, json={"url": url}
    )
    assert problem_fields(moved) == ["url"]
    shown = await harness.client.get(f"/webhooks/{created['id']}", headers=tenant.headers)
    assert shown.json()["url"] == PUBLIC  # nothing changed


async def test_a_host_that_does_not_resolve_is_refused(harness: Harness, tenant: Tenant) -> None:
    response = await create(harness, tenant, {"url": "https://no-such-host.invalid/hook"})
    assert problem_fields(response) == ["url"]


GRAPHQL_CREATE = """
mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    __typename
    ... on CreatedWebhook { secret webhook { id url eventsFilter status } }
    ... on ValidationError { code invalidFields { field message } }
    ... on ForbiddenError { code }
  }
}"""


async def graphql(harness: Harness, headers: dict[str, str], query: str, **variables: Any) -> Any:
    response = await harness.client.post(
        "/graphql", headers=headers, json={"query": query, "variables": variables}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_graphql_registers_lists_changes_and_deletes(
    harness: Harness, tenant: Tenant
) -> None:
    data = await graphql(
        harness,
        tenant.headers,
        GRAPHQL_CREATE,
        input={"url": PUBLIC, "eventsFilter": ["DATA_EXPORT_FAILED"]},
    )
    created = data["createWebhook"]
    assert created["__typename"] == "CreatedWebhook"
    assert created["secret"].startswith("whsec_")
    webhook = created["webhook"]
    assert (webhook["eventsFilter"], webhook["status"]) == (["DATA_EXPORT_FAILED"], "ACTIVE")
    rest = await harness.client.get(f"/webhooks/{webhook['id']}", headers=tenant.headers)
    assert rest.json()["eventsFilter"] == ["data-export-failed"]

    listed = await graphql(
        harness,
        tenant.read_headers,
        "{ webhooks { total items { id url deliveries { total items { id } } } } }",
    )
    assert listed["webhooks"]["total"] == 1
    assert listed["webhooks"]["items"][0]["deliveries"] == {"total": 0, "items": []}

    refused = await graphql(harness, tenant.read_headers, GRAPHQL_CREATE, input={"url": PUBLIC})
    assert refused["createWebhook"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    private = await graphql(
        harness, tenant.headers, GRAPHQL_CREATE, input={"url": "http://127.0.0.1/x"}
    )
    assert private["createWebhook"]["__typename"] == "ValidationError"
    assert [f["field"] for f in private["createWebhook"]["invalidFields"]] == ["url"]

    updated = await graphql(
        harness,
        tenant.headers,
        """mutation($id: ID!) { updateWebhook(id: $id, input: {status: INACTIVE}) {
             __typename ... on Webhook { status url } } }""",
        id=webhook["id"],
    )
    assert updated["updateWebhook"] == {
        "__typename": "Webhook",
        "status": "INACTIVE",
        "url": PUBLIC,
    }
    deleted = await graphql(
        harness,
        tenant.headers,
        """mutation($id: ID!) { deleteWebhook(id: $id) { __typename
             ... on DeletedWebhook { id } } }""",
        id=webhook["id"],
    )
    assert deleted["deleteWebhook"] == {"__typename": "DeletedWebhook", "id": webhook["id"]}
    gone = await graphql(
        harness, tenant.headers, "query($id: ID!) { webhook(id: $id) { id } }", id=webhook["id"]
    )
    assert gone == {"webhook": None}


async def test_graphql_delete_answers_the_webhook_for_cache_eviction(
    harness: Harness, tenant: Tenant
) -> None:
    """`DeletedWebhook.webhook` is the deleted object itself (`__typename` Webhook, its id and
    last state), which a normalized cache keys as `Webhook:<id>` and can evict."""
    created = await graphql(harness, tenant.headers, GRAPHQL_CREATE, input={"url": PUBLIC})
    webhook = created["createWebhook"]["webhook"]
    deleted = await graphql(
        harness,
        tenant.headers,
        """mutation($id: ID!) { deleteWebhook(id: $id) { __typename
             ... on DeletedWebhook { id webhook { __typename id url eventsFilter status } } } }""",
        id=webhook["id"],
    )
    assert deleted["deleteWebhook"] == {
        "__typename": "DeletedWebhook",
        "id": webhook["id"],
        "webhook": {"__typename": "Webhook", **webhook},
    }
    gone = await graphql(
        harness, tenant.headers, "query($id: ID!) { webhook(id: $id) { id } }", id=webhook["id"]
    )
    assert gone == {"webhook": None}
