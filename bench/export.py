"""Export throughput and memory: the worker (csv, json) against the sqlite3 CLI, side by side.

    .venv/bin/python bench/export.py               # 1,000,000 transactions
    .venv/bin/python bench/export.py --rows 100000 # a quick pass

Seeds a temporary SQLite database with app.demo_data (transactions only), then runs each export in
its own child process so its own peak RSS (VmHWM) can be read:

  (a) the worker exporting every transaction with the default fields to csv,
  (b) the same to json,
  (c) `sqlite3 -csv -header` running the equivalent SELECT (money and date-times converted in
      SQL) into a file.

A second organization with a tenth of the rows is exported too (csv), so the peak RSS of the
two sizes can be compared: the worker streams, so it should barely change.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ORG, SMALL_ORG = "bench", "bench-small"
SQLITE3 = "/usr/bin/sqlite3"
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SQL = (
    "SELECT id, customer_id AS customerId, type, status, result, "
    "printf('%.2f', amount / 100.0) AS amount, currency, gateway_name AS gatewayName, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', processed_time) AS processedTime, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', created_time) AS createdTime "
    "FROM transactions WHERE organization_id = '{org}' ORDER BY id"
)


@dataclass
class Run:
    label: str
    rows: int
    seconds: float  # the export itself (for the worker: excluding interpreter start-up)
    wall: float  # the whole child process
    peak_rss_kib: int
    baseline_rss_kib: int | None
    size: int
    path: Path

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("inf")


def settings_for(url: str, storage: Path) -> Settings:
    from app.settings import Settings

    return Settings(
        database_url=url,
        storage_dir=storage,
        signing_secret=secrets.token_urlsafe(32),
        api_key_pepper=secrets.token_urlsafe(32),
        worker_mode="off",
        export_max_records=10**9,
        log_level="WARNING",
    )


# --- parent ----------------------------------------------------------------------------------


async def seed(url: str, rows: int, customers: int, small: bool) -> None:
    from app.db import make_engine, make_sessionmaker
    from app.demo import ensure_user
    from app.demo_data import generate

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        for org, size in ((ORG, rows), (SMALL_ORG, rows // 10)) if small else ((ORG, rows),):
            began = time.perf_counter()
            async with sessions() as session:
                await ensure_user(session, organization_id=org, email="bench@example.com")
                await session.commit()
                await generate(
                    session,
                    organization_id=org,
                    customers=customers,
                    transactions=size,
                    anchor=ANCHOR,
                    resources=("transactions",),
                )
            took = time.perf_counter() - began
            print(f"seeded {size:>10,} transactions for {org!r} in {took:6.1f}s", flush=True)
    finally:
        await engine.dispose()


async def create_export(url: str, org: str, fmt: str) -> str:
    from sqlalchemy import select

    from app.db import make_engine, make_sessionmaker
    from app.exports import service
    from app.exports.validation import validate_export
    from app.models import User, utcnow

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.organization_id == org))
            assert user is not None
            spec = validate_export(
                {"name": f"bench {fmt}", "resource": "transactions", "format": fmt}, now=utcnow()
            )
            export = await service.create_export(
                session, organization_id=org, user_id=user.id, spec=spec
            )
            await session.commit()
            return export.id
    finally:
        await engine.dispose()


def peak_rss_kib(pid: int | str = "self") -> int | None:
    """VmHWM: the peak RSS of the process's current image.

    Not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's peak RSS (the memory
    it was forked from counts until exec), which would hide the child's own use.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def wait_child(process: subprocess.Popen[bytes]) -> tuple[int, int]:
    """(exit status, peak RSS in KiB) of a child, sampled until it exits."""
    peak = 0
    while process.poll() is None:
        peak = max(peak, peak_rss_kib(process.pid) or 0)
        time.sleep(0.02)
    return process.returncode, peak


def run_worker_child(url: str, storage: Path, org: str, fmt: str, label: str) -> Run:
    asyncio.run(create_export(url, org, fmt))
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", url, str(storage)],
        cwd=REPO,
        stdout=subprocess.PIPE,
    )
    output, _ = process.communicate()
    code = process.returncode
    wall = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"{label}: the worker child failed with exit status {code}")
    report = json.loads(output)
    return Run(
        label=label,
        rows=report["records"],
        seconds=report["seconds"],
        wall=wall,
        peak_rss_kib=report["peak_rss_kib"],
        baseline_rss_kib=report["baseline_rss_kib"],
        size=report["size"],
        path=Path(report["path"]),
    )


def run_sqlite3(db: Path, out: Path, rows: int) -> Run:
    began = time.perf_counter()
    with out.open("wb") as handle:
        process = subprocess.Popen(
            [SQLITE3, "-csv", "-header", str(db), SQL.format(org=ORG)], stdout=handle
        )
        code, peak = wait_child(process)
    took = time.perf_counter() - began
    if code != 0:
        raise SystemExit(f"sqlite3 failed with exit status {code}")
    lines = sum(1 for _ in out.open("rb")) - 1
    if lines != rows:
        raise SystemExit(f"sqlite3 wrote {lines} rows, expected {rows}")
    return Run("sqlite3 -csv", rows, took, took, peak, None, out.stat().st_size, out)


