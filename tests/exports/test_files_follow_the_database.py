"""Files follow the database: a pending row covers every file a worker writes, the sweeper
removes what no held claim or row covers, and a delete cannot miss a file committed
concurrently. Real worker, real storage directory, real database (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app.exports import worker as worker_module
from app.exports.storage import Storage
from app.exports.sweeper import sweep
from app.models import DataExport, ExportFile, PendingFile, utcnow
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    completed_export,
    create,
    export_row,
    fetch,
    make_worker,
    partials,
    published,
    run_worker,
    seed,
    set_export,
)


async def _pending_rows(harness: Harness) -> list[PendingFile]:
    async with harness.session() as session:
        return list(await session.scalars(select(PendingFile)))


async def _count(harness: Harness, model: type[ExportFile] | type[DataExport]) -> int:
    async with harness.session() as session:
        return await session.scalar(select(func.count()).select_from(model)) or 0


async def _pend(harness: Harness, export_id: str, key: str, owner: str) -> None:
    row = await export_row(harness, export_id)
    async with harness.session() as session:
        await session.execute(
            insert(PendingFile).values(
                storage_key=key,
                organization_id=row.organization_id,
                export_pk=row.pk,
                lease_owner=owner,
                created_time=utcnow(),
            )
        )
        await session.commit()


def _storage(harness: Harness) -> Storage:
    storage: Storage = harness.app.state.storage
    return storage


async def test_the_sweeper_removes_what_no_row_covers_and_keeps_what_one_does(
    harness: Harness, tenant: Tenant
) -> None:
    await seed(harness, transactions=50, resources=("transactions",))
    done = await completed_export(harness, tenant)
    storage = _storage(harness)
    kept = done["_embedded"]["file"]
    (storage.root / "file_orphan.csv").write_bytes(b"nobody's")
    (storage.root / ".partial-file_gone.csv.tmp").write_bytes(b"half")

    swept = await sweep(harness.app.state.sessionmaker, storage, utcnow())

    assert (swept.abandoned, swept.unowned) == (0, 2)
    names = [p.name for p in published(storage.root)]
    assert len(names) == 1
    assert names[0].startswith(kept["id"])
    assert partials(storage.root) == []


async def test_a_pending_file_is_kept_while_its_claim_holds_and_swept_after(
    harness: Harness, tenant: Tenant
) -> None:
    body = await create(harness, tenant, {"name": "n", "resource": "customers", "format": "csv"})
    now = utcnow()
    await set_export(
        harness,
        body["id"],
        status="processing",
        lease_owner="token-1",
        lease_expires=now + timedelta(seconds=60),
    )
    await _pend(harness, body["id"], "file_live.csv", "token-1")
    storage = _storage(harness)
    with storage.open_temp("file_live.csv") as handle:
        handle.write(b"in progress")
    sessions = harness.app.state.sessionmaker

    assert (await sweep(sessions, storage, now)).abandoned == 0
    assert storage.temp_path("file_live.csv").exists()
    assert len(await _pending_rows(harness)) == 1

    # The lease runs out (the worker died): the next sweep takes the row, then the file.
    later = now + timedelta(seconds=61)
    swept = await sweep(sessions, storage, later)
    assert swept.abandoned == 1
    assert not storage.temp_path("file_live.csv").exists()
    assert await _pending_rows(harness) == []


async def test_a_pending_file_of_a_claim_taken_over_is_swept_at_once(
    harness: Harness, tenant: Tenant
) -> None:
    """Another worker holds the export now (a new token): the old token's file is dead."""
    body = await create(harness, tenant, {"name": "n", "resource": "customers", "format": "csv"})
    now = utcnow()
    await set_export(
        harness,
        body["id"],
        status="processing",
        lease_owner="token-2",
        lease_expires=now + timedelta(seconds=60),
    )
    await _pend(harness, body["id"], "file_old.csv", "token-1")
    storage = _storage(harness)
    storage.root.mkdir(parents=True, exist_ok=True)
    storage.path("file_old.csv").write_bytes(b"renamed before the crash")

    swept = await sweep(harness.app.state.sessionmaker, storage, now)

    assert swept.abandoned == 1
    assert not storage.path("file_old.csv").exists()


async def test_a_worker_whose_file_was_swept_publishes_nothing_and_a_retry_completes(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweeper judged the claim dead (a stalled worker) and took the pending file: the
    worker finds its file gone, gives up without a row, and the export is redone."""
    await seed(harness, transactions=50, resources=("transactions",))
    body = await create(harness, tenant, {"name": "n", "resource": "transactions", "format": "csv"})
    real_produce = worker_module.Worker._produce
    swept: list[int] = []

    async def produce(self: worker_module.Worker, *args: object, **kwargs: object) -> object:
        produced = await real_produce(self, *args, **kwargs)  # type: ignore[arg-type]
        if not swept:  # only the first run stalls past its lease
            far = utcnow() + timedelta(hours=1)
            swept.append((await sweep(self.sessionmaker, self.storage, far)).abandoned)
        return produced

    monkeypatch.setattr(worker_module.Worker, "_produce", produce)
    await make_worker(harness).run(once=True)

    assert swept == [1]
    row = await export_row(harness, body["id"])
    assert row.status == "processing"  # the lost claim waits for its lease to run out
    assert await _count(harness, ExportFile) == 0
    assert published(_storage(harness).root) == []
    assert partials(_storage(harness).root) == []

    await set_export(harness, body["id"], lease_expires=utcnow() - timedelta(seconds=1))
    await run_worker(harness)
    done = await fetch(harness, tenant, body["id"], expand="file")
    assert done["status"] == "completed"
    assert len(published(_storage(harness).root)) == 1
    assert partials(_storage(harness).root) == []
    assert await _pending_rows(harness) == []


@pytest.mark.parametrize("moment", ["after-rename", "before-rename"])
async def test_a_delete_around_a_publish_leaves_no_file_and_no_row(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """The DELETE lands between the worker's pending row and its final commit."""
    await seed(harness, transactions=50, resources=("transactions",))
    body = await create(harness, tenant, {"name": "n", "resource": "transactions", "format": "csv"})
    real_publish = Storage.publish
    answers: list[int] = []

    async def delete_now() -> None:
        response = await harness.client.delete(
            f"/data-exports/{body['id']}", headers=tenant.headers
        )
        answers.append(response.status_code)

    real_produce = worker_module.Worker._produce

    async def produce(self: worker_module.Worker, *args: object, **kwargs: object) -> object:
        produced = await real_produce(self, *args, **kwargs)  # type: ignore[arg-type]
        if moment == "before-rename":
            await delete_now()
        else:
            real_publish(self.storage, produced.key)
            monkeypatch.setattr(Storage, "publish", lambda storage, key: None)
            await delete_now()
        return produced

    monkeypatch.setattr(worker_module.Worker, "_produce", produce)
    await run_worker(harness)

    assert answers == [204]
    storage_root: Path = _storage(harness).root
    assert published(storage_root) == []
    assert partials(storage_root) == []
    assert await _count(harness, ExportFile) == 0
    assert await _pending_rows(harness) == []
    assert await _count(harness, DataExport) == 0
