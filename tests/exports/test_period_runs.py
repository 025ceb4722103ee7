"""Periods in a real run (issue 11): a range named by periods selects exactly the rows of those
periods when the worker runs the export, compared with rows counted here in plain Python."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.models import Transaction
from tests.conftest import Harness, Tenant
from tests.exports.conftest import seed
from tests.exports.test_worker_formats import RUN_AT, run_export, table_rows

COLUMNS = {"id": "id", "processedTime": "processed_time"}


@pytest.mark.parametrize(
    ("start", "end", "first", "after"),
    [
        # RUN_AT is 2026-03-05T15:30:00Z: last month is February.
        ("last month", "last month", datetime(2026, 2, 1), datetime(2026, 3, 1)),
        ("2026-01", "end of 2026-02-14", datetime(2026, 1, 1), datetime(2026, 2, 15)),
        ("start of last year", "end of last month", datetime(2025, 1, 1), datetime(2026, 3, 1)),
    ],
)
async def test_a_range_of_periods_exports_exactly_their_rows(
    harness: Harness, tenant: Tenant, start: str, end: str, first: datetime, after: datetime
) -> None:
    await seed(harness, "acme")
    low, high = first.replace(tzinfo=UTC), after.replace(tzinfo=UTC)
    rows = [r for r in await table_rows(harness, Transaction, COLUMNS) if r["_org"] == "acme"]
    expected = sorted(
        r["id"] for r in rows if r["processedTime"] and low <= r["processedTime"] < high
    )
    assert expected  # a range that matched nothing would prove little
    done, data = await run_export(
        harness,
        tenant,
        {
            "name": "Periods",
            "resource": "transactions",
            "format": "csv",
            "fields": ["id"],
            "dateRange": {"start": start, "end": end},
        },
        RUN_AT,
    )
    assert done["recordCount"] == len(expected)
    assert data.decode().split("\r\n")[1:-1] == expected
