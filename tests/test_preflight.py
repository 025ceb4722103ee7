"""Refusing to start wrong, seen from outside: real processes, each refusal one line on stderr
(after the `database:` line when the settings were readable), a non-zero exit, no traceback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.migrate import alembic_config, upgrade
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MIGRATE = "run python -m app migrate"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def head() -> str:
    return ", ".join(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def commands() -> dict[str, list[str]]:
    return {
        "migrate": ["migrate"],
        "seed-demo": ["seed-demo", "--quiet", "--customers", "1", "--transactions", "1"],
        "create-api-key": ["create-api-key", "--organization", "o1", "--user", "x@example.com"],
        "worker": ["worker", "--once"],
        "serve": ["serve", "--port", str(free_port())],
    }


EVERY_COMMAND = list(commands())
NEEDS_MIGRATED = ["seed-demo", "create-api-key", "worker", "serve"]


def refusal(result: subprocess.CompletedProcess[str], database: str | None = None) -> str:
    """The one line of a refused command; `database` is the `database:` line expected first."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    if database is not None:
        assert lines[0] == f"database: {database}", result.stderr
        lines = lines[1:]
    assert len(lines) == 1, result.stderr
    return lines[0]


def succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db' / 'exports.db'}",
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_MODE": "off",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    path = tmp_path / "cwd"
    path.mkdir()
    return path


