"""`expand=user,file` on single items and whole pages, and the batched-loading statement count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import Harness, Tenant, add_user
from tests.rest.conftest import (
    BASE,
    MEMBER_ORDER,
    insert_export,
    insert_many,
    post_export,
)

T0 = datetime(2026, 2, 1, tzinfo=UTC)


async def test_expand_user_on_a_single_export(harness: Harness, tenant: Tenant) -> None:
    export = await post_export(harness, tenant)
    response = await harness.client.get(
        f"/data-exports/{export['id']}?expand=user", headers=tenant.headers
    )
    assert response.status_code == 200
    data = response.json()
    assert list(data) == [*MEMBER_ORDER, "_embedded"]
    assert list(data["_embedded"]) == ["user"]
    user = data["_embedded"]["user"]
    assert user["id"] == tenant.user.id
    assert user["email"] == "ada@example.com"
    assert user["_links"] == [{"rel": "self", "href": f"{BASE}/users/{tenant.user.id}"}]
    # The embedded user is exactly what the user link returns.
    direct = await harness.client.get(f"/users/{tenant.user.id}", headers=tenant.headers)
    assert direct.json() == user
    # Without expand there is no _embedded at all; an empty expand is no expansion.
    plain = await harness.client.get(f"/data-exports/{export['id']}", headers=tenant.headers)
    assert "_embedded" not in plain.json()
    blank = await harness.client.get(
        f"/data-exports/{export['id']}?expand=", headers=tenant.headers
    )
    assert "_embedded" not in blank.json()


async def test_expand_file_has_no_member_while_no_file_exists(
    harness: Harness, tenant: Tenant
) -> None:
    """The contract omits what there is nothing to embed: no `"file": null`."""
    export = await post_export(harness, tenant)
    response = await harness.client.get(
        f"/data-exports/{export['id']}?expand=file", headers=tenant.headers
    )
    assert response.json()["_embedded"] == {}
    both = await harness.client.get(
        f"/data-exports/{export['id']}?expand=user,file", headers=tenant.headers
    )
    assert list(both.json()["_embedded"]) == ["user"]
    assert both.json()["_embedded"]["user"]["id"] == tenant.user.id
    spaced = await harness.client.get(
        f"/data-exports/{export['id']}?expand=%20file%20,%20user", headers=tenant.headers
    )
    assert spaced.json()["_embedded"] == both.json()["_embedded"]


async def test_expand_on_writes(harness: Harness, tenant: Tenant) -> None:
    created = await harness.client.post(
        "/data-exports?expand=user",
        json={"name": "E", "resource": "customers", "format": "csv"},
        headers=tenant.headers,
    )
    assert created.status_code == 201
    assert created.json()["_embedded"]["user"]["id"] == tenant.user.id
    replaced = await harness.client.put(
        f"/data-exports/{created.json()['id']}?expand=file",
        json={"name": "E2", "resource": "customers", "format": "csv"},
        headers=tenant.headers,
    )
    assert replaced.status_code == 200
    assert replaced.json()["_embedded"] == {}


async def test_expand_user_on_every_item_of_a_page(harness: Harness, tenant: Tenant) -> None:
    grace = await add_user(harness, "acme", "grace@example.com")
    linus = await add_user(harness, "acme", "linus@example.com")
    owners = [tenant.user.id, grace.id, linus.id, grace.id]
    for n, owner in enumerate(owners):
        await insert_export(harness, tenant, user_id=owner, now=T0 + timedelta(minutes=n))
    response = await harness.client.get(
        "/data-exports?expand=user&sort=createdTime", headers=tenant.headers
    )
    page = response.json()
    assert [item["userId"] for item in page] == owners
    emails = {tenant.user.id: "ada@example.com", grace.id: "grace@example.com"}
    emails[linus.id] = "linus@example.com"
    for item in page:
        assert list(item) == [*MEMBER_ORDER, "_embedded"]
        assert item["_embedded"]["user"]["id"] == item["userId"]
        assert item["_embedded"]["user"]["email"] == emails[item["userId"]]
    files = await harness.client.get("/data-exports?expand=file", headers=tenant.headers)
    assert files.json()
    assert all(item["_embedded"] == {} for item in files.json())
    empty = await harness.client.get(
        "/data-exports?expand=user&filter=name:none", headers=tenant.headers
    )
    assert empty.json() == []


async def test_statement_count_does_not_grow_with_the_page(
    harness: Harness, tenant: Tenant
) -> None:
    users = [tenant.user.id]
    for n in range(4):
        users.append((await add_user(harness, "acme", f"user{n}@example.com")).id)
    rows = [(users[n % len(users)], T0 + timedelta(seconds=n)) for n in range(100)]
    await insert_many(harness, tenant, rows)

    counts = {}
    for limit in (100, 10):
        with harness.count_statements() as counter:
            response = await harness.client.get(
                f"/data-exports?limit={limit}&expand=user", headers=tenant.headers
            )
        assert response.status_code == 200
        page = response.json()
        assert len(page) == limit
        assert all(item["_embedded"]["user"]["id"] == item["userId"] for item in page)
        counts[limit] = counter.count
        assert not [
            s
            for s in counter.statements
            if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        ]
    print(f"\nstatements for limit=100&expand=user: {counts[100]}, limit=10: {counts[10]}")
    assert counts[100] == counts[10]
    assert counts[100] <= 4

    with harness.count_statements() as counter:
        both = await harness.client.get(
            "/data-exports?limit=100&expand=user,file", headers=tenant.headers
        )
    assert len(both.json()) == 100
    print(f"statements for limit=100&expand=user,file: {counter.count}")
    assert counter.count <= 5
