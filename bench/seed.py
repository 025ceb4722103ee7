"""A benchmark database: the app's own migrations and demo seed, topped up to N exports.

The demo seed (app/demo.py) brings users, keys and a few exports; the rest are made through
the core's create_export, varied like real requests (resource, format, sort, date range,
e-mail), spread over the demo users so the JOIN to users has several targets. The key is a
read/write key of the first user, for the gateway scenarios.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ORGANIZATION = "demo"
PEPPER = "bench-pepper"


@dataclass(frozen=True)
class Seeded:
    key: str
    ids: list[str]
    organization: str = ORGANIZATION

    def write_ids(self, path: Path) -> Path:
        path.write_text("\n".join(self.ids) + "\n")
        return path


def seed(database_url: str, exports: int = 1000) -> Seeded:
    """Migrate a fresh database and fill it; runs its own event loops."""
    from app.migrate import upgrade

    upgrade(database_url)
    return asyncio.run(_fill(database_url, exports))


async def _fill(database_url: str, exports: int) -> Seeded:
    from sqlalchemy import func, select

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
                organization_id=ORGANIZATION,
                customers=50,
                transactions=200,
                pepper=PEPPER,
                keys_file=None,
                show_progress=False,
            )
            users = list(
                await session.scalars(
                    select(User).where(User.organization_id == ORGANIZATION).order_by(User.email)
                )
            )
            count = select(func.count()).where(DataExport.organization_id == ORGANIZATION)
            have = await session.scalar(count.select_from(DataExport)) or 0
            now = utcnow()
            for n in range(have, exports):
                body: dict[str, Any] = {
                    "name": f"Bench export {n:04d}",
                    "resource": ("transactions", "customers", "invoices")[n % 3],
                    "format": ("csv", "json", "json-api", "xml")[n % 4],
                    "arguments": {"sort": "-createdTime"} if n % 2 else {},
                    "emailNotification": [f"ops{n}@example.com"] if n % 5 == 0 else [],
                }
                if n % 3 == 0:
                    body["dateRange"] = {"start": "30 days ago midnight", "end": "today"}
                await service.create_export(
                    session,
                    organization_id=ORGANIZATION,
                    user_id=users[n % len(users)].id,
                    spec=validate_export(body, now=now),
                )
            key = await issue_api_key(
                session, user=users[0], permissions=frozenset({"read", "write"}), pepper=PEPPER
            )
            await session.commit()
            ids = list(
                await session.scalars(
                    select(DataExport.id)
                    .where(DataExport.organization_id == ORGANIZATION)
                    .order_by(DataExport.id)
                )
            )
            return Seeded(key=key, ids=ids)
    finally:
        await engine.dispose()


async def admin(server_url: str, statement: str) -> None:
    """One statement on a PostgreSQL server, outside a transaction (CREATE or DROP DATABASE)."""
    import asyncpg

    connection = await asyncpg.connect(server_url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, name: str) -> None:
    """A fresh PostgreSQL database (dropped first if a crashed run left it)."""
    asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(admin(server_url, f'CREATE DATABASE "{name}"'))


def drop_database(server_url: str, name: str) -> None:
    asyncio.run(admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
