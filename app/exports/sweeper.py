"""Removes what crashed workers and interrupted deletes leave behind, within a known bound.

Every file in storage is covered by a committed row: a `pending_files` row from before its temp
file was created until its `export_files` row replaces it in one transaction. So:

1. a pending row whose claim is no longer held (the lease expired, or the export was taken
   over or deleted) is deleted by a conditional statement, and only the sweeper that deleted it
   removes its files: a worker finishing at that moment finds its row gone and gives up;
2. a file (temp or published) that no row covers is removed. Rows are read in one statement
   after the directory is listed, so a file listed was covered when it appeared.

A crashed worker's files therefore go within WORKER_LEASE_SECONDS + WORKER_SWEEP_SECONDS.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.exports.claims import live_claim
from app.exports.storage import Storage
from app.models import ExportFile, PendingFile

log = logging.getLogger("app.sweeper")

CHUNK = 500  # keys per IN (...) list


@dataclass(frozen=True)
class Swept:
    abandoned: int
    """Pending files whose claim was no longer held."""
    unowned: int
    """Files on disk (temp or published) that no row covered."""


async def sweep(
    sessions: async_sessionmaker[AsyncSession], storage: Storage, now: datetime
) -> Swept:
    abandoned = await _abandoned_pending(sessions, storage, now)
    unowned = await _unowned_files(sessions, storage)
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
            if result.rowcount:  # type: ignore[attr-defined]
                storage.delete(key)
                removed += 1
    return removed


async def _unowned_files(sessions: async_sessionmaker[AsyncSession], storage: Storage) -> int:
    listed = list(storage.listing())
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
        path = storage.temp_path(key) if is_temp else storage.path(key)
        try:
            path.unlink()
            removed += 1
        except (FileNotFoundError, ValueError):
            pass
    return removed
