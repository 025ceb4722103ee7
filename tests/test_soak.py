"""A short, fixed-seed pass of the soak (tests/soak.py; `make soak` runs it at full size):
real `serve` and `worker` processes, SIGKILLed workers and DELETEs timed around publishes, then
every file in storage must be a row's file with its sha256, and nothing lost, stuck or left.

On the database the suite runs on: SQLite, or PostgreSQL when TEST_DATABASE_URL is set (a
database of its own on that server, dropped afterwards)."""

from __future__ import annotations

import os

from tests.soak import SoakConfig, run_soak

PG_URL = os.environ.get("TEST_DATABASE_URL")
SEED = 20261206


def test_killed_workers_and_timed_deletes_lose_and_leak_nothing() -> None:
    database = "postgres" if PG_URL else "sqlite"
    config = SoakConfig(
        database=database,
        exports=20,
        workers=2,
        kills=3,
        deletes=8,
        seed=SEED,
        transactions=10_000,
        customers=500,
        drain_seconds=60,
        postgres_url=PG_URL or SoakConfig.postgres_url,
    )
    report = run_soak(config)
    print(report.table())
    assert report.figures["exports created"] == config.exports, report.table()
    assert report.figures["worker kills (SIGKILL)"] == config.kills, report.table()
    assert report.figures["exports deleted (204)"] == config.deletes, report.table()
    assert report.ok, report.table()
