"""Watch an export move through its lifecycle instead of polling from the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from graphql import located_error
from strawberry.types import Info

from app.errors import NotFound
from app.exports import usecases
from app.exports.status import Status
from app.graphql.context import Context
from app.graphql.queries import ExportIdArg, check_id
from app.graphql.types import DataExport

POLL_SECONDS = 1.0
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
        """graphql-core locates (`path`, `locations`) the errors of every resolver but this
        stream's, which it passes on bare: locate them here, so they read as over HTTP."""
        try:
            async with aclosing(_watch(info.context, str(id))) as updates:
                async for export in updates:
                    yield export
        except Exception as error:
            # Strawberry's Info does not expose the field's nodes; graphql-core's info does.
            nodes = info._raw_info.field_nodes
            raise located_error(error, nodes, info.path.as_list()) from error


async def _watch(context: Context, id: str) -> AsyncGenerator[DataExport, None]:
    principal = await context.require("read")
    export_id = check_id(id)
    last: tuple[str, object] | None = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_WATCH_SECONDS
    while loop.time() < deadline:
        row = await usecases.find_export(context.core, principal=principal, export_id=export_id)
        if row is None:
            if last is None:
                raise NotFound(f"Data export {export_id!r} was not found.")
            return
        state = (row.status, row.updated_time)
        if state != last:
            last = state
            yield DataExport.of(row)
            if Status(row.status).final:
                return
        await asyncio.sleep(POLL_SECONDS)
