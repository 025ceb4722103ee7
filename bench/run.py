"""Every benchmark, end to end, in one table: `make bench` (and `make bench-quick`).

    .venv/bin/python -m bench.run [--seconds 10] [--rounds 3] [--quick] [--no-postgres] ...

Seeds fresh databases (SQLite file; a PostgreSQL database of its own, dropped after) through
the app's migrations and demo seed, starts the gateway (1 and 2 uvicorn workers), the ceiling
(bench/ceiling.py) and PostGraphile 4, probes every scenario once (200, the same export in
every body, no GraphQL errors, GraphQL carrying REST's members), then runs wrk against each in
interleaved rounds: round 1 runs every scenario once, then round 2, ... A ratio is a
scenario's req/s over its ceiling's in the same round; the table shows the median over rounds
with the min and max. Any non-2xx answer or socket error makes a scenario invalid: it gets no
figure. The export rows follow (bench/export_rows.py). Results also go to bench/results.json.
Exit status 1 when anything was invalid; a missed target is printed, not an error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import load as wrk  # noqa: E402
from bench import seed as seeding  # noqa: E402
from bench.scenarios import (  # noqa: E402
    GRAPHQL_ONE,
    GRAPHQL_PAGE,
    PAGE,
    POSTGRAPHILE_ONE,
    ProbeFailed,
    Scenario,
    graphql_body,
    probe,
    same_exports,
    same_members,
)
from bench.servers import Servers  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DATABASE = "bench_exports"


def scenarios(backend: str, key: str, two_workers: bool, postgraphile: bool) -> list[Scenario]:
    """One backend's scenarios in the order a round runs them."""
    auth = {"REB-APIKEY": key}
    gql = {**auth, "Content-Type": "application/json"}
    b = backend

    def graphql(path: list[str]) -> Any:
        def extract(body: Any) -> Any:
            for name in ["data", *path]:
                body = body[name]
            return body

        return extract

    one = graphql_body(GRAPHQL_ONE, {"id": "{id}"})
    page = graphql_body(GRAPHQL_PAGE)
    pg_target = None if b == "postgres" else 1.0  # targets are for SQLite; PG is reported
    found = [
        Scenario(
            f"{b}/ceiling-one",
            "ceiling  one export + user",
            f"{b}-ceiling",
            "/ceiling/data-exports/{id}",
        ),
        Scenario(
            f"{b}/rest-one",
            "REST     GET /data-exports/{id}?expand=user",
            f"{b}-gateway",
            "/data-exports/{id}?expand=user",
            headers=auth,
            ceiling=f"{b}/ceiling-one",
            target=pg_target and 0.5,
        ),
        Scenario(
            f"{b}/graphql-one",
            "GraphQL  dataExport(id) { … user }",
            f"{b}-gateway",
            "/graphql",
            "POST",
            one,
            gql,
            graphql=True,
            ceiling=f"{b}/ceiling-one",
            target=pg_target and 0.4,
            extract=graphql(["dataExport"]),
        ),
    ]
    if two_workers:
        found += [
            Scenario(
                f"{b}/rest-one-2w",
                "REST     by id, --workers 2 (x 1 worker)",
                f"{b}-gateway-2w",
                "/data-exports/{id}?expand=user",
                headers=auth,
                ceiling=f"{b}/rest-one",
                target=1.8,
            ),
            Scenario(
                f"{b}/graphql-one-2w",
                "GraphQL  by id, --workers 2 (x 1 worker)",
                f"{b}-gateway-2w",
                "/graphql",
                "POST",
                one,
                gql,
                graphql=True,
                ceiling=f"{b}/graphql-one",
                target=1.8,
                extract=graphql(["dataExport"]),
            ),
        ]
    if postgraphile:
        found.append(
            Scenario(
                f"{b}/postgraphile-one",
                "PostGraphile 4  by id, same columns + user",
                f"{b}-postgraphile",
                "/graphql",
                "POST",
                graphql_body(POSTGRAPHILE_ONE, {"id": "{id}"}),
                {"Content-Type": "application/json"},
                graphql=True,
                ceiling=f"{b}/ceiling-one",
                extract=graphql(["dataExportByOrganizationIdAndId"]),
            )
        )
    found += [
        Scenario(f"{b}/ceiling-page", f"ceiling  page of {PAGE} + users", f"{b}-ceiling",
                 f"/ceiling/data-exports?limit={PAGE}", page=True),
        Scenario(f"{b}/rest-page", f"REST     GET /data-exports?limit={PAGE}&expand=user",
                 f"{b}-gateway", f"/data-exports?limit={PAGE}&expand=user", headers=auth,
                 page=True, ceiling=f"{b}/ceiling-page", target=pg_target and 0.5),
        Scenario(f"{b}/graphql-page", f"GraphQL  dataExports(limit: {PAGE}) {{ … user }}",
                 f"{b}-gateway", "/graphql", "POST", page, gql, page=True, graphql=True,
                 ceiling=f"{b}/ceiling-page", target=pg_target and 0.35,
                 extract=graphql(["dataExports", "items"])),
    ]  # fmt: skip
    return found


