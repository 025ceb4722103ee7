"""The hot reads (app/exports/reads.py, app/db.py direct_reads) beside the ORM's work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON
from sqlalchemy.dialects import sqlite

from app.exports import reads
from app.models import UTCDateTime
from app.settings import Settings
from tests.conftest import start_harness, with_settings

BODY = {"name": "Hot", "resource": "customers", "format": "csv"}


async def test_a_pool_of_one_still_serves_reads_and_writes(settings: Settings) -> None:
    """On SQLite the hot reads keep a connection of their own only when the pool has another
    for everything else: with DATABASE_POOL_SIZE=1 nothing waits for a connection."""
    async for h in start_harness(with_settings(settings, database_pool_size=1)):
        tenant = await h.tenant("acme")
        async with asyncio.timeout(20):
            for _ in range(3):
                created = await h.client.post("/data-exports", json=BODY, headers=tenant.headers)
                assert created.status_code == 201, created.text
                export_id = created.json()["id"]
                got = await h.client.get(
                    f"/data-exports/{export_id}?expand=user", headers=tenant.headers
                )
                assert got.status_code == 200, got.text
                assert got.json()["_embedded"]["user"]["id"] == tenant.user.id
            page = await h.client.get("/data-exports?expand=user", headers=tenant.headers)
            assert page.status_code == 200
            assert len(page.json()) == 3


async def test_reads_see_each_commit_at_once(settings: Settings) -> None:
    """The shared read connection holds no transaction: a write committed on another
    connection is in the very next read, by id and in the page's count."""
    async for h in start_harness(settings):
        tenant = await h.tenant("acme")
        for n in range(1, 4):
            created = await h.client.post("/data-exports", json=BODY, headers=tenant.headers)
            export_id = created.json()["id"]
            got = await h.client.get(f"/data-exports/{export_id}", headers=tenant.headers)
            assert got.status_code == 200
            page = await h.client.get("/data-exports?limit=1", headers=tenant.headers)
            assert page.headers["Pagination-Total"] == str(n)
        deleted = await h.client.delete(f"/data-exports/{export_id}", headers=tenant.headers)
        assert deleted.status_code == 204
        gone = await h.client.get(f"/data-exports/{export_id}", headers=tenant.headers)
        assert gone.status_code == 404
        page = await h.client.get("/data-exports?limit=1", headers=tenant.headers)
        assert page.headers["Pagination-Total"] == "2"


JSON_TEXTS = [
    '["a@example.com", "b@example.com"]',
    '{"filter": "x", "sort": null, "q": "\\u00e9t\\u00e9"}',
    '{"a": "\\ud800"}',  # a lone surrogate: orjson refuses it, json.loads reads it
    "NaN",
    "1e400",
    "-0",
    "0.1",
    "9223372036854775807",
    "18446744073709551616",  # past 64 bits: a float to orjson, an int to json.loads
    "-123456789012345678901234567890",
    '{"a": 1, "a": 2}',
    "null",
    None,
    5,
    "not json",
]


def outcome(convert: Callable[[Any], Any], value: Any) -> object:
    """What `convert` answers for `value`: its result, or the repr of the error it raises."""
    try:
        return convert(value)
    except Exception as error:
        return repr(error)


def test_sqlite_json_columns_read_exactly_as_the_column_type_reads_them() -> None:
    """reads.py parses SQLite's JSON text with orjson first: every value, and every failure,
    is the column type's own processor's."""
    dialect = sqlite.dialect()
    own = JSON().dialect_impl(dialect).result_processor(dialect, None)
    fast = reads._converter(JSON(), dialect)
    assert own is not None
    assert fast is not None
    assert fast is not own
    for text in JSON_TEXTS:
        want, got = outcome(own, text), outcome(fast, text)
        assert repr(got) == repr(want), text
        assert type(got) is type(want), text


@pytest.mark.parametrize(
    "stored",
    [
        "2026-12-06 21:40:05.000000",
        "2026-12-06 21:40:05",
        "2026-12-06 21:40:05.123456",
        "2026-12-06T21:40:05",
        "2026-12-06 21:40:05+02:00",
        "2026-12-06",
        "not a time",
        None,
    ],
)
def test_sqlite_times_read_as_the_orm_reads(stored: str | None) -> None:
    """Every value, and every failure, is the column type's own processor's."""
    dialect = sqlite.dialect()
    standard = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    fast = reads._converter(UTCDateTime(), dialect)
    assert fast is not None
    assert standard is not None
    want, got = outcome(standard, stored), outcome(fast, stored)
    assert repr(got) == repr(want)
    assert not isinstance(got, datetime) or got.tzinfo is UTC
