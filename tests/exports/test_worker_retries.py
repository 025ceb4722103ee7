"""Failures: retries with backoff, max attempts, and the record limits (spec §1, §3, §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import app.exports.worker as worker_module
from app.models import EmailOutbox, utcnow
from tests.conftest import Harness, Tenant, set_limits
from tests.exports.conftest import (
    create,
    export_row,
    fetch,
    file_rows,
    links,
    make_worker,
    partials,
    published,
    seed,
    set_export,
)


def _broken_writer(calls: list[str], failures: int) -> Any:
    real = worker_module.make_writer

    def make_writer(*args: Any, **kwargs: Any) -> Any:
        calls.append("called")
        if len(calls) <= failures:
            raise RuntimeError("simulated production failure")
        return real(*args, **kwargs)

    return make_writer


async def _assert_no_file(harness: Harness, export_id: str) -> None:
    assert await file_rows(harness, export_id) == []
    assert published(harness.settings.storage_dir) == []
    assert partials(harness.settings.storage_dir) == []


async def test_retries_back_off_then_fail_with_max_retries_reached(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=100, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "Doomed",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    calls: list[str] = []
    monkeypatch.setattr(worker_module, "make_writer", _broken_writer(calls, failures=99))
    worker = make_worker(harness, worker_retry_base_seconds=30, worker_max_attempts=3)

    before = utcnow()
    assert await worker.run_one("w1") is True
    row = await export_row(harness, body["id"])
    assert (row.status, row.attempts, row.lease_owner, row.failure_reason) == (
        "queued",
        1,
        None,
        None,
    )
    assert row.not_before is not None
    assert before + timedelta(seconds=30) <= row.not_before <= utcnow() + timedelta(seconds=30)
    shown = await fetch(harness, tenant, body["id"])
    assert (shown["status"], shown["failureReason"], shown["fileId"]) == ("queued", None, None)

    # Not due before its backoff has passed.
    assert await worker.run_one("w1") is False
    assert (await export_row(harness, body["id"])).attempts == 1

    await set_export(harness, body["id"], not_before=utcnow() - timedelta(seconds=1))
    before = utcnow()
    assert await worker.run_one("w1") is True
    row = await export_row(harness, body["id"])
    assert (row.status, row.attempts) == ("queued", 2)
    assert row.not_before is not None
    assert before + timedelta(seconds=60) <= row.not_before <= utcnow() + timedelta(seconds=60)

    await set_export(harness, body["id"], not_before=utcnow() - timedelta(seconds=1))
    assert await worker.run_one("w1") is True
    row = await export_row(harness, body["id"])
    assert (row.status, row.attempts, row.failure_reason) == ("failed", 3, "max-retries-reached")
    assert calls == ["called"] * 3

    failed = await fetch(harness, tenant, body["id"])
    assert failed["status"] == "failed"
    assert failed["failureReason"] == "max-retries-reached"
    assert failed["fileId"] is None
    assert failed["recordCount"] is None
    assert "download" not in links(failed)
    await _assert_no_file(harness, body["id"])
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(EmailOutbox)) == 0
    assert await worker.run_one("w1") is False  # failed is final


async def test_an_unusable_storage_directory_is_retried_until_it_works(
    harness: Harness, tenant: Tenant
) -> None:
    await seed(harness, customers=20, transactions=100, resources=("transactions",))
    body = await create(
        harness, tenant, {"name": "x", "resource": "transactions", "format": "json"}
    )
    storage_dir = harness.settings.storage_dir
    storage_dir.parent.mkdir(parents=True, exist_ok=True)
    storage_dir.write_text("a file where the directory should be")
    worker = make_worker(harness, worker_retry_base_seconds=0, worker_max_attempts=5)

    assert await worker.run_one("w") is True
    row = await export_row(harness, body["id"])
    assert (row.status, row.attempts) == ("queued", 1)

    storage_dir.unlink()
    assert await worker.run_one("w") is True
    done = await fetch(harness, tenant, body["id"])
    assert done["status"] == "completed"
    assert done["recordCount"] == 100
    row = await export_row(harness, body["id"])
    assert row.not_before is None
    # A one-off keeps its story: two attempts, the first one's error.
    assert done["attempts"] == 2
    assert done["lastError"]["code"] == "storage-unavailable"
    assert done["nextAttemptTime"] is None
    assert len(published(storage_dir)) == 1


async def test_a_transient_failure_then_success(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = await create(harness, tenant, {"name": "x", "resource": "customers", "format": "xml"})
    calls: list[str] = []
    monkeypatch.setattr(worker_module, "make_writer", _broken_writer(calls, failures=1))
    worker = make_worker(harness, worker_retry_base_seconds=0)
    await worker.run(once=True)
    assert calls == ["called", "called"]
    assert (await fetch(harness, tenant, body["id"]))["status"] == "completed"
    assert len(await file_rows(harness, body["id"])) == 1


async def test_request_time_record_limit(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=300, resources=("transactions",))
    set_limits(harness, monkeypatch, export_max_records=50)
    response = await harness.client.post(
        "/data-exports",
        headers=tenant.headers,
        json={"name": "Too big", "resource": "transactions", "format": "csv"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "data-export-limit-exceeded"
    assert problem["status"] == 422
    assert problem["maxRecords"] == 50
    assert problem["matchedRecords"] == 300
    # The same request narrowed to the limit is accepted; exactly at the limit is fine.
    ok = await create(
        harness,
        tenant,
        {
            "name": "Fits",
            "resource": "transactions",
            "format": "csv",
            "arguments": {"filter": "id:..txn_0000000049"},
        },
    )
    assert ok["status"] == "pending"
    await make_worker(harness, export_max_records=50).run(once=True)
    assert (await fetch(harness, tenant, ok["id"]))["recordCount"] == 50


async def test_rows_added_after_creation_fail_the_export(harness: Harness, tenant: Tenant) -> None:
    await seed(harness, customers=20, transactions=300, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "Grows",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    await seed(harness, customers=20, transactions=450, resources=("transactions",))
    await make_worker(harness, export_max_records=400).run(once=True)
    failed = await fetch(harness, tenant, body["id"])
    assert failed["status"] == "failed"
    assert failed["failureReason"] == "record-limit-exceeded"
    assert failed["fileId"] is None
    assert failed["recordCount"] is None
    await _assert_no_file(harness, body["id"])
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(EmailOutbox)) == 0
    assert (await export_row(harness, body["id"])).attempts == 1  # not retried


async def test_pdf_exports_have_their_own_cap(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=90, resources=("transactions",))
    set_limits(harness, monkeypatch, export_pdf_max_records=100)
    pdf = await create(harness, tenant, {"name": "p", "resource": "transactions", "format": "pdf"})
    csv_export = await create(
        harness, tenant, {"name": "c", "resource": "transactions", "format": "csv"}
    )
    await seed(harness, customers=20, transactions=150, resources=("transactions",))

    response = await harness.client.post(
        "/data-exports",
        headers=tenant.headers,
        json={"name": "p2", "resource": "transactions", "format": "pdf"},
    )
    assert response.status_code == 422
    assert response.json()["type"] == "data-export-limit-exceeded"
    assert response.json()["maxRecords"] == 100
    assert response.json()["matchedRecords"] == 150

    await make_worker(harness, export_pdf_max_records=100).run(once=True)
    failed = await fetch(harness, tenant, pdf["id"])
    assert (failed["status"], failed["failureReason"]) == ("failed", "record-limit-exceeded")
    assert await file_rows(harness, pdf["id"]) == []
    done = await fetch(harness, tenant, csv_export["id"])
    assert (done["status"], done["recordCount"]) == ("completed", 150)
    assert len(published(harness.settings.storage_dir)) == 1
    assert partials(harness.settings.storage_dir) == []


async def test_a_failed_occurrence_keeps_the_recurring_schedule(
    harness: Harness, tenant: Tenant
) -> None:
    """One bad night must not end a nightly export: it waits for the next occurrence."""
    await seed(harness, customers=20, transactions=300, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "nightly",
            "resource": "transactions",
            "format": "csv",
            "recurring": {"instruction": "FREQ=DAILY"},
        },
    )
    await make_worker(harness, export_max_records=100).run(once=True)
    after = await fetch(harness, tenant, body["id"])
    assert after["status"] == "pending"
    assert after["failureReason"] == "record-limit-exceeded"
    assert after["scheduledTime"] > body["scheduledTime"]
    assert after["fileId"] is None
    await _assert_no_file(harness, body["id"])

    await set_export(harness, body["id"], scheduled_time=utcnow() - timedelta(seconds=1))
    await make_worker(harness).run(once=True)  # the limit is back to its default
    recovered = await fetch(harness, tenant, body["id"])
    assert recovered["status"] == "pending"
    assert recovered["failureReason"] is None
    assert recovered["recordCount"] == 300


async def test_a_one_off_evaluates_its_date_range_when_it_runs(
    harness: Harness, tenant: Tenant
) -> None:
    """Spec §5: relative phrases are evaluated when the export runs, not when requested."""
    body = await create(harness, tenant, {"name": "x", "resource": "customers", "format": "csv"})
    await set_export(harness, body["id"], scheduled_time=utcnow() - timedelta(days=3))
    row = await export_row(harness, body["id"])
    run_at = await make_worker(harness)._occurrence(row)
    assert abs((run_at - utcnow()).total_seconds()) < 5
