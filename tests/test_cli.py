"""The command line as an operator runs it: real subprocesses, from a directory that is not the
repository, against a temporary SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import Settings
from tests.conftest import run_cli, start_harness

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db' / 'cli.db'}",
        "VAR_DIR": str(tmp_path / "var"),
        "WORKER_MODE": "off",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory with nothing of the project in it."""
    path = tmp_path / "somewhere" / "else"
    path.mkdir(parents=True)
    assert not (path / "app").exists()
    assert REPO not in path.parents
    return path


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = run_cli(args, env, cwd)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result


def db_path(env: dict[str, str]) -> Path:
    return Path(env["DATABASE_URL"].removeprefix("sqlite+aiosqlite:///"))


def row_counts(env: dict[str, str]) -> dict[str, int]:
    with sqlite3.connect(db_path(env)) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def test_migrate_twice_and_seed_demo_twice(env: dict[str, str], elsewhere: Path) -> None:
    run(["migrate"], env, elsewhere)
    migrated = row_counts(env)
    assert {"data_exports", "api_keys", "users", "transactions"} <= set(migrated)
    assert migrated["data_exports"] == 0
    run(["migrate"], env, elsewhere)  # idempotent
    assert row_counts(env) == migrated

    sizes = ["--customers", "20", "--transactions", "60"]
    first = run(["seed-demo", "--quiet", *sizes], env, elsewhere)
    seeded = row_counts(env)
    assert seeded["users"] == 2
    assert seeded["api_keys"] == 2
    assert seeded["customers"] == 20
    assert seeded["transactions"] == 60
    assert seeded["data_exports"] >= 1
    keys_file = Path(env["VAR_DIR"]) / "demo-keys.txt"
    assert keys_file.stat().st_mode & 0o777 == 0o600
    written = keys_file.read_text()
    printed = first.stdout.strip().splitlines()
    assert len(printed) == 2
    assert all(line in written for line in printed)
    assert "\x1b" not in first.stdout  # --quiet: no progress bar on stdout
    stat = keys_file.stat()

    second = run(["seed-demo", "--quiet", *sizes], env, elsewhere)
    assert row_counts(env) == seeded
    assert second.stdout.strip() == ""  # no new keys
    assert keys_file.read_text() == written
    assert keys_file.stat().st_mtime_ns == stat.st_mtime_ns
    assert keys_file.stat().st_mode & 0o777 == 0o600
    # Nothing was created in the working directory (var/ and the database live elsewhere).
    assert list(elsewhere.iterdir()) == []


async def test_create_api_key_prints_a_working_key(
    env: dict[str, str], elsewhere: Path, tmp_path: Path
) -> None:
    run(["migrate"], env, elsewhere)
    result = run(
        [
            "create-api-key",
            "--organization",
            "o1",
            "--user",
            "x@example.com",
            "--permissions",
            "read",
        ],
        env,
        elsewhere,
    )
    key = result.stdout.strip().splitlines()[-1]
    assert key == key.strip()
    assert " " not in key
    assert len(key) >= 43  # 32 random bytes, URL-safe base64
    again = run(
        ["create-api-key", "--organization", "o1", "--user", "x@example.com"], env, elsewhere
    )
    write_key = again.stdout.strip().splitlines()[-1]
    assert write_key != key
    counts = row_counts(env)
    assert counts["users"] == 1  # the same user, created once
    assert counts["api_keys"] == 2

    settings = Settings.from_env(env)
    async for harness in start_harness(settings):
        client = harness.client
        listed = await client.get("/data-exports", headers={"REB-APIKEY": key})
        assert listed.status_code == 200, listed.text
        assert listed.json() == []
        payload = {"name": "CLI", "resource": "customers", "format": "csv"}
        denied = await client.post("/data-exports", json=payload, headers={"REB-APIKEY": key})
        assert denied.status_code == 403
        allowed = await client.post(
            "/data-exports", json=payload, headers={"REB-APIKEY": write_key}
        )
        assert allowed.status_code == 201
        mine = await client.get("/organizations/o1/data-exports", headers={"REB-APIKEY": key})
        assert [e["name"] for e in mine.json()] == ["CLI"]


@pytest.mark.parametrize(
    "args",
    [
        ["create-api-key", "--organization", "bad org", "--user", "x@example.com"],
        [
            "create-api-key",
            "--organization",
            "o1",
            "--user",
            "x@example.com",
            "--permissions",
            "admin",
        ],
    ],
)
def test_create_api_key_rejects_bad_input(
    env: dict[str, str], elsewhere: Path, args: list[str]
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error" in result.stderr
    assert not db_path(env).exists()  # rejected before touching the database


def stderr_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command prints (after the `database:` line, if it got that far)."""
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    if lines and lines[0].startswith("database: "):
        lines = lines[1:]
    assert len(lines) == 1, result.stderr
    return lines[0]


KEY_ARGS = ["create-api-key", "--organization", "o1", "--user", "x@example.com"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--port", "99999"], "argument --port: must be an integer from 1 to 65535"),
        (["serve", "--port", "0"], "argument --port: must be an integer from 1 to 65535"),
        (["serve", "--port", "http"], "argument --port: must be an integer from 1 to 65535"),
        (["serve", "--workers", "0"], "argument --workers: must be an integer of at least 1"),
        (["worker", "--concurrency", "0"], "argument --concurrency: must be an integer of at"),
        (["seed-demo", "--transactions", "-5"], "argument --transactions: must be an integer"),
        (["seed-demo", "--customers", "-1"], "argument --customers: must be an integer of at"),
        (["seed-demo", "--organization", "a/b"], "argument --organization: 'a/b' is not an"),
        (
            ["create-api-key", "--organization", "o1", "--user", "not-an-email"],
            "argument --user: 'not-an-email' is not an email address",
        ),
        (
            [*KEY_ARGS, "--permissions", "read,admin"],
            "argument --permissions: unknown permissions: admin (allowed: read, write,",
        ),
        ([*KEY_ARGS, "--permissions", ","], "argument --permissions: at least one permission"),
        (["create-api-key", "--organization", "o1"], "the following arguments are required"),
        (["launch"], "argument command: invalid choice: 'launch'"),
    ],
)
def test_bad_arguments_are_one_line_before_anything_runs(
    env: dict[str, str], elsewhere: Path, args: list[str], message: str
) -> None:
    result = run_cli(args, env, elsewhere)
    assert result.returncode == 2
    assert result.stdout == ""
    line = stderr_line(result)
    assert line.startswith("exports-gateway")
    assert f": error: {message}" in line
    assert not db_path(env).exists()
    assert not Path(env["VAR_DIR"]).exists()  # not even settings were read


def test_seed_sizes_may_be_zero(env: dict[str, str], elsewhere: Path) -> None:
    run(["migrate"], env, elsewhere)
    run(["seed-demo", "--quiet", "--customers", "0", "--transactions", "0"], env, elsewhere)
    counts = row_counts(env)
    assert counts["customers"] == 0
    assert counts["transactions"] == 0
    assert counts["users"] == 2
