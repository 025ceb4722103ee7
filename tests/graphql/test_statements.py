"""Field selection is REST `expand`: a page costs the same few statements whatever its size, and
what is not selected is not loaded."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Harness, Tenant, add_user
from tests.graphql.conftest import post, seed_exports

MAX_STATEMENTS = 4
WITH_USER = "{ dataExports(limit: %d) { items { id user { id email } } } }"
WITHOUT_USER = "{ dataExports(limit: %d) { items { id name status } } }"
USERS_TABLE = re.compile(r"\b(FROM|JOIN) users\b", re.IGNORECASE)


def loads_users(statement: str) -> bool:
    """Reads users for the exports (authentication reads the key's user with the key)."""
    return bool(USERS_TABLE.search(statement)) and "api_keys" not in statement


async def _count(
    harness: Harness, tenant: Tenant, query: str
) -> tuple[int, list[str], dict[str, Any]]:
    with harness.count_statements() as counter:
        response = await post(harness.client, query, tenant.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return counter.count, counter.statements, body["data"]


async def test_statement_count_does_not_grow_with_the_page(
    harness: Harness, tenant: Tenant
) -> None:
    users = [tenant.user]
    for n in range(3):
        users.append(await add_user(harness, "acme", f"user{n}@example.com"))
    await seed_exports(harness, "acme", users, 100)

    big, big_sql, big_data = await _count(harness, tenant, WITH_USER % 100)
    small, small_sql, small_data = await _count(harness, tenant, WITH_USER % 10)
    print(f"\nstatements: limit 100 with user = {big}, limit 10 with user = {small}")

    items = big_data["dataExports"]["items"]
    assert len(items) == 100
    assert len(small_data["dataExports"]["items"]) == 10
    emails = {item["user"]["email"] for item in items}
    assert emails == {u.email for u in users}
    assert all(item["user"]["id"] for item in items)

    assert big == small
    assert big <= MAX_STATEMENTS, big_sql
    assert sum(loads_users(s) for s in big_sql) == 1
    assert sum(loads_users(s) for s in small_sql) == 1

    bare, bare_sql, bare_data = await _count(harness, tenant, WITHOUT_USER % 100)
    print(f"statements: limit 100 without user = {bare}")
    assert len(bare_data["dataExports"]["items"]) == 100
    assert bare <= big  # the users come with the page (a join), or not at all
    assert not any(loads_users(s) for s in bare_sql), bare_sql


async def test_connection_and_files_batch_too(harness: Harness, tenant: Tenant) -> None:
    other = await add_user(harness, "acme", "other@example.com")
    await seed_exports(harness, "acme", [tenant.user, other], 60)
    query = (
        "{ dataExportsConnection(first: %d) { edges { node { id user { email } "
        "file { id } files { id } } } } }"
    )
    big, big_sql, _ = await _count(harness, tenant, query % 60)
    small, _, _ = await _count(harness, tenant, query % 5)
    print(f"\nstatements: connection of 60 = {big}, of 5 = {small}")
    assert big == small
    # auth, count, page, users, files by export (no file ids yet: no file lookup)
    assert big <= MAX_STATEMENTS + 1, big_sql


async def test_rest_expand_costs_the_same(harness: Harness, tenant: Tenant) -> None:
    """The REST twin of the query above, for comparison: GraphQL is no worse."""
    await seed_exports(harness, "acme", [tenant.user], 30)
    with harness.count_statements() as rest:
        response = await harness.client.get(
            "/data-exports", params={"limit": 30, "expand": "user"}, headers=tenant.headers
        )
    assert response.status_code == 200
    graphql_count, _, _ = await _count(harness, tenant, WITH_USER % 30)
    assert graphql_count <= rest.count


CONCURRENT = """query($id: ID!, $user: ID!) {
  viewer { organizationId }
  page: dataExports(limit: 50) {
    total items { id user { email } file { name } files { id } }
  }
  conn: dataExportsConnection(first: 50) {
    totalCount edges { node { user { id } file { size } files { sha256 } } }
  }
  one: dataExport(id: $id) { id user { firstName } file { contentType } }
  user(id: $user) { email }
}"""


async def test_sibling_resolvers_share_one_session_safely(harness: Harness, tenant: Tenant) -> None:
    """GraphQL runs sibling fields and dataloader batches concurrently; the request's one
    database session must still be used by one of them at a time (PostgreSQL refuses
    otherwise)."""
    from app.exports.worker import Worker

    other = await add_user(harness, "acme", "other@example.com")
    ids = await seed_exports(harness, "acme", [tenant.user, other], 6)
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    variables = {"id": ids[0], "user": other.id}
    for _ in range(5):
        response = await post(harness.client, CONCURRENT, tenant.headers, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        result = body["data"]
        assert result["page"]["total"] == 6
        assert all(item["file"] and item["files"] for item in result["page"]["items"])
        assert result["one"]["file"]["contentType"].startswith("application/json")
        assert result["user"] == {"email": "other@example.com"}
