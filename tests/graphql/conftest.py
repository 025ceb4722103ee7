"""Helpers for the GraphQL suite: posting operations, REST bodies, and seeding exports fast."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import func, select

from app.exports import service
from app.exports.validation import validate_export
from app.models import DataExport, User, utcnow
from tests.conftest import Harness

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$")

Json = dict[str, Any]


async def post(
    client: httpx.AsyncClient,
    query: str,
    headers: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> httpx.Response:
    payload: Json = {"query": query}
    if variables is not None:
        payload["variables"] = dict(variables)
    return await client.post("/graphql", json=payload, headers=dict(headers or {}))


async def data(
    client: httpx.AsyncClient,
    query: str,
    headers: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Json:
    """Run an operation that must succeed; returns its `data`."""
    response = await post(client, query, headers, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: Json = body["data"]
    return result


async def errors(
    client: httpx.AsyncClient,
    query: str,
    headers: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    status: int | None = 200,
) -> list[Json]:
    """Run an operation that must fail with GraphQL errors; returns them."""
    response = await post(client, query, headers, variables)
    if status is not None:
        assert response.status_code == status, response.text
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("errors"), body
    found: list[Json] = body["errors"]
    return found


def invalid_field_names(error: Json) -> list[str]:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return [item["field"] for item in error["extensions"]["invalidFields"]]


def rest_body(**overrides: Any) -> Json:
    body: Json = {"name": "Monthly", "resource": "transactions", "format": "csv"}
    body.update(overrides)
    return body


async def seed_exports(
    harness: Harness, organization_id: str, users: list[User], count: int
) -> list[str]:
    """`count` pending exports through the core service, owners taken round-robin."""
    ids: list[str] = []
    async with harness.session() as session:
        now = utcnow()
        for i in range(count):
            spec = validate_export(
                rest_body(name=f"Export {i:03d}", resource="customers", format="json"), now=now
            )
            row = await service.create_export(
                session,
                organization_id=organization_id,
                user_id=users[i % len(users)].id,
                spec=spec,
            )
            ids.append(row.id)
        await session.commit()
    return ids


async def count_exports(harness: Harness, organization_id: str | None = None) -> int:
    async with harness.session() as session:
        stmt = select(func.count()).select_from(DataExport)
        if organization_id is not None:
            stmt = stmt.where(DataExport.organization_id == organization_id)
        return int(await session.scalar(stmt) or 0)
