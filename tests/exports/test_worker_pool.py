"""A worker has connections of its own: a long export's stream never starves its lease
renewer, and the requests of the server it runs in never wait for the worker."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.db import unit_of_work
from app.exports import worker as worker_module
from app.settings import Settings
from tests.conftest import start_harness, with_settings


async def test_a_stream_longer_than_the_lease_keeps_its_claim_with_a_pool_of_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """DATABASE_POOL_SIZE=1 for the server; the in-process worker holds a connection for
    longer than its whole lease (as a large export's stream does) and still completes on its
    first attempt, its lease renewed meanwhile; REST keeps answering throughout."""
    real_produce = worker_module.Worker._produce

    async def long_stream(self: worker_module.Worker, *args: object, **kwargs: object) -> object:
        async with unit_of_work(self.sessionmaker) as session:
            await session.connection()  # held, as a stream holds its connection
            await asyncio.sleep(4.5)  # longer than the 3 s lease
        return await real_produce(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(worker_module.Worker, "_produce", long_stream)
    served = with_settings(
        settings,
        worker_mode="inprocess",
        database_pool_size=1,
        worker_lease_seconds=3,
        worker_poll_seconds=0.05,
    )
    async for harness in start_harness(served):
        tenant = await harness.tenant("acme")
        created = await harness.client.post(
            "/data-exports",
            headers=tenant.headers,
            json={"name": "long", "resource": "customers", "format": "csv"},
        )
        url = f"/data-exports/{created.json()['id']}"
        status = "pending"
        for _ in range(200):
            response = await harness.client.get(url, headers=tenant.headers)
            assert response.status_code == 200, response.text
            status = response.json()["status"]
            if status == "completed":
                break
            await asyncio.sleep(0.05)
        assert status == "completed"
    lost = [r for r in caplog.records if r.levelno >= logging.WARNING and "claim" in r.message]
    assert lost == []
