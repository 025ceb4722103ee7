"""Health: `/health/live` answers without touching anything, `/health/ready` checks the database
(reachable, migrated to the head), the storage directory (writable) and the workers' heartbeats,
on real apps whose database, storage or worker is really broken. No body ever carries the
database URL, a path or a secret."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url

import app.exports.worker as worker_module
from app.exports.health import PROBE_PREFIX
from app.exports.heartbeats import fresh_seconds
from app.exports.storage import KEY, Storage
from app.exports.worker import Worker
from app.migrate import alembic_config
from app.models import WorkerHeartbeat, utcnow
from app.settings import Settings
from tests.conftest import Harness, start_harness, with_settings

HEAD = "0008"
sqlite_only = pytest.mark.sqlite_only  # a SQLite file of its own


def secrets_of(settings: Settings) -> list[str]:
    """What must never appear in a health body."""
    url = make_url(settings.database_url)
    found = [
        settings.database_url,
        url.render_as_string(hide_password=True),
        str(settings.storage_dir),
        str(settings.var_dir),
        settings.signing_secret,
        settings.api_key_pepper,
    ]
    if url.password:
        found.append(str(url.password))
    if url.database and url.get_backend_name() == "sqlite":
        found.append(url.database)
    return [s for s in found if s]


async def get(client: httpx.AsyncClient, settings: Settings, path: str) -> httpx.Response:
    response = await client.get(path)
    assert response.headers["content-type"] == "application/json"
    for secret in secrets_of(settings):
        assert secret not in response.text, (secret, response.text)
    return response


async def ready(harness: Harness) -> httpx.Response:
    return await get(harness.client, harness.settings, "/health/ready")


async def wait_ready(harness: Harness, *, ready_: bool = True) -> dict[str, Any]:
    """The in-process worker beats right after startup, not before the first request."""
    for _ in range(100):
        response = await ready(harness)
        if (response.status_code == 200) is ready_:
            body: dict[str, Any] = response.json()
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"readiness never became {ready_}: {response.text}")


def assert_not_ready(response: httpx.Response, *failing: str) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "not-ready"
    assert body["failing"] == list(failing)
    for name, check in body["checks"].items():
        assert check["ok"] is (name not in failing), body
    return body


@contextlib.asynccontextmanager
async def app_with(settings: Settings) -> AsyncIterator[Harness]:
    async for harness in start_harness(settings):
        yield harness


# --- a healthy app --------------------------------------------------------------------------


async def test_live_and_ready_on_a_healthy_app(harness: Harness) -> None:
    with harness.count_statements() as counter:
        live = await get(harness.client, harness.settings, "/health/live")
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert counter.count == 0  # the process answers: nothing else is touched

    response = await ready(harness)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "status": "ready",
        "checks": {
            "database": {"ok": True},
            "storage": {"ok": True},
            "workers": {
                "ok": True,
                "mode": "off",
                "fresh": 0,  # WORKER_MODE=off: no standalone worker yet is not a failure
                "freshWithinSeconds": fresh_seconds(harness.settings.worker_poll_seconds),
            },
        },
    }


async def test_the_checks_use_no_request_connection(settings: Settings) -> None:
    """Readiness opens a connection of its own: with the request pool held, it still answers."""
    async with (
        app_with(with_settings(settings, database_pool_size=1)) as harness,
        harness.session() as session,
    ):
        await session.connection()
        assert (await ready(harness)).status_code == 200


async def test_the_index_links_where_to_go(harness: Harness) -> None:
    response = await get(harness.client, harness.settings, "/")
    assert response.status_code == 200
    links = {link["rel"]: link["href"] for link in response.json()["_links"]}
    assert links == {
        "graphql": "http://testserver/graphql",
        "dataExports": "http://testserver/data-exports",
        "docs": "http://testserver/docs",
        "openapi": "http://testserver/openapi.json",
        "ready": "http://testserver/health/ready",
    }
    assert (await harness.client.get("/data-exports")).status_code == 401  # a route, not a 404
    options = await harness.client.options("/health/ready")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS"


# --- the database ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_postgres_server_that_is_not_there_is_unreachable(settings: Settings) -> None:
    url = f"postgresql+asyncpg://postgres:hunter2-db-password@127.0.0.1:{free_port()}/exports"
    async with app_with(with_settings(settings, database_url=url)) as harness:
        live = await get(harness.client, harness.settings, "/health/live")
        assert live.status_code == 200
        body = assert_not_ready(await ready(harness), "database")
        assert body["checks"]["database"] == {"ok": False, "reason": "unreachable"}
        assert body["checks"]["workers"]["fresh"] is None  # unknown, not a failure when off
        assert "hunter2" not in str(body)


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def exists(path: Path) -> bool:
    return path.exists()


def write_garbage(path: Path) -> None:
    path.write_bytes(b"not a database, " * 512)


@sqlite_only
async def test_a_sqlite_file_removed_or_replaced_under_a_running_app(
    harness: Harness, tmp_path: Path
) -> None:
    path = Path(make_url(harness.settings.database_url).database or "")
    assert (await ready(harness)).status_code == 200
    async with harness.session() as session:  # the pool holds the old file open meanwhile
        await session.connection()

        remove_database(path)
        body = assert_not_ready(await ready(harness), "database")
        assert body["checks"]["database"] == {"ok": False, "reason": "unreachable"}
        assert not exists(path)  # the check created no empty database in its place

        sqlite3.connect(path).close()  # an empty database
        body = assert_not_ready(await ready(harness), "database")
        assert body["checks"]["database"] == {
            "ok": False,
            "reason": "not-migrated",
            "revision": None,
            "head": HEAD,
        }

        remove_database(path)
        write_garbage(path)
        body = assert_not_ready(await ready(harness), "database")
        assert body["checks"]["database"] == {"ok": False, "reason": "unreachable"}


@sqlite_only
async def test_a_sqlite_file_at_an_older_revision_is_not_migrated(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0001")
    async with app_with(with_settings(settings, database_url=url)) as harness:
        body = assert_not_ready(await ready(harness), "database")
    assert body["checks"]["database"] == {
        "ok": False,
        "reason": "not-migrated",
        "revision": "0001",
        "head": HEAD,
    }


async def test_a_database_behind_the_head_is_not_migrated(harness: Harness) -> None:
    """Both databases: the recorded revision moved back, then restored."""
    async with harness.session() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = '0002'"))
        await session.commit()
    try:
        body = assert_not_ready(await ready(harness), "database")
        assert body["checks"]["database"]["revision"] == "0002"
    finally:
        async with harness.session() as session:
            await session.execute(text(f"UPDATE alembic_version SET version_num = '{HEAD}'"))
            await session.commit()
    assert (await ready(harness)).status_code == 200


# --- storage --------------------------------------------------------------------------------


async def test_storage_that_is_a_file_is_not_writable(settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "files-is-a-file"
    blocker.write_text("in the way\n")
    async with app_with(with_settings(settings, storage_dir=blocker)) as harness:
        body = assert_not_ready(await ready(harness), "storage")
    assert body["checks"]["storage"] == {"ok": False, "reason": "not-writable"}


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory bind-mounted read-only onto itself (root ignores modes, not mounts)."""
    target = tmp_path / "read-only-files"
    target.mkdir()
    (target / "kept.txt").write_text("already here\n")
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(target), str(target)],
        capture_output=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot bind-mount here: {mounted.stderr.decode()}"
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


