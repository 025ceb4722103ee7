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


async def consume_write(
    session: AsyncSession, *, organization_id: str, limit: int, window_seconds: int
) -> RateState:
    """Count one write; raises RateLimited when the window is already full.

    Runs in its own transaction (committed here) so the count holds even when the write it
    guards is then rejected: a client hammering with bad bodies is still limited.
    """
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
    await session.commit()
    if count > limit:
        raise RateLimited(limit=limit, retry_at_epoch=reset, retry_after_seconds=reset - now)
    return RateState(limit=limit, remaining=max(limit - count, 0), reset_epoch=reset)