@dataclass
class Measured:
    scenario: Scenario
    problem: str | None = None
    loads: list[wrk.Load] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.problem is None and bool(self.loads)

    def as_json(self) -> dict[str, Any]:
        s = self.scenario
        rps = [load.rps for load in self.loads]
        return {
            "key": s.key,
            "label": s.label,
            "valid": self.valid,
            "problem": self.problem,
            "rps": rps,
            "rps_median": statistics.median(rps) if rps and self.valid else None,
            "p50_ms": [load.p50_ms for load in self.loads],
            "p99_ms": [load.p99_ms for load in self.loads],
            "ratio_to": s.ceiling,
            "ratios": self.ratios,
            "ratio_median": statistics.median(self.ratios) if self.ratios else None,
            "target": s.target,
            "met": (
                statistics.median(self.ratios) >= s.target
                if s.target and self.ratios and self.valid
                else None
            ),
        }


def probe_all(
    todo: list[Scenario], urls: dict[str, str], ids: dict[str, list[str]]
) -> dict[str, Measured]:
    """Every scenario once for a known id; cross-checks between REST, GraphQL and ceiling."""
    measured = {s.key: Measured(s) for s in todo}
    bodies: dict[str, Any] = {}
    with httpx.Client(timeout=30) as client:
        for s in todo:
            backend = s.key.split("/")[0]
            known = ids[backend][len(ids[backend]) // 2]
            try:
                bodies[s.key] = probe(s, client, urls[s.server], known)
            except (ProbeFailed, httpx.HTTPError) as error:
                measured[s.key].problem = f"probe: {error}"
    for s in todo:
        b, m = s.key.split("/")[0], measured[s.key]
        if m.problem or s.key not in bodies:
            continue
        name = s.key.split("/")[1]
        reference = f"{b}/rest-page" if s.page else f"{b}/rest-one"
        if reference == s.key or reference not in bodies:
            continue
        why = same_exports(bodies[reference], bodies[s.key], s.page)
        if why is None and "postgraphile" not in name:
            first = (lambda x: x[0]) if s.page else (lambda x: x)
            why = same_members(first(bodies[reference]), first(bodies[s.key]))
        if why:
            m.problem = f"probe: {why}"
    return measured


def measure(
    measured: dict[str, Measured],
    urls: dict[str, str],
    id_files: dict[str, Path],
    args: argparse.Namespace,
) -> None:
    todo = [m for m in measured.values() if m.problem is None]

    def once(m: Measured, seconds: float) -> wrk.Load:
        s = m.scenario
        body_file = None
        if s.body is not None:
            body_file = id_files["dir"] / f"{s.key.replace('/', '-')}.json"
            body_file.write_text(s.body)
        return wrk.run(
            urls[s.server],
            ids_file=id_files[s.key.split("/")[0]],
            path=s.path,
            method=s.method,
            body_file=body_file,
            headers=s.headers,
            seconds=seconds,
            connections=args.connections,
            threads=args.threads,
        )

    if args.warmup:
        for m in todo:
            with contextlib.suppress(RuntimeError):  # the timed runs report it
                once(m, args.warmup)
    for round_ in range(args.rounds):
        this_round: dict[str, wrk.Load] = {}
        for m in todo:
            try:
                load = once(m, args.seconds)
            except RuntimeError as error:  # wrk could not run at all (a server died)
                m.problem = m.problem or f"wrk: {error}"
                print(f"  round {round_ + 1} {m.scenario.key}: {error}", flush=True)
                continue
            m.loads.append(load)
            this_round[m.scenario.key] = load
            if not load.valid and m.problem is None:
                m.problem = "invalid: " + ", ".join(load.problems)
            print(
                f"  round {round_ + 1} {m.scenario.key:<26} {load.rps:9.1f} req/s "
                f"p50 {load.p50_ms:7.2f} ms p99 {load.p99_ms:7.2f} ms"
                + ("" if load.valid else "  INVALID " + ", ".join(load.problems)),
                flush=True,
            )
        for m in todo:
            base = m.scenario.ceiling
            if (
                base
                and m.scenario.key in this_round
                and base in this_round
                and this_round[base].rps
            ):
                m.ratios.append(this_round[m.scenario.key].rps / this_round[base].rps)


# --- the table ---------------------------------------------------------------------------


def spread(values: list[float], fmt: str) -> str:
    return (
        f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"
        if values
        else "-"
    )


def verdict(value: float | None, target: float | None, at_least: bool = True) -> str:
    if target is None or value is None:
        return ""
    return "pass" if (value >= target if at_least else value < target) else "FAIL"


def table(http: list[dict[str, Any]], export: list[dict[str, Any]]) -> str:
    lines = [
        f"{'scenario':<50} {'req/s median [min-max]':>26} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'ratio [min-max]':>22} {'target':>7}  ",
        "-" * 128,
    ]
    section = None
    for r in http:
        backend = r["key"].split("/")[0]
        if backend != section:
            section = backend
            lines.append({"sqlite": "SQLite", "postgres": "PostgreSQL"}[backend])
        if not r["valid"]:
            lines.append(f"  {r['label']:<48} INVALID: {r['problem']}")
            continue
        ratio = spread(r["ratios"], ".2f") + "x" if r["ratios"] else "1x" * ("ceiling" in r["key"])
        target = f">={r['target']:g}x" if r["target"] else ""
        lines.append(
            f"  {r['label']:<48} {spread(r['rps'], '.0f'):>26} "
            f"{statistics.median(r['p50_ms']):>8.2f} {statistics.median(r['p99_ms']):>8.2f} "
            f"{ratio:>22} {target:>7}  {verdict(r['ratio_median'], r['target'])}"
            + (
                f"  {spread(r['vs_postgraphile'], '.2f')}x PostGraphile"
                if r.get("vs_postgraphile")
                else ""
            )
        )
    if export:
        lines.append(
            f"Exports {'':<42} {'rows/s median [min-max]':>26} {'':>8} {'peak MiB':>8} "
            f"{'ratio [min-max]':>22} {'target':>7}"
        )
    for r in export:
        label = f"{r['label']}, {r['rows']:,} rows" + (
            f", vs {r['reference']}" if r["reference"] != "-" else ""
        )
        prefix = "SQLite " if r["key"].startswith("sqlite") else "PG "
        if not r["valid"]:
            lines.append(f"  {prefix + label:<48} INVALID: {r['problem']}")
            continue
        peak = max(r["peak_rss_mib"]) if r["peak_rss_mib"] else None
        rate = spread(r["rows_per_second"], ",.0f") if r["ratios"] else "-"
        if r["ratios"]:
            ratio, target = spread(r["ratios"], ".2f") + "x", f">={r['target']:g}x"
            mark = verdict(r["ratio_median"], r["target"])
        else:
            ratio, target, mark = "", "<150MiB", verdict(peak, 150, at_least=False)
        lines.append(
            f"  {prefix + label:<48} {rate:>26} {'':>8} {peak or 0:>8.0f} {ratio:>22} "
            f"{target:>7}  {mark}"
        )
    return "\n".join(lines)


# --- the machine -------------------------------------------------------------------------


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    text = (done.stdout or done.stderr).strip()  # wrk --version exits 1
    return text.splitlines()[0] if text else "-"


def machine() -> dict[str, Any]:
    cpu = "-"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "system": platform.platform(),
        "wrk": _output(["wrk", "--version"]),
        "sqlite3": _output(["sqlite3", "--version"]),
        "psql": _output(["psql", "--version"]),
        "node": _output(["node", "--version"]),
        "load_average_at_start": os.getloadavg(),
    }


