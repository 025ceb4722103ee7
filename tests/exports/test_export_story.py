"""An export tells its own story (issue 10, point 4): attempts, the latest error as a stable
code and a safe message, the next attempt time while it retries, and progress while it runs,
alike on REST, GraphQL and the subscription."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import text
from websockets.asyncio.client import connect

import app.exports.worker as worker_module
from app.exports.status import ErrorCode
from app.exports.worker import Worker
from app.main import create_app
from app.models import utcnow
from app.timefmt import isoz
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    create,
    export_row,
    fetch,
    make_worker,
    run_worker,
    seed,
    set_export,
)
from tests.exports.test_notify import mail_settings
from tests.graphql.browser import serve_asgi
from tests.servers import free_port

STORY = """
  status attempts nextAttemptTime failureReason
  lastError { code message time }
  progress { rowsWritten rowsTotal }
"""


async def graphql_story(harness: Harness, tenant: Tenant, export_id: str) -> dict[str, Any]:
    response = await harness.client.post(
        "/graphql",
        headers=tenant.headers,
        json={
            "query": f"query($id: ID!) {{ dataExport(id: $id) {{ {STORY} }} }}",
            "variables": {"id": export_id},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    story: dict[str, Any] = body["data"]["dataExport"]
    return story


def same_story(rest: dict[str, Any], graphql: dict[str, Any]) -> None:
    """GraphQL names codes in UPPER_SNAKE; everything else is the REST value."""
    assert graphql["attempts"] == rest["attempts"]
    assert graphql["nextAttemptTime"] == rest["nextAttemptTime"]
    assert graphql["progress"] == rest["progress"]
    if rest["lastError"] is None:
        assert graphql["lastError"] is None
    else:
        assert graphql["lastError"] == {
            **rest["lastError"],
            "code": ErrorCode(rest["lastError"]["code"]).name,
        }


@asynccontextmanager
async def source_table_gone(harness: Harness) -> AsyncIterator[None]:
    """The exported table is missing for a while (a botched migration, a restore in progress)."""
    async with harness.session() as session:
        await session.execute(text("ALTER TABLE transactions RENAME TO transactions_elsewhere"))
        await session.commit()
    try:
        yield
    finally:
        async with harness.session() as session:
            await session.execute(text("ALTER TABLE transactions_elsewhere RENAME TO transactions"))
            await session.commit()


async def test_a_failing_source_query_is_told_safely_retried_and_kept_after_success(
    harness: Harness, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(harness, customers=20, transactions=120, resources=("transactions",))
    body = await create(harness, tenant, {"name": "x", "resource": "transactions", "format": "csv"})
    worker = make_worker(harness, worker_retry_base_seconds=60, worker_max_attempts=3)

    before = utcnow()
    async with source_table_gone(harness):
        with caplog.at_level(logging.ERROR, logger="app.worker"):
            assert await worker.run_one("w1") is True
    shown = await fetch(harness, tenant, body["id"])
    assert (shown["status"], shown["failureReason"], shown["attempts"]) == ("queued", None, 1)
    error = shown["lastError"]
    assert error["code"] == "source-query-failed"
    assert error["message"] == ErrorCode.SOURCE_QUERY_FAILED.message
    assert before <= _time(error["time"]) <= utcnow()
    row = await export_row(harness, body["id"])
    assert row.not_before is not None
    assert shown["nextAttemptTime"] == isoz(row.not_before)
    assert _time(shown["nextAttemptTime"]) >= before + timedelta(seconds=60)
    assert shown["progress"] is None
    # Nothing of the database's own words reaches the caller: no table name, no SQL.
    raw = json.dumps(shown)
    assert "transactions_elsewhere" not in raw
    assert "SELECT" not in raw
    same_story(shown, await graphql_story(harness, tenant, body["id"]))
    # The log line names the export, the attempt and the cause; the traceback follows it.
    (record,) = [r for r in caplog.records if body["id"] in r.getMessage()]
    assert "attempt 1 of 3" in record.getMessage()
    assert "source-query-failed" in record.getMessage()
    assert record.exc_info is not None

    await set_export(harness, body["id"], not_before=utcnow() - timedelta(seconds=1))
    assert await worker.run_one("w1") is True
    done = await fetch(harness, tenant, body["id"])
    assert (done["status"], done["recordCount"], done["attempts"]) == ("completed", 120, 2)
    assert done["lastError"]["code"] == "source-query-failed"  # how it got there
    assert (done["nextAttemptTime"], done["progress"]) == (None, None)
    same_story(done, await graphql_story(harness, tenant, body["id"]))


def _time(value: str) -> Any:
    from app.timefmt import parse_iso_datetime

    return parse_iso_datetime(value)


async def test_giving_up_names_the_last_cause_and_shows_no_next_attempt(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = await create(harness, tenant, {"name": "x", "resource": "customers", "format": "xml"})

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/secret/path/to/font.ttf is unreadable")

    monkeypatch.setattr(worker_module, "make_writer", broken)
    worker = make_worker(harness, worker_retry_base_seconds=0, worker_max_attempts=2)
    assert await worker.run_one("w") is True
    retrying = await fetch(harness, tenant, body["id"])
    assert (retrying["status"], retrying["attempts"]) == ("queued", 1)
    assert retrying["nextAttemptTime"] is not None
    assert await worker.run_one("w") is True
    failed = await fetch(harness, tenant, body["id"])
    assert (failed["status"], failed["failureReason"]) == ("failed", "max-retries-reached")
    assert failed["attempts"] == 2
    assert failed["lastError"]["code"] == "internal-error"
    assert "/secret" not in json.dumps(failed)
    assert (failed["nextAttemptTime"], failed["progress"]) == (None, None)
    same_story(failed, await graphql_story(harness, tenant, body["id"]))


async def test_the_record_limit_is_told_as_the_cause(harness: Harness, tenant: Tenant) -> None:
    await seed(harness, customers=20, transactions=300, resources=("transactions",))
    body = await create(harness, tenant, {"name": "x", "resource": "transactions", "format": "csv"})
    await seed(harness, customers=20, transactions=450, resources=("transactions",))
    await run_worker(harness, export_max_records=400)
    failed = await fetch(harness, tenant, body["id"])
    assert (failed["status"], failed["failureReason"]) == ("failed", "record-limit-exceeded")
    assert failed["lastError"]["code"] == "record-limit-exceeded"
    assert failed["attempts"] == 1


class PacedWorker(Worker):
    """The real worker, held after a chosen batch so a run can be watched mid-way."""

    def __init__(self, *args: Any, hold_after: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold_after = hold_after
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def _batch_written(self, rows: int) -> None:
        if rows >= self.hold_after and not self.release.is_set():
            self.held.set()
            await self.release.wait()


async def _until(probe: Any, check: Any, seconds: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await probe()
        if check(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_progress_is_shown_while_processing_on_rest_graphql_and_the_subscription(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=50, transactions=1500, resources=("transactions",))
    monkeypatch.setattr(worker_module, "BATCH_ROWS", 100)
    monkeypatch.setattr(worker_module, "PROGRESS_SECONDS", 0.05)
    body = await create(harness, tenant, {"name": "x", "resource": "transactions", "format": "csv"})
    worker = PacedWorker(
        harness.settings,
        harness.app.state.sessionmaker,
        harness.app.state.storage,
        hold_after=500,
    )
    watch = (
        "subscription ($id: ID!) { dataExportUpdates(id: $id) { status "
        "progress { rowsWritten rowsTotal } } }"
    )
    seen: list[dict[str, Any]] = []
    with serve_asgi(create_app(harness.settings)) as base:
        url = base.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": tenant.headers}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            payload = {"query": watch, "variables": {"id": body["id"]}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))

            async def updates() -> None:
                while (message := json.loads(await ws.recv()))["type"] == "next":
                    seen.append(message["payload"]["data"]["dataExportUpdates"])

            reader = asyncio.create_task(updates())
            running = asyncio.create_task(worker.run_one("paced"))
            await asyncio.wait_for(worker.held.wait(), 20)

            midway = await _until(
                lambda: fetch(harness, tenant, body["id"]),
                lambda b: (
                    (b["progress"] or {}).get("rowsWritten") == 500
                    and b["progress"]["rowsTotal"] is not None
                ),
            )
            assert midway["status"] == "processing"
            assert midway["progress"] == {"rowsWritten": 500, "rowsTotal": 1500}
            assert (midway["attempts"], midway["lastError"], midway["nextAttemptTime"]) == (
                1,
                None,
                None,
            )
            same_story(midway, await graphql_story(harness, tenant, body["id"]))
            pushed = await _until(
                lambda: asyncio.sleep(0, seen[-1] if seen else None),
                lambda last: (
                    last is not None and (last["progress"] or {}).get("rowsWritten") == 500
                ),
            )
            assert pushed == {
                "status": "PROCESSING",
                "progress": {"rowsWritten": 500, "rowsTotal": 1500},
            }

            worker.release.set()
            assert await asyncio.wait_for(running, 30) is True
            await asyncio.wait_for(reader, 10)
    assert seen[-1] == {"status": "COMPLETED", "progress": None}
    written = [u["progress"]["rowsWritten"] for u in seen if u["progress"]]
    assert written == sorted(written)  # progress only moves forward
    done = await fetch(harness, tenant, body["id"])
    assert (done["recordCount"], done["progress"]) == (1500, None)


class RefusingInbox:
    """An SMTP server that refuses every recipient, as a misconfigured relay does."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return "550 5.7.1 Relaying denied"


async def test_a_refused_completion_email_is_told_on_a_completed_export(
    harness: Harness, tenant: Tenant
) -> None:
    port = free_port()
    controller = Controller(RefusingInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        body = await create(
            harness,
            tenant,
            {
                "name": "Mailed",
                "resource": "customers",
                "format": "csv",
                "emailNotification": ["ops@example.com"],
            },
        )
        await run_worker(harness, **mail_settings(port))
    finally:
        controller.stop()
    done = await fetch(harness, tenant, body["id"])
    assert done["status"] == "completed"
    assert done["lastError"]["code"] == "smtp-refused"
    assert "Relaying" not in json.dumps(done)
    same_story(done, await graphql_story(harness, tenant, body["id"]))

    # With nothing listening at all, the cause is told apart.
    other = await create(
        harness,
        tenant,
        {
            "name": "Unmailed",
            "resource": "customers",
            "format": "csv",
            "emailNotification": ["ops@example.com"],
        },
    )
    await run_worker(harness, **mail_settings(free_port()))
    assert (await fetch(harness, tenant, other["id"]))["lastError"]["code"] == "smtp-unavailable"
