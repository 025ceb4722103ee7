"""Apply the Alembic migrations that ship inside the package, from any working directory."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str) -> None:
    """Idempotent: a database at head is left as it is."""
    command.upgrade(alembic_config(database_url), "head")


def shipped_heads() -> frozenset[str]:
    """The head revisions of the migrations in this package: what a database must be at."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def current_heads(connection: Connection) -> frozenset[str]:
    """The revisions a database is at (empty when it was never migrated)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())
