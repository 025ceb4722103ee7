"""The export worker: claims due exports, streams their rows into a file, publishes it in step
with the database (see app/exports/storage.py), and queues the emails. Runs in-process (serve)
or standalone (`python -m app worker`), and sweeps what crashed workers left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.db import rowcount, unit_of_work
from app.errors import RecordLimitExceeded
from app.exports.changes import announce
from app.exports.claims import Claim, claim_next, held_by, promote_due, renew
from app.exports.fields import Field
from app.exports.formats import FormatWriter, make_writer
from app.exports.formats.base import ColumnWriter
from app.exports.formats.csv_writer import CsvWriter
from app.exports.heartbeats import beat, forget, heartbeat_seconds
from app.exports.limits import Limits
from app.exports.links import Linker, base_url
from app.exports.notify import Mailer, queue_emails
from app.exports.pg_copy import copy_lines, copy_statement
from app.exports.resources import RESOURCES
from app.exports.schedule import latest_missed, next_run_after
from app.exports.source import (
    batches,
    bounded_count,
    build_source_query,
    columns,
    describe_export,
    export_fields,
    reading_for,
    records,
)
from app.exports.status import ErrorCode, FailureReason, Status
from app.exports.storage import HashingWriter, Storage
from app.exports.sweeper import sweep
from app.exports.webhook_sender import WebhookSender
from app.exports.webhooks import COMPLETED, FAILED, queue_events
from app.ids import new_id
from app.metrics import export_duration, export_retries, export_rows, export_runs
from app.models import DataExport, ExportFile, PendingFile, utcnow
from app.settings import Settings, redact_url
from app.timefmt import parse_iso_datetime

log = logging.getLogger("app.worker")

BATCH_ROWS = 2000
"""Rows read and written at a time: one await (and on SQLite one thread hop) per batch, and
the per-batch costs of the column path paid 2000 rows at a time. Not more: a batch's cells,
columns and lines (~1.5 MB at 2000 rows of the default transactions fields) then stay in a
core's L2 cache; at 5000 rows the same exports ran ~12% slower (csv and json alike)."""
PROGRESS_SECONDS = 1.0
"""How often a running export's progress (rows written) is recorded, at most."""


class LostClaim(Exception):
    """The lease expired and another worker or the sweeper took over, or the export was deleted."""


class Failed(Exception):
    """An attempt failed in a known way; `code` is what the export shows as its latest error."""

    def __init__(self, code: ErrorCode) -> None:
        super().__init__(code.value)
        self.code = code


def error_code(exc: BaseException) -> ErrorCode:
    """The stable code of an attempt's failure: what was being done when it failed."""
    if isinstance(exc, Failed):
        return exc.code
    if isinstance(exc, SQLAlchemyError | ConnectionError):  # the network to the database
        return ErrorCode.DATABASE_UNAVAILABLE
    if isinstance(exc, OSError):  # files: the stream, the temp file, the rename
        return ErrorCode.STORAGE_UNAVAILABLE
    return ErrorCode.INTERNAL_ERROR


@dataclass
class Progress:
    """A running export's rows so far, and the rows matching when it started once counted."""

    written: int = 0
    total: int | None = None
    counting: Select[Any] | None = None
    """The count to run beside the stream, set once the run is planned."""


@dataclass(frozen=True)
class Plan:
    """What one run reads and how it writes it, settled before any file exists."""

    statement: Select[Any]
    writer: FormatWriter
    fields: tuple[Field, ...]
    maximum: int


