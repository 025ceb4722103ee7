"""GraphQL against its REST twin, on a real server, in one run.

Seeds a temporary SQLite database (the demo data plus ~100 more exports), starts
`python -m app serve` on a free port, then for each scenario warms up and runs a fixed time
with N concurrent clients:

  a. REST     GET /data-exports/{id}?expand=user
  b. GraphQL  dataExport(id) with every export field and its user
  c. GraphQL  dataExports(limit: 100) with every export field and their users
  d. REST     GET /data-exports?limit=100&expand=user

and prints requests/s, p50 and p99 latency for each, and the GraphQL/REST ratios b/a and c/d.

    .venv/bin/python bench/graphql.py [--seconds 8] [--concurrency 8] [--warmup 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXTRA_EXPORTS = 100
PAGE = 100
USER = "id email firstName lastName createdTime links { rel href }"
EXPORT = f"""
  id name resource format arguments {{ filter sort q }} emailNotification fields
  recurring {{ instruction start }} userId fileId recordCount scheduledTime createdTime
  updatedTime status failureReason links {{ rel href }} dateRange {{ start end field }}
  user {{ {USER} }}
"""
ONE = f"query One($id: ID!) {{ dataExport(id: $id) {{ {EXPORT} }} }}"
MANY = f"query Page($limit: Int!) {{ dataExports(limit: $limit) {{ total items {{ {EXPORT} }} }} }}"

Request = Callable[[httpx.AsyncClient], Awaitable[None]]


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.count / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def prepare_database(database_url: str, pepper: str) -> tuple[str, list[str]]:
    """Migrate and seed; returns a read/write key and the ids of the exports."""
    from app.migrate import upgrade

    upgrade(database_url)  # runs its own event loop: before ours

    async def seed() -> tuple[str, list[str]]:
        from sqlalchemy import select

        from app.auth import issue_api_key
        from app.db import make_engine, make_sessionmaker
        from app.demo import seed_demo
        from app.exports import service
        from app.exports.validation import validate_export
        from app.models import DataExport, User, utcnow

        engine = make_engine(database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                await seed_demo(
                    session,
                    organization_id="demo",
                    customers=100,
                    transactions=500,
                    pepper=pepper,
                    keys_file=None,
                    show_progress=False,
                )
                users = list(await session.scalars(select(User).order_by(User.email)))
                now = utcnow()
                for n in range(EXTRA_EXPORTS):
                    body: dict[str, Any] = {
                        "name": f"Bench export {n:03d}",
                        "resource": ("transactions", "customers", "invoices")[n % 3],
                        "format": ("csv", "json", "json-api", "xml")[n % 4],
                        "arguments": {"sort": "-createdTime"} if n % 2 else {},
                        "emailNotification": [f"ops{n}@example.com"] if n % 5 == 0 else [],
                    }
                    if n % 3 == 0:
                        body["dateRange"] = {"start": "30 days ago midnight", "end": "today"}
                    await service.create_export(
                        session,
                        organization_id="demo",
                        user_id=users[n % len(users)].id,
                        spec=validate_export(body, now=now),
                    )
                key = await issue_api_key(
                    session, user=users[0], permissions=frozenset({"read", "write"}), pepper=pepper
                )
                await session.commit()
                ids = list(await session.scalars(select(DataExport.id).order_by(DataExport.id)))
                return key, ids
        finally:
            await engine.dispose()

    return asyncio.run(seed())


def start_server(
    workdir: Path, database_url: str, pepper: str, port: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "VAR_DIR": str(workdir / "var"),
        "DATABASE_URL": database_url,
        "API_KEY_PEPPER": pepper,
        "SIGNING_SECRET": "bench-signing-secret",
        "WORKER_MODE": "off",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_WRITES": "1000000",
    }
    log = (workdir / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def wait_until_ready(base_url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(base_url=base_url) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with {server.returncode}")
            try:
                response = await client.get("/graphql", params={"query": "{ __typename }"})
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not start within 30 s")


def scenarios(key: str, ids: list[str]) -> list[tuple[str, Request]]:
    headers = {"REB-APIKEY": key}
    cycle: Iterator[str] = itertools.cycle(ids)

    async def rest_one(client: httpx.AsyncClient) -> None:
        response = await client.get(
            f"/data-exports/{next(cycle)}", params={"expand": "user"}, headers=headers
        )
        check(response.status_code == 200 and response.json()["_embedded"]["user"], response)

    async def graphql_one(client: httpx.AsyncClient) -> None:
        payload = {"query": ONE, "variables": {"id": next(cycle)}}
        response = await client.post("/graphql", json=payload, headers=headers)
        body = response.json()
        check(response.status_code == 200 and "errors" not in body, response)
        check(body["data"]["dataExport"]["user"] is not None, response)

    async def graphql_page(client: httpx.AsyncClient) -> None:
        payload = {"query": MANY, "variables": {"limit": PAGE}}
        response = await client.post("/graphql", json=payload, headers=headers)
        body = response.json()
        check(response.status_code == 200 and "errors" not in body, response)
        check(len(body["data"]["dataExports"]["items"]) == PAGE, response)

    async def rest_page(client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/data-exports", params={"limit": PAGE, "expand": "user"}, headers=headers
        )
        check(response.status_code == 200 and len(response.json()) == PAGE, response)

    return [
        ("a REST    GET /data-exports/{id}?expand=user", rest_one),
        ("b GraphQL dataExport(id) { … user }", graphql_one),
        ("c GraphQL dataExports(limit: 100) { … user }", graphql_page),
        ("d REST    GET /data-exports?limit=100&expand=user", rest_page),
    ]


def check(ok: object, response: httpx.Response) -> None:
    if not ok:
        raise RuntimeError(f"unexpected response {response.status_code}: {response.text[:300]}")


async def run_for(
    client: httpx.AsyncClient, request: Request, seconds: float, concurrency: int
) -> tuple[int, list[float], float]:
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            begin = time.perf_counter()
            await request(client)
            latencies.append((time.perf_counter() - begin) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), latencies, time.perf_counter() - started


async def measure(
    base_url: str, key: str, ids: list[str], seconds: float, warmup: float, concurrency: int
) -> list[Result]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    results: list[Result] = []
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        for name, request in scenarios(key, ids):
            await run_for(client, request, warmup, concurrency)
            count, latencies, elapsed = await run_for(client, request, seconds, concurrency)
            result = Result(name, count, elapsed, latencies)
            results.append(result)
            print(
                f"  {name:<50} {result.rps:8.1f} req/s  p50 {result.percentile(50):7.2f} ms"
                f"  p99 {result.percentile(99):7.2f} ms  ({count} requests)",
                flush=True,
            )
    return results


def report(results: list[Result]) -> None:
    a, b, c, d = results
    print("\nGraphQL / REST")
    for label, graphql, rest in (("single export (b/a)", b, a), ("page of 100 (c/d)", c, d)):
        print(
            f"  {label:<22} throughput {graphql.rps / rest.rps:5.2f}x"
            f"   p50 latency {graphql.percentile(50) / rest.percentile(50):5.2f}x"
            f"   p99 latency {graphql.percentile(99) / rest.percentile(99):5.2f}x"
        )
    mean = statistics.fmean(r.rps for r in results)
    print(f"  (mean throughput over the four scenarios: {mean:.1f} req/s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per case")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients")
    args = parser.parse_args()
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1:
        parser.error("--seconds must be > 0, --warmup >= 0, --concurrency >= 1")

    with tempfile.TemporaryDirectory(prefix="bench-graphql-") as tmp:
        workdir = Path(tmp)
        database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        pepper = "bench-pepper"
        started = time.monotonic()
        key, ids = prepare_database(database_url, pepper)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(workdir, database_url, pepper, port)
        try:
            asyncio.run(wait_until_ready(base_url, server))
            print(
                f"server {base_url} (SQLite, 1 uvicorn worker), {len(ids)} exports, "
                f"ready in {time.monotonic() - started:.1f} s; "
                f"{args.concurrency} clients, {args.warmup:g} s warm-up + {args.seconds:g} s "
                "per case",
                flush=True,
            )
            results = asyncio.run(
                measure(base_url, key, ids, args.seconds, args.warmup, args.concurrency)
            )
            report(results)
        except BaseException:
            log = (workdir / "server.log").read_text(errors="replace")
            print(f"server log (tail):\n{log[-3000:]}", file=sys.stderr)
            raise
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
