"""Engine and session factory for SQLite (embedded default) or PostgreSQL, the same code for both.

SQLite gets WAL and a busy timeout so many processes (serve --workers N, standalone workers) can
share one file, plus the case-folding function the query module relies on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import greenlet_spawn

from app.metrics import db_pool_checked_out
from app.textfold import register_sqlite_functions

SQLITE_BUSY_TIMEOUT_MS = 30_000
PING_AFTER_IDLE_SECONDS = 0.5
"""A PostgreSQL connection back in the pool for longer is pinged before it is lent again."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, pool_size: int | None = None, **kwargs: Any) -> AsyncEngine:
    """`pool_size` bounds the connections a process holds at once (overflow included)."""
    if pool_size is not None:
        kwargs |= {"pool_size": pool_size, "max_overflow": 0}
    if is_sqlite(url):
        parsed = make_url(url)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_reset_on_return=None,  # _configure_sqlite's reset rolls back what needs it
            **kwargs,
        )
        _configure_sqlite(engine)
        _count_checkouts(engine)
        return engine
    engine = create_async_engine(url, **kwargs)
    _ping_idle_connections(engine)
    _count_checkouts(engine)
    return engine


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """PostgreSQL connections are checked before use when they sat idle in the pool, in one
    round trip, and replaced when dead (a DisconnectionError makes the pool take a fresh one).

    SQLAlchemy's pool_pre_ping pinged every checkout in three round trips (BEGIN, `;`,
    ROLLBACK, for pgbouncer's transaction mode): three of the four round trips of a read by id
    (issue 8). A simple-protocol `SELECT 1` is one message cycle, safe under pgbouncer too. As
    HikariCP's alive-bypass window does, a connection returned less than
    PING_AFTER_IDLE_SECONDS ago is lent without a ping: it just answered. A server that went
    away within that window fails the statement instead, and SQLAlchemy then replaces every
    pooled connection (tests/test_db_ping.py)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is not None and time.monotonic() - returned < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dbapi_connection.run_async(lambda driver: driver.execute("SELECT 1"))
        except Exception as error:
            raise DisconnectionError("the pooled connection did not answer a ping") from error


def driver_statement(stmt: Select[Any], dialect: Dialect) -> tuple[str, list[Any]]:
    """`stmt` as its driver runs it: the SQL text (positional parameters) and the parameters'
    values, processed as execute() would process them (a date-time as the dialect stores
    it). For reading through the driver itself: the PostgreSQL COPY of
    app/exports/pg_copy.py, aiosqlite's cursor in app/exports/source.py."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors: dict[str, Any] = dict(compiled._bind_processors)  # what execute() applies
    names = compiled.positiontup or []
    arguments = [
        processors[name](params[name]) if name in processors else params[name] for name in names
    ]
    return compiled.string, arguments


def _count_checkouts(engine: AsyncEngine) -> None:
    """The pool-use gauge of /metrics: connections this process's engines have handed out."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(*_: Any) -> None:
        db_pool_checked_out.inc()

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(*_: Any) -> None:
        db_pool_checked_out.dec()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_sqlite_functions(dbapi_connection)

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, reset_state: Any) -> None:
        """A connection going back to the pool is rolled back only when a transaction is open
        (sqlite3 knows): after a read there is none, and each rollback is a hop to aiosqlite's
        thread. A connection discarded outside the event loop (garbage collected) is closed,
        which ends its transaction anyway."""
        if reset_state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE matched (typed as Result, which does not declare it)."""
    return int(getattr(result, "rowcount", 0))


async def to_the_end(cleanup: Awaitable[None]) -> None:
    """Await a session's cleanup to its end even when the task is cancelled meanwhile: cut off,
    a rollback leaves its connection half reset and the pool would hand it on in the middle of
    it. graphql-core cancels the siblings of a failed field, a timeout or a closing socket its
    operations. The cancellation is raised once the cleanup is done."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved: the cancellation is what propagates
                raise
            cancelled = True
        except Exception as exc:  # the cleanup failed
            if cancelled:  # after a cancellation: that is still what propagates
                raise asyncio.CancelledError from exc
            raise
    if cancelled:
        raise asyncio.CancelledError


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One short session: rolled back on failure, closed (its connection back in the pool) at
    the end. A statement cut off by cancellation leaves its connection in an unknown state, so
    that connection is invalidated rather than reused. Committing is the caller's decision."""
    session = sessions()
    try:
        yield session
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # the cancellation is what propagates
            await to_the_end(session.invalidate())
        raise
    except BaseException:
        # A rollback expires what the session holds; detached first, rows keep what they loaded.
        session.expunge_all()
        await to_the_end(session.rollback())
        raise
    finally:
        await to_the_end(session.close())


