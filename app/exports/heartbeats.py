"""Worker heartbeats: each running worker keeps a `worker_heartbeats` row fresh, so readiness
can tell whether workers run (app/exports/health.py).

A worker beats once when it starts and then every `heartbeat_seconds` (WORKER_POLL_SECONDS, but
never more often than every 5 s), and deletes its row when it stops cleanly. A row is fresh
while its `last_seen` is within `fresh_seconds`: three beats, so two missed beats (a busy
database, a slow sweep) are not yet a dead worker. A killed worker's row simply goes stale;
rows unseen for `PRUNE_AFTER` are deleted by any beating worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.db import rowcount, unit_of_work
from app.models import WorkerHeartbeat

MIN_HEARTBEAT_SECONDS = 5.0
BEATS_PER_BOUND = 3
PRUNE_AFTER = timedelta(days=1)


def heartbeat_seconds(poll_seconds: float) -> float:
    """How often a worker beats: its poll interval, but at most once every 5 s."""
    return max(poll_seconds, MIN_HEARTBEAT_SECONDS)


def fresh_seconds(poll_seconds: float) -> float:
    """How recent a beat must be to count: 3 x max(WORKER_POLL_SECONDS, 5 s) (15 s by default)."""
    return BEATS_PER_BOUND * heartbeat_seconds(poll_seconds)


async def beat(
    sessions: async_sessionmaker[AsyncSession],
    *,
    identity: str,
    kind: str,
    started: datetime,
    now: datetime,
) -> None:
    """Upsert this worker's row. Only its own worker writes a row, so an UPDATE and, when it
    matched nothing (the first beat, or the row was pruned), an INSERT cannot race."""
    async with unit_of_work(sessions) as session:
        seen = await session.execute(
            update(WorkerHeartbeat)
            .where(WorkerHeartbeat.identity == identity)
            .values(last_seen=now)
            .execution_options(synchronize_session=False)
        )
        if not rowcount(seen):
            await session.execute(
                insert(WorkerHeartbeat).values(
                    identity=identity, kind=kind, started_time=started, last_seen=now
                )
            )
        await session.execute(
            delete(WorkerHeartbeat)
            .where(WorkerHeartbeat.last_seen < now - PRUNE_AFTER)
            .execution_options(synchronize_session=False)
        )
        await session.commit()


async def forget(sessions: async_sessionmaker[AsyncSession], *, identity: str) -> None:
    """A clean stop: the worker is gone, not stale."""
    async with unit_of_work(sessions) as session:
        await session.execute(
            delete(WorkerHeartbeat)
            .where(WorkerHeartbeat.identity == identity)
            .execution_options(synchronize_session=False)
        )
        await session.commit()


@dataclass(frozen=True)
class Heartbeats:
    fresh: int
    """Workers seen within the bound, of every kind and process."""
    own_last_seen: datetime | None
    """When the named worker last beat (None: no row, or no worker named)."""


async def read(
    connection: AsyncConnection, *, identity: str | None, now: datetime, fresh_within: float
) -> Heartbeats:
    """One statement, so the count and the named worker's beat come from one snapshot (a beat
    committing between two reads made a ready report that counted no fresh worker)."""
    since = now - timedelta(seconds=fresh_within)
    wanted = WorkerHeartbeat.last_seen >= since
    if identity is not None:
        wanted = or_(wanted, WorkerHeartbeat.identity == identity)
    rows = (
        await connection.execute(
            select(WorkerHeartbeat.identity, WorkerHeartbeat.last_seen).where(wanted)
        )
    ).all()
    own = next((seen for who, seen in rows if identity is not None and who == identity), None)
    fresh = sum(1 for _, seen in rows if seen >= since)
    return Heartbeats(fresh=fresh, own_last_seen=own)
