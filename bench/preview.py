"""Export preview latency on a large table, through the real app (`POST /data-exports/preview`).

    .venv/bin/python bench/preview.py                         # 1,000,000 transactions, SQLite
    .venv/bin/python bench/preview.py --db /tmp/p.db          # keep the seeded file, reuse it
    .venv/bin/python bench/preview.py --database-url postgresql+asyncpg://…/bench   # PostgreSQL
    .venv/bin/python bench/preview.py --rows 100000 --repeat 3                      # a quick pass

Seeds the transactions with app.demo_data (as bench/export.py does; skipped when the database
already holds them) and runs ANALYZE, then times `--repeat` previews of each typical body:
everything (no filter), a filter, a date range, and everything sorted by amount. The app
runs in-process behind httpx's ASGI transport with PREVIEW_TIMEOUT_SECONDS raised out of the
way, so the figures are the preview's own time; the default timeout (5 s) is shown beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script, this folder comes first on the path, and its graphql.py would shadow the
# graphql package the app imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ORG = "bench"
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
FIELDS = ["id", "amount", "currency", "result", "billingAddress/country", "processedTime"]
BODIES: dict[str, dict[str, Any]] = {
    "no filter": {},
    "filter result:approved;currency:USD": {
        "arguments": {"filter": "result:approved;currency:USD"}
    },
    "dateRange one month": {
        "dateRange": {"start": "2025-11-01T00:00:00Z", "end": "2025-12-01T00:00:00Z"}
    },
    "no filter, sort -amount": {"arguments": {"sort": "-amount"}},
}


async def seed(url: str, rows: int, customers: int) -> int:
    """Top the organization up to `rows` transactions; returns how many it holds."""
    from sqlalchemy import func, select, text

    from app.db import make_engine, make_sessionmaker
    from app.demo import ensure_user
    from app.demo_data import generate
    from app.models import Transaction

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            await ensure_user(session, organization_id=ORG, email="bench@example.com")
            await session.commit()
            began = time.perf_counter()
            added = await generate(
                session,
                organization_id=ORG,
                customers=customers,
                transactions=rows,
                anchor=ANCHOR,
                resources=("transactions",),
            )
            if added.get("transactions"):
                took = time.perf_counter() - began
                print(f"seeded {added['transactions']:,} transactions in {took:.1f}s", flush=True)
            # Fresh planner statistics, as a maintained database has (autovacuum on
            # PostgreSQL): without them PostgreSQL guesses a few hundred rows.
            await session.execute(text("ANALYZE transactions"))
            await session.commit()
            held = await session.scalar(
                select(func.count())
                .select_from(Transaction)
                .where(Transaction.organization_id == ORG)
            )
            return int(held or 0)
    finally:
        await engine.dispose()


async def issue_key(url: str, pepper: str) -> str:
    from app.auth import issue_api_key
    from app.db import make_engine, make_sessionmaker
    from app.demo import ensure_user

    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await ensure_user(session, organization_id=ORG, email="bench@example.com")
            key = await issue_api_key(
                session, user=user, permissions=frozenset({"read", "write"}), pepper=pepper
            )
            await session.commit()
            return key
    finally:
        await engine.dispose()


async def time_previews(url: str, storage: Path, repeat: int, fmt: str) -> None:
    import httpx

    from app.main import create_app
    from app.settings import Settings

    settings = Settings(
        database_url=url,
        storage_dir=storage,
        signing_secret=secrets.token_urlsafe(32),
        api_key_pepper=secrets.token_urlsafe(32),
        worker_mode="off",
        preview_timeout_seconds=3600,
        log_level="WARNING",
    )
    key = await issue_key(url, settings.api_key_pepper)
    default_timeout = Settings().preview_timeout_seconds
    app = create_app(settings)
    headers = {"REB-APIKEY": key}
    print(f"\n{fmt}, {repeat} previews each (default PREVIEW_TIMEOUT_SECONDS {default_timeout:g})")
    print(f"{'body':<38}{'records':>10}{'min s':>8}{'median s':>10}{'max s':>8}  within default")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=3600
        ) as client:
            for label, extra in BODIES.items():
                body: dict[str, Any] = {"name": "bench", "resource": "transactions"}
                body |= {"format": fmt, "fields": FIELDS, **extra}
                times: list[float] = []
                count = 0
                for _ in range(repeat):
                    began = time.perf_counter()
                    response = await client.post(
                        "/data-exports/preview", headers=headers, json=body
                    )
                    times.append(time.perf_counter() - began)
                    if response.status_code != 200:
                        raise SystemExit(f"{label}: {response.status_code} {response.text[:300]}")
                    count = response.json()["recordCount"]
                within = "yes" if max(times) <= default_timeout else "no"
                print(
                    f"{label:<38}{count:>10,}{min(times):>8.3f}{statistics.median(times):>10.3f}"
                    f"{max(times):>8.3f}  {within}",
                    flush=True,
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to seed")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5, help="previews per body")
    parser.add_argument("--format", default="csv", help="the bodies' format")
    parser.add_argument("--db", type=Path, help="SQLite file to seed or reuse (else a temp file)")
    parser.add_argument("--database-url", help="another database (PostgreSQL), seeded or reused")
    args = parser.parse_args(argv)

    from app.migrate import upgrade

    work = Path(tempfile.mkdtemp(prefix="eg-preview-"))
    if args.database_url:
        url = args.database_url
    else:
        db = args.db or work / "bench.db"
        url = f"sqlite+aiosqlite:///{db}"
        print(f"database {db}", flush=True)
    upgrade(url)
    held = asyncio.run(seed(url, args.rows, args.customers))
    print(f"{held:,} transactions in organization {ORG!r}", flush=True)
    asyncio.run(time_previews(url, work / "files", args.repeat, args.format))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