def mib(kib: int | None) -> str:
    return "-" if kib is None else f"{kib / 1024:8.1f}"


def report(runs: list[Run], small: Run | None) -> None:
    print()
    header = f"{'export':<28}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'MiB file':>10}"
    print(header + f"{'peak RSS MiB':>14}{'(start-up)':>11}")
    for r in runs + ([small] if small else []):
        print(
            f"{r.label:<28}{r.rows:>11,}{r.seconds:>9.2f}{r.rows_per_second:>11,.0f}"
            f"{r.size / 2**20:>10.1f}{mib(r.peak_rss_kib):>14}{mib(r.baseline_rss_kib):>11}"
        )
    by_label = {r.label: r for r in runs}
    cli = by_label["sqlite3 -csv"]
    print()
    for label in ("worker csv", "worker json"):
        r = by_label[label]
        print(
            f"{label}: {r.seconds / cli.seconds:5.1f}x the time of sqlite3 "
            f"({r.wall / cli.seconds:.1f}x counting the child's start-up, {r.wall:.2f}s)"
        )
    ours, theirs = by_label["worker csv"].path.read_bytes(), cli.path.read_bytes()
    if ours == theirs:
        print("worker csv and sqlite3 csv are byte-identical")
    elif ours.replace(b"\r\n", b"\n") == theirs.replace(b"\r\n", b"\n"):
        print("worker csv and sqlite3 csv are identical apart from line endings (CRLF vs LF)")
    else:  # the comparison is only fair while both export the same columns and rows
        raise SystemExit("worker csv and sqlite3 csv differ: update the bench SQL")
    if small is not None:
        big = by_label["worker csv"]
        growth = (big.peak_rss_kib - small.peak_rss_kib) / 1024
        print(
            f"peak RSS, worker csv: {mib(small.peak_rss_kib).strip()} MiB for {small.rows:,} rows,"
            f" {mib(big.peak_rss_kib).strip()} MiB for {big.rows:,} rows ({growth:+.1f} MiB)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to export")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--no-small", action="store_true", help="skip the 1/10-size run")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the database")
    parser.add_argument("--keep", action="store_true", help="keep the database and files")
    parser.add_argument("--child", nargs=2, metavar=("URL", "STORAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)

    from app.migrate import upgrade

    work = Path(tempfile.mkdtemp(prefix="eg-bench-", dir=args.dir))
    db, storage = work / "bench.db", work / "files"
    url = f"sqlite+aiosqlite:///{db}"
    print(f"database {db}", flush=True)
    try:
        upgrade(url)
        small = not args.no_small and args.rows >= 10
        asyncio.run(seed(url, args.rows, args.customers, small))
        runs = []
        for fmt in ("csv", "json"):
            runs.append(run_worker_child(url, storage, ORG, fmt, f"worker {fmt}"))
            print(f"{runs[-1].label}: {runs[-1].seconds:.2f}s", flush=True)
        runs.append(run_sqlite3(db, work / "sqlite3.csv", args.rows))
        print(f"sqlite3: {runs[-1].seconds:.2f}s", flush=True)
        small_run = (
            run_worker_child(url, storage, SMALL_ORG, "csv", f"worker csv ({args.rows // 10:,})")
            if small
            else None
        )
        for r in runs:
            if r.rows != args.rows:
                raise SystemExit(f"{r.label} exported {r.rows} rows, expected {args.rows}")
        report(runs, small_run)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


# --- child: one worker pass in a fresh process ------------------------------------------------


def child(url: str, storage_dir: str) -> int:
    import logging

    from app.db import make_engine, make_sessionmaker
    from app.exports.storage import Storage
    from app.exports.worker import Worker

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    async def work() -> dict[str, object]:
        from sqlalchemy import select

        from app.models import DataExport, ExportFile

        settings = settings_for(url, Path(storage_dir))
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        async with sessions() as session:  # connect before the baseline is taken
            await session.scalar(select(DataExport.pk).limit(1))
        baseline = peak_rss_kib()
        worker = Worker(settings, sessions, Storage(Path(storage_dir)))
        began = time.perf_counter()
        worked = await worker.run_one("bench")
        seconds = time.perf_counter() - began
        if not worked:
            raise SystemExit("nothing to export")
        async with sessions() as session:
            # Each run creates its export just before: the newest one is this run's.
            export = await session.scalar(select(DataExport).order_by(DataExport.pk.desc()))
            assert export is not None
            assert export.status == "completed", export.status
            file = await session.get(ExportFile, export.file_id)
            assert file is not None
        await engine.dispose()
        return {
            "seconds": seconds,
            "records": export.record_count,
            "size": file.size,
            "path": str(Path(storage_dir) / file.storage_key),
            "baseline_rss_kib": baseline,
            "peak_rss_kib": peak_rss_kib(),
        }

    print(json.dumps(asyncio.run(work())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
