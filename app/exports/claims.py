"""Claiming export jobs: the export row is the queue (procrastinate-style).

One conditional `UPDATE … RETURNING` per claim: on PostgreSQL the candidate is picked with
`FOR UPDATE SKIP LOCKED`; on SQLite the single statement is atomic because writers serialize.
A claim is a lease: a worker that dies stops renewing it, and another takes the export over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DataExport

PENDING, QUEUED, PROCESSING = "pending", "queued", "processing"


async def promote_due(session: AsyncSession, now: datetime) -> None:
    """Exports whose scheduled time has come move from pending to queued."""
    await session.execute(
        update(DataExport)
        .where(DataExport.status == PENDING, DataExport.scheduled_time <= now)
        .values(status=QUEUED, updated_time=now)
    )
    await session.commit()


def _claimable(now: datetime) -> object:
    return or_(
        and_(
            DataExport.status == QUEUED,
            or_(DataExport.not_before.is_(None), DataExport.not_before <= now),
        ),
        and_(DataExport.status == PROCESSING, DataExport.lease_expires < now),
    )


async def claim_next(
    session: AsyncSession, *, owner: str, now: datetime, lease_seconds: int
) -> int | None:
    """Take the most overdue claimable export; returns its pk or None."""
    candidate = (
        select(DataExport.pk)
        .where(_claimable(now))  # type: ignore[arg-type]
        .order_by(DataExport.scheduled_time, DataExport.pk)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    stmt = (
        update(DataExport)
        .where(DataExport.pk == candidate.scalar_subquery(), _claimable(now))  # type: ignore[arg-type]
        .values(
            status=PROCESSING,
            lease_owner=owner,
            lease_expires=now + timedelta(seconds=lease_seconds),
            attempts=DataExport.attempts + 1,
            updated_time=now,
        )
        .returning(DataExport.pk)
        .execution_options(synchronize_session=False)
    )
    pk = (await session.execute(stmt)).scalar_one_or_none()
    await session.commit()
    return pk


async def renew(
    session: AsyncSession, *, pk: int, owner: str, now: datetime, lease_seconds: int
) -> bool:
    """Extend the lease; False means the claim was lost (expired and taken, or deleted)."""
    result = await session.execute(
        update(DataExport)
        .where(
            DataExport.pk == pk,
            DataExport.lease_owner == owner,
            DataExport.status == PROCESSING,
        )
        .values(lease_expires=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    await session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def held_by(pk: int, owner: str) -> object:
    """The condition every write of a claimed export must carry."""
    return and_(
        DataExport.pk == pk, DataExport.lease_owner == owner, DataExport.status == PROCESSING
    )
