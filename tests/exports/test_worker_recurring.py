"""Recurring exports (spec §1 Decision): one record carries the schedule; each occurrence makes
a new file with the relative date range evaluated at that occurrence.

Time is moved by patching the worker's clock (`app.exports.worker.utcnow`), which is also the
`now` it hands to the claim queries.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest

import app.exports.worker as worker_module
from app.models import Transaction, utcnow
from app.timefmt import isoz
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    create,
    fetch,
    file_rows,
    links,
    local,
    published,
    run_worker,
)

DAY = timedelta(days=1)


def _midnight(value: datetime) -> datetime:
    return value.replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def start() -> datetime:
    """A first occurrence the real clock has not reached yet."""
    return _midnight(utcnow()) + 2 * DAY


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the worker's clock: `clock(when)`."""

    def set_clock(when: datetime) -> None:
        monkeypatch.setattr(worker_module, "utcnow", lambda: when)

    return set_clock


async def _transactions_on(harness: Harness, day: datetime, count: int, tag: str) -> list[str]:
    """`count` approved transactions processed during `day`; returns their ids."""
    ids = [f"txn_{tag}_{n}" for n in range(count)]
    async with harness.session() as session:
        for n, txn_id in enumerate(ids):
            at = day + timedelta(hours=1 + n)
            session.add(
                Transaction(
                    organization_id="acme",
                    id=txn_id,
                    customer_id="cus_1",
                    invoice_id=None,
                    type="sale",
                    status="completed",
                    result="approved",
                    amount=1000 + n,
                    currency="USD",
                    gateway_name="Stripe",
                    payment_method="payment-card",
                    billing_first_name=None,
                    billing_last_name=None,
                    billing_country="US",
                    description=None,
                    processed_time=at,
                    created_time=at,
                    updated_time=at,
                )
            )
        await session.commit()
    return ids


async def _csv_ids(harness: Harness, tenant: Tenant, file_id: str) -> list[str]:
    response = await harness.client.get(f"/files/{file_id}/download", headers=tenant.headers)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.text, newline="")))
    assert rows[0] == ["id", "processedTime"]
    return [row[0] for row in rows[1:]]


BODY = {
    "name": "Daily",
    "resource": "transactions",
    "format": "csv",
    "fields": ["id", "processedTime"],
    "dateRange": {"start": "yesterday", "end": "today"},
}


async def test_each_occurrence_makes_a_new_file_until_the_rule_ends(
    harness: Harness, tenant: Tenant, start: datetime, clock: Any
) -> None:
    first_day = await _transactions_on(harness, start - DAY, 3, "a")
    second_day = await _transactions_on(harness, start, 5, "b")
    await _transactions_on(harness, start + DAY, 2, "c")  # after both ranges
    body = await create(
        harness,
        tenant,
        {**BODY, "recurring": {"instruction": "RRULE:FREQ=DAILY;COUNT=2", "start": isoz(start)}},
    )
    assert (body["status"], body["scheduledTime"]) == ("pending", isoz(start))

    await run_worker(harness)  # the real clock: not due yet
    assert (await fetch(harness, tenant, body["id"]))["status"] == "pending"

    clock(start + timedelta(minutes=5))
    await run_worker(harness)
    first = await fetch(harness, tenant, body["id"])
    assert first["status"] == "pending"  # back to pending, waiting for the next occurrence
    assert first["scheduledTime"] == isoz(start + DAY)
    assert first["recordCount"] == 3
    assert first["failureReason"] is None
    assert "download" in links(first)
    assert await _csv_ids(harness, tenant, first["fileId"]) == first_day

    clock(start + DAY + timedelta(minutes=5))
    await run_worker(harness)
    second = await fetch(harness, tenant, body["id"])
    assert second["status"] == "completed"
    assert second["scheduledTime"] == isoz(start + DAY)  # the last run's time, never null
    assert second["recordCount"] == 5
    assert second["fileId"] != first["fileId"]
    assert await _csv_ids(harness, tenant, second["fileId"]) == second_day
    assert links(second)["download"].endswith(f"/files/{second['fileId']}/download")
    # The older file stays retrievable.
    assert await _csv_ids(harness, tenant, first["fileId"]) == first_day
    files = await file_rows(harness, body["id"])
    assert [f.id for f in files] == [first["fileId"], second["fileId"]]
    assert [f.record_count for f in files] == [3, 5]
    assert files[0].name != files[1].name

    clock(start + 5 * DAY)
    await run_worker(harness)
    assert len(await file_rows(harness, body["id"])) == 2
    assert (await fetch(harness, tenant, body["id"]))["fileId"] == second["fileId"]

    # Deleting the export takes every one of its files.
    assert len(published(harness.settings.storage_dir)) == 2
    response = await harness.client.delete(f"/data-exports/{body['id']}", headers=tenant.headers)
    assert response.status_code == 204
    assert published(harness.settings.storage_dir) == []
    assert await file_rows(harness) == []


