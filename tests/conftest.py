"""A real app on a real database for every test: a fresh SQLite file (copied from a migrated
template), or PostgreSQL when TEST_DATABASE_URL is set (one database per run, emptied between
tests)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from starlette.applications import Starlette

from app.auth import issue_api_key
from app.db import listen_direct, remove_direct
from app.demo import ensure_user
from app.exports.limits import Limits
from app.main import create_app
from app.migrate import upgrade
from app.models import Base, User
from app.settings import Settings

PG_URL = os.environ.get("TEST_DATABASE_URL")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: about PostgreSQL alone (make test-pg)")
    config.addinivalue_line("markers", "sqlite_only: about SQLite alone (make test)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test about the other database is not part of this run: deselected, never skipped."""
    other = "sqlite_only" if PG_URL else "postgres_only"
    elsewhere = [item for item in items if item.get_closest_marker(other)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run: a SQLite template file, or a fresh PostgreSQL database."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade(f"sqlite+aiosqlite:///{path}")
        yield str(path)
        return
    name = f"eg_test_{uuid.uuid4().hex[:10]}"
    admin = make_url(PG_URL)

    async def admin_sql(statement: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        path = tmp_path / "exports.db"
        shutil.copyfile(database_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield database_template
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)

    async def truncate() -> None:
        engine = create_async_engine(database_template)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        database_url=database_url,
        api_key_pepper="test-pepper",
        signing_secret="test-signing-secret",
        jwt_secret="test-jwt-secret-that-is-long-enough-for-hs256",
        worker_mode="off",
        storage_dir=tmp_path / "files",
        rate_limit_writes=100_000,
        worker_poll_seconds=0.05,
        worker_retry_base_seconds=0,
    )


@dataclass
class Tenant:
    organization_id: str
    user: User
    key: str
    read_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"REB-APIKEY": self.key}

    @property
    def read_headers(self) -> dict[str, str]:
        return {"REB-APIKEY": self.read_key}


@dataclass
class Harness:
    app: Starlette
    settings: Settings
    client: httpx.AsyncClient
    engine: AsyncEngine

    def session(self) -> AsyncSession:
        maker = self.app.state.sessionmaker
        session: AsyncSession = maker()
        return session

    async def tenant(self, organization_id: str, email: str = "ada@example.com") -> Tenant:
        async with self.session() as session:
            user = await ensure_user(
                session, organization_id=organization_id, email=email, first="Ada", last="L"
            )
            pepper = self.settings.api_key_pepper
            key = await issue_api_key(
                session, user=user, permissions=frozenset({"read", "write"}), pepper=pepper
            )
            read_key = await issue_api_key(
                session, user=user, permissions=frozenset({"read"}), pepper=pepper
            )
            await session.commit()
            return Tenant(organization_id, user, key, read_key)

    def count_statements(self) -> StatementCounter:
        """Counts every statement sent meanwhile. The API key cache is emptied first, so each
        counted request authenticates with its statement, as a key's first request does."""
        self.app.state.key_cache.clear()
        return StatementCounter(self.engine)


class StatementCounter:
    """Counts SQLAlchemy `before_cursor_execute` events while active, and the statements the
    hot reads send to the driver directly (app.db.direct_reads)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.statements: list[str] = []

    def _on_execute(self, *args: Any) -> None:
        self.statements.append(str(args[2]))

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
        listen_direct(self.engine, self.statements.append)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine.sync_engine, "before_cursor_execute", self._on_execute)
        remove_direct(self.engine, self.statements.append)

    @property
    def count(self) -> int:
        return len(self.statements)


async def start_harness(settings: Settings) -> AsyncIterator[Harness]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield Harness(app=app, settings=settings, client=client, engine=app.state.engine)


@pytest.fixture
async def harness(settings: Settings) -> AsyncIterator[Harness]:
    async for h in start_harness(settings):
        yield h


@pytest.fixture
async def tenant(harness: Harness) -> Tenant:
    return await harness.tenant("acme")


@pytest.fixture
def client(harness: Harness) -> httpx.AsyncClient:
    return harness.client


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)


def set_limits(harness: Harness, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """Serve with other limits (EXPORT_MAX_RECORDS, …): the settings and the core's copy."""
    changed = with_settings(harness.settings, **changes)
    monkeypatch.setattr(harness.app.state, "settings", changed)
    core = harness.app.state.core
    monkeypatch.setattr(harness.app.state, "core", replace(core, limits=Limits.of(changed)))


RATE_LIMIT_CLOCK = 1_800_001_234.0
"""A fixed wall clock for the rate limiter, mid-window for 600 s and 3600 s windows alike.

Windows are aligned to the epoch (`now - now % window`), so with the real clock a test whose
writes straddle a boundary (the top of a UTC hour, or every tenth minute) starts a fresh
window half-way and sees a 201 where it expects a 429."""


def freeze_rate_limit_clock(monkeypatch: pytest.MonkeyPatch) -> float:
    from app.exports import ratelimit

    monkeypatch.setattr(ratelimit, "time", types.SimpleNamespace(time=lambda: RATE_LIMIT_CLOCK))
    return RATE_LIMIT_CLOCK


async def add_user(harness: Harness, organization_id: str, email: str) -> User:
    async with harness.session() as session:
        user = await ensure_user(
            session, organization_id=organization_id, email=email, first="F", last="L"
        )
        await session.commit()
        return user


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, *, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m app ARGS` as a real process (the installed package, any directory)."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
