"""Claiming export jobs: the export row is the queue (procrastinate-style).

One conditional `UPDATE … RETURNING` per claim: on PostgreSQL the candidate is picked with
`FOR UPDATE SKIP LOCKED`; on SQLite the single statement is atomic because writers serialize.
A claim is a lease held by a token unique to that claim: a worker that dies stops renewing it,
and another takes the export over with a new token. The queue statements (promote, claim, and
the sweeper's) span organizations by design; every statement a worker runs for a claimed export
names the export's organization.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import rowcount
from app.exports.changes import announce, announce_many
from app.exports.status import ErrorCode, Status
from app.models import DataExport


@dataclass(frozen=True)
class Claim:
    """Which export a worker holds, and the token that proves it."""

    organization_id: str
    pk: int
    owner: str
    export_id: str


async def promote_due(session: AsyncSession, now: datetime) -> None:
    """Exports whose scheduled time has come move from pending to queued."""
    promoted = await session.execute(
        update(DataExport)
        .where(DataExport.status == Status.PENDING, DataExport.scheduled_time <= now)
        .values(status=Status.QUEUED, updated_time=now)
        .returning(DataExport.organization_id, DataExport.id)
    )
    await announce_many(session, [(row[0], row[1]) for row in promoted])
    await session.commit()


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(
            DataExport.status == Status.QUEUED,
            or_(DataExport.not_before.is_(None), DataExport.not_before <= now),
        ),
        and_(DataExport.status == Status.PROCESSING, DataExport.lease_expires < now),
    )


async def claim_next(
    session: AsyncSession, *, owner: str, now: datetime, lease_seconds: int
) -> Claim | None:
    """Take the most overdue claimable export under the token `owner`."""
    candidate = (
        select(DataExport.pk)
        .where(_claimable(now))
        .order_by(DataExport.scheduled_time, DataExport.pk)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    # Taking over an expired lease means the last worker died mid-run: that is this run's
    # latest error. A new run (no attempt yet) starts with a clean story.
    taken_over = DataExport.status == Status.PROCESSING
    first = DataExport.attempts == 0
    stmt = (
        update(DataExport)
        .where(DataExport.pk == candidate.scalar_subquery(), _claimable(now))
        .values(
            status=Status.PROCESSING,
            lease_owner=owner,
            lease_expires=now + timedelta(seconds=lease_seconds),
            attempts=DataExport.attempts + 1,
            updated_time=now,
            last_error_code=case(
                (taken_over, ErrorCode.WORKER_LOST.value),
                (first, None),
                else_=DataExport.last_error_code,
            ),
            last_error_message=case(
                (taken_over, ErrorCode.WORKER_LOST.message),
                (first, None),
                else_=DataExport.last_error_message,
            ),
            last_error_time=case(
                (taken_over, now), (first, None), else_=DataExport.last_error_time
            ),
            rows_written=0,
            rows_total=None,
        )
        .returning(DataExport.organization_id, DataExport.pk, DataExport.id)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(stmt)).one_or_none()
    if row is not None:
        await announce_many(session, [(row[0], row[2])])
    await session.commit()
    return Claim(organization_id=row[0], pk=row[1], owner=owner, export_id=row[2]) if row else None


def held_by(claim: Claim, *, now: datetime | None = None) -> ColumnElement[bool]:
    """The condition every write of a claimed export must carry. With `now`, the lease must
    also still run: renewing, reserving a file and publishing one need a live claim (the
    sweeper judges pending files by the same test); giving the export up does not."""
    held = and_(
        DataExport.organization_id == claim.organization_id,
        DataExport.pk == claim.pk,
        DataExport.lease_owner == claim.owner,
        DataExport.status == Status.PROCESSING,
    )
    return held if now is None else and_(held, DataExport.lease_expires >= now)


def live_claim(pk: object, owner: object, now: datetime) -> ColumnElement[bool]:
    """A claim still held: a pending file whose claim fails this may be swept."""
    return (
        select(DataExport.pk)
        .where(
            DataExport.pk == pk,
            DataExport.lease_owner == owner,
            DataExport.status == Status.PROCESSING,
            DataExport.lease_expires >= now,
        )
        .exists()
    )


async def renew(
    session: AsyncSession,
    *,
    claim: Claim,
    now: datetime,
    lease_seconds: int,
    progress: tuple[int, int | None] | None = None,
) -> bool:
    """Extend the lease, and record progress (rows written, rows in total when known) when
    given; False means the claim was lost (expired and taken, or deleted)."""
    values: dict[str, object] = {"lease_expires": now + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["rows_written"], values["rows_total"] = progress
    result = await session.execute(
        update(DataExport)
        .where(held_by(claim, now=now))
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if progress is not None and rowcount(result):
        await announce(session, claim.organization_id, claim.export_id)
    await session.commit()
    return bool(rowcount(result))
