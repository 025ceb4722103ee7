"""Migrations keep data, and keys are never reused (SQLite needs AUTOINCREMENT for that)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import select

from app.migrate import alembic_config, upgrade
from app.models import DataExport
from tests.conftest import Harness, Tenant

EXPORT = {"name": "n", "resource": "customers", "format": "csv"}


def test_upgrading_an_existing_sqlite_database_keeps_exports_and_their_files(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            INSERT INTO organizations VALUES ('o', 'o', '2026-01-01');
            INSERT INTO users VALUES ('u', 'o', 'a@example.com', '', '', '2026-01-01');
            INSERT INTO data_exports (pk, id, organization_id, user_id, name, resource, format,
                arguments, email_notification, fields, scheduled_time, created_time,
                updated_time, status, attempts)
            VALUES (7, 'e', 'o', 'u', 'n', 'customers', 'csv', '{}', '[]', '[]',
                '2026-01-01', '2026-01-01', '2026-01-01', 'completed', 0);
            INSERT INTO export_files VALUES ('f', 7, 'o', 'n', 'text/csv', 1, 'x', 'k', 1,
                '2026-01-01');
            """
        )
    upgrade(url)
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT pk, id FROM data_exports").fetchall() == [(7, "e")]
        assert db.execute("SELECT id, export_pk FROM export_files").fetchall() == [("f", 7)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM data_exports WHERE pk = 7")
        db.execute(
            "INSERT INTO data_exports (id, organization_id, user_id, name, resource, format,"
            " arguments, email_notification, fields, scheduled_time, created_time,"
            " updated_time, status, attempts) VALUES ('e2', 'o', 'u', 'n', 'customers', 'csv',"
            " '{}', '[]', '[]', '2026-01-01', '2026-01-01', '2026-01-01', 'pending', 0)"
        )
        assert db.execute("SELECT pk FROM data_exports").fetchall() == [(8,)]


async def test_a_deleted_exports_number_is_never_given_to_the_next(
    harness: Harness, tenant: Tenant
) -> None:
    """The newest export deleted, the next one still gets a new number (both databases)."""
    client, headers = harness.client, tenant.headers
    first = (await client.post("/data-exports", headers=headers, json=EXPORT)).json()["id"]
    async with harness.session() as session:
        first_pk = await session.scalar(select(DataExport.pk).where(DataExport.id == first))
    assert (await client.delete(f"/data-exports/{first}", headers=headers)).status_code == 204
    second = (await client.post("/data-exports", headers=headers, json=EXPORT)).json()["id"]
    async with harness.session() as session:
        second_pk = await session.scalar(select(DataExport.pk).where(DataExport.id == second))
    assert first_pk is not None
    assert second_pk is not None
    assert second_pk > first_pk


async def test_the_models_match_the_migrations(database_url: str) -> None:
    """What the ORM declares is what the migrations built (columns, indexes, uniqueness), on
    the test's database (SQLite, or PostgreSQL when configured)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.db import make_engine
    from app.models import Base

    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert differences == []
