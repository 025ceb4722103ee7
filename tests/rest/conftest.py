"""Helpers for the REST suite: request bodies, problem checks, row counts and extra harnesses."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.exports import service
from app.exports.validation import validate_export
from app.models import (
    ApiKey,
    Base,
    DataExport,
    EmailOutbox,
    ExportFile,
    Organization,
    User,
    utcnow,
)
from app.settings import Settings
from tests.conftest import Harness, Tenant, freeze_rate_limit_clock, start_harness, with_settings

PROBLEM_JSON = "application/problem+json"
ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
BASE = "http://testserver"

MEMBER_ORDER = [
    "id",
    "name",
    "resource",
    "format",
    "arguments",
    "emailNotification",
    "fields",
    "recurring",
    "userId",
    "fileId",
    "recordCount",
    "scheduledTime",
    "createdTime",
    "updatedTime",
    "status",
    "failureReason",
    "_links",
    "dateRange",
    # This service's additions after Rebilly's members (app/exports/representation.py,
    # app/exports/story.py).
    "csvDialect",
    "attempts",
    "lastError",
    "nextAttemptTime",
    "progress",
]


def body(**overrides: Any) -> dict[str, Any]:
    """A minimal valid export request; `None` overrides remove a member."""
    data: dict[str, Any] = {"name": "Monthly", "resource": "transactions", "format": "csv"}
    for key, value in overrides.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 7807 problem with the given status; returns the parsed body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    problem = response.json()
    assert isinstance(problem, dict)
    assert problem["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(problem[member], str), problem
        assert problem[member], problem
    lowered = json.dumps(problem).lower()
    for leak in ("traceback", "sqlalchemy", "select ", "/work/", ".py"):
        assert leak not in lowered, problem
    return problem


def invalid_fields(response: httpx.Response) -> list[str]:
    """The `invalidFields[].field` names of a 422 problem."""
    problem = assert_problem(response, 422)
    fields = problem["invalidFields"]
    assert isinstance(fields, list)
    assert fields, problem
    for item in fields:
        assert isinstance(item["field"], str)
        assert isinstance(item["message"], str)
        assert item["message"]
    return [item["field"] for item in fields]


async def count_rows(harness: Harness, model: type[Base]) -> int:
    async with harness.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


STORED_MODELS: tuple[type[Base], ...] = (
    DataExport,
    ExportFile,
    User,
    ApiKey,
    Organization,
    EmailOutbox,
)


async def snapshot(harness: Harness) -> dict[str, int]:
    """Row counts of the tables a request could write to (rate counters excluded)."""
    return {m.__tablename__: await count_rows(harness, m) for m in STORED_MODELS}


async def set_status(harness: Harness, export_id: str, status: str) -> None:
    async with harness.session() as session:
        await session.execute(
            update(DataExport).where(DataExport.id == export_id).values(status=status)
        )
        await session.commit()


async def insert_export(
    harness: Harness,
    tenant: Tenant,
    *,
    user_id: str | None = None,
    now: datetime | None = None,
    export_id: str | None = None,
    **overrides: Any,
) -> str:
    """Create an export straight through the service (fast, with a chosen createdTime)."""
    spec_now = now or utcnow()
    async with harness.session() as session:
        export = await service.create_export(
            session,
            organization_id=tenant.organization_id,
            user_id=user_id or tenant.user.id,
            spec=validate_export(body(**overrides), now=spec_now),
            export_id=export_id,
            now=now,
        )
        await session.commit()
        return export.id


async def insert_many(
    harness: Harness, tenant: Tenant, rows: list[tuple[str, datetime]], **overrides: Any
) -> list[str]:
    """Create many exports in one transaction: (user id, createdTime) per export."""
    created = []
    async with harness.session() as session:
        for user_id, now in rows:
            export = await service.create_export(
                session,
                organization_id=tenant.organization_id,
                user_id=user_id,
                spec=validate_export(body(**overrides), now=now),
                now=now,
            )
            created.append(export.id)
        await session.commit()
    return created


async def post_export(harness: Harness, tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    response = await harness.client.post(
        "/data-exports", json=body(**overrides), headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def other(harness: Harness) -> Tenant:
    """A second organization with its own user and keys."""
    return await harness.tenant("globex", "bob@example.com")


async def _custom(settings: Settings, **changes: Any) -> AsyncIterator[Harness]:
    async for h in start_harness(with_settings(settings, **changes)):
        yield h


@pytest.fixture
async def limited(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    """A harness allowing 3 writes per (long) window, so the 4th is a 429; the limiter's clock
    is frozen so the writes never straddle a window boundary."""
    freeze_rate_limit_clock(monkeypatch)
    async for h in _custom(settings, rate_limit_writes=3, rate_limit_window_seconds=3600):
        yield h


@pytest.fixture
async def public(settings: Settings) -> AsyncIterator[Harness]:
    """A harness with PUBLIC_BASE_URL set."""
    async for h in _custom(settings, public_base_url="https://exports.example.com"):
        yield h
