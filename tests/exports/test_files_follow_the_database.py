"""Files follow the database: a pending row covers every file a worker writes, the sweeper
removes what no held claim or row covers, and a delete cannot miss a file committed
concurrently. Real worker, real storage directory, real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from app.exports import worker as worker_module
from app.exports.storage import Storage
from app.exports.sweeper import sweep
from app.ids import new_id
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


ORPHAN, GONE, LIVE, OLD = (f"{new_id('file')}.{ext}" for ext in ("csv", "csv", "json", "xml"))
FOREIGN = ("notes.txt", "exports.db", "file_short.csv", "FILE_01J00000000000000000000000.csv")


async def _held(harness: Harness, tenant: Tenant, *, owner: str, until: datetime) -> str:
    """An export a worker holds under `owner` until `until`, as a claim leaves it."""
    body = await create(harness, tenant, {"name": "n", "resource": "customers", "format": "csv"})
    await set_export(
        harness, body["id"], status="processing", lease_owner=owner, lease_expires=until
    )
    export_id: str = body["id"]
    return export_id


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
    (storage.root / ORPHAN).write_bytes(b"nobody's")
    storage.temp_path(GONE).write_bytes(b"half")
    for foreign in FOREIGN:  # not names storage gives out: never touched
        (storage.root / foreign).write_bytes(b"someone else's")

    swept = await sweep(harness.app.state.sessionmaker, storage, utcnow(), grace_seconds=0)

    assert (swept.abandoned, swept.unowned) == (0, 2)
    names = sorted(p.name for p in published(storage.root))
    assert names == sorted([f"{kept['id']}.csv", *FOREIGN])
    assert partials(storage.root) == []


async def test_a_pending_file_is_kept_while_its_claim_holds_and_swept_after(
    harness: Harness, tenant: Tenant
) -> None:
    now = utcnow()
    export_id = await _held(harness, tenant, owner="token-1", until=now + timedelta(seconds=60))
    await _pend(harness, export_id, LIVE, "token-1")
    storage = _storage(harness)
    with storage.open_temp(LIVE) as handle:
        handle.write(b"in progress")
    sessions = harness.app.state.sessionmaker

    assert (await sweep(sessions, storage, now, grace_seconds=0)).abandoned == 0
    assert storage.temp_path(LIVE).exists()
    assert len(await _pending_rows(harness)) == 1

    # The lease runs out (the worker died): the next sweep takes the row, then the file.
    later = now + timedelta(seconds=61)
    swept = await sweep(sessions, storage, later, grace_seconds=0)
    assert swept.abandoned == 1
    assert not storage.temp_path(LIVE).exists()
    assert await _pending_rows(harness) == []


async def test_a_pending_file_of_a_claim_taken_over_is_swept_at_once(
    harness: Harness, tenant: Tenant
) -> None:
    """Another worker holds the export now (a new token): the old token's file is dead."""
    now = utcnow()
    export_id = await _held(harness, tenant, owner="token-2", until=now + timedelta(seconds=60))
    await _pend(harness, export_id, OLD, "token-1")
    storage = _storage(harness)
    storage.root.mkdir(parents=True, exist_ok=True)
    storage.path(OLD).write_bytes(b"renamed before the crash")

    swept = await sweep(harness.app.state.sessionmaker, storage, now, grace_seconds=0)

    assert swept.abandoned == 1
    assert not storage.path(OLD).exists()


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
            swept.append(
                (await sweep(self.sessionmaker, self.storage, far, grace_seconds=0)).abandoned
            )
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


async def test_files_no_row_covers_go_only_once_older_than_the_grace(
    harness: Harness, tenant: Tenant
) -> None:
    """A file younger than the lease may be one a worker is about to commit: kept for now."""
    storage = _storage(harness)
    storage.root.mkdir(parents=True, exist_ok=True)
    young, old = f"{new_id('file')}.csv", f"{new_id('file')}.csv"
    storage.path(young).write_bytes(b"y")
    storage.path(old).write_bytes(b"o")
    hour_ago = time.time() - 3600
    os.utime(storage.path(old), (hour_ago, hour_ago))

    swept = await sweep(harness.app.state.sessionmaker, storage, utcnow(), grace_seconds=60)

    assert swept.unowned == 1
    assert storage.path(young).exists()
    assert not storage.path(old).exists()


async def test_many_unowned_files_are_swept_in_one_pass(harness: Harness, tenant: Tenant) -> None:
    """More names than one IN (...) list holds: every chunk is judged."""
    await seed(harness, transactions=20, resources=("transactions",))
    done = await completed_export(harness, tenant)
    storage = _storage(harness)
    orphans = [f"{new_id('file')}.json" for _ in range(1203)]
    for name in orphans:
        storage.path(name).write_bytes(b"x")

    swept = await sweep(harness.app.state.sessionmaker, storage, utcnow(), grace_seconds=0)

    assert swept.unowned == len(orphans)
    assert [p.name for p in published(storage.root)] == [f"{done['_embedded']['file']['id']}.csv"]


async def test_a_directory_of_another_database_is_not_swept(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    storage = _storage(harness)
    storage.root.mkdir(parents=True, exist_ok=True)
    (storage.root / ".database").write_text("another-database\n")
    theirs = f"{new_id('file')}.csv"
    storage.path(theirs).write_bytes(b"another database's export")

    swept = await sweep(harness.app.state.sessionmaker, storage, utcnow(), grace_seconds=0)

    assert swept.unowned == 0
    assert storage.path(theirs).exists()
    assert "holds the files of another database" in caplog.text
