"""Readiness: is this process fit to take requests? The database answers and is migrated to the
head of the shipped migrations, the storage directory takes a file, and the workers that should
run are beating (app/exports/heartbeats.py).

Every check opens what it checks afresh (a connection of its own, not one from the pool, which
may still hold a SQLite file that was removed or replaced since), gives up after
`CHECK_TIMEOUT_SECONDS`, and never raises: a failure is a short reason. Reports never carry
the database URL, a path or an error's text (those go to the log): the endpoint needs no
credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from app.db import is_sqlite
from app.exports import heartbeats
from app.migrate import current_heads, shipped_heads
from app.models import utcnow
from app.settings import Settings

log = logging.getLogger("app.health")

CHECK_TIMEOUT_SECONDS = 2.0
PROBE_PREFIX = ".health-"
"""The storage probe's name: a dot name, never one of storage's keys, so no sweeper judges it."""


def probe_engine(database_url: str) -> AsyncEngine:
    """An engine that connects afresh for every check. A SQLite file is opened read-write only
    if it exists: a check must not create an empty database where one was removed."""
    url = make_url(database_url)
    database = url.database or ""
    plain_file = database not in ("", ":memory:") and not database.startswith("file:")
    if is_sqlite(database_url) and plain_file:
        url = url.set(
            database=f"file:{quote(database)}", query={**url.query, "mode": "rw", "uri": "true"}
        )
    return create_async_engine(
        url, poolclass=NullPool, connect_args={"timeout": CHECK_TIMEOUT_SECONDS}
    )


@dataclass
class Readiness:
    """What the checks need, built once per process from the settings."""

    engine: AsyncEngine
    storage_dir: Path
    heads: frozenset[str]
    worker_mode: str
    fresh_within: float
    worker_identity: str | None = None
    """This process's worker (WORKER_MODE=inprocess): it must be beating."""
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def of(cls, settings: Settings, *, worker_identity: str | None = None) -> Readiness:
        return cls(
            engine=probe_engine(settings.database_url),
            storage_dir=settings.storage_dir,
            heads=shipped_heads(),  # read once, at startup
            worker_mode=settings.worker_mode,
            fresh_within=heartbeats.fresh_seconds(settings.worker_poll_seconds),
            worker_identity=worker_identity,
        )

    async def close(self) -> None:
        await self.engine.dispose()


@dataclass(frozen=True)
class Report:
    checks: dict[str, dict[str, Any]]

    @property
    def failing(self) -> list[str]:
        return [name for name, check in self.checks.items() if not check["ok"]]

    @property
    def ready(self) -> bool:
        return not self.failing

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": "ready" if self.ready else "not-ready"}
        if not self.ready:
            body["failing"] = self.failing
        body["checks"] = self.checks
        return body


async def check_ready(readiness: Readiness) -> Report:
    """Run every check (database and workers share one connection; storage in parallel)."""
    database_and_workers, storage = await asyncio.gather(
        _database_and_workers(readiness), _storage(readiness.storage_dir)
    )
    database, workers = database_and_workers
    return Report({"database": database, "storage": storage, "workers": workers})


async def _database_and_workers(
    readiness: Readiness,
) -> tuple[dict[str, Any], dict[str, Any]]:
    database: dict[str, Any]
    beats: heartbeats.Heartbeats | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with readiness.engine.connect() as connection:
                current = await connection.run_sync(current_heads)
                if current == readiness.heads:
                    database = {"ok": True}
                    beats = await _heartbeats(connection, readiness)
                else:
                    database = {
                        "ok": False,
                        "reason": "not-migrated",
                        "revision": ", ".join(sorted(current)) or None,
                        "head": ", ".join(sorted(readiness.heads)),
                    }
    except TimeoutError:
        log.warning("readiness: the database gave no answer within %g s", CHECK_TIMEOUT_SECONDS)
        database = {"ok": False, "reason": "timeout"}
    except Exception as exc:
        log.warning("readiness: the database is unreachable: %s", _first_line(exc))
        database = {"ok": False, "reason": "unreachable"}
    return database, _workers(readiness, beats)


async def _heartbeats(
    connection: AsyncConnection, readiness: Readiness
) -> heartbeats.Heartbeats | None:
    try:
        return await heartbeats.read(
            connection,
            identity=readiness.worker_identity,
            now=readiness.clock(),
            fresh_within=readiness.fresh_within,
        )
    except Exception as exc:
        log.warning("readiness: cannot read worker heartbeats: %s", _first_line(exc))
        return None


def _workers(readiness: Readiness, beats: heartbeats.Heartbeats | None) -> dict[str, Any]:
    """With the worker in-process, this process's worker must be fresh; with WORKER_MODE=off
    the workers run elsewhere (or not yet): their count is reported, never a failure."""
    report: dict[str, Any] = {
        "ok": True,
        "mode": readiness.worker_mode,
        "fresh": beats.fresh if beats else None,
        "freshWithinSeconds": readiness.fresh_within,
    }
    if readiness.worker_mode != "inprocess":
        return report
    if beats is None:
        return report | {"ok": False, "reason": "unknown"}
    if readiness.worker_identity is None or beats.own_last_seen is None:
        return report | {"ok": False, "reason": "no-heartbeat"}
    age = (readiness.clock() - beats.own_last_seen).total_seconds()
    if age > readiness.fresh_within:
        return report | {"ok": False, "reason": "stale", "lastSeenSecondsAgo": round(age)}
    return report


async def _storage(root: Path) -> dict[str, Any]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await asyncio.to_thread(_write_probe, root)
    except TimeoutError:
        log.warning("readiness: storage took longer than %g s to write", CHECK_TIMEOUT_SECONDS)
        return {"ok": False, "reason": "timeout"}
    except OSError as exc:
        log.warning("readiness: storage is not writable: %s", exc)
        return {"ok": False, "reason": "not-writable"}
    return {"ok": True}


def _write_probe(root: Path) -> None:
    """Create, write and remove a small file, as a worker would (the directory is made the
    same way `Storage.open_temp` makes it)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{PROBE_PREFIX}{secrets.token_hex(8)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"ok\n")
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
