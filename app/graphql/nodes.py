"""`node(id:)` and `nodes(ids:)`: any object by its id, through the per-request loaders.

An id is looked up among every node type at once; the loaders batch, so a page of ids costs
one statement per type whatever its length, and every statement names the caller's
organization (another organization's id is null, as an unknown one is). Ids the service gives
never collide across types (each type has its prefix); an export id a client chose can equal
another object's id, and then the type whose prefix the id carries wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.errors import FieldError, Invalid
from app.exports.expand import NODE_TYPES
from app.exports.usecases import MAX_LIMIT
from app.graphql.context import Context
from app.graphql.ids import check_id
from app.graphql.node import Node
from app.graphql.types import DataExport, ExportFile, User
from app.graphql.webhooks import Webhook
from app.ids import is_valid_id

WRAP: dict[str, Callable[[Any], Node]] = {
    "DataExport": DataExport.of,
    "User": User.of,
    "ExportFile": ExportFile.of,
    "Webhook": Webhook.of,
}
assert set(WRAP) == {t.name for t in NODE_TYPES}


async def resolve_node(context: Context, node_id: str) -> Node | None:
    found = await asyncio.gather(*(context.loaders[t.loader].load(node_id) for t in NODE_TYPES))
    hits = [(t, row) for t, row in zip(NODE_TYPES, found, strict=True) if row is not None]
    if not hits:
        return None
    kind, row = next(((t, r) for t, r in hits if node_id.startswith(t.prefix)), hits[0])
    return WRAP[kind.name](row)


@strawberry.type
class NodeQueries:
    @strawberry.field(
        description="Any object by its id (Relay): a DataExport, User, ExportFile or Webhook; "
        "null when the organization has none with that id."
    )
    async def node(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The object's id.")],
    ) -> Node | None:
        await info.context.require("read")
        return await resolve_node(info.context, check_id(str(id)))

    @strawberry.field(
        description=f"Objects by their ids (Relay), in the order given, null for any not "
        f"found; at most {MAX_LIMIT}. One statement per type, however many ids."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"The objects' ids, at most {MAX_LIMIT}."),
        ],
    ) -> list[Node | None]:
        await info.context.require("read")
        if len(ids) > MAX_LIMIT:
            raise Invalid.one("ids", f"At most {MAX_LIMIT} ids.")
        bad = [i for i, value in enumerate(ids) if not is_valid_id(str(value))]
        if bad:
            raise Invalid(
                [
                    FieldError(f"ids.{i}", "Must be 1-50 characters of letters, digits and @~-._")
                    for i in bad
                ]
            )
        return list(await asyncio.gather(*(resolve_node(info.context, str(i)) for i in ids)))
