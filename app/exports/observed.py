"""What `/metrics` reads from the database when scraped: exports by status and format, and the
queue (depth and the age of the oldest due export). Read at scrape time rather than counted as
things happen, so every process (and a standalone worker's work) reports the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import unit_of_work
from app.exports.status import Status
from app.models import DataExport


@dataclass(frozen=True)
class Snapshot:
    exports: list[tuple[str, str, int]]
    """(status, format, count) for every pair that has exports."""
    queue_depth: int
    """Exports due now and not yet taken: queued (past any retry backoff) or pending and due."""
    oldest_due_seconds: float
    """How long the oldest of those has been due; 0 when the queue is empty."""


async def snapshot(sessions: async_sessionmaker[AsyncSession], now: datetime) -> Snapshot:
    """Two statements: one GROUP BY, one aggregate over the due exports."""
    due_since = func.coalesce(DataExport.not_before, DataExport.scheduled_time)
    due = or_(
        and_(
            DataExport.status == Status.QUEUED,
            or_(DataExport.not_before.is_(None), DataExport.not_before <= now),
        ),
        and_(DataExport.status == Status.PENDING, DataExport.scheduled_time <= now),
    )
    async with unit_of_work(sessions) as session:
        rows = await session.execute(
            select(DataExport.status, DataExport.format, func.count()).group_by(
                DataExport.status, DataExport.format
            )
        )
        exports = [(str(status), str(fmt), int(count)) for status, fmt, count in rows]
        depth, oldest = (
            await session.execute(select(func.count(), func.min(due_since)).where(due))
        ).one()
    age = 0.0
    if isinstance(oldest, datetime):
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (now - oldest).total_seconds())
    return Snapshot(exports=exports, queue_depth=int(depth), oldest_due_seconds=age)
