"""Real crashes: `python -m app worker` killed mid-export (SIGKILL) or asked to stop (SIGTERM).

The worker runs as a subprocess on the harness database (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set) and the shared storage directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.models import utcnow
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    create,
    export_row,
    fetch,
    file_rows,
    links,
    local,
    partials,
    published,
    seed,
    start_worker,
    wait_process,
)

ROWS = 25_000
ALL_FIELDS = [
    "id",
    "customerId",
    "invoiceId",
    "type",
    "status",
    "result",
    "amount",
    "currency",
    "gatewayName",
    "paymentInstrument/method",
    "billingAddress/firstName",
    "billingAddress/lastName",
    "billingAddress/country",
    "description",
    "processedTime",
    "createdTime",
    "updatedTime",
]


async def _big_export(harness: Harness, tenant: Tenant) -> str:
    await seed(harness, customers=500, transactions=ROWS, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {"name": "Big", "resource": "transactions", "format": "csv", "fields": ALL_FIELDS},
    )
    return str(body["id"])


def _half_written(storage: Path) -> Path | None:
    found = [p for p in partials(storage) if p.stat().st_size > 200_000]
    return found[0] if found else None


async def _wait_mid_export(
    harness: Harness, process: subprocess.Popen[bytes], log: Path, within: float = 60
) -> Path:
    """Until the worker has written part of its temporary file (and not published it)."""
    storage = harness.settings.storage_dir
    deadline = time.monotonic() + within
    while (found := _half_written(storage)) is None:
        assert process.poll() is None, _clean(log)
        assert time.monotonic() < deadline, "the worker never got mid-way"
        await asyncio.sleep(0.01)
    assert published(storage) == []
    return found


def _clean(log: Path) -> str:
    text = log.read_text()
    assert "Traceback" not in text, text
    assert "ERROR" not in text, text
    assert "database is locked" not in text, text
    return text


async def test_sigkill_mid_export_then_another_worker_takes_over(
    harness: Harness,
    tenant: Tenant,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    export_id = await _big_export(harness, tenant)
    lease = "3"
    first_log = tmp_path / "first.log"
    first = start_worker(harness, [], first_log, WORKER_LEASE_SECONDS=lease)
    processes.append(first)

    stale = await _wait_mid_export(harness, first, first_log)
    first.send_signal(signal.SIGKILL)
    assert await wait_process(first, 10) == -signal.SIGKILL

    row = await export_row(harness, export_id)
    assert row.status == "processing"
    assert row.file_id is None
    assert row.lease_owner is not None
    assert row.lease_expires is not None
    assert await file_rows(harness, export_id) == []
    assert published(harness.settings.storage_dir) == []
    assert stale.exists()  # the crash left only its temporary file
    shown = await fetch(harness, tenant, export_id)
    assert (shown["status"], shown["fileId"]) == ("processing", None)

    # A second worker that runs before the lease expires leaves the export alone.
    early_log = tmp_path / "early.log"
    early = start_worker(harness, ["--once"], early_log, WORKER_LEASE_SECONDS=lease)
    processes.append(early)
    assert await wait_process(early, 60) == 0
    if utcnow() <= row.lease_expires:
        assert (await export_row(harness, export_id)).lease_owner == row.lease_owner

    # Once the lease has expired, the next worker takes the export over and completes it.
    expired_at = row.lease_expires + timedelta(seconds=1)  # claims compare whole seconds
    await asyncio.sleep(max((expired_at - datetime.now(UTC)).total_seconds(), 0) + 0.05)
    second_log = tmp_path / "second.log"
    second = start_worker(harness, ["--once"], second_log, WORKER_LEASE_SECONDS=lease)
    processes.append(second)
    assert await wait_process(second, 120) == 0
    _clean(second_log)

    done = await fetch(harness, tenant, export_id, expand="file")
    assert done["status"] == "completed"
    assert done["recordCount"] == ROWS
    (file,) = await file_rows(harness, export_id)
    assert file.id == done["fileId"]
    assert not file.storage_key.startswith(".")
    (path,) = published(harness.settings.storage_dir)
    assert path.name == file.storage_key
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == file.sha256 == done["_embedded"]["file"]["sha256"]
    assert data.count(b"\r\n") >= ROWS + 1
    # Its story says what happened: the killed worker's attempt, then the one that completed.
    assert done["attempts"] == 2
    assert done["lastError"]["code"] == "worker-lost"
    assert done["nextAttemptTime"] is None
    assert done["progress"] is None
    response = await harness.client.get(local(links(done)["signedLink"]))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == file.sha256


async def test_sigterm_finishes_the_current_export_and_exits_cleanly(
    harness: Harness,
    tenant: Tenant,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    export_id = await _big_export(harness, tenant)
    log = tmp_path / "worker.log"
    worker = start_worker(harness, [], log)
    processes.append(worker)
    await _wait_mid_export(harness, worker, log)
    assert (await export_row(harness, export_id)).status == "processing"
    signalled_at = datetime.now(UTC)
    worker.send_signal(signal.SIGTERM)
    assert await wait_process(worker, 120) == 0
    text = _clean(log)
    assert "stopped" in text

    done = await fetch(harness, tenant, export_id)
    assert done["status"] == "completed"
    assert done["recordCount"] == ROWS
    (file,) = await file_rows(harness, export_id)
    assert file.created_time >= signalled_at.replace(microsecond=0)
    assert [p.name for p in published(harness.settings.storage_dir)] == [file.storage_key]
    assert partials(harness.settings.storage_dir) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_an_idle_worker_stops_on_request(
    harness: Harness,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    sig: signal.Signals,
) -> None:
    log = tmp_path / "idle.log"
    worker = start_worker(harness, ["--concurrency", "2"], log)
    processes.append(worker)
    deadline = time.monotonic() + 30
    while "started" not in log.read_text():
        assert worker.poll() is None, log.read_text()
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    worker.send_signal(sig)
    assert await wait_process(worker, 10) == 0
    assert "stopped" in _clean(log)
