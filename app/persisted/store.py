"""Where automatic persisted queries keep their documents, shared by every process.

A document is stored under the SHA-256 of its text, which the caller has checked, so a store
never has to trust what it is given and any process may answer any hash. Both stores are
bounded: past `max_entries` the least-recently-used documents go (a client whose document
was evicted gets `PersistedQueryNotFound` and registers it again). `last_used` is refreshed
at most once a minute per document, so a hit is a read, not a write.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import PersistedQuery, utcnow

TOUCH_AFTER = timedelta(minutes=1)
"""A hit refreshes a document's `last_used` only when it is older than this."""


class DocumentStore(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, document: str) -> None: ...

    async def close(self) -> None: ...


class DatabaseStore:
    """The `persisted_queries` table (the default: every deployment already has it)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_entries: int) -> None:
        self.sessions = sessions
        self.max_entries = max_entries

    async def get(self, sha256: str) -> str | None:
        now = utcnow()
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(PersistedQuery.document, PersistedQuery.last_used).where(
                        PersistedQuery.sha256 == sha256
                    )
                )
            ).one_or_none()
            if row is None:
                return None
            document, last_used = row
            if now - last_used >= TOUCH_AFTER:
                await session.execute(
                    update(PersistedQuery)
                    .where(PersistedQuery.sha256 == sha256)
                    .values(last_used=now)
                )
                await session.commit()
            return str(document)

    async def put(self, sha256: str, document: str) -> None:
        """Insert (a concurrent insert of the same hash is the same text: nothing to do), then
        evict the least recently used beyond the bound. Concurrent inserts can overshoot the
        bound by their number until the next insert evicts again."""
        now = utcnow()
        async with self.sessions() as session:
            dialect = session.get_bind().dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(PersistedQuery).values(
                sha256=sha256, document=document, created_time=now, last_used=now
            )
            await session.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
            count = (await session.execute(select(func.count(PersistedQuery.sha256)))).scalar_one()
            excess = count - self.max_entries
            if excess > 0:
                oldest = (
                    select(PersistedQuery.sha256)
                    .order_by(PersistedQuery.last_used, PersistedQuery.sha256)
                    .limit(excess)
                )
                await session.execute(
                    delete(PersistedQuery).where(
                        PersistedQuery.sha256.in_(oldest.scalar_subquery())
                    )
                )
            await session.commit()

    async def close(self) -> None:
        return None


class RedisStore:
    """Redis, when GRAPHQL_APQ_REDIS_URL is set: one string per document and a sorted set of
    hashes by last use, which is what eviction pops from (the server's own maxmemory policy is
    the operator's business and may be shared with other applications)."""

    def __init__(self, url: str, max_entries: int, prefix: str = "exports-gateway:apq:") -> None:
        from redis.asyncio import Redis  # imported only when configured

        self.redis = Redis.from_url(url, decode_responses=True)
        self.max_entries = max_entries
        self.prefix = prefix
        self.recency = prefix + "lru"

    def _key(self, sha256: str) -> str:
        return self.prefix + "doc:" + sha256

    async def get(self, sha256: str) -> str | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._key(sha256))
            pipe.zadd(self.recency, {sha256: time.time()}, xx=True)
            document, _ = await pipe.execute()
        return None if document is None else str(document)

    async def put(self, sha256: str, document: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(sha256), document)
            pipe.zadd(self.recency, {sha256: time.time()})
            pipe.zcard(self.recency)
            *_, count = await pipe.execute()
        excess = int(count) - self.max_entries
        if excess > 0:
            evicted: list[Any] = await self.redis.zpopmin(self.recency, excess)
            if evicted:  # [(member, score), ...]
                await self.redis.delete(*(self._key(str(pair[0])) for pair in evicted))

    async def close(self) -> None:
        await self.redis.aclose()