async def test_after_downtime_only_the_latest_missed_occurrence_runs(
    harness: Harness, tenant: Tenant, start: datetime, clock: Any
) -> None:
    day_before_latest = await _transactions_on(harness, start + 3 * DAY, 2, "d")
    await _transactions_on(harness, start, 4, "e")
    body = await create(
        harness,
        tenant,
        {**BODY, "recurring": {"instruction": "FREQ=DAILY", "start": isoz(start)}},
    )
    clock(start + 4 * DAY + timedelta(hours=7))  # occurrences at start .. start+4d were missed
    await run_worker(harness)
    after = await fetch(harness, tenant, body["id"])
    (file,) = await file_rows(harness, body["id"])
    assert after["fileId"] == file.id
    assert after["status"] == "pending"
    assert after["scheduledTime"] == isoz(start + 5 * DAY)
    # It ran as the start+4d occurrence: "yesterday" is start+3d.
    assert after["recordCount"] == 2
    assert await _csv_ids(harness, tenant, file.id) == day_before_latest
    assert f"{start + 4 * DAY:%Y%m%d}" in file.name

    await run_worker(harness)  # nothing more is due until start+5d
    assert len(await file_rows(harness, body["id"])) == 1


async def test_a_past_start_runs_once_now_then_follows_the_rule(
    harness: Harness, tenant: Tenant
) -> None:
    start = utcnow() - timedelta(hours=3)
    body = await create(
        harness,
        tenant,
        {
            "name": "Started already",
            "resource": "customers",
            "format": "json",
            "recurring": {"instruction": "FREQ=DAILY", "start": isoz(start)},
        },
    )
    assert body["scheduledTime"] >= isoz(start + timedelta(hours=3))  # now, not the past start
    await run_worker(harness)
    after = await fetch(harness, tenant, body["id"], expand="file")
    assert after["status"] == "pending"
    assert after["scheduledTime"] == isoz(start + DAY)
    assert after["recordCount"] == 0
    assert after["_embedded"]["file"]["id"] == after["fileId"]
    response = await harness.client.get(local(links(after)["signedLink"]))
    assert response.status_code == 200
    assert response.json() == []
    await run_worker(harness)
    assert len(await file_rows(harness, body["id"])) == 1


async def test_files_past_retention_are_removed_but_the_newest_stays(
    harness: Harness, tenant: Tenant, start: datetime, clock: Any
) -> None:
    body = await create(
        harness,
        tenant,
        {**BODY, "recurring": {"instruction": "FREQ=DAILY", "start": isoz(start)}},
    )
    made: list[str] = []
    for n in range(4):
        clock(start + n * DAY + timedelta(minutes=5))
        await run_worker(harness, export_file_retention_days=1)
        made.append((await fetch(harness, tenant, body["id"]))["fileId"])
    assert len(set(made)) == 4
    kept = [f.id for f in await file_rows(harness, body["id"])]
    assert kept == made[-2:]  # older than a day: gone; the newest is always kept
    assert len(published(harness.settings.storage_dir)) == 2
    gone = await harness.client.get(f"/files/{made[0]}/download", headers=tenant.headers)
    assert gone.status_code == 404

    clock(start + 9 * DAY)
    await run_worker(harness, export_file_retention_days=0)
    newest = (await fetch(harness, tenant, body["id"]))["fileId"]
    assert [f.id for f in await file_rows(harness, body["id"])] == [newest]
