"""The ceiling: what this stack does with none of the gateway's machinery.

A raw Starlette app over the gateway's own database file (SQLite through aiosqlite) or
database (PostgreSQL through asyncpg): one JOIN reads an export with its user, or a page of
100 exports with their users, and orjson writes the members REST shows. No auth, no ORM, no
validation, no GraphQL. The benchmark (bench/run.py) divides the gateway's throughput by this
app's, measured in the same run, so the ratio says how much of the stack's speed the gateway
keeps.

    .venv/bin/python bench/ceiling.py --url sqlite:///path/to/bench.db --organization demo
    .venv/bin/python bench/ceiling.py --url postgresql://postgres@127.0.0.1/bench_exports ...

Routes: GET /ceiling/data-exports/{id} and GET /ceiling/data-exports?limit=N (default 100,
the gateway's default order: newest first, then id descending).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

COLUMNS = (
    "e.id, e.name, e.resource, e.format, e.arguments, e.email_notification, e.fields, "
    "e.recurring, e.user_id, e.file_id, e.record_count, e.scheduled_time, e.created_time, "
    "e.updated_time, e.status, e.failure_reason, e.date_range, e.csv_dialect, e.attempts, "
    "e.last_error_code, e.last_error_message, e.last_error_time, e.not_before, "
    "e.rows_written, e.rows_total, u.id, u.email, u.first_name, u.last_name, u.created_time"
)
JOIN = "FROM data_exports e JOIN users u ON u.id = e.user_id"
ONE = f"SELECT {COLUMNS} {JOIN} WHERE e.organization_id = {{0}} AND e.id = {{1}}"
PAGE = (
    f"SELECT {COLUMNS} {JOIN} WHERE e.organization_id = {{0}} "
    "ORDER BY e.created_time DESC, e.id DESC LIMIT {1}"
)
Row = Sequence[Any]


def sqlite_time(value: str | None) -> str | None:
    """SQLAlchemy keeps naive UTC as 'YYYY-MM-DD HH:MM:SS[.ffffff]': the API's ISO form."""
    return None if value is None else f"{value[:10]}T{value[11:19]}Z"


def pg_time(value: Any) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def shape(row: Row, time: Callable[[Any], str | None]) -> dict[str, Any]:
    """The members of the gateway's REST answer (app/exports/representation.py), user embedded."""
    export_id, user_id = row[0], row[25]
    loads = orjson.loads
    recurring = loads(row[7]) if row[7] else None
    error = {"code": row[19], "message": row[20], "time": time(row[21])} if row[19] else None
    return {
        "id": export_id,
        "name": row[1],
        "resource": row[2],
        "format": row[3],
        "arguments": loads(row[4]) if row[4] else {},
        "emailNotification": loads(row[5]) if row[5] else [],
        "fields": loads(row[6]) if row[6] else [],
        "recurring": recurring,
        "userId": row[8],
        "fileId": row[9],
        "recordCount": row[10],
        "scheduledTime": time(row[11]),
        "createdTime": time(row[12]),
        "updatedTime": time(row[13]),
        "status": row[14],
        "failureReason": row[15],
        "_links": [
            {"rel": "self", "href": f"/data-exports/{export_id}"},
            {"rel": "user", "href": f"/users/{user_id}"},
        ],
        "dateRange": loads(row[16]) if row[16] else None,
        "csvDialect": (row[17] or "rfc4180") if row[3] == "csv" else None,
        "attempts": row[18],
        "lastError": error,
        "nextAttemptTime": time(row[22]),
        "progress": (
            {"rowsWritten": row[23], "rowsTotal": row[24]} if row[23] is not None else None
        ),
        "_embedded": {
            "user": {
                "id": user_id,
                "email": row[26],
                "firstName": row[27],
                "lastName": row[28],
                "createdTime": time(row[29]),
                "_links": [{"rel": "self", "href": f"/users/{user_id}"}],
            }
        },
    }


class SQLite:
    """A few aiosqlite connections handed out from a queue (aiosqlite runs one thread each)."""

    def __init__(self, path: str, organization: str, connections: int) -> None:
        self.path, self.organization, self.size = path, organization, connections
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.one, self.page = ONE.format("?", "?"), PAGE.format("?", "?")

    async def open(self) -> None:
        import aiosqlite

        for _ in range(self.size):
            connection = await aiosqlite.connect(self.path)
            await connection.execute("PRAGMA query_only = 1")
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        connection = await self.idle.get()
        try:
            async with connection.execute(sql, args) as cursor:
                return list(await cursor.fetchall())
        finally:
            self.idle.put_nowait(connection)

    async def by_id(self, export_id: str) -> list[Row]:
        return await self.fetch(self.one, self.organization, export_id)

    async def first(self, limit: int) -> list[Row]:
        return await self.fetch(self.page, self.organization, limit)

    time = staticmethod(sqlite_time)


class Postgres:
    """An asyncpg pool."""

    def __init__(self, url: str, organization: str, connections: int) -> None:
        self.url, self.organization, self.size = url, organization, connections
        self.pool: Any = None
        self.one, self.page = ONE.format("$1", "$2"), PAGE.format("$1", "$2")

    async def open(self) -> None:
        import asyncpg

        self.pool = await asyncpg.create_pool(self.url, min_size=self.size, max_size=self.size)

    async def close(self) -> None:
        await self.pool.close()

    async def by_id(self, export_id: str) -> list[Row]:
        return list(await self.pool.fetch(self.one, self.organization, export_id))

    async def first(self, limit: int) -> list[Row]:
        return list(await self.pool.fetch(self.page, self.organization, limit))

    time = staticmethod(pg_time)


def create_app(database: SQLite | Postgres) -> Starlette:
    def json(body: Any, status: int = 200) -> Response:
        return Response(orjson.dumps(body), status, media_type="application/json")

    async def one(request: Request) -> Response:
        rows = await database.by_id(request.path_params["id"])
        if not rows:
            return json({"status": 404, "title": "Not Found"}, 404)
        return json(shape(rows[0], database.time))

    async def page(request: Request) -> Response:
        limit = request.query_params.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return json({"status": 400, "title": "limit must be 1-1000"}, 400)
        rows = await database.first(int(limit))
        return json([shape(row, database.time) for row in rows])

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await database.open()
        try:
            yield
        finally:
            await database.close()

    return Starlette(
        routes=[
            Route("/ceiling/data-exports/{id}", one),
            Route("/ceiling/data-exports", page),
        ],
        lifespan=lifespan,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="sqlite:///FILE or postgresql://...")
    parser.add_argument("--organization", required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    database: SQLite | Postgres
    if args.url.startswith("sqlite:///"):
        database = SQLite(args.url.removeprefix("sqlite:///"), args.organization, args.connections)
    elif args.url.startswith(("postgresql://", "postgres://")):
        database = Postgres(args.url, args.organization, args.connections)
    else:
        parser.error("--url must start with sqlite:/// or postgresql://")
    uvicorn.run(
        create_app(database),
        host=args.host,
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