# --- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="wrk seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (>= 3)")
    parser.add_argument("--warmup", type=float, default=2, help="wrk seconds before round 1")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--exports", type=int, default=1000, help="exports in the database")
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="CSV/JSON rows")
    parser.add_argument("--rss-rows", default="1000000,5000000", help="sizes for the peak RSS rows")
    parser.add_argument("--quick", action="store_true", help="one-minute pass: 1 s runs")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-exports", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--postgres-server", default=PG_SERVER, help="an admin connection URL")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.export_rows, args.rss_rows = 1, 0, 100_000, "100000,300000"
    if args.rounds < 3 or args.seconds < 1:
        parser.error("--rounds must be >= 3 and --seconds >= 1")
    wrk.wrk_path()
    started = time.monotonic()
    info = machine()
    print(
        f"bench: {info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, "
        f"{info['wrk']}; load average {info['load_average_at_start']}",
        flush=True,
    )
    http: list[dict[str, Any]] = []
    export: list[dict[str, Any]] = []
    postgres = not args.no_postgres
    pg_url = args.postgres_server.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    pg_async = pg_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp, Servers(Path(tmp)) as servers:
        work = Path(tmp)
        if postgres:
            seeding.create_database(args.postgres_server, PG_DATABASE)
            servers.callback(seeding.drop_database, args.postgres_server, PG_DATABASE)
        if not args.no_http:
            http = run_http(args, servers, work, pg_url if postgres else None, pg_async)
        if not args.no_exports:
            from bench import export_rows

            def log(text: str) -> None:
                print(text, flush=True)

            rounds, rows = args.rounds, args.export_rows
            figures = attempt(
                lambda: export_rows.sqlite_figures(work, rows, rounds, log),
                [
                    ("sqlite/export-csv", "CSV", "sqlite3 -csv"),
                    ("sqlite/export-json", "JSON", "sqlite3 -csv"),
                ],
                rows,
            )
            if postgres:  # a database of its own: the worker must find only this export due
                rows_db = f"{PG_DATABASE}_rows"
                seeding.create_database(args.postgres_server, rows_db)
                servers.callback(seeding.drop_database, args.postgres_server, rows_db)
                rows_url = pg_async.rsplit("/", 1)[0] + f"/{rows_db}"

                def postgres_rows() -> list[export_rows.ExportFigure]:
                    from app.migrate import upgrade

                    upgrade(rows_url)
                    return [export_rows.postgres_figures(rows_url, work, rows, rounds, log)]

                figures += attempt(
                    postgres_rows, [("postgres/export-csv", "CSV", "psql \\copy")], rows
                )
            for size in (int(n) for n in args.rss_rows.split(",") if n):
                if size == rows and figures[0].ratios:
                    figures.append(export_rows.rss_from(figures[0]))
                    continue
                figures += attempt(
                    lambda size=size: [export_rows.rss_figure(work, size, log)],  # type: ignore[misc]
                    [(f"sqlite/export-rss-{size}", "CSV peak RSS", "-")],
                    size,
                )
            export = [f.as_json() for f in figures]
    text = table(http, export)
    print()
    print(text)
    invalid = [r["key"] for r in http + export if not r["valid"]]
    took = time.monotonic() - started
    print(
        f"\n{args.rounds} rounds of {args.seconds:g} s per scenario, {args.connections} "
        f"connections, wrk -t{args.threads}; {took:.0f} s in all"
        + (f"; INVALID: {', '.join(invalid)}" if invalid else "")
    )
    args.json.write_text(
        json.dumps(
            {
                "machine": info,
                "config": {
                    k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                },
                "http": http,
                "exports": export,
                "table": text,
                "invalid": invalid,
            },
            indent=2,
        )
    )
    print(f"results: {args.json}")
    return 1 if invalid else 0


def attempt(work: Any, failing: list[tuple[str, str, str]], rows: int) -> list[Any]:
    """work()'s figures, or, when it fails, those rows marked invalid with the reason."""
    from bench.export_rows import ExportFigure

    try:
        return list(work())
    except (SystemExit, RuntimeError, AssertionError, OSError) as error:
        print(f"  export rows failed: {error!r}", flush=True)
        return [
            ExportFigure(key, label, rows, reference, None, problem=f"failed: {error}")
            for key, label, reference in failing
        ]


def run_http(
    args: argparse.Namespace, servers: Servers, work: Path, pg_url: str | None, pg_async: str
) -> list[dict[str, Any]]:
    began = time.monotonic()
    db = work / "bench.db"
    sqlite_url = f"sqlite+aiosqlite:///{db}"
    seeded = {"sqlite": seeding.seed(sqlite_url, args.exports)}
    urls = {
        "sqlite-gateway": servers.gateway("sqlite-gateway", sqlite_url),
        "sqlite-gateway-2w": servers.gateway("sqlite-gateway-2w", sqlite_url, workers=2),
        "sqlite-ceiling": servers.ceiling("sqlite-ceiling", f"sqlite:///{db}", "demo"),
    }
    todo = scenarios("sqlite", seeded["sqlite"].key, True, False)
    if pg_url:
        seeded["postgres"] = seeding.seed(pg_async, args.exports)
        urls["postgres-gateway"] = servers.gateway("postgres-gateway", pg_async)
        urls["postgres-ceiling"] = servers.ceiling("postgres-ceiling", pg_url, "demo")
        urls["postgres-postgraphile"] = servers.postgraphile("postgres-postgraphile", pg_url)
        todo += scenarios("postgres", seeded["postgres"].key, False, True)
    id_files: dict[str, Path] = {"dir": work}
    for backend, s in seeded.items():
        id_files[backend] = s.write_ids(work / f"ids-{backend}.txt")
    print(
        f"seeded {', '.join(f'{b}: {len(s.ids)} exports' for b, s in seeded.items())}; "
        f"servers up in {time.monotonic() - began:.0f} s",
        flush=True,
    )
    measured = probe_all(todo, urls, {b: s.ids for b, s in seeded.items()})
    for m in measured.values():
        if m.problem:
            print(f"  {m.scenario.key}: {m.problem}", flush=True)
    measure(measured, urls, id_files, args)
    results = [m.as_json() for m in measured.values()]
    beside_postgraphile(results)
    return results


def beside_postgraphile(results: list[dict[str, Any]]) -> None:
    """The gateway's PostgreSQL by-id rows over PostGraphile's, round by round."""
    by_key = {r["key"]: r for r in results}
    theirs = by_key.get("postgres/postgraphile-one")
    for key in ("postgres/rest-one", "postgres/graphql-one"):
        ours = by_key.get(key)
        if not (ours and theirs and ours["valid"] and theirs["valid"]):
            continue
        ratios = [a / b for a, b in zip(ours["rps"], theirs["rps"], strict=False) if b]
        ours["vs_postgraphile"] = ratios
        ours["vs_postgraphile_median"] = statistics.median(ratios) if ratios else None


if __name__ == "__main__":
    sys.exit(main())
