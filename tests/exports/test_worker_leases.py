"""Claims are leases: an expired one is taken over, and the first holder's late work is void."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import app.exports.worker as worker_module
from app.exports import claims
from app.models import EmailOutbox, utcnow
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    create,
    export_row,
    fetch,
    file_rows,
    make_worker,
    partials,
    published,
    seed,
    set_export,
)


async def _wait_for(predicate: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_claims_skip_what_is_held_and_take_over_expired_leases(
    harness: Harness, tenant: Tenant
) -> None:
    first = await create(harness, tenant, {"name": "a", "resource": "customers", "format": "csv"})
    second = await create(harness, tenant, {"name": "b", "resource": "customers", "format": "csv"})
    now = utcnow()
    async with harness.session() as session:
        await claims.promote_due(session, now)
        a = await claims.claim_next(session, owner="A", now=now, lease_seconds=60)
        b = await claims.claim_next(session, owner="B", now=now, lease_seconds=60)
        none = await claims.claim_next(session, owner="C", now=now, lease_seconds=60)
    assert a is not None
    assert b is not None
    assert {a.pk, b.pk} == {
        (await export_row(harness, first["id"])).pk,
        (await export_row(harness, second["id"])).pk,
    }
    assert {a.owner, b.owner} == {"A", "B"}
    assert {a.organization_id, b.organization_id} == {"acme"}
    assert none is None

    later = now + timedelta(seconds=61)
    async with harness.session() as session:
        assert await claims.renew(session, claim=a, now=now, lease_seconds=60)
        assert not await claims.renew(
            session, claim=replace(a, owner="B"), now=now, lease_seconds=60
        )
        assert not await claims.renew(
            session, claim=replace(a, organization_id="other"), now=now, lease_seconds=60
        )
        taken = await claims.claim_next(session, owner="C", now=later, lease_seconds=60)
        assert taken is not None
        assert taken.pk in {a.pk, b.pk}
        before = a if taken.pk == a.pk else b
        assert not await claims.renew(session, claim=before, now=later, lease_seconds=60)
    row = await export_row(harness, first["id"] if taken.pk == a.pk else second["id"])
    assert (row.status, row.lease_owner, row.attempts) == ("processing", "C", 2)


async def test_an_expired_claim_is_completed_by_another_worker_and_the_late_publish_is_void(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=200, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "Contested",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    # Worker A claims the export, then stalls before reading a row.
    gate = asyncio.Event()
    stalled: list[str] = []
    real_produce = worker_module.Worker._produce

    async def produce(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not stalled:
            stalled.append("A")
            await gate.wait()
        return await real_produce(self, *args, **kwargs)

    monkeypatch.setattr(worker_module.Worker, "_produce", produce)
    worker_a = make_worker(harness, worker_lease_seconds=60)
    task_a = asyncio.create_task(worker_a.run_one("A"))

    async def held_by_a() -> bool:
        return bool(stalled) and (await export_row(harness, body["id"])).lease_owner == "A"

    await _wait_for(held_by_a)
    assert (await fetch(harness, tenant, body["id"]))["status"] == "processing"

    # A stops renewing (as if frozen); its lease runs out and worker B takes the export over.
    await set_export(harness, body["id"], lease_expires=utcnow() - timedelta(seconds=1))
    worker_b = make_worker(harness, worker_lease_seconds=60)
    assert await worker_b.run_one("B") is True
    done = await fetch(harness, tenant, body["id"])
    assert (done["status"], done["recordCount"]) == ("completed", 200)
    (file_b,) = await file_rows(harness, body["id"])
    assert file_b.id == done["fileId"]

    # A wakes up, produces its file and tries to publish it: nothing changes.
    gate.set()
    assert await task_a is True
    after = await fetch(harness, tenant, body["id"])
    assert after["fileId"] == file_b.id
    assert after["status"] == "completed"
    assert [f.id for f in await file_rows(harness, body["id"])] == [file_b.id]
    assert [p.name for p in published(harness.settings.storage_dir)] == [file_b.storage_key]
    assert partials(harness.settings.storage_dir) == []
    row = await export_row(harness, body["id"])
    assert (row.lease_owner, row.attempts) == (None, 2)
    assert after["lastError"]["code"] == "worker-lost"  # B took over A's expired claim

    async with harness.session() as session:
        emails = list(await session.scalars(select(EmailOutbox)))
        assert await session.scalar(select(func.count()).select_from(EmailOutbox)) == 1
    assert emails[0].file_id == file_b.id


async def test_a_holder_that_loses_its_lease_stops_mid_export(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease renewal notices a takeover and the holder abandons its half-written file."""
    await seed(harness, customers=20, transactions=3000, resources=("transactions",))
    body = await create(
        harness, tenant, {"name": "x", "resource": "transactions", "format": "json"}
    )
    monkeypatch.setattr(worker_module, "BATCH_ROWS", 100)
    real_columns = worker_module.columns
    converted: list[int] = []

    def slow_columns(reading: Any, rows: Any, count: int) -> Any:
        converted.append(len(rows))
        time.sleep(0.0005 * len(rows))  # 3000 rows take about 1.5 s; renewals every 1/3 s
        return real_columns(reading, rows, count)

    monkeypatch.setattr(worker_module, "columns", slow_columns)
    real_renew = worker_module.renew
    renewals: list[bool] = []

    async def renew(session: Any, **kwargs: Any) -> bool:
        # Another worker took the export over since the last renewal.
        await set_export(harness, body["id"], lease_owner="B")
        held = await real_renew(session, **kwargs)
        renewals.append(held)
        return held

    monkeypatch.setattr(worker_module, "renew", renew)
    worker = make_worker(harness, worker_lease_seconds=1)
    assert await worker.run_one("A") is True
    assert renewals == [False]
    assert 0 < sum(converted) < 3000  # stopped part way
    row = await export_row(harness, body["id"])
    assert (row.status, row.lease_owner, row.file_id) == ("processing", "B", None)
    assert await file_rows(harness, body["id"]) == []
    assert published(harness.settings.storage_dir) == []
    assert partials(harness.settings.storage_dir) == []


async def test_an_export_deleted_while_processing_leaves_no_file(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=20, transactions=200, resources=("transactions",))
    body = await create(
        harness,
        tenant,
        {
            "name": "Deleted midway",
            "resource": "transactions",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    gate = asyncio.Event()
    reached = asyncio.Event()
    real_produce = worker_module.Worker._produce

    async def produce(self: Any, *args: Any, **kwargs: Any) -> Any:
        reached.set()
        await gate.wait()
        return await real_produce(self, *args, **kwargs)

    monkeypatch.setattr(worker_module.Worker, "_produce", produce)
    task = asyncio.create_task(make_worker(harness).run_one("A"))
    await asyncio.wait_for(reached.wait(), 10)
    response = await harness.client.delete(f"/data-exports/{body['id']}", headers=tenant.headers)
    assert response.status_code == 204
    gate.set()
    assert await task is True
    assert await file_rows(harness) == []
    assert published(harness.settings.storage_dir) == []
    assert partials(harness.settings.storage_dir) == []
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(EmailOutbox)) == 0
