"""Several `python -m app worker --once --concurrency 2` processes on one database: every
export is produced exactly once and no process trips over another (SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from app.models import DataExport, EmailOutbox
from tests.conftest import Harness, Tenant
from tests.exports.conftest import create, file_rows, published, seed, start_worker, wait_process

FORMATS = ("csv", "json", "json-api", "xml", "pdf")
EXPORTS = 20
PROCESSES = 3


async def test_parallel_workers_complete_every_export_exactly_once(
    harness: Harness,
    tenant: Tenant,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    await seed(harness, customers=100, transactions=1000)
    other = await harness.tenant("globex", email="eve@example.com")
    await seed(harness, "globex", customers=50, transactions=300)
    ids: list[str] = []
    for n in range(EXPORTS):
        owner = tenant if n % 4 else other
        body = await create(
            harness,
            owner,
            {
                "name": f"Export {n}",
                "resource": ("transactions", "customers", "invoices", "invoiceItems")[n % 4],
                "format": FORMATS[n % len(FORMATS)],
                "emailNotification": [f"user{n}@example.com"],
            },
        )
        ids.append(body["id"])

    logs = [tmp_path / f"worker-{n}.log" for n in range(PROCESSES)]
    for log in logs:
        processes.append(
            start_worker(harness, ["--once", "--concurrency", "2"], log, WORKER_LEASE_SECONDS="30")
        )
    codes = await asyncio.gather(*(wait_process(p, 120) for p in processes))
    assert codes == [0] * PROCESSES, [log.read_text() for log in logs]

    texts = [log.read_text() for log in logs]
    for text in texts:
        assert "Traceback" not in text, text
        assert "ERROR" not in text, text
        assert "WARNING" not in text, text
        assert "locked" not in text, text
    completions = Counter(
        m for text in texts for m in re.findall(r"export (exp_\w+) completed", text)
    )
    assert sorted(completions) == sorted(ids)
    assert set(completions.values()) == {1}

    async with harness.session() as session:
        rows = list(await session.scalars(select(DataExport).order_by(DataExport.pk)))
        emails = await session.scalar(select(func.count()).select_from(EmailOutbox))
        unsent = await session.scalar(
            select(func.count()).select_from(EmailOutbox).where(EmailOutbox.sent_time.is_(None))
        )
    assert [r.id for r in rows] == ids
    assert {(r.status, r.failure_reason, r.lease_owner) for r in rows} == {
        ("completed", None, None)
    }
    assert emails == EXPORTS  # one completion each, so one email each
    assert unsent == 0  # --once drains the mail its own exports queued (logged: no SMTP_HOST)
    files = await file_rows(harness)
    assert len(files) == EXPORTS
    assert Counter(f.export_pk for f in files) == Counter({r.pk: 1 for r in rows})
    assert {r.file_id for r in rows} == {f.id for f in files}
    on_disk = {p.name: p for p in published(harness.settings.storage_dir)}
    assert set(on_disk) == {f.storage_key for f in files}
    for file in files:
        assert hashlib.sha256(on_disk[file.storage_key].read_bytes()).hexdigest() == file.sha256
    # Work was shared: more than one process completed something.
    assert sum(1 for text in texts if "completed" in text) >= 2
