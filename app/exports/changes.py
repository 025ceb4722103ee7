"""The change feed: tells watchers that an export may have changed, so a subscription re-reads
it when something happened instead of on a clock. One feed per process, started by the app's
lifespan; a wake-up is a hint, never data (the watcher re-reads through its use case).

- PostgreSQL: every write that changes an export calls `announce` inside its own transaction;
  the database delivers `pg_notify('data_export_changes', '<org>/<id>')` at commit, so a
  rolled-back change is never announced. The feed LISTENs on one dedicated connection (not one
  of the pool's) and wakes the watchers of that export; after a lost connection it reconnects
  and wakes every watcher, since notifications sent meanwhile are gone.
- SQLite has no NOTIFY: one poller per process reads the state of every watched export in one
  query per `POLL_SECONDS` and wakes the watchers of those that changed or vanished. It runs
  only while someone watches. `announce` is a no-op there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from app.db import is_sqlite, unit_of_work
from app.models import DataExport

log = logging.getLogger("app.changes")

CHANNEL = "data_export_changes"
EVERYTHING = "*"
"""A payload that wakes every watcher (what a reconnected listener does by itself)."""
POLL_SECONDS = 0.25
"""SQLite: how often the one shared poller reads the watched exports' states."""
KEYS_PER_QUERY = 400
"""SQLite: watched exports read per statement (two bound values each)."""
CONNECT_SECONDS = 5.0
"""PostgreSQL: how long startup waits for the listener before going on without it."""
RECONNECT_MAX_SECONDS = 30.0

Key = tuple[str, str]
"""(organization_id, export id): a tenant's export, as every statement finds it."""
State = tuple[object, ...]
"""What a watcher may be shown changed: status, updatedTime, progress, the latest error."""


async def announce(session: AsyncSession, organization_id: str, export_id: str) -> None:
    """Announce a change to one export, delivered when `session` commits (PostgreSQL)."""
    await announce_many(session, [(organization_id, export_id)])


async def announce_many(session: AsyncSession, keys: Iterable[Key]) -> None:
    """Announce changes to many exports in one statement; a no-op on SQLite (polled)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    payloads = sorted({f"{organization_id}/{export_id}" for organization_id, export_id in keys})
    if payloads:
        await session.execute(
            text("SELECT pg_notify(:channel, p) FROM unnest(CAST(:payloads AS text[])) AS p"),
            {"channel": CHANNEL, "payloads": payloads},
        )


class Watch:
    """One watcher's doorbell: `wait` returns when its export may have changed."""

    def __init__(self) -> None:
        self._rung = asyncio.Event()

    def ring(self) -> None:
        self._rung.set()

    async def wait(self, seconds: float) -> bool:
        """Until rung (True) or `seconds` pass (False); then ready to be rung again."""
        rung = True
        try:
            async with asyncio.timeout(seconds):
                await self._rung.wait()
        except TimeoutError:
            rung = False
        self._rung.clear()
        return rung


class ChangeFeed:
    """Watchers by export. This base rings nobody: watchers then rely on their own fallback
    re-check (a core built without a feed)."""

    def __init__(self) -> None:
        self._watches: dict[Key, set[Watch]] = {}

    @contextlib.contextmanager
    def watch(self, organization_id: str, export_id: str) -> Iterator[Watch]:
        key = (organization_id, export_id)
        watch = Watch()
        self._watches.setdefault(key, set()).add(watch)
        self._watched(key)
        try:
            yield watch
        finally:
            watches = self._watches.get(key)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[key]
                    self._unwatched(key)

    @property
    def watchers(self) -> int:
        return sum(len(watches) for watches in self._watches.values())

    async def start(self) -> None:
        """Called once by the lifespan before serving."""

    async def stop(self) -> None:
        """Called once by the lifespan after serving."""

    def _watched(self, key: Key) -> None:
        """A watcher was added for `key`."""

    def _unwatched(self, key: Key) -> None:
        """The last watcher of `key` left."""

    def _ring(self, key: Key) -> None:
        for watch in self._watches.get(key, ()):
            watch.ring()

    def _ring_all(self) -> None:
        for watches in self._watches.values():
            for watch in watches:
                watch.ring()


class PollingFeed(ChangeFeed):
    """SQLite: one poller for the whole process, running only while something is watched."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self._sessions = sessions
        self._seen: dict[Key, State | None] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    def _watched(self, key: Key) -> None:
        if not self.polling:
            self._task = asyncio.create_task(self._poll(), name="export-change-poller")

    def _unwatched(self, key: Key) -> None:
        self._seen.pop(key, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        # Between the check and the return nothing awaits: a watcher added after the return
        # finds the task done and starts another.
        while self._watches:
            await asyncio.sleep(POLL_SECONDS)
            keys = list(self._watches)
            if not keys:
                return
            try:
                states = await self._states(keys)
            except Exception:
                log.warning("polling export changes failed; retrying", exc_info=True)
                continue
            for key in keys:
                state = states.get(key)  # None: deleted (or never there)
                # A key seen for the first time rings too: its watcher may have read the export
                # before a change this first read already includes.
                if key in self._watches and (key not in self._seen or self._seen[key] != state):
                    self._seen[key] = state
                    self._ring(key)

    async def _states(self, keys: list[Key]) -> dict[Key, State]:
        states: dict[Key, State] = {}
        async with unit_of_work(self._sessions) as session:
            for start in range(0, len(keys), KEYS_PER_QUERY):
                chunk = keys[start : start + KEYS_PER_QUERY]
                rows = await session.execute(
                    select(
                        DataExport.organization_id,
                        DataExport.id,
                        DataExport.status,
                        DataExport.updated_time,
                        DataExport.rows_written,
                        DataExport.rows_total,
                        DataExport.last_error_time,
                    ).where(tuple_(DataExport.organization_id, DataExport.id).in_(chunk))
                )
                for organization_id, export_id, *state in rows:
                    states[(organization_id, export_id)] = tuple(state)
        return states


class ListeningFeed(ChangeFeed):
    """PostgreSQL: LISTEN on one dedicated connection, fanned out to the watchers by export."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        # Its own connection, outside the request pool (which may hold a single one).
        self._engine: AsyncEngine = create_async_engine(database_url, poolclass=NullPool)
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="export-change-listener")
        try:
            async with asyncio.timeout(CONNECT_SECONDS):
                await self._listening.wait()
        except TimeoutError:
            log.warning("export change listener not connected yet; retrying in the background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._engine.dispose()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == EVERYTHING:
            self._ring_all()
            return
        organization_id, slash, export_id = payload.rpartition("/")  # ids hold no "/"
        if slash:
            self._ring((organization_id, export_id))

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._listen_once()
            except Exception:
                log.warning("export change listener failed; reconnecting", exc_info=True)
            if self._listening.is_set():  # it had been up: start the backoff again
                self._listening.clear()
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    async def _listen_once(self) -> None:
        """LISTEN until the connection is lost."""
        async with self._engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg's connection
            lost = asyncio.Event()
            driver.add_termination_listener(lambda _conn: lost.set())
            await driver.add_listener(CHANNEL, self._notified)
            self._listening.set()
            self._ring_all()  # whatever was announced while nobody listened
            await lost.wait()
            log.warning("export change listener lost its connection; reconnecting")


def make_feed(database_url: str, sessions: async_sessionmaker[AsyncSession]) -> ChangeFeed:
    if is_sqlite(database_url):
        return PollingFeed(sessions)
    return ListeningFeed(database_url)