async def test_storage_on_a_read_only_mount_is_not_writable(
    settings: Settings, read_only_dir: Path
) -> None:
    async with app_with(with_settings(settings, storage_dir=read_only_dir)) as harness:
        body = assert_not_ready(await ready(harness), "storage")
    assert body["checks"]["storage"] == {"ok": False, "reason": "not-writable"}


async def test_the_storage_probe_leaves_nothing_and_is_never_a_storage_key(
    harness: Harness,
) -> None:
    storage_dir = harness.settings.storage_dir
    (storage_dir / "kept.txt").parent.mkdir(parents=True, exist_ok=True)
    (storage_dir / "kept.txt").write_text("an operator's file\n")
    for _ in range(3):
        assert (await ready(harness)).status_code == 200
    assert sorted(os.listdir(storage_dir)) == ["kept.txt"]
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:16]}"
    assert not KEY.fullmatch(probe)
    (storage_dir / probe).write_text("left by a crash\n")
    assert list(Storage(storage_dir).listing(older_than=float("inf"))) == []  # never swept


# --- workers --------------------------------------------------------------------------------


async def heartbeat_rows(harness: Harness) -> list[WorkerHeartbeat]:
    async with harness.session() as session:
        return list(await session.scalars(select(WorkerHeartbeat)))


