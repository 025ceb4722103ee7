"""The export rows of the one table: the worker against the database's own CSV tool.

Seeding and the worker runs come from bench/export.py (a child process per export, so its
own peak RSS can be read); this module interleaves them in rounds with the references, adds
PostgreSQL (bench/export.py's `psql \\copy (…) to … csv header`) and the peak RSS at two
sizes, and checks that the worker and the reference wrote the same rows and columns before a
ratio counts.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import export as exports


@dataclass
class ExportFigure:
    """One row of the table: the worker's seconds against a reference's, per round."""

    key: str
    label: str
    rows: int
    reference: str
    target: float | None
    ours: list[float] = field(default_factory=list)
    theirs: list[float] = field(default_factory=list)
    peak_rss_mib: list[float] = field(default_factory=list)
    problem: str | None = None

    def add(self, run: exports.Run, reference_seconds: float | None) -> None:
        """One round: the worker's run (checked for its row count) and the reference's time."""
        if run.rows != self.rows:
            self.problem = f"the worker exported {run.rows} rows, expected {self.rows}"
        self.ours.append(run.seconds)
        if reference_seconds is not None:
            self.theirs.append(reference_seconds)
        self.peak_rss_mib.append(run.peak_rss_kib / 1024)

    @property
    def ratios(self) -> list[float]:
        return [t / o for o, t in zip(self.ours, self.theirs, strict=False) if o]

    def as_json(self) -> dict[str, Any]:
        ratios = self.ratios
        valid = self.problem is None and bool(ratios or self.peak_rss_mib)
        met = None
        if valid and self.target is not None:
            met = statistics.median(ratios) >= self.target
        elif valid and not ratios:  # a peak RSS row: flat in the row count, under 150 MiB
            met = max(self.peak_rss_mib) < 150
        return {
            "key": self.key,
            "label": self.label,
            "rows": self.rows,
            "reference": self.reference,
            "valid": valid,
            "problem": self.problem,
            "seconds": self.ours,
            "reference_seconds": self.theirs,
            "rows_per_second": [self.rows / s for s in self.ours if s],
            "ratios": ratios,
            "ratio_median": statistics.median(ratios) if ratios else None,
            "peak_rss_mib": self.peak_rss_mib,
            "target": self.target,
            "met": met,
        }


def same_rows(ours: Path, theirs: Path) -> str | None:
    """None when both files hold the same CSV (line endings aside), else why not."""
    a, b = ours.read_bytes().replace(b"\r\n", b"\n"), theirs.read_bytes().replace(b"\r\n", b"\n")
    if a == b:
        return None
    if sorted(a.splitlines()) == sorted(b.splitlines()):
        return None  # the same rows in another order: the same work
    return f"{ours.name} and {theirs.name} differ: the reference SQL no longer matches the worker"


def _customers(rows: int) -> int:
    return min(10_000, max(10, rows // 100))


def _clear(storage: Path) -> None:
    shutil.rmtree(storage, ignore_errors=True)


def sqlite_figures(work: Path, rows: int, rounds: int, log: Any) -> list[ExportFigure]:
    from app.migrate import upgrade

    db, storage = work / "export.db", work / "export-files"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    asyncio.run(exports.seed(url, {exports.ORG: rows}, _customers(rows)))
    csv = ExportFigure("sqlite/export-csv", "CSV", rows, "sqlite3 -csv", 0.5)
    js = ExportFigure("sqlite/export-json", "JSON", rows, "sqlite3 -csv", 0.4)
    for round_ in range(rounds):
        ours_csv = exports.run_worker_child(url, storage, exports.ORG, "csv", "worker csv")
        reference = exports.sqlite3_cli(db, work / "sqlite3.csv", rows)
        ours_json = exports.run_worker_child(url, storage, exports.ORG, "json", "worker json")
        if round_ == 0:
            csv.problem = same_rows(ours_csv.path, reference.path)
        for figure, run in ((csv, ours_csv), (js, ours_json)):
            figure.add(run, reference.seconds)
        log(
            f"  export round {round_ + 1}: csv {ours_csv.seconds:.2f}s json "
            f"{ours_json.seconds:.2f}s sqlite3 {reference.seconds:.2f}s"
        )
        _clear(storage)
    db.unlink()
    return [csv, js]


def postgres_figures(url: str, work: Path, rows: int, rounds: int, log: Any) -> ExportFigure:
    """`url`: a fresh database (postgresql+asyncpg://…), already migrated."""
    storage = work / "export-files-pg"
    asyncio.run(exports.seed(url, {exports.ORG: rows}, _customers(rows)))
    figure = ExportFigure("postgres/export-csv", "CSV", rows, "psql \\copy", 0.7)
    for round_ in range(rounds):
        ours = exports.run_worker_child(url, storage, exports.ORG, "csv", "worker csv")
        reference = exports.psql_copy(url, work / "psql.csv", rows)
        if round_ == 0:
            figure.problem = same_rows(ours.path, reference.path)
        figure.add(ours, reference.seconds)
        log(
            f"  pg export round {round_ + 1}: csv {ours.seconds:.2f}s psql {reference.seconds:.2f}s"
        )
        _clear(storage)
    return figure


def rss_from(figure: ExportFigure) -> ExportFigure:
    """The CSV rounds' peak RSS as a row of its own (no second run at the same size)."""
    rss = ExportFigure(f"sqlite/export-rss-{figure.rows}", "CSV peak RSS", figure.rows, "-", None)
    rss.peak_rss_mib, rss.problem = list(figure.peak_rss_mib), figure.problem
    return rss


def rss_figure(work: Path, rows: int, log: Any) -> ExportFigure:
    """The worker's peak RSS exporting `rows` transactions to CSV (one run, its own database)."""
    from app.migrate import upgrade

    db, storage = work / f"rss-{rows}.db", work / "rss-files"
    url = f"sqlite+aiosqlite:///{db}"
    upgrade(url)
    asyncio.run(exports.seed(url, {exports.ORG: rows}, _customers(rows)))
    figure = ExportFigure(f"sqlite/export-rss-{rows}", "CSV peak RSS", rows, "-", None)
    run = exports.run_worker_child(url, storage, exports.ORG, "csv", "worker csv")
    figure.add(run, None)
    _clear(storage)
    db.unlink()
    return figure
