"""Export throughput and memory: the worker (csv, json) against the database's own CLI.

    .venv/bin/python bench/export.py                    # 1,000,000 rows; peak RSS at 5,000,000 too
    .venv/bin/python bench/export.py --rows 100000      # a quick pass
    .venv/bin/python bench/export.py --rows 100000 --no-pg --json-out results.json

Seeds a temporary SQLite database with app.demo_data (transactions only), then runs each export in
its own child process so its own peak RSS (VmHWM) and CPU time can be read:

  (a) the worker exporting every transaction with the default fields to csv,
  (b) the same to json,
  (c) `sqlite3 -csv -header` running the equivalent SELECT (money and date-times converted in
      SQL, same columns, same order) into a file.

On PostgreSQL (a fresh database, dropped afterwards; --no-pg skips it) the worker's csv is
compared with `psql -c "\\copy (SELECT ...) to FILE csv header"` the same way.

The runs are interleaved, --repeat times (the machine may be shared), and the best of each is
kept. A ratio is the CLI's time over the worker's: 0.5x means the worker takes twice as long.
Both wall-clock and CPU-time ratios are printed; CPU time is what a busy machine distorts least.
Peak RSS is measured again on larger organizations (--rss-rows) to show it stays flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ORG = "bench"
SQLITE3, PSQL = "/usr/bin/sqlite3", "psql"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
SQLITE_SQL = (
    "SELECT id, customer_id AS customerId, type, status, result, "
    "printf('%.2f', amount / 100.0) AS amount, currency, gateway_name AS gatewayName, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', processed_time) AS processedTime, "
    "strftime('%Y-%m-%dT%H:%M:%SZ', created_time) AS createdTime "
    "FROM transactions WHERE organization_id = '{org}' ORDER BY id"
)
PG_SQL = (
    'SELECT id, customer_id AS "customerId", type, status, result, '
    "(amount::numeric / 100)::numeric(30, 2) AS amount, currency, "
    'gateway_name AS "gatewayName", '
    'to_char(processed_time, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS "processedTime", '
    'to_char(created_time, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\') AS "createdTime" '
    "FROM transactions WHERE organization_id = '{org}' ORDER BY id"
)


@dataclass
class Run:
    label: str
    rows: int
    seconds: float  # the export itself (for the worker: excluding interpreter start-up)
    cpu: float  # CPU seconds of the same span (user + system, every thread)
    peak_rss_kib: int
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


async def seed(url: str, sizes: dict[str, int], customers: int) -> None:
    """Give each organization its transactions; one that already has them is left alone.

    The rows are app.demo_data's (`planned_rows`: the same values `generate` inserts), loaded
    in bulk into a fresh organization (`bulk_load`); one holding some already is topped up
    by `generate` itself."""
    from sqlalchemy import func, select

    from app.db import make_engine, make_sessionmaker
    from app.demo import ensure_user
    from app.demo_data import generate
    from app.models import Transaction

    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        for org, size in sizes.items():
            began = time.perf_counter()
            async with sessions() as session:
                have = await session.scalar(
                    select(func.count()).where(Transaction.organization_id == org)
                )
                if have == size:
                    continue
                await ensure_user(session, organization_id=org, email="bench@example.com")
                await session.commit()
                if have:
                    await generate(
                        session,
                        organization_id=org,
                        customers=customers,
                        transactions=size,
                        anchor=ANCHOR,
                        resources=("transactions",),
                    )
            if not have:
                await bulk_load(engine, org, size, customers)
            took = time.perf_counter() - began
            print(f"seeded {size:>10,} transactions for {org!r} in {took:6.1f}s", flush=True)
    finally:
        await engine.dispose()


async def bulk_load(engine: Any, org: str, size: int, customers: int) -> None:
    """Insert an organization's `size` demo transactions the fast way: values converted by the
    columns' own SQLAlchemy bind processors (so stored exactly as the ORM stores them), then on
    SQLite one transaction of executemany over tuples, the table's secondary indexes dropped
    before and built after (a throwaway bench file: synchronous off); on PostgreSQL COPY."""
    from app.demo_data import planned_rows

    table, chunks = planned_rows(
        "transactions", organization_id=org, customers=customers, transactions=size, anchor=ANCHOR
    )
    dialect = engine.dialect
    names = [c.name for c in table.columns]
    processors = [
        (n, p)
        for n, c in enumerate(table.columns)
        if (p := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
    ]
    # SQLite date-times: the text SQLAlchemy stores, from the aware UTC values demo_data
    # makes, without its processors' two calls and a %-dict per value (a third of the load's
    # time); checked against them on each chunk's first row.
    stored = dialect.name == "sqlite"

    def sqlite_text(value: datetime | None) -> str | None:
        if value is None:
            return None
        assert value.utcoffset() == timedelta(0)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def tuples(chunk: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        rows = [[row.get(name) for name in names] for row in chunk]
        for n, process in processors:
            if stored and isinstance(rows[0][n] or chunk[-1].get(names[n]), datetime):
                assert sqlite_text(rows[0][n]) == process(rows[0][n])
                process = sqlite_text
            for row in rows:
                row[n] = process(row[n])
        return [tuple(row) for row in rows]

    if dialect.name == "sqlite":
        database = engine.url.database
        await asyncio.to_thread(_sqlite_bulk, database, table.name, names, map(tuples, chunks))
        return
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection  # asyncpg
        for chunk in chunks:
            await driver.copy_records_to_table(table.name, records=tuples(chunk), columns=names)
        await connection.commit()


def _sqlite_bulk(database: str, table: str, names: list[str], batches: Any) -> None:
    import sqlite3

    connection = sqlite3.connect(database, isolation_level=None, timeout=60)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN IMMEDIATE")
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?"
            " AND sql IS NOT NULL",  # not the primary key's: rows arrive in its order
            (table,),
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        columns = ", ".join(f'"{name}"' for name in names)
        marks = ", ".join("?" for _ in names)
        insert = f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
        for rows in batches:
            connection.executemany(insert, rows)
        for _, sql in indexes:
            connection.execute(sql)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    finally:
        connection.close()


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


def cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_worker_child(url: str, storage: Path, org: str, fmt: str, label: str) -> Run:
    asyncio.run(create_export(url, org, fmt))
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", url, str(storage)], cwd=REPO, stdout=subprocess.PIPE
    )
    output, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{label}: the worker child failed with exit status {process.returncode}")
    report = json.loads(output)
    return Run(
        label=label,
        rows=report["records"],
        seconds=report["seconds"],
        cpu=report["cpu"],
        peak_rss_kib=report["peak_rss_kib"],
        size=report["size"],
        path=Path(report["path"]),
    )


def run_cli(
    label: str,
    command: list[str],
    out: Path,
    rows: int,
    *,
    env: dict[str, str] | None = None,
    writes_out: bool = False,
) -> Run:
    """A CLI export into `out` (given as its stdout unless it writes `out` itself): its wall
    time, CPU time (a reaped child's, from RUSAGE_CHILDREN) and peak RSS."""
    # The CLI writes to a file, as the worker does.
    with (Path(os.devnull) if writes_out else out).open("wb") as handle:
        cpu_before = cpu_seconds(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=handle, env=env)
        peak = 0
        while process.poll() is None:
            peak = max(peak, peak_rss_kib(process.pid) or 0)
            time.sleep(0.02)
        took = time.perf_counter() - began
        cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before
    if process.returncode != 0:
        raise SystemExit(f"{label} failed with exit status {process.returncode}")
    lines = sum(1 for _ in out.open("rb")) - 1
    if lines != rows:
        raise SystemExit(f"{label} wrote {lines} rows, expected {rows}")
    return Run(label, rows, took, cpu, peak, out.stat().st_size, out)


def sqlite3_cli(db: Path, out: Path, rows: int) -> Run:
    command = [SQLITE3, "-csv", "-header", str(db), SQLITE_SQL.format(org=ORG)]
    return run_cli("sqlite3 -csv", command, out, rows)


def psql_copy(url: str, out: Path, rows: int) -> Run:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    copy = f"\\copy ({PG_SQL.format(org=ORG)}) to '{out}' csv header"
    command = [PSQL, "-X", "-q", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432)]
    command += ["-U", parsed.username or "postgres", "-d", parsed.database or "", "-c", copy]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return run_cli("psql \\copy csv", command, out, rows, env=env, writes_out=True)


def best(runs: list[Run]) -> Run:
    """The fastest of the repeats: the one least disturbed by whatever else ran meanwhile."""
    return min(runs, key=lambda r: r.seconds)


def same_csv(ours: Path, theirs: Path) -> str:
    a, b = ours.read_bytes(), theirs.read_bytes()
    if a == b:
        return "byte-identical"
    if a.replace(b"\r\n", b"\n") == b.replace(b"\r\n", b"\n"):
        return "identical apart from line endings (CRLF vs LF)"
    # The comparison is only fair while both export the same columns and rows.
    raise SystemExit(f"{ours} and {theirs} differ: update the bench SQL")


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def interleaved(repeat: int, jobs: dict[str, Callable[[], Run]]) -> dict[str, Run]:
    """Each job `repeat` times, in turns, so a busy spell on the machine hits all alike."""
    results: dict[str, list[Run]] = {label: [] for label in jobs}
    for round_ in range(repeat):
        for label, job in jobs.items():
            run = job()
            results[label].append(run)
            print(
                f"  round {round_ + 1}: {label:<18} {run.seconds:7.2f}s  cpu {run.cpu:7.2f}s",
                flush=True,
            )
    return {label: best(runs) for label, runs in results.items()}


def ratio_line(ours: Run, cli: Run) -> dict[str, float]:
    return {"wall": round(cli.seconds / ours.seconds, 3), "cpu": round(cli.cpu / ours.cpu, 3)}


def print_table(
    runs: list[Run], ratios: dict[str, dict[str, float]], rss: dict[int, float]
) -> None:
    print()
    print(
        f"{'export':<22}{'rows':>11}{'seconds':>9}{'cpu s':>8}{'rows/s':>11}{'MiB file':>10}"
        f"{'peak RSS MiB':>14}"
    )
    for r in runs:
        print(
            f"{r.label:<22}{r.rows:>11,}{r.seconds:>9.2f}{r.cpu:>8.2f}{r.rows_per_second:>11,.0f}"
            f"{r.size / 2**20:>10.1f}{r.peak_rss_kib / 1024:>14.1f}"
        )
    print()
    print(f"{'ratio (CLI time / worker time)':<40}{'wall':>7}{'cpu':>7}")
    for label, ratio in ratios.items():
        print(f"{label:<40}{ratio['wall']:>6.2f}x{ratio['cpu']:>6.2f}x")
    if rss:
        print()
        print(
            "peak RSS of the worker's csv export: "
            + ", ".join(f"{mib_:.1f} MiB at {rows:,} rows" for rows, mib_ in sorted(rss.items()))
        )


def main(argv: list[str] | None = None) -> int:
    from bench import seed as seeding

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to export")
    parser.add_argument(
        "--rss-rows",
        type=int,
        nargs="*",
        default=None,
        help="also export these sizes (csv) for their peak RSS; default 5,000,000 when --rows"
        " is 1,000,000 or more, else a tenth of --rows; none with no value",
    )
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL comparison")
    parser.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server's admin URL")
    parser.add_argument("--pg-db", default="bench_export", help="the database made (and dropped)")
    parser.add_argument("--db", type=Path, help="a SQLite file to seed or reuse (kept)")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument("--keep", action="store_true", help="keep the files and the PG database")
    parser.add_argument("--json-out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--child", nargs=2, metavar=("URL", "STORAGE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    if args.rss_rows is None:
        args.rss_rows = [5_000_000] if args.rows >= 1_000_000 else [max(args.rows // 10, 1)]

    from sqlalchemy.engine import make_url

    from app.migrate import upgrade

    work = Path(tempfile.mkdtemp(prefix="eg-bench-", dir=args.dir))
    db = args.db or work / "bench.db"
    storage = work / "files"
    url = f"sqlite+aiosqlite:///{db.resolve()}"
    pg_admin_url = make_url(args.pg_url)
    pg_url = pg_admin_url.set(database=args.pg_db).render_as_string(hide_password=False)
    server = pg_admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    print(f"database {db}", flush=True)
    pg_made = False
    try:
        upgrade(url)
        sizes = {ORG: args.rows} | {f"bench-{n}": n for n in args.rss_rows}
        asyncio.run(seed(url, sizes, args.customers))
        jobs: dict[str, Callable[[], Run]] = {
            "sqlite3 -csv": lambda: sqlite3_cli(db, work / "sqlite3.csv", args.rows),
            "worker csv": lambda: run_worker_child(url, storage, ORG, "csv", "worker csv"),
            "worker json": lambda: run_worker_child(url, storage, ORG, "json", "worker json"),
        }
        if not args.no_pg:
            admin = pg_admin_url.render_as_string(hide_password=False)
            with_pg = asyncio.run(pg_exists(admin, args.pg_db))
            if not with_pg:
                asyncio.run(seeding.admin(server, f'CREATE DATABASE "{args.pg_db}"'))
            pg_made = True
            upgrade(pg_url)
            asyncio.run(seed(pg_url, {ORG: args.rows}, args.customers))
            jobs |= {
                "psql \\copy csv": lambda: psql_copy(pg_url, work / "psql.csv", args.rows),
                "worker csv (pg)": lambda: run_worker_child(
                    pg_url, storage, ORG, "csv", "worker csv (pg)"
                ),
            }
        print(f"{args.repeat} interleaved rounds", flush=True)
        runs = interleaved(args.repeat, jobs)
        for r in runs.values():
            if r.rows != args.rows:
                raise SystemExit(f"{r.label} exported {r.rows} rows, expected {args.rows}")
        ratios = {
            "worker csv vs sqlite3 -csv": ratio_line(runs["worker csv"], runs["sqlite3 -csv"]),
            "worker json vs sqlite3 -csv": ratio_line(runs["worker json"], runs["sqlite3 -csv"]),
        }
        ours, theirs = runs["worker csv"], runs["sqlite3 -csv"]
        notes = [f"worker csv and sqlite3 csv: {same_csv(ours.path, theirs.path)}"]
        if not args.no_pg:
            ours, theirs = runs["worker csv (pg)"], runs["psql \\copy csv"]
            ratios["worker csv (pg) vs psql \\copy"] = ratio_line(ours, theirs)
            notes.append(f"worker csv (pg) and psql csv: {same_csv(ours.path, theirs.path)}")
        rss = {args.rows: runs["worker csv"].peak_rss_kib / 1024}
        extra = []
        for n in args.rss_rows:
            run = run_worker_child(url, storage, f"bench-{n}", "csv", f"worker csv ({n:,})")
            extra.append(run)
            rss[n] = run.peak_rss_kib / 1024
        print_table([*runs.values(), *extra], ratios, rss)
        for note in notes:
            print(note)
        if args.json_out:
            figures: dict[str, Any] = {
                "rows": args.rows,
                "repeat": args.repeat,
                "runs": {
                    r.label: {
                        "rows": r.rows,
                        "seconds": round(r.seconds, 3),
                        "cpu_seconds": round(r.cpu, 3),
                        "rows_per_second": round(r.rows_per_second),
                        "peak_rss_mib": mib(r.peak_rss_kib),
                        "bytes": r.size,
                    }
                    for r in [*runs.values(), *extra]
                },
                "ratios": ratios,
                "peak_rss_mib": {str(n): round(v, 1) for n, v in rss.items()},
            }
            args.json_out.write_text(json.dumps(figures, indent=2) + "\n")
    finally:
        if pg_made and not args.keep:
            seeding.drop_database(server, args.pg_db)
        if args.keep:
            print(f"kept {work}" + ("" if args.no_pg else f" and the database {args.pg_db}"))
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


async def pg_exists(url: str, name: str) -> bool:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            return found is not None
    finally:
        await engine.dispose()


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
        async with sessions() as session:  # connect before the clock starts
            await session.scalar(select(DataExport.pk).limit(1))
        worker = Worker(settings, sessions, Storage(Path(storage_dir)))
        cpu = cpu_seconds(resource.RUSAGE_SELF)
        began = time.perf_counter()
        worked = await worker.run_one("bench")
        seconds = time.perf_counter() - began
        cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu
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
            "cpu": cpu,
            "records": export.record_count,
            "size": file.size,
            "path": str(Path(storage_dir) / file.storage_key),
            "peak_rss_kib": peak_rss_kib(),
        }

    print(json.dumps(asyncio.run(work())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
