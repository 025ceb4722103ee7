"""PostgreSQL connections are pinged before use only after sitting idle in the pool, in one
round trip (app/db.py): a connection the server dropped while idle is replaced unseen; one
dropped within the bypass window fails one statement, and the pool is renewed after it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import PING_AFTER_IDLE_SECONDS, direct_reads, make_engine

PING = "SELECT 1"
PG_URL = os.environ.get("TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    made = make_engine(PG_URL, pool_size=1)
    try:
        yield made
    finally:
        await made.dispose()


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(pid: int) -> None:
    admin = make_engine(PG_URL)
    try:
        async with admin.connect() as connection:
            killed = await connection.execute(
                text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
            )
            assert killed.scalar_one() is True
    finally:
        await admin.dispose()


async def test_a_connection_dropped_while_idle_is_replaced_before_use(engine: AsyncEngine) -> None:
    first = await _pid(engine)
    await _terminate(first)
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    second = await _pid(engine)  # no error: the ping found it dead, the pool made another
    assert second != first


async def test_the_ping_is_one_simple_statement_and_skipped_within_the_window(
    engine: AsyncEngine,
) -> None:
    sent: list[str] = []

    def log(record: Any) -> None:
        if record.query == PING:
            sent.append(record.query)

    async with engine.connect() as connection:
        driver: Any = (await connection.get_raw_connection()).driver_connection
        driver.add_query_logger(log)  # sees simple-protocol statements (the ping's kind)
    pid = await _pid(engine)
    assert sent == []  # back in the pool a moment ago: lent without a ping
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    assert await _pid(engine) == pid  # the same connection (a pool of one), pinged first
    assert sent == [PING]  # one round trip


async def test_a_connection_dropped_within_the_window_fails_once_then_the_pool_renews(
    engine: AsyncEngine,
) -> None:
    first = await _pid(engine)
    await _terminate(first)
    with pytest.raises(DBAPIError) as failed:
        await _pid(engine)
    assert failed.value.connection_invalidated
    assert await _pid(engine) != first


async def _direct_pid(engine: AsyncEngine) -> int:
    async with direct_reads(engine) as fetch:
        return int((await fetch("SELECT pg_backend_pid()", []))[0][0])


async def test_a_direct_read_on_a_dropped_connection_fails_once_and_gives_it_up(
    engine: AsyncEngine,
) -> None:
    """The hot reads call the driver itself, so SQLAlchemy never sees its error to renew the
    pool: the read gives its connection up, or the pool would lend the dead one again and
    again within the window."""
    first = await _direct_pid(engine)
    assert await _direct_pid(engine) == first  # a pool of one: the same connection
    await _terminate(first)
    with pytest.raises(Exception):  # noqa: B017, PT011  # asyncpg's own, whichever it is
        await _direct_pid(engine)
    second = await _direct_pid(engine)  # at once, within the window: a fresh connection
    assert second != first
    assert await _direct_pid(engine) == second
