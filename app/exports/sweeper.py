"""Removes what crashed workers and interrupted deletes leave behind, within a known bound.

Every file in storage is covered by a committed row: a `pending_files` row from before its temp
file was created until its `export_files` row replaces it in one transaction. So:

1. a pending row whose claim is no longer held (the lease expired, or the export was taken
   over or deleted) is deleted by a conditional statement, and only the sweeper that deleted it
   removes its files: a worker finishing at that moment finds its row gone and gives up;
2. an export file (temp or published) that no row covers, and that is older than the lease,
   is removed. Rows are read in one statement after the directory is listed, so a file listed
   was covered when it appeared; the age keeps a file that a worker of an older release (one
   that renamed before committing) is about to commit.

Only the names storage gives out are judged, and only in a directory stamped with this
database's identity. A crashed worker's files therefore go within WORKER_LEASE_SECONDS +
WORKER_SWEEP_SECONDS (plus the sweep's own time), while some worker runs. Queue housekeeping
spans organizations by design: the sweeper's statements find rows by their unique keys.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import rowcount, unit_of_work
from app.exports.claims import live_claim
from app.exports.storage import ForeignStorage, Storage
from app.models import DatabaseIdentity, ExportFile, PendingFile

log = logging.getLogger("app.sweeper")

CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True)
class Swept:
    abandoned: int
    """Pending files whose claim was no longer held."""
    unowned: int
    """Files on disk (temp or published) that no row covered."""


async def database_identity(sessions: async_sessionmaker[AsyncSession]) -> str:
    async with unit_of_work(sessions) as session:
        return str(await session.scalar(select(DatabaseIdentity.id)))


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    storage: Storage,
    now: datetime,
    *,
    grace_seconds: float,
) -> Swept:
    """`grace_seconds` (the lease): how old a file no row covers must be before it goes."""
    abandoned = await _abandoned_pending(sessions, storage, now)
    try:
        storage.claim_for(await database_identity(sessions))
    except ForeignStorage as exc:
        log.error("not sweeping: %s", exc)
        return Swept(abandoned=abandoned, unowned=0)
    # File ages are wall-clock (mtimes); `now` judges leases, as the database stores them.
    unowned = await _unowned_files(sessions, storage, time.time() - grace_seconds)
    if abandoned or unowned:
        log.info("swept %s abandoned pending files and %s unowned files", abandoned, unowned)
    return Swept(abandoned=abandoned, unowned=unowned)


async def _abandoned_pending(
    sessions: async_sessionmaker[AsyncSession], storage: Storage, now: datetime
) -> int:
    dead = ~live_claim(PendingFile.export_pk, PendingFile.lease_owner, now)
    removed = 0
    async with unit_of_work(sessions) as session:
        keys = list(await session.scalars(select(PendingFile.storage_key).where(dead)))
        for key in keys:
            result = await session.execute(
                delete(PendingFile).where(PendingFile.storage_key == key, dead)
            )
            await session.commit()  # the row goes first: a crash now leaves an unowned file
            if rowcount(result):
                storage.delete(key)
                removed += 1
    return removed


async def _unowned_files(
    sessions: async_sessionmaker[AsyncSession], storage: Storage, older_than: float
) -> int:
    listed = list(storage.listing(older_than=older_than))
    names = sorted({key for key, _ in listed})
    covered: set[str] = set()
    async with unit_of_work(sessions) as session:
        for start in range(0, len(names), CHUNK):
            chunk = names[start : start + CHUNK]
            both = union(  # one statement: a row moving from pending to published is seen once
                select(ExportFile.storage_key).where(ExportFile.storage_key.in_(chunk)),
                select(PendingFile.storage_key).where(PendingFile.storage_key.in_(chunk)),
            )
            covered.update(await session.scalars(select(both.subquery().c.storage_key)))
    removed = 0
    for key, is_temp in listed:
        if key in covered:
            continue
        path = storage.temp_path(key) if is_temp else storage.path(key)  # keys match KEY
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed
