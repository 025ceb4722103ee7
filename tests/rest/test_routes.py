"""Every row of spec §2's route table, at all five prefixes, with and without a trailing slash."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.conftest import Harness, Tenant
from tests.rest.conftest import (
    BASE,
    assert_problem,
    body,
    insert_export,
    invalid_fields,
    set_status,
    snapshot,
)

PREFIXES = (
    "/data-exports",
    "/experimental/data-exports",
    "/organizations/{org}/data-exports",
    "/organizations/{org}/experimental/data-exports",
    "/experimental/organizations/{org}/data-exports",
)
ORG_PREFIXES = [p for p in PREFIXES if "{org}" in p]


def _paths(prefix: str, org: str, slash: bool) -> tuple[str, Callable[[str], str]]:
    """The collection URL and an item-URL builder for one prefix."""
    base = prefix.format(org=org)
    end = "/" if slash else ""
    return base + end, lambda export_id: f"{base}/{export_id}{end}"


@pytest.mark.parametrize("slash", [False, True], ids=["bare", "slash"])
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_crud_cycle_at_every_prefix(
    harness: Harness, tenant: Tenant, prefix: str, slash: bool
) -> None:
    client, headers = harness.client, tenant.headers
    collection, item = _paths(prefix, tenant.organization_id, slash)

    created = await client.post(collection, json=body(name="Cycle"), headers=headers)
    assert created.status_code == 201, created.text
    export = created.json()
    export_id = export["id"]
    assert export["name"] == "Cycle"
    assert export["status"] == "pending"
    assert export["userId"] == tenant.user.id
    # Location and self are absolute and canonical whatever prefix was used.
    assert created.headers["location"] == f"{BASE}/data-exports/{export_id}"
    assert export["_links"][0] == {"rel": "self", "href": f"{BASE}/data-exports/{export_id}"}

    listed = await client.get(collection, headers=headers)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"
    assert isinstance(listed.json(), list)
    assert [e["id"] for e in listed.json()] == [export_id]
    assert listed.headers["pagination-total"] == "1"
    assert listed.headers["pagination-limit"] == "100"
    assert listed.headers["pagination-offset"] == "0"

    fetched = await client.get(item(export_id), headers=headers)
    assert fetched.status_code == 200
    assert fetched.json() == export
    assert fetched.headers["pagination-total"] == "1"
    assert fetched.headers["pagination-limit"] == "1"
    assert fetched.headers["pagination-offset"] == "0"

    replaced = await client.put(
        item(export_id), json=body(name="Renamed", format="json"), headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == export_id
    assert replaced.json()["name"] == "Renamed"
    assert replaced.json()["format"] == "json"
    assert "location" not in replaced.headers
    assert (await client.get(item(export_id), headers=headers)).json()["name"] == "Renamed"

    deleted = await client.delete(item(export_id) + "?expand=user", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(await client.get(item(export_id), headers=headers), 404)
    assert_problem(await client.delete(item(export_id), headers=headers), 404)
    assert (await client.get(collection, headers=headers)).json() == []


@pytest.mark.parametrize("slash", [False, True], ids=["bare", "slash"])
@pytest.mark.parametrize("prefix", PREFIXES)
async def test_put_creates_with_client_chosen_id(
    harness: Harness, tenant: Tenant, prefix: str, slash: bool
) -> None:
    client, headers = harness.client, tenant.headers
    _, item = _paths(prefix, tenant.organization_id, slash)
    assert_problem(await client.get(item("my-export.2026@x~1"), headers=headers), 404)

    response = await client.put(item("my-export.2026@x~1"), json=body(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "my-export.2026@x~1"
    assert response.headers["location"] == f"{BASE}/data-exports/my-export.2026@x~1"
    fetched = await client.get("/data-exports/my-export.2026@x~1", headers=headers)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Monthly"


@pytest.mark.parametrize("slash", [False, True], ids=["bare", "slash"])
@pytest.mark.parametrize("prefix", ORG_PREFIXES)
async def test_another_organization_in_the_path_is_forbidden(
    harness: Harness, tenant: Tenant, other: Tenant, prefix: str, slash: bool
) -> None:
    client, headers = harness.client, tenant.headers
    theirs = await insert_export(harness, other)
    collection, item = _paths(prefix, other.organization_id, slash)
    before = await snapshot(harness)
    assert_problem(await client.get(collection, headers=headers), 403)
    assert_problem(await client.post(collection, json=body(), headers=headers), 403)
    assert_problem(await client.get(item(theirs), headers=headers), 403)
    assert_problem(await client.put(item(theirs), json=body(), headers=headers), 403)
    assert_problem(await client.delete(item(theirs), headers=headers), 403)
    assert_problem(await client.get(item("whatever"), headers=headers), 403)
    assert await snapshot(harness) == before
    # The path's organization is checked against the caller, not just any existing one.
    mine, _ = _paths(prefix, tenant.organization_id, slash)
    assert (await client.get(mine, headers=headers)).status_code == 200


async def test_put_with_a_different_body_id_is_422_naming_id(
    harness: Harness, tenant: Tenant
) -> None:
    export_id = await insert_export(harness, tenant, name="Keep")
    before = await snapshot(harness)
    response = await harness.client.put(
        f"/data-exports/{export_id}", json=body(id="something-else"), headers=tenant.headers
    )
    assert "id" in invalid_fields(response)
    created = await harness.client.put(
        "/data-exports/new-one", json=body(id="not-new-one"), headers=tenant.headers
    )
    assert invalid_fields(created)[0] == "id"
    assert await snapshot(harness) == before
    # A matching id in the body is fine (it is read-only and equal anyway).
    same = await harness.client.put(
        f"/data-exports/{export_id}", json=body(id=export_id, name="Same"), headers=tenant.headers
    )
    assert same.status_code == 200
    assert same.json()["name"] == "Same"
    null = await harness.client.put(
        f"/data-exports/{export_id}", json=body() | {"id": None}, headers=tenant.headers
    )
    assert null.status_code == 200, null.text
    for wrong in (5, "", [export_id]):
        response = await harness.client.put(
            f"/data-exports/{export_id}", json=body() | {"id": wrong}, headers=tenant.headers
        )
        assert "id" in invalid_fields(response)


@pytest.mark.parametrize("status", ["queued", "processing", "completed", "failed"])
async def test_put_on_a_non_pending_export_is_409(
    harness: Harness, tenant: Tenant, status: str
) -> None:
    export_id = await insert_export(harness, tenant, name="Locked")
    await set_status(harness, export_id, status)
    response = await harness.client.put(
        f"/data-exports/{export_id}", json=body(name="Changed"), headers=tenant.headers
    )
    assert_problem(response, 409)
    fetched = await harness.client.get(f"/data-exports/{export_id}", headers=tenant.headers)
    assert fetched.json()["name"] == "Locked"
    assert fetched.json()["status"] == status


async def test_put_recomputes_scheduled_time_and_resets_to_pending(
    harness: Harness, tenant: Tenant
) -> None:
    export_id = await insert_export(harness, tenant)
    response = await harness.client.put(
        f"/data-exports/{export_id}",
        json=body(recurring={"instruction": "FREQ=DAILY", "start": "2099-01-02T03:04:05Z"}),
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scheduledTime"] == "2099-01-02T03:04:05Z"
    assert response.json()["status"] == "pending"


async def test_put_is_a_full_replacement(harness: Harness, tenant: Tenant) -> None:
    created = await harness.client.post(
        "/data-exports",
        json=body(
            emailNotification=["a@example.com"],
            arguments={"filter": "result:approved"},
            dateRange={"start": "yesterday", "end": "today"},
        ),
        headers=tenant.headers,
    )
    export_id = created.json()["id"]
    replaced = await harness.client.put(
        f"/data-exports/{export_id}", json=body(), headers=tenant.headers
    )
    assert replaced.status_code == 200
    data = replaced.json()
    assert data["emailNotification"] == []
    assert data["arguments"] == {}
    assert data["dateRange"] is None
    assert data["createdTime"] == created.json()["createdTime"]


async def test_get_user(harness: Harness, tenant: Tenant, other: Tenant) -> None:
    response = await harness.client.get(f"/users/{tenant.user.id}", headers=tenant.headers)
    assert response.status_code == 200
    user = response.json()
    assert list(user) == ["id", "email", "firstName", "lastName", "createdTime", "_links"]
    assert user["id"] == tenant.user.id
    assert user["email"] == "ada@example.com"
    assert user["firstName"] == "Ada"
    assert user["lastName"] == "L"
    assert user["_links"] == [{"rel": "self", "href": f"{BASE}/users/{tenant.user.id}"}]
    slash = await harness.client.get(f"/users/{tenant.user.id}/", headers=tenant.headers)
    assert slash.json() == user
    # The user link of an export resolves to this very resource.
    export = await harness.client.post("/data-exports", json=body(), headers=tenant.headers)
    user_href = next(link["href"] for link in export.json()["_links"] if link["rel"] == "user")
    assert (await harness.client.get(user_href, headers=tenant.headers)).json() == user

    assert_problem(await harness.client.get(f"/users/{other.user.id}", headers=tenant.headers), 404)
    assert_problem(await harness.client.get("/users/usr_nope", headers=tenant.headers), 404)
    assert_problem(await harness.client.get(f"/users/{tenant.user.id}"), 401)
    assert "id" in invalid_fields(
        await harness.client.get("/users/" + "u" * 51, headers=tenant.headers)
    )


async def test_another_tenants_export_is_404_on_every_method(
    harness: Harness, tenant: Tenant, other: Tenant
) -> None:
    theirs = await insert_export(harness, other, name="Secret")
    client, headers = harness.client, tenant.headers
    for prefix in ("/data-exports", f"/organizations/{tenant.organization_id}/data-exports"):
        assert_problem(await client.get(f"{prefix}/{theirs}", headers=headers), 404)
        assert_problem(await client.delete(f"{prefix}/{theirs}", headers=headers), 404)
    listed = await client.get("/data-exports", headers=headers)
    assert listed.json() == []
    assert listed.headers["pagination-total"] == "0"
    # A PUT with their id creates a separate export of ours; theirs is untouched.
    mine = await client.put(f"/data-exports/{theirs}", json=body(name="Mine"), headers=headers)
    assert mine.status_code == 201
    again = await client.get(f"/data-exports/{theirs}", headers=other.headers)
    assert again.status_code == 200
    assert again.json()["name"] == "Secret"
    assert again.json()["userId"] == other.user.id


async def test_head_is_served_like_get(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.head("/data-exports", headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["pagination-total"] == "0"


ITEM_METHODS = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        *[(p.format(org="acme"), {"GET", "HEAD", "POST", "OPTIONS"}) for p in PREFIXES],
        *[(p.format(org="acme") + "/x/", ITEM_METHODS) for p in PREFIXES],
        ("/data-exports/", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("/data-exports/a%2Fb", ITEM_METHODS),
        ("/organizations/globex/data-exports/x", ITEM_METHODS),
        ("/users/x", READ_METHODS),
        ("/files/x/download", READ_METHODS),
        ("/files/x/signed", READ_METHODS),
        ("/graphql", {"GET", "HEAD", "POST", "OPTIONS"}),
    ],
)
async def test_options_lists_the_methods_without_credentials(
    harness: Harness, path: str, allowed: set[str]
) -> None:
    before = await snapshot(harness)
    response = await harness.client.options(path)
    assert response.status_code == 204
    assert response.content == b""
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert await snapshot(harness) == before


async def test_options_on_an_unknown_path_is_still_404(harness: Harness) -> None:
    assert_problem(await harness.client.options("/no/such/route"), 404)
    assert_problem(await harness.client.options("/data-exports/a/b"), 404)


async def test_racing_puts_to_create_one_id_end_as_one_create_and_replaces(
    harness: Harness, tenant: Tenant
) -> None:
    async def put(n: int) -> int:
        response = await harness.client.put(
            "/data-exports/race-1", json=body(name=f"n{n}"), headers=tenant.headers
        )
        return response.status_code

    statuses = await asyncio.gather(*(put(n) for n in range(8)))
    assert sorted(statuses) == [200] * 7 + [201]
    listing = await harness.client.get("/data-exports", headers=tenant.headers)
    assert [e["id"] for e in listing.json()] == ["race-1"]


async def test_put_reports_a_body_422_before_a_409(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await harness.client.put("/data-exports/busy", json=body(), headers=tenant.headers)
    assert created.status_code == 201
    await set_status(harness, "busy", "queued")
    bad = await harness.client.put(
        "/data-exports/busy", json=body(format="docx"), headers=tenant.headers
    )
    assert invalid_fields(bad) == ["format"]
    fine = await harness.client.put("/data-exports/busy", json=body(), headers=tenant.headers)
    assert_problem(fine, 409)