@dataclass(frozen=True)
class Produced:
    key: str
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
        kind: str = "standalone",
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.concurrency = concurrency or settings.worker_concurrency
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.kind = kind
        """`inprocess` (beside a server) or `standalone`, as its heartbeat row says."""
        self.started = utcnow()
        self.mailer = Mailer(settings, sessionmaker)
        self.webhooks = WebhookSender(settings, sessionmaker)
        self.linker = Linker(
            base_url(settings.public_base_url),
            settings.signing_secret,
            settings.signed_link_ttl_seconds,
        )
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the exports in hand, then return from run()."""
        self._stopping.set()

    async def run(self, *, once: bool = False) -> None:
        if once:  # drain the exports first, so the mail they queue is sent before returning
            # No heartbeat: a drain is over before anyone could rely on it.
            await self.sweep()
            await asyncio.gather(*(self._loop(n, once=True) for n in range(self.concurrency)))
            await asyncio.gather(self._mail_loop(once=True), self._webhook_loop(once=True))
            return
        # Beating from the start: the first sweep of a large directory can take a while.
        beating = asyncio.create_task(self._heartbeat_loop(), name="worker-heartbeat")
        try:
            await self.sweep()
            loops = [self._loop(n, once=False) for n in range(self.concurrency)]
            await asyncio.gather(
                *loops,
                self._mail_loop(once=False),
                self._webhook_loop(once=False),
                self._sweep_loop(),
            )
        except BaseException:
            beating.cancel()  # not a clean stop: the row goes stale
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beating
            raise
        await beating  # it ends at the stop, after its beat in hand
        await self._forget()

    async def beat(self) -> None:
        """Upsert this worker's heartbeat row (app/exports/heartbeats.py)."""
        try:
            await beat(
                self.sessionmaker,
                identity=self.identity,
                kind=self.kind,
                started=self.started,
                now=utcnow(),
            )
        except Exception:
            log.warning("heartbeat failed; retrying at the next interval", exc_info=True)

    async def _heartbeat_loop(self) -> None:
        while not self._stopping.is_set():
            await self.beat()
            await self._sleep(heartbeat_seconds(self.settings.worker_poll_seconds))

    async def _forget(self) -> None:
        try:
            await forget(self.sessionmaker, identity=self.identity)
        except Exception:
            log.warning("could not delete the heartbeat of %s; it goes stale", self.identity)

    async def sweep(self) -> None:
        try:
            await sweep(
                self.sessionmaker,
                self.storage,
                utcnow(),
                grace_seconds=self.settings.worker_lease_seconds,
            )
            await self.webhooks.prune(utcnow())
        except Exception:
            log.exception("sweep failed; retrying at the next interval")

    async def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            await self._sleep(self.settings.worker_sweep_seconds)
            if not self._stopping.is_set():
                await self.sweep()

    async def _loop(self, n: int, *, once: bool) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.run_one()
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

    async def _webhook_loop(self, *, once: bool) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self.webhooks.send_due()
            except Exception:
                log.exception("webhook loop error; continuing")
                sent = 0
            if once and sent == 0:
                return
            if sent == 0:
                await self._sleep(self.settings.worker_poll_seconds)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def run_one(self, owner: str | None = None) -> bool:
        """Promote due exports, claim one and process it; False when nothing was due.
        `owner` is the claim's token, fresh for every claim unless a test names it."""
        now = utcnow()
        owner = owner or f"{self.identity[-8:]}:{uuid.uuid4().hex}"
        async with unit_of_work(self.sessionmaker) as session:
            await promote_due(session, now)
            claim = await claim_next(
                session, owner=owner, now=now, lease_seconds=self.settings.worker_lease_seconds
            )
        if claim is None:
            return False
        await self._process(claim)
        return True

    async def _process(self, claim: Claim) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            export = await session.scalar(
                select(DataExport).where(
                    DataExport.organization_id == claim.organization_id,
                    DataExport.pk == claim.pk,
                )
            )
        if export is None:
            return
        if export.attempts > self.settings.worker_max_attempts:
            await self._fail(export, claim, FailureReason.MAX_RETRIES_REACHED, None)
            return
        done, progress = asyncio.Event(), Progress()
        renewer = asyncio.create_task(self._tend(claim, progress, done))
        key: str | None = None
        started, outcome = time.monotonic(), "lost"
        try:
            run_at = await self._occurrence(export)
            plan = self._plan(export, run_at)
            # Counted beside the stream, stopping one past the limit (beyond it the run fails).
            progress.counting = bounded_count(plan.statement, plan.maximum)
            file_id, key = await self._reserve(claim, plan.writer.extension)
            produced = await self._produce(plan, key, renewer, progress)
            await self._publish(export, claim, run_at, file_id, produced)
            key = None  # published: the file is the export's now
            outcome = "completed"
            export_rows.labels(export.format).inc(produced.records)
        except RecordLimitExceeded as exc:
            outcome = "failed"
            log.warning(
                "export %s failed on attempt %s: %s (%s)",
                export.id,
                export.attempts,
                ErrorCode.RECORD_LIMIT_EXCEEDED.value,
                exc,
            )
            await self._fail(
                export, claim, FailureReason.RECORD_LIMIT_EXCEEDED, ErrorCode.RECORD_LIMIT_EXCEEDED
            )
        except LostClaim:
            log.warning("lost the claim on export %s; another worker or a delete took it", claim.pk)
        except Exception as exc:
            code = error_code(exc)
            cause = exc.__cause__ if isinstance(exc, Failed) and exc.__cause__ else exc
            log.error(
                "export %s failed on attempt %s of %s: %s: %s: %s",
                export.id,
                export.attempts,
                self.settings.worker_max_attempts,
                code.value,
                type(cause).__name__,
                redact_url(str(cause))[:500],  # no password of a URL; the traceback follows
                exc_info=exc,
            )
            outcome = await self._retry_or_fail(export, claim, code)
        finally:
            export_runs.labels(export.format, outcome).inc()
            export_duration.labels(export.format, outcome).observe(time.monotonic() - started)
            # Asked to stop, not cancelled: a renewal cut off mid-statement left its connection
            # half reset (an error logged by the pool). One that already ended with LostClaim
            # (or an error) was handled above.
            done.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
            if key is not None:
                await self._abandon(claim, key)

    async def _occurrence(self, export: DataExport) -> datetime:
        """When this run counts as happening, which is when relative date ranges are evaluated:
        now for a one-off (spec §5); for a recurring export its occurrence, and after
        downtime the latest missed one."""
        if not export.recurring:
            return utcnow()
        try:
            start = parse_iso_datetime(export.recurring["start"])
            missed = await asyncio.to_thread(  # rules can be slow
                latest_missed, export.recurring["instruction"], start, utcnow()
            )
        except Exception as exc:
            raise Failed(ErrorCode.SCHEDULE_INVALID) from exc
        return max(export.scheduled_time, missed) if missed else export.scheduled_time

    async def _tend(self, claim: Claim, progress: Progress, done: asyncio.Event) -> None:
        """Until `done` is set: count the run's rows once it is planned, record progress at
        most every PROGRESS_SECONDS, and renew the lease every third of it. One connection,
        so a worker's pool (worker_pool_size) still holds two per export."""
        lease = self.settings.worker_lease_seconds
        tick = min(PROGRESS_SECONDS, lease / 3)
        renewed = time.monotonic()
        recorded: tuple[int, int | None] = (0, None)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=tick)
            if done.is_set():
                return
            if progress.counting is not None:
                progress.total = await self._count(progress.counting)
                progress.counting = None
            now_progress = (progress.written, progress.total)
            due = time.monotonic() - renewed >= lease / 3
            if now_progress == recorded and not due:
                continue
            async with unit_of_work(self.sessionmaker) as session:
                held = await renew(
                    session,
                    claim=claim,
                    now=utcnow(),
                    lease_seconds=lease,
                    progress=now_progress if now_progress != recorded else None,
                )
            if not held:
                raise LostClaim
            renewed, recorded = time.monotonic(), now_progress

    async def _count(self, statement: Select[Any]) -> int | None:
        """The rows a run will write, for its progress; None when they cannot be counted."""
        try:
            async with unit_of_work(self.sessionmaker) as session:
                return int(await session.scalar(statement) or 0)
        except Exception:
            log.warning("could not count the rows of a running export", exc_info=True)
            return None

    async def _reserve(self, claim: Claim, extension: str) -> tuple[str, str]:
        """Commit the pending row for the file about to be written, while the claim holds."""
        file_id = new_id("file")
        key = f"{file_id}.{extension}"
        async with unit_of_work(self.sessionmaker) as session:
            held = await session.execute(
                update(DataExport)
                .where(held_by(claim, now=utcnow()))
                .values(updated_time=DataExport.updated_time)  # locks the row on PostgreSQL
                .execution_options(synchronize_session=False)
            )
            if not rowcount(held):
                raise LostClaim
            await session.execute(
                insert(PendingFile).values(
                    storage_key=key,
                    organization_id=claim.organization_id,
                    export_pk=claim.pk,
                    lease_owner=claim.owner,
                    created_time=utcnow(),
                )
            )
            await session.commit()
        return file_id, key

    async def _abandon(self, claim: Claim, key: str) -> None:
        """Give up a file that will not be published: its row, then its bytes. What fails here
        is the sweeper's, once the claim is no longer held."""
        try:
            async with unit_of_work(self.sessionmaker) as session:
                result = await session.execute(
                    delete(PendingFile).where(
                        PendingFile.organization_id == claim.organization_id,
                        PendingFile.storage_key == key,
                        PendingFile.lease_owner == claim.owner,
                    )
                )
                await session.commit()
        except Exception:
            log.warning("could not abandon pending file %s; the sweeper will", key)
            return
        if rowcount(result) or not await self._is_published(claim, key):
            self.storage.delete(key)

    async def _is_published(self, claim: Claim, key: str) -> bool:
        async with unit_of_work(self.sessionmaker) as session:
            found = await session.scalar(
                select(ExportFile.id).where(
                    ExportFile.organization_id == claim.organization_id,
                    ExportFile.storage_key == key,
                )
            )
        return found is not None

    async def _batch_written(self, rows: int) -> None:
        """Called after every batch: lets the loop run the lease renewer and other exports
        between batches (tests pace a run here to watch its progress)."""
        await asyncio.sleep(0)

    def _plan(self, export: DataExport, run_at: datetime) -> Plan:
        resource = RESOURCES[export.resource]
        fields = export_fields(resource, export.fields)
        return Plan(
            statement=build_source_query(
                resource=resource,
                organization_id=export.organization_id,
                fields=fields,
                arguments=export.arguments or {},
                date_range=export.date_range,
                now=run_at,
            ),
            writer=make_writer(
                export.format,
                fields=fields,
                resource=resource.name,
                title=export.name,
                csv_dialect="excel" if export.csv_dialect == "excel" else None,
                about=describe_export(
                    resource,
                    name=export.name,
                    arguments=export.arguments or {},
                    date_range=export.date_range,
                    now=run_at,
                    generated=utcnow(),
                ),
            ),
            fields=tuple(fields),
            maximum=Limits.of(self.settings).records_for(export.format),
        )

    async def _produce(
        self, plan: Plan, key: str, renewer: asyncio.Task[None], progress: Progress
    ) -> Produced:
        """Stream the rows into the key's temp file: constant memory, one pass."""
        writer, written = plan.writer, 0
        with self.storage.open_temp(key) as handle:
            out = HashingWriter(handle)
            async with unit_of_work(self.sessionmaker) as session:
                out.write(writer.header())
                try:
                    connection = await session.connection()  # Core rows: no ORM per row
                    copying = (
                        copy_statement(plan.statement, plan.fields, connection.dialect)
                        if isinstance(writer, CsvWriter)
                        else None
                    )
                    if copying is not None:  # PostgreSQL renders the csv lines itself
                        written = await self._copy(
                            connection, copying, plan, out, renewer, progress
                        )
                    else:
                        written = await self._stream(connection, plan, out, renewer, progress)
                except SQLAlchemyError as exc:
                    raise Failed(ErrorCode.SOURCE_QUERY_FAILED) from exc
            try:
                footer = await asyncio.to_thread(writer.footer)  # pdf renders here
            except Exception as exc:
                raise Failed(ErrorCode.RENDER_FAILED) from exc
            out.write(footer)
        return Produced(
            key=key,
            size=out.size,
            sha256=out.digest.hexdigest(),
            records=written,
            content_type=writer.content_type,
            extension=writer.extension,
        )

    async def _stream(
        self,
        connection: AsyncConnection,
        plan: Plan,
        out: HashingWriter,
        renewer: asyncio.Task[None],
        progress: Progress,
    ) -> int:
        """Write the rows a batch at a time; the rows written."""
        writer, written = plan.writer, 0
        reading = reading_for(plan.statement, plan.fields, connection.dialect)
        # Columns for the writers that take them (csv, json): bulk work per column
        # instead of a record and a formatter call per cell.
        by_column = writer if isinstance(writer, ColumnWriter) else None
        async with contextlib.aclosing(
            batches(connection, reading.statement, BATCH_ROWS)
        ) as partitions:
            async for partition in partitions:
                written = self._check(written + len(partition), plan, renewer)
                if by_column is not None:
                    out.write(by_column.columns(columns(reading, partition, len(plan.fields))))
                else:
                    out.write(writer.rows(records(reading, partition)))
                progress.written = written
                await self._batch_written(written)
        return written

    async def _copy(
        self,
        connection: AsyncConnection,
        statement: Select[Any],
        plan: Plan,
        out: HashingWriter,
        renewer: asyncio.Task[None],
        progress: Progress,
    ) -> int:
        """Write the csv lines PostgreSQL renders (app/exports/pg_copy.py) as they arrive,
        with the same checks per chunk as `_stream` per batch; the rows written."""
        written = 0

        async def sink(chunk: bytes, rows: int) -> None:
            nonlocal written
            written = self._check(written + rows, plan, renewer)
            out.write(chunk)
            progress.written = written
            await self._batch_written(written)

        kinds = [field.kind for field in plan.fields]
        await copy_lines(connection, statement, kinds, sink, BATCH_ROWS)
        return written

    @staticmethod
    def _check(written: int, plan: Plan, renewer: asyncio.Task[None]) -> int:
        """`written`, once the claim is known to be held and the limit not passed."""
        if renewer.done():
            renewer.result()  # re-raises LostClaim
        if written > plan.maximum:
            raise RecordLimitExceeded(written, plan.maximum)
        return written

    async def _publish(
        self, export: DataExport, claim: Claim, run_at: datetime, file_id: str, produced: Produced
    ) -> None:
        """Rename the file into place, then in one transaction turn its pending row into the
        export's file and complete the export. The pending row covers the file until then."""
        name = f"{_slug(export.name)}-{run_at:%Y%m%d-%H%M%S}.{produced.extension}"
        now = utcnow()
        status, scheduled = Status.COMPLETED, run_at
        if export.recurring:
            start = parse_iso_datetime(export.recurring["start"])
            upcoming = await asyncio.to_thread(
                next_run_after, export.recurring["instruction"], start, max(run_at, now)
            )
            if upcoming is not None:
                status, scheduled = Status.PENDING, upcoming
        try:
            self.storage.publish(produced.key)
        except FileNotFoundError:  # swept: the claim was no longer held
            raise LostClaim from None
        async with unit_of_work(self.sessionmaker) as session:
            result = await session.execute(
                update(DataExport)
                .where(held_by(claim, now=now))
                .values(
                    status=status,
                    scheduled_time=scheduled,
                    file_id=file_id,
                    record_count=produced.records,
                    failure_reason=None,
                    # A one-off keeps its story (attempts, latest error); a recurring export's
                    # next run starts a new one.
                    attempts=0 if status == Status.PENDING else DataExport.attempts,
                    rows_written=produced.records,
                    not_before=None,
                    lease_owner=None,
                    lease_expires=None,
                    run_time=run_at,
                    updated_time=now,
                )
                .execution_options(synchronize_session=False)
            )
            if not rowcount(result):
                raise LostClaim
            reserved = await session.execute(
                delete(PendingFile).where(
                    PendingFile.organization_id == claim.organization_id,
                    PendingFile.storage_key == produced.key,
                    PendingFile.lease_owner == claim.owner,
                )
            )
            if not rowcount(reserved):
                raise LostClaim  # the sweeper took the file: its files are its to remove
            session.add(
                ExportFile(
                    id=file_id,
                    export_pk=claim.pk,
                    organization_id=claim.organization_id,
                    name=name,
                    content_type=produced.content_type,
                    size=produced.size,
                    sha256=produced.sha256,
                    storage_key=produced.key,
                    record_count=produced.records,
                    created_time=now,
                )
            )
            queue_emails(
                session, export=export, file_id=file_id, record_count=produced.records, now=now
            )
            await queue_events(
                session,
                organization_id=claim.organization_id,
                export_pk=claim.pk,
                event_type=COMPLETED,
                linker=self.linker,
                now=now,
            )
            expired = await self._expire_files(session, claim, file_id, now)
            await announce(session, claim.organization_id, export.id)
            await session.commit()
        for old_key in expired:  # rows first: a crash here leaves files the sweeper removes
            self.storage.delete(old_key)
        log.info("export %s completed: %s records", export.id, produced.records)

    async def _expire_files(
        self, session: AsyncSession, claim: Claim, newest: str, now: datetime
    ) -> list[str]:
        """Older files past retention go; the newest is always kept."""
        cutoff = now - timedelta(days=self.settings.export_file_retention_days)
        result = await session.execute(
            delete(ExportFile)
            .where(
                ExportFile.organization_id == claim.organization_id,
                ExportFile.export_pk == claim.pk,
                ExportFile.id != newest,
                ExportFile.created_time < cutoff,
            )
            .returning(ExportFile.storage_key)
        )
        return list(result.scalars())

    async def _fail(
        self,
        export: DataExport,
        claim: Claim,
        reason: FailureReason,
        error: ErrorCode | None,
    ) -> None:
        """Give up on this run. A recurring export keeps its schedule: one bad night must not
        end a nightly export, so it waits for its next occurrence with the reason shown.
        `error` is the last attempt's cause (None: the one recorded before stands)."""
        now = utcnow()
        status, scheduled = Status.FAILED, export.scheduled_time
        if export.recurring:
            start = parse_iso_datetime(export.recurring["start"])
            try:
                upcoming = await asyncio.to_thread(
                    next_run_after, export.recurring["instruction"], start, now
                )
            except Exception:  # a stored rule that can no longer be evaluated: stop here
                log.exception("export %s: its schedule cannot be evaluated", export.id)
                upcoming, error = None, ErrorCode.SCHEDULE_INVALID
            if upcoming is not None:
                status, scheduled = Status.PENDING, upcoming
        async with unit_of_work(self.sessionmaker) as session:
            failed = await session.execute(
                update(DataExport)
                .where(held_by(claim))
                .values(
                    status=status,
                    scheduled_time=scheduled,
                    failure_reason=reason,
                    attempts=0 if status == Status.PENDING else export.attempts,
                    lease_owner=None,
                    lease_expires=None,
                    not_before=None,
                    updated_time=now,
                    **_last_error(error, now),
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(failed):  # this claim's run: its event, once
                await queue_events(
                    session,
                    organization_id=claim.organization_id,
                    export_pk=claim.pk,
                    event_type=FAILED,
                    linker=self.linker,
                    now=now,
                )
            await announce(session, claim.organization_id, export.id)
            await session.commit()

    async def _retry_or_fail(self, export: DataExport, claim: Claim, error: ErrorCode) -> str:
        """Queue the export again after a backoff, or fail it; says which (a metric label)."""
        attempts = export.attempts
        if attempts >= self.settings.worker_max_attempts:
            await self._fail(export, claim, FailureReason.MAX_RETRIES_REACHED, error)
            return "failed"
        export_retries.labels(export.format).inc()
        delay = self.settings.worker_retry_base_seconds * 2 ** (attempts - 1)
        now = utcnow()
        async with unit_of_work(self.sessionmaker) as session:
            await session.execute(
                update(DataExport)
                .where(held_by(claim))
                .values(
                    status=Status.QUEUED,
                    not_before=now + timedelta(seconds=delay),
                    lease_owner=None,
                    lease_expires=None,
                    updated_time=now,
                    **_last_error(error, now),
                )
                .execution_options(synchronize_session=False)
            )
            await announce(session, claim.organization_id, export.id)
            await session.commit()
        return "retried"


def _last_error(error: ErrorCode | None, now: datetime) -> dict[str, Any]:
    """The columns that record an attempt's error (none when there is nothing new to record)."""
    if error is None:
        return {}
    return {"last_error_code": error, "last_error_message": error.message, "last_error_time": now}


def _slug(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:40] or "export"


def worker_pool_size(concurrency: int) -> int:
    """Connections a worker may hold at once: per export its stream and its lease renewer,
    plus the mail loop, the sweeper and the heartbeat. A smaller pool would starve a renewer
    while its export streams, and the claim would be lost."""
    return 2 * concurrency + 3


async def run_standalone(settings: Settings, *, concurrency: int, once: bool) -> int:
    """`python -m app worker`: SIGTERM/SIGINT finish the current export, then exit."""
    from app.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url, pool_size=worker_pool_size(concurrency))
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
