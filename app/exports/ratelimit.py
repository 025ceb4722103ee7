"""Writes per organization in fixed windows, counted in the database so every process agrees.

The upsert is the one place the dialect shows: both SQLite and PostgreSQL support
`INSERT … ON CONFLICT DO UPDATE … RETURNING`, through their own SQLAlchemy constructs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import RateLimited
from app.models import RateCounter


@dataclass(frozen=True)
class RateState:
    limit: int
    remaining: int
    reset_epoch: int
    counted_at: int
    exceeded: bool

    def refusal(self) -> RateLimited:
        return RateLimited(
            limit=self.limit,
            retry_at_epoch=self.reset_epoch,
            retry_after_seconds=self.reset_epoch - self.counted_at,
        )


async def count_write(
    session: AsyncSession, *, organization_id: str, limit: int, window_seconds: int
) -> RateState:
    """Count one write in the caller's transaction. The caller commits it on its own, before
    the write it guards, so the count holds even when that write is refused: a client
    hammering with bad bodies is still limited."""
    now = int(time.time())
    window = now - now % window_seconds
    reset = window + window_seconds
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = insert(RateCounter).values(
        organization_id=organization_id, window_start=window, count=1
    )
    stmt = upsert.on_conflict_do_update(
        index_elements=[RateCounter.organization_id, RateCounter.window_start],
        set_={"count": RateCounter.count + 1},
    ).returning(RateCounter.count)
    count = (await session.execute(stmt)).scalar_one()
    if count == 1:  # first write of a new window: forget the old ones
        await session.execute(
            delete(RateCounter).where(
                RateCounter.organization_id == organization_id, RateCounter.window_start < window
            )
        )
    return RateState(
        limit=limit,
        remaining=max(limit - count, 0),
        reset_epoch=reset,
        counted_at=now,
        exceeded=count > limit,
    )
