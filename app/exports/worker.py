"""The export worker: claims due exports, streams their rows into a file, publishes it
atomically, and queues the emails. Runs in-process (serve) or standalone (`python -m app worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.exports.claims import claim_next, held_by, promote_due, renew
from app.exports.fields import Kind
from app.exports.formats import make_writer
from app.exports.notify import Mailer, queue_emails
from app.exports.resources import RESOURCES
from app.exports.schedule import latest_missed, next_run_after
from app.exports.source import (
    build_source_query,
    export_fields,
    record_keys,
    record_limit,
    to_record,
)
from app.exports.storage import HashingWriter, Storage
from app.ids import new_id
from app.models import DataExport, ExportFile, utcnow
from app.settings import Settings
from app.timefmt import parse_iso_datetime

log = logging.getLogger("app.worker")

BATCH_ROWS = 1000
STALE_PARTIAL_SECONDS = 24 * 3600  # a live writer touches its file far more often than this
COMPLETED, FAILED, PENDING, QUEUED = "completed", "failed", "pending", "queued"


class LostClaim(Exception):
    """The lease expired and another worker took over, or the export was deleted."""


class RecordLimitReached(Exception):
    pass


@dataclass(frozen=True)
class Produced:
    temp: Path
    size: int
    sha256: str
    records: int
    content_type: str
    extension: str


class Worker:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.concurrency = concurrency or settings.worker_concurrency
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.mailer = Mailer(settings, sessionmaker)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the exports in hand, then return from run()."""
        self._stopping.set()

    async def run(self, *, once: bool = False) -> None:
        swept = self.storage.sweep_partials(older_than_seconds=STALE_PARTIAL_SECONDS)
        if swept:
            log.info("removed %s partial files left by crashed workers", swept)
        loops = [self._loop(n, once=once) for n in range(self.concurrency)]
        if once:  # drain the exports first, so the mail they queue is sent before returning
            await asyncio.gather(*loops)
            await self._mail_loop(once=True)
            return
        await asyncio.gather(*loops, self._mail_loop(once=once))

    async def _loop(self, n: int, *, once: bool) -> None:
        owner = f"{self.identity}:{n}"
        while not self._stopping.is_set():
            try:
                worked = await self.run_one(owner)
            except Exception:
                log.exception("worker loop error; continuing")
                worked = False
            if once and not worked:
                return
            if not worked:
                await self._sleep(self.settings.worker_poll_seconds)

    async def _mail_loop(self, *, once: bool) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.mailer.send_due()
            except Exception:
                log.exception("mail loop error; continuing")
                sent = 0
            if once and sent == 0:
                async with self.sessionmaker() as session:
                    if not await self.mailer.has_due(session):
                        return
            if sent == 0:
                await self._sleep(self.settings.worker_poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def run_one(self, owner: str) -> bool:
        """Promote due exports, claim one and process it; False when nothing was due."""
        now = utcnow()
        async with self.sessionmaker() as session:
            await promote_due(session, now)
            pk = await claim_next(
                session, owner=owner, now=now, lease_seconds=self.settings.worker_lease_seconds
            )
        if pk is None:
            return False
        await self._process(pk, owner)
        return True

    async def _process(self, pk: int, owner: str) -> None:
        async with self.sessionmaker() as session:
            export = await session.get(DataExport, pk)
            if export is None:
                return
            session.expunge(export)
        if export.attempts > self.settings.worker_max_attempts:
            await self._fail(export, owner, "max-retries-reached")
            return
        renewer = asyncio.create_task(self._keep_lease(pk, owner))
        produced: Produced | None = None
        try:
            run_at = await asyncio.to_thread(self._occurrence, export)  # rules can be slow
            produced = await self._produce(export, run_at, renewer)
            await self._publish(export, owner, run_at, produced)
        except RecordLimitReached:
            await self._fail(export, owner, "record-limit-exceeded")
        except LostClaim:
            log.warning("lost the claim on export %s; another worker or a delete took it", pk)
        except Exception:
            log.exception("export %s failed (attempt %s)", export.id, export.attempts)
            await self._retry_or_fail(export, owner)
        finally:
            renewer.cancel()
            # A renewer that already ended with LostClaim (or an error) was handled above.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
            if produced is not None:
                self.storage.discard(produced.temp)

    def _occurrence(self, export: DataExport) -> datetime:
        """When this run counts as happening, which is when relative date ranges are evaluated:
        now for a one-off (spec §5); for a recurring export its occurrence, and after
        downtime the latest missed one."""
        if not export.recurring:
            return utcnow()
        start = parse_iso_datetime(export.recurring["start"])
        missed = latest_missed(export.recurring["instruction"], start, utcnow())
        return max(export.scheduled_time, missed) if missed else export.scheduled_time

    async def _keep_lease(self, pk: int, owner: str) -> None:
        interval = self.settings.worker_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            async with self.sessionmaker() as session:
                held = await renew(
                    session,
                    pk=pk,
                    owner=owner,
                    now=utcnow(),
                    lease_seconds=self.settings.worker_lease_seconds,
                )
            if not held:
                raise LostClaim

    async def _produce(
        self, export: DataExport, run_at: datetime, renewer: asyncio.Task[None]
    ) -> Produced:
        """Stream the rows into a temporary file: constant memory, one pass."""
        resource = RESOURCES[export.resource]
        fields = export_fields(resource, export.fields)
        stmt = build_source_query(
            resource=resource,
            organization_id=export.organization_id,
            fields=fields,
            arguments=export.arguments or {},
            date_range=export.date_range,
            now=run_at,
        )
        maximum = record_limit(self.settings, export.format)
        writer = make_writer(
            export.format, fields=fields, resource=resource.name, title=export.name
        )
        keys = record_keys(fields)
        money = [f.path for f in fields if f.kind is Kind.MONEY]
        handle, temp = self.storage.open_temp()
        records = 0
        try:
            with handle:
                out = HashingWriter(handle)
                async with self.sessionmaker() as session:
                    out.write(writer.header())
                    connection = await session.connection()  # Core rows: no ORM loading per row
                    result = await connection.stream(stmt.execution_options(yield_per=BATCH_ROWS))
                    async for partition in result.partitions(BATCH_ROWS):
                        if renewer.done():
                            renewer.result()  # re-raises LostClaim
                        batch = [to_record(row, keys, money) for row in partition]
                        records += len(batch)
                        if records > maximum:
                            raise RecordLimitReached
                        out.write(writer.rows(batch))
                out.write(await asyncio.to_thread(writer.footer))  # pdf renders here
        except BaseException:
            self.storage.discard(temp)
            raise
        return Produced(
            temp=temp,
            size=out.size,
            sha256=out.digest.hexdigest(),
            records=records,
            content_type=writer.content_type,
            extension=writer.extension,
        )

    async def _publish(
        self, export: DataExport, owner: str, run_at: datetime, produced: Produced
    ) -> None:
        """Make the file visible and the export completed in one step, or not at all."""
        file_id = new_id("file")
        key = f"{file_id}.{produced.extension}"
        name = f"{_slug(export.name)}-{run_at:%Y%m%d-%H%M%S}.{produced.extension}"
        now = utcnow()
        status, scheduled = COMPLETED, run_at
        if export.recurring:
            start = parse_iso_datetime(export.recurring["start"])
            upcoming = await asyncio.to_thread(
                next_run_after, export.recurring["instruction"], start, max(run_at, now)
            )
            if upcoming is not None:
                status, scheduled = PENDING, upcoming
        self.storage.publish(produced.temp, key)
        try:
            async with self.sessionmaker() as session:
                result = await session.execute(
                    update(DataExport)
                    .where(held_by(export.pk, owner))  # type: ignore[arg-type]
                    .values(
                        status=status,
                        scheduled_time=scheduled,
                        file_id=file_id,
                        record_count=produced.records,
                        failure_reason=None,
                        attempts=0,
                        not_before=None,
                        lease_owner=None,
                        lease_expires=None,
                        run_time=run_at,
                        updated_time=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    raise LostClaim
                session.add(
                    ExportFile(
                        id=file_id,
                        export_pk=export.pk,
                        organization_id=export.organization_id,
                        name=name,
                        content_type=produced.content_type,
                        size=produced.size,
                        sha256=produced.sha256,
                        storage_key=key,
                        record_count=produced.records,
                        created_time=now,
                    )
                )
                queue_emails(
                    session,
                    export=export,
                    file_id=file_id,
                    record_count=produced.records,
                    now=now,
                )
                expired = await self._expired_files(session, export.pk, file_id, now)
                await session.commit()
        except BaseException:
            self.storage.delete(key)
            raise
        for old_key in expired:
            self.storage.delete(old_key)
        log.info("export %s completed: %s records", export.id, produced.records)

    async def _expired_files(
        self, session: AsyncSession, export_pk: int, newest: str, now: datetime
    ) -> list[str]:
        """Older files past retention go; the newest is always kept."""
        cutoff = now - timedelta(days=self.settings.export_file_retention_days)
        rows = (
            await session.execute(
                select(ExportFile.id, ExportFile.storage_key).where(
                    ExportFile.export_pk == export_pk,
                    ExportFile.id != newest,
                    ExportFile.created_time < cutoff,
                )
            )
        ).all()
        if rows:
            await session.execute(delete(ExportFile).where(ExportFile.id.in_([r[0] for r in rows])))
        return [r[1] for r in rows]

    async def _fail(self, export: DataExport, owner: str, reason: str) -> None:
        """Give up on this run. A recurring export keeps its schedule: one bad night must not
        end a nightly export, so it waits for its next occurrence with the reason shown."""
        now = utcnow()
        status, scheduled = FAILED, export.scheduled_time
        if export.recurring:
            start = parse_iso_datetime(export.recurring["start"])
            try:
                upcoming = await asyncio.to_thread(
                    next_run_after, export.recurring["instruction"], start, now
                )
            except Exception:  # a stored rule that can no longer be evaluated: stop here
                log.exception("export %s: its schedule cannot be evaluated", export.id)
                upcoming = None
            if upcoming is not None:
                status, scheduled = PENDING, upcoming
        async with self.sessionmaker() as session:
            await session.execute(
                update(DataExport)
                .where(held_by(export.pk, owner))  # type: ignore[arg-type]
                .values(
                    status=status,
                    scheduled_time=scheduled,
                    failure_reason=reason,
                    attempts=0 if status == PENDING else export.attempts,
                    lease_owner=None,
                    lease_expires=None,
                    not_before=None,
                    updated_time=now,
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def _retry_or_fail(self, export: DataExport, owner: str) -> None:
        pk, attempts = export.pk, export.attempts
        if attempts >= self.settings.worker_max_attempts:
            await self._fail(export, owner, "max-retries-reached")
            return
        delay = self.settings.worker_retry_base_seconds * 2 ** (attempts - 1)
        now = utcnow()
        async with self.sessionmaker() as session:
            await session.execute(
                update(DataExport)
                .where(held_by(pk, owner))  # type: ignore[arg-type]
                .values(
                    status=QUEUED,
                    not_before=now + timedelta(seconds=delay),
                    lease_owner=None,
                    lease_expires=None,
                    updated_time=now,
                )
                .execution_options(synchronize_session=False)
            )
            await session.commit()


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "export"


async def run_standalone(settings: Settings, *, concurrency: int, once: bool) -> int:
    """`python -m app worker`: SIGTERM/SIGINT finish the current export, then exit."""
    from app.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    worker = Worker(
        settings, make_sessionmaker(engine), Storage(settings.storage_dir), concurrency=concurrency
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    log.info("worker %s started (concurrency %s)", worker.identity, concurrency)
    try:
        await worker.run(once=once)
    finally:
        await engine.dispose()
    log.info("worker %s stopped", worker.identity)
    return 0
