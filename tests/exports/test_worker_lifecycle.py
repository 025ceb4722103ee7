"""Spec §1 lifecycle through the real worker: pending → queued → processing → completed."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import app.exports.worker as worker_module
from app.models import Transaction, utcnow
from app.timefmt import isoz
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    create,
    fetch,
    file_rows,
    links,
    make_worker,
    published,
    run_worker,
    seed,
)

FILE_MEMBERS = ["id", "name", "contentType", "size", "sha256", "createdTime", "_links"]


async def test_export_walks_through_every_status_to_completed(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=50, transactions=300)
    body = await create(
        harness, tenant, {"name": "All transactions", "resource": "transactions", "format": "csv"}
    )
    assert body["status"] == "pending"
    assert body["fileId"] is None
    assert body["recordCount"] is None
    assert body["failureReason"] is None
    assert [link["rel"] for link in body["_links"]] == ["self", "user"]

    # Watch the export through REST at the moments the worker claims it and starts producing.
    seen: list[tuple[str, str]] = []
    real_claim, real_produce = worker_module.claim_next, worker_module.Worker._produce

    async def status() -> str:
        return str((await fetch(harness, tenant, body["id"]))["status"])

    async def spy_claim(*args: Any, **kwargs: Any) -> int | None:
        seen.append(("before claim", await status()))
        return await real_claim(*args, **kwargs)

    async def spy_produce(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(("producing", await status()))
        return await real_produce(self, *args, **kwargs)

    monkeypatch.setattr(worker_module, "claim_next", spy_claim)
    monkeypatch.setattr(worker_module.Worker, "_produce", spy_produce)
    worker = make_worker(harness)
    assert await worker.run_one("lifecycle-test") is True
    assert seen == [("before claim", "queued"), ("producing", "processing")]

    done = await fetch(harness, tenant, body["id"], expand="file")
    async with harness.session() as session:
        expected = await session.scalar(
            select(func.count())
            .select_from(Transaction)
            .where(Transaction.organization_id == "acme")
        )
    assert expected == 300
    assert done["status"] == "completed"
    assert done["recordCount"] == 300
    assert done["failureReason"] is None
    assert done["fileId"]
    assert done["fileId"].startswith("file_")
    assert list(done)[-7:] == [
        "dateRange",
        "csvDialect",
        "attempts",
        "lastError",
        "nextAttemptTime",
        "progress",
        "_embedded",
    ]
    assert (done["attempts"], done["lastError"], done["progress"]) == (1, None, None)

    rels = links(done)
    assert list(rels) == ["self", "user", "download", "signedLink"]
    assert rels["download"] == f"http://testserver/files/{done['fileId']}/download"
    assert rels["signedLink"].startswith(f"http://testserver/files/{done['fileId']}/signed?")

    file = done["_embedded"]["file"]
    assert list(file) == FILE_MEMBERS
    assert file["id"] == done["fileId"]
    assert file["contentType"].startswith("text/csv")
    assert file["name"].endswith(".csv")
    assert [link["rel"] for link in file["_links"]] == ["download", "signedLink"]
    (path,) = published(harness.settings.storage_dir)
    data = path.read_bytes()
    assert file["size"] == len(data)
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    assert data.count(b"\r\n") == 301  # header + one line per record

    # Nothing more is due: another pass changes nothing and makes no second file.
    assert await worker.run_one("lifecycle-test") is False
    await run_worker(harness)
    assert len(await file_rows(harness, body["id"])) == 1
    assert (await fetch(harness, tenant, body["id"]))["fileId"] == done["fileId"]


async def test_expand_file_is_absent_until_a_file_exists(harness: Harness, tenant: Tenant) -> None:
    body = await create(harness, tenant, {"name": "n", "resource": "customers", "format": "json"})
    pending = await fetch(harness, tenant, body["id"], expand="file")
    assert pending["_embedded"] == {}  # no `"file": null`: the member is left out
    await run_worker(harness)
    done = await fetch(harness, tenant, body["id"], expand="file,user")
    assert done["status"] == "completed"
    assert done["recordCount"] == 0  # no customers were seeded: an empty, valid file
    assert done["_embedded"]["file"]["id"] == done["fileId"]
    assert done["_embedded"]["user"]["id"] == tenant.user.id


async def test_a_future_scheduled_time_stays_pending(harness: Harness, tenant: Tenant) -> None:
    start = utcnow() + timedelta(days=2)
    body = await create(
        harness,
        tenant,
        {
            "name": "Later",
            "resource": "transactions",
            "format": "json",
            "recurring": {"instruction": "FREQ=DAILY", "start": isoz(start)},
        },
    )
    assert body["scheduledTime"] == isoz(start)
    now_due = await create(
        harness, tenant, {"name": "Now", "resource": "customers", "format": "csv"}
    )

    await run_worker(harness)
    later = await fetch(harness, tenant, body["id"])
    assert later["status"] == "pending"
    assert later["scheduledTime"] == isoz(start)
    assert later["fileId"] is None
    assert await file_rows(harness, body["id"]) == []
    assert (await fetch(harness, tenant, now_due["id"]))["status"] == "completed"
