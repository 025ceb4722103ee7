"""Shared helpers for the worker, notification and schedule tests.

Everything runs against the real harness app and database: exports are created through REST,
the worker is the real `Worker` driven step by step, and subprocess tests run the real
`python -m app worker` command on the harness database.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from app.demo_data import generate
from app.exports.worker import Worker
from app.models import DataExport, ExportFile
from tests.conftest import Harness, Tenant, with_settings

REPO = Path(__file__).resolve().parents[2]
ANCHOR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
"""Every seeded data set ends here; rows go back 400 days from it."""


def make_worker(harness: Harness, **changes: Any) -> Worker:
    settings = with_settings(harness.settings, **changes) if changes else harness.settings
    return Worker(settings, harness.app.state.sessionmaker, harness.app.state.storage)


async def run_worker(harness: Harness, **changes: Any) -> None:
    """One full `--once` pass of a fresh worker: exports first, then what mail is due."""
    await make_worker(harness, **changes).run(once=True)


async def seed(
    harness: Harness,
    organization_id: str = "acme",
    *,
    customers: int = 200,
    transactions: int = 1500,
    resources: Collection[str] | None = None,
    anchor: datetime = ANCHOR,
) -> dict[str, int]:
    async with harness.session() as session:
        return await generate(
            session,
            organization_id=organization_id,
            customers=customers,
            transactions=transactions,
            anchor=anchor,
            resources=resources,
        )


async def create(
    harness: Harness, tenant: Tenant, body: dict[str, Any], *, status: int = 201
) -> dict[str, Any]:
    response = await harness.client.post("/data-exports", headers=tenant.headers, json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def fetch(
    harness: Harness, tenant: Tenant, export_id: str, *, expand: str | None = None
) -> dict[str, Any]:
    params = {"expand": expand} if expand else {}
    response = await harness.client.get(
        f"/data-exports/{export_id}", headers=tenant.headers, params=params
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def completed_export(
    harness: Harness, tenant: Tenant, fmt: str = "csv", name: str = "Monthly report"
) -> dict[str, Any]:
    """A transactions export the worker has completed, fetched with its file embedded."""
    body = await create(harness, tenant, {"name": name, "resource": "transactions", "format": fmt})
    await run_worker(harness)
    done = await fetch(harness, tenant, body["id"], expand="file")
    assert done["status"] == "completed"
    return done


async def export_row(harness: Harness, export_id: str) -> DataExport:
    async with harness.session() as session:
        row = await session.scalar(select(DataExport).where(DataExport.id == export_id))
        assert row is not None
        return row


async def set_export(harness: Harness, export_id: str, **values: Any) -> None:
    """Change worker bookkeeping directly, as time passing or another process would."""
    async with harness.session() as session:
        await session.execute(update(DataExport).where(DataExport.id == export_id).values(**values))
        await session.commit()


async def file_rows(harness: Harness, export_id: str | None = None) -> list[ExportFile]:
    async with harness.session() as session:
        stmt = select(ExportFile).order_by(ExportFile.created_time, ExportFile.id)
        if export_id is not None:
            stmt = stmt.join(DataExport, DataExport.pk == ExportFile.export_pk).where(
                DataExport.id == export_id
            )
        return list(await session.scalars(stmt))


def published(storage_dir: Path) -> list[Path]:
    """Files a reader could be given: everything but hidden temporary files."""
    if not storage_dir.exists():
        return []
    return sorted(p for p in storage_dir.iterdir() if not p.name.startswith("."))


def partials(storage_dir: Path) -> list[Path]:
    if not storage_dir.exists():
        return []
    return sorted(storage_dir.glob(".partial-*"))


def links(body: dict[str, Any]) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in body["_links"]}


def local(href: str) -> str:
    """An absolute href as a path the harness client can request."""
    parts = urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- subprocess workers ----------------------------------------------------------------------


def worker_env(harness: Harness, **extra: str) -> dict[str, str]:
    s = harness.settings
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WORKER_", "SMTP_", "EXPORT_", "DATABASE_", "STORAGE_"))
    }
    env.update(
        APP_ENV="development",
        VAR_DIR=str(s.var_dir),
        DATABASE_URL=s.database_url,
        STORAGE_DIR=str(s.storage_dir),
        SIGNING_SECRET=s.signing_secret,
        API_KEY_PEPPER=s.api_key_pepper,
        WORKER_POLL_SECONDS="0.05",
        WORKER_RETRY_BASE_SECONDS="0",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_worker(
    harness: Harness, args: Sequence[str], log: Path, **extra: str
) -> subprocess.Popen[bytes]:
    """`python -m app worker ARGS` on the harness database; stderr goes to `log`."""
    with log.open("wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "app", "worker", *args],
            cwd=REPO,
            env=worker_env(harness, **extra),
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )


async def wait_process(process: subprocess.Popen[bytes], within: float) -> int:
    deadline = time.monotonic() + within
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"worker {process.pid} did not exit within {within}s")
        await asyncio.sleep(0.05)
    return process.returncode


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Subprocesses a test starts; any still running at the end are killed (by pid)."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()