def sqlite_file(env: dict[str, str]) -> Path:
    return Path(env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def migrated(env: dict[str, str], migrated_template: Path) -> Path:
    """The test's SQLite file, migrated to head (copied: faster than `migrate` each time)."""
    path = sqlite_file(env)
    path.parent.mkdir()
    shutil.copyfile(migrated_template, path)
    return path


# --- Settings and URLs: refused before any database is touched.


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_a_bad_setting_stops_every_command(env: dict[str, str], cwd: Path, command: str) -> None:
    result = run_cli(commands()[command], {**env, "WORKER_POLL_SECONDS": "abc"}, cwd)
    assert refusal(result) == (
        "configuration error: WORKER_POLL_SECONDS='abc': must be a number between 0.01 and 3600"
    )
    assert result.returncode == 2


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_a_bad_database_url_stops_every_command(
    env: dict[str, str], cwd: Path, command: str
) -> None:
    result = run_cli(commands()[command], {**env, "DATABASE_URL": "foo://x"}, cwd)
    assert refusal(result) == (
        "configuration error: DATABASE_URL='foo://x': must be sqlite+aiosqlite:///PATH or "
        "postgresql+asyncpg://USER[:PASSWORD]@HOST[:PORT]/NAME"
    )


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_an_unreachable_server_is_one_line_without_the_password(
    env: dict[str, str], cwd: Path, command: str
) -> None:
    port = free_port()  # nothing listens there: connection refused
    url = f"postgresql+asyncpg://postgres:hunter2@127.0.0.1:{port}/exports"
    shown = f"postgresql+asyncpg://postgres:***@127.0.0.1:{port}/exports"
    result = run_cli(commands()[command], {**env, "DATABASE_URL": url}, cwd)
    assert refusal(result, shown) == (
        f"error: cannot connect to database {shown}: connection refused: is the server up? "
        "check DATABASE_URL"
    )
    assert "hunter2" not in result.stderr + result.stdout


# --- SQLite: missing, not migrated, a missing table, an unknown revision, not a database.


@pytest.mark.parametrize("command", NEEDS_MIGRATED)
def test_a_missing_sqlite_file_is_not_created(env: dict[str, str], cwd: Path, command: str) -> None:
    path = sqlite_file(env)
    result = run_cli(commands()[command], env, cwd)
    url = f"sqlite+aiosqlite:///{path}"
    assert refusal(result, url) == f"error: database {url} does not exist: {MIGRATE}"
    assert not path.parent.exists()
    assert list(cwd.iterdir()) == []


@pytest.mark.parametrize("command", NEEDS_MIGRATED)
def test_an_unmigrated_database_says_to_migrate(
    env: dict[str, str], cwd: Path, command: str
) -> None:
    path = sqlite_file(env)
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something_else (id INTEGER)")
    url = f"sqlite+aiosqlite:///{path}"
    result = run_cli(commands()[command], env, cwd)
    assert refusal(result, url) == (
        f"error: database {url} is not migrated (at none, head is {head()}): {MIGRATE}"
    )


def test_once_migrated_the_commands_run(env: dict[str, str], cwd: Path) -> None:
    path = sqlite_file(env)
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something_else (id INTEGER)")
    succeeded(run_cli(["migrate"], env, cwd))
    for command in ("seed-demo", "create-api-key", "worker"):  # serve: the end-to-end tests
        succeeded(run_cli(commands()[command], env, cwd))


def test_a_missing_table_is_one_line(env: dict[str, str], cwd: Path, migrated: Path) -> None:
    path = migrated
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE users")
    url = f"sqlite+aiosqlite:///{path}"
    line = refusal(run_cli(commands()["create-api-key"], env, cwd), url)
    assert line.startswith(f"error: database {url}: no such table: users")
    assert line.endswith(MIGRATE)


def test_a_revision_this_version_does_not_know(
    env: dict[str, str], cwd: Path, migrated: Path
) -> None:
    path = migrated
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00d'")
    url = f"sqlite+aiosqlite:///{path}"
    assert refusal(run_cli(["worker", "--once"], env, cwd), url) == (
        f"error: database {url} is at revision f00d, which this version does not know "
        f"(its head is {head()}): check DATABASE_URL or run the version that migrated it"
    )


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_a_file_that_is_not_a_database(env: dict[str, str], cwd: Path, command: str) -> None:
    path = sqlite_file(env)
    path.parent.mkdir()
    path.write_text("not a database\n" * 100)
    url = f"sqlite+aiosqlite:///{path}"
    assert refusal(run_cli(commands()[command], env, cwd), url) == (
        f"error: cannot use database {url}: file is not a database: check DATABASE_URL"
    )


# --- PostgreSQL: a database that does not exist, one that is not migrated yet.


async def _admin(statement: str) -> None:
    engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; its URL."""
    name = f"eg_preflight_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("command", ["migrate", "worker"])
def test_a_postgres_database_that_does_not_exist(
    env: dict[str, str], cwd: Path, command: str
) -> None:
    name = f"eg_missing_{uuid.uuid4().hex[:10]}"
    url = make_url(PG_URL).set(database=name)
    shown = url.render_as_string(hide_password=True)
    environment = {**env, "DATABASE_URL": url.render_as_string(hide_password=False)}
    assert refusal(run_cli(commands()[command], environment, cwd), shown) == (
        f'error: cannot use database {shown}: database "{name}" does not exist: '
        "create it or check DATABASE_URL"
    )


def test_a_fresh_postgres_database_is_refused_until_migrated(
    env: dict[str, str], cwd: Path, pg_database: str
) -> None:
    environment = {**env, "DATABASE_URL": pg_database}
    shown = make_url(pg_database).render_as_string(hide_password=True)
    for command in ("worker", "create-api-key"):
        assert refusal(run_cli(commands()[command], environment, cwd), shown) == (
            f"error: database {shown} is not migrated (at none, head is {head()}): {MIGRATE}"
        )
    succeeded(run_cli(["migrate"], environment, cwd))
    succeeded(run_cli(["worker", "--once"], environment, cwd))


# --- The port, before anything is migrated or seeded.


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port: int = sock.getsockname()[1]
        yield port


def test_a_port_in_use_is_one_line_before_the_demo_seeds(
    env: dict[str, str], cwd: Path, busy_port: int
) -> None:
    result = run_cli(["serve", "--demo", "--port", str(busy_port)], env, cwd)
    url = f"sqlite+aiosqlite:///{sqlite_file(env)}"
    assert refusal(result, url) == (
        f"error: port {busy_port} on 127.0.0.1 is already in use: pass --port with a free port "
        "(make run PORT=...)"
    )
    assert not sqlite_file(env).parent.exists()  # nothing migrated, nothing seeded


def test_make_run_takes_the_port() -> None:
    """Run from inside `make test` too, where a nested make announces its directory."""
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8123"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    serve = [line for line in dry.stdout.splitlines() if "-m app serve" in line]
    assert len(serve) == 1, dry.stdout
    assert serve[0].endswith("-m app serve --demo --port 8123")


# --- State does not follow the working directory.


def test_every_directory_finds_the_same_database_as_make_run(
    env: dict[str, str], tmp_path: Path, busy_port: int
) -> None:
    """Without VAR_DIR or DATABASE_URL, a command run anywhere uses the checkout's var/, as
    `make run` (run from the checkout) does. The busy port stops `serve` before it touches the
    database, and given secrets nothing is generated: the checkout's var/ is left alone."""
    defaults = {k: v for k, v in env.items() if k not in ("VAR_DIR", "DATABASE_URL")}
    defaults |= {"API_KEY_PEPPER": "p", "SIGNING_SECRET": "s"}
    expected = f"sqlite+aiosqlite:///{REPO / 'var' / 'exports.db'}"
    elsewhere = [tmp_path / "one", tmp_path / "two" / "deeper"]
    for directory in [*elsewhere, REPO]:
        directory.mkdir(parents=True, exist_ok=True)
        result = run_cli(["serve", "--port", str(busy_port)], defaults, directory)
        assert "already in use" in refusal(result, expected)
    for directory in elsewhere:
        assert list(directory.iterdir()) == []


def test_a_relative_var_dir_is_printed_absolute(
    env: dict[str, str], cwd: Path, busy_port: int
) -> None:
    relative = {k: v for k, v in env.items() if k != "DATABASE_URL"} | {"VAR_DIR": "state"}
    result = run_cli(["serve", "--port", str(busy_port)], relative, cwd)
    assert "already in use" in refusal(result, f"sqlite+aiosqlite:///{cwd}/state/exports.db")


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_storage_dir_of_another_database_is_one_line(
    env: dict[str, str], cwd: Path, migrated: Path, tmp_path: Path, command: str
) -> None:
    """Workers sweep the export files their database does not own: two databases must not
    share a STORAGE_DIR. The first user stamps it; another database is refused."""
    shared = tmp_path / "shared-files"
    other = tmp_path / "other" / "exports.db"
    other.parent.mkdir()
    shutil.copyfile(migrated, other)
    with sqlite3.connect(other) as conn:  # a database of its own identity
        conn.execute("UPDATE database_identity SET id = 'another'")
    first = {**env, "STORAGE_DIR": str(shared)}
    succeeded(run_cli(["worker", "--once"], first, cwd))
    assert (shared / ".database").read_text().strip() != "another"

    second = {**first, "DATABASE_URL": f"sqlite+aiosqlite:///{other}"}
    line = refusal(run_cli(commands()[command], second, cwd), second["DATABASE_URL"])
    assert line.startswith(f"error: STORAGE_DIR {shared} holds the files of another database")
    assert line.endswith("give each database its own STORAGE_DIR")
