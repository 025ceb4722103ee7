"""Watch an export move through its lifecycle instead of polling from the client.

Pushed, not polled per subscriber: the resolver waits on the process's change feed (LISTEN/NOTIFY
on PostgreSQL, one shared poller on SQLite: app/exports/changes.py), re-reads its export when
rung, and re-checks anyway every FALLBACK_SECONDS in case a hint was lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from strawberry.types import Info

from app.errors import NotFound
from app.exports import usecases
from app.exports.status import Status
from app.graphql.context import Context
from app.graphql.ids import check_id
from app.graphql.queries import ExportIdArg
from app.graphql.types import DataExport

FALLBACK_SECONDS = 30.0
MAX_WATCH_SECONDS = 3600


@strawberry.type(description="Live updates of data exports over WebSocket (graphql-transport-ws).")
class Subscription:
    @strawberry.subscription(
        description="The export now and after every change, until it completes or fails "
        "(recurring exports: until the socket closes or an hour passes)."
    )
    async def data_export_updates(
        self, info: Info[Context, None], id: ExportIdArg
    ) -> AsyncGenerator[DataExport, None]:
        # ErrorPolicy (app/graphql/schema.py) locates this stream's errors as graphql-core
        # locates a resolver's.
        async with aclosing(_watch(info.context, str(id))) as updates:
            async for export in updates:
                yield export


async def _watch(context: Context, id: str) -> AsyncGenerator[DataExport, None]:
    principal = await context.require("read")
    export_id = check_id(id)
    last: tuple[object, ...] | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_WATCH_SECONDS
    # Watching before the first read: a change after that read always rings.
    with usecases.watch_export(context.core, principal=principal, export_id=export_id) as changed:
        while (remaining := deadline - loop.time()) > 0:
            row = await usecases.find_export(context.core, principal=principal, export_id=export_id)
            if row is None:
                if last is None:
                    raise NotFound(f"Data export {export_id!r} was not found.")
                return
            state = (
                row.status,
                row.updated_time,
                row.rows_written,
                row.rows_total,
                row.last_error_time,
            )
            if state != last:
                last = state
                yield DataExport.of(row)
                if Status(row.status).final:
                    return
            await changed.wait(min(FALLBACK_SECONDS, remaining))