StatementListener = Callable[[str], None]
_direct_listeners: WeakKeyDictionary[Engine, list[StatementListener]] = WeakKeyDictionary()


def listen_direct(engine: AsyncEngine, listener: StatementListener) -> None:
    """Call `listener` with the SQL of every statement `fetch_direct` sends on `engine`: those
    bypass SQLAlchemy's execution events (tests count statements with both)."""
    _direct_listeners.setdefault(engine.sync_engine, []).append(listener)


def remove_direct(engine: AsyncEngine, listener: StatementListener) -> None:
    _direct_listeners.get(engine.sync_engine, []).remove(listener)


Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Sequence[Any]]]]
"""Runs one statement (SQL compiled for the engine's dialect, positional parameters)."""


@dataclass
class _Reader:
    """The connection a process's hot SQLite reads share (see `direct_reads`)."""

    connection: AsyncConnection
    driver: Any


_readers: WeakKeyDictionary[Engine, _Reader] = WeakKeyDictionary()


async def _sqlite_reader(engine: AsyncEngine) -> _Reader:
    found = _readers.get(engine.sync_engine)
    if found is not None:
        return found
    connection = await engine.connect()
    raw = await connection.get_raw_connection()
    found = _readers.get(engine.sync_engine)  # opened meanwhile by a concurrent read
    if found is not None:
        await connection.close()
        return found
    reader = _readers[engine.sync_engine] = _Reader(connection, raw.driver_connection)
    return reader


def _shares(engine: AsyncEngine) -> bool:
    """Only a pool of two or more may lend one for good (DATABASE_POOL_SIZE=1 would be left
    with nothing for the other work)."""
    size = getattr(engine.sync_engine.pool, "size", None)
    return callable(size) and int(size()) >= 2


async def close_direct_reads(engine: AsyncEngine) -> None:
    """Give the shared SQLite read connection back (before the engine is disposed)."""
    reader = _readers.pop(engine.sync_engine, None)
    if reader is not None:
        await reader.connection.close()


@asynccontextmanager
async def direct_reads(engine: AsyncEngine) -> AsyncIterator[Fetch]:
    """Statements that each go to the driver in one call: aiosqlite's `execute_fetchall` is one
    hop to its thread where SQLAlchemy's cursor takes four (cursor, execute, fetch, close);
    asyncpg's `fetch` is one round trip. For the hot read paths only (app/exports/reads.py):
    values come back as the driver gives them, and only SELECTs may be sent.

    On SQLite every read of the process shares one connection, held from the pool until
    `close_direct_reads`: aiosqlite runs a connection's statements one at a time on its own
    thread, as SQLite would anyway, and a checkout and a return per read cost more than the
    read. A SELECT outside BEGIN opens no transaction, so each sees the latest commit (WAL). A
    read that fails gives the connection up (the next read opens another). On PostgreSQL each
    read takes a pooled connection (one statement at a time per connection), and one whose read
    failed or was cut off by a cancellation is invalidated; so does SQLite with a pool of one."""
    listeners = _direct_listeners.get(engine.sync_engine, ())
    if engine.dialect.name == "sqlite" and _shares(engine):
        reader = await _sqlite_reader(engine)

        async def fetch_shared(sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
            for listener in listeners:
                listener(sql)
            try:
                return list(await reader.driver.execute_fetchall(sql, params))
            except Exception:
                if _readers.get(engine.sync_engine) is reader:
                    await close_direct_reads(engine)
                raise

        yield fetch_shared
        return
    sqlite = engine.dialect.name == "sqlite"
    # Straight from the pool: a Connection around it (made, closed, reset) was ~15% of a
    # PostgreSQL read by id in-process. The pool's checkout and return do their I/O (the idle
    # ping, closing an overflow connection) through the driver's adapter, hence greenlet_spawn.
    raw = await engine.raw_connection()
    driver: Any = raw.driver_connection

    async def fetch(sql: str, params: Sequence[Any]) -> list[Sequence[Any]]:
        for listener in listeners:
            listener(sql)
        if sqlite:
            return list(await driver.execute_fetchall(sql, params))
        return list(await driver.fetch(sql, *params))

    try:
        yield fetch
    except BaseException:
        # Cut off by a cancellation, or failed (the server gone: the driver's own error, which
        # SQLAlchemy never sees to renew its pool): never handed on, the pool opens another.
        with contextlib.suppress(Exception):
            await to_the_end(greenlet_spawn(raw.invalidate))
        raise
    finally:
        await to_the_end(greenlet_spawn(raw.close))