async def test_the_inprocess_worker_must_be_fresh(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One beat at startup, then none unless the test asks: staleness is the test's to decide.
    monkeypatch.setattr(worker_module, "heartbeat_seconds", lambda _poll: 3600.0)
    async with app_with(with_settings(settings, worker_mode="inprocess")) as harness:
        body = await wait_ready(harness)
        assert body["checks"]["workers"]["mode"] == "inprocess"
        assert body["checks"]["workers"]["fresh"] == 1
        worker: Worker = harness.app.state.worker
        (row,) = await heartbeat_rows(harness)
        assert (row.identity, row.kind) == (worker.identity, "inprocess")

        bound = fresh_seconds(settings.worker_poll_seconds)
        async with harness.session() as session:
            await session.execute(
                update(WorkerHeartbeat).values(last_seen=utcnow() - timedelta(seconds=bound + 60))
            )
            await session.commit()
        body = assert_not_ready(await ready(harness), "workers")
        workers = body["checks"]["workers"]
        assert workers["reason"] == "stale"
        assert workers["fresh"] == 0
        assert workers["lastSeenSecondsAgo"] >= bound + 60

        await worker.beat()
        assert (await ready(harness)).status_code == 200

        worker.stop()  # a clean stop deletes the row
        for _ in range(100):
            if not await heartbeat_rows(harness):
                break
            await asyncio.sleep(0.05)
        assert await heartbeat_rows(harness) == []
        body = assert_not_ready(await ready(harness), "workers")
        assert body["checks"]["workers"]["reason"] == "no-heartbeat"


async def test_standalone_workers_are_counted_when_worker_mode_is_off(harness: Harness) -> None:
    """Another worker's stale row counts for nothing; WORKER_MODE=off never fails on workers."""
    now = utcnow()
    async with harness.session() as session:
        await session.execute(
            insert(WorkerHeartbeat).values(
                identity="gone:1:dead",
                kind="standalone",
                started_time=now - timedelta(hours=2),
                last_seen=now - timedelta(hours=1),
            )
        )
        await session.commit()
    worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
    running = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            body = (await ready(harness)).json()
            if body["checks"]["workers"]["fresh"] == 1:
                break
            await asyncio.sleep(0.05)
        assert body["status"] == "ready"
        assert body["checks"]["workers"]["fresh"] == 1
        kinds = {row.identity: row.kind for row in await heartbeat_rows(harness)}
        assert kinds == {"gone:1:dead": "standalone", worker.identity: "standalone"}
    finally:
        worker.stop()
        await running
    async with harness.session() as session:
        remaining = await session.scalar(select(func.count()).select_from(WorkerHeartbeat))
    assert remaining == 1  # its own row went at the clean stop; the dead one is left stale
    response = await ready(harness)
    assert response.status_code == 200
    assert response.json()["checks"]["workers"]["fresh"] == 0


async def test_a_worker_drain_leaves_no_heartbeat(harness: Harness) -> None:
    """`worker --once` is over before anyone could rely on it: no row."""
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    assert await heartbeat_rows(harness) == []


async def test_rows_unseen_for_a_day_are_pruned_by_a_beating_worker(harness: Harness) -> None:
    now = utcnow()
    async with harness.session() as session:
        for identity, age in (("old:1:aaaa", timedelta(days=2)), ("recent:1:bbbb", timedelta())):
            await session.execute(
                insert(WorkerHeartbeat).values(
                    identity=identity,
                    kind="standalone",
                    started_time=now - age,
                    last_seen=now - age,
                )
            )
        await session.commit()
    worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
    await worker.beat()
    identities = sorted(row.identity for row in await heartbeat_rows(harness))
    assert identities == sorted(["recent:1:bbbb", worker.identity])
