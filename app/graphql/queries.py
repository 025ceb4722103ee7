"""Read operations: the same core calls, bounds and grammar as REST."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.errors import Invalid
from app.exports import usecases
from app.exports.resources import RESOURCES
from app.exports.usecases import MAX_LIMIT, ListQuery, Page
from app.graphql.context import Context
from app.graphql.enums import ExportResource
from app.graphql.ids import check_id
from app.graphql.preview import PreviewQueries
from app.graphql.types import (
    DataExport,
    DataExportConnection,
    DataExportEdge,
    DataExportPage,
    ExportResourceInfo,
    PageInfo,
    User,
    Viewer,
)
from app.graphql.webhooks import WebhookQueries

CURSOR_PREFIX = "offset:"

FilterArg = Annotated[
    str | None,
    strawberry.argument(description="`field:value` terms; `;` AND, `,` OR, `!` not, `..` range."),
]
SortArg = Annotated[
    str | None, strawberry.argument(description="Comma list of fields, `-` for descending.")
]
QArg = Annotated[str | None, strawberry.argument(description="Partial text search on name.")]
ExportIdArg = Annotated[strawberry.ID, strawberry.argument(description="The export's id.")]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{offset}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith(CURSOR_PREFIX):
            raise ValueError
        offset = int(text[len(CURSOR_PREFIX) :])
        if offset < 0:
            raise ValueError
    except (ValueError, binascii.Error, UnicodeError):
        raise Invalid.one("after", "Not a cursor from this API.") from None
    return offset


async def _list(
    context: Context, filter: str | None, sort: str | None, q: str | None, limit: int, offset: int
) -> Page:
    """The core's listing, with REST's grammar and bounds, for both paging styles."""
    query = ListQuery(filter=filter, sort=sort, q=q, limit=limit, offset=offset)
    principal = await context.require("read")
    return await usecases.list_exports(context.core, principal=principal, query=query)


@strawberry.type(description="Read data exports, users, webhooks and the exportable resources.")
class Query(WebhookQueries, PreviewQueries):
    @strawberry.field(description="One data export by id; null when it does not exist.")
    async def data_export(self, info: Info[Context, None], id: ExportIdArg) -> DataExport | None:
        principal = await info.context.require("read")
        row = await usecases.find_export(
            info.context.core, principal=principal, export_id=check_id(str(id))
        )
        return DataExport.of(row) if row else None

    @strawberry.field(description="A page of data exports (REST limit/offset paging).")
    async def data_exports(
        self,
        info: Info[Context, None],
        filter: FilterArg = None,
        sort: SortArg = None,
        q: QArg = None,
        limit: Annotated[int, strawberry.argument(description="0 to 1000.")] = 100,
        offset: Annotated[int, strawberry.argument(description="0 or more.")] = 0,
    ) -> DataExportPage:
        page = await _list(info.context, filter, sort, q, limit, offset)
        return DataExportPage(
            items=[DataExport.of(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @strawberry.field(description="Data exports with opaque cursors, for cursor paging.")
    async def data_exports_connection(
        self,
        info: Info[Context, None],
        first: Annotated[int, strawberry.argument(description="0 to 1000.")] = 100,
        after: Annotated[
            str | None, strawberry.argument(description="endCursor of the previous page.")
        ] = None,
        filter: FilterArg = None,
        sort: SortArg = None,
        q: QArg = None,
    ) -> DataExportConnection:
        await info.context.require("read")  # 401 before 422, as in REST
        if not 0 <= first <= MAX_LIMIT:
            raise Invalid.one("first", f"Must be between 0 and {MAX_LIMIT}.")
        start = decode_cursor(after) + 1 if after else 0
        page = await _list(info.context, filter, sort, q, first, start)
        edges = [
            DataExportEdge(cursor=encode_cursor(start + i), node=DataExport.of(row))
            for i, row in enumerate(page.items)
        ]
        return DataExportConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=start + len(edges) < page.total,
                has_previous_page=start > 0,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total,
        )

    @strawberry.field(description="A user of the caller's organization; null when unknown.")
    async def user(
        self,
        info: Info[Context, None],
        id: Annotated[strawberry.ID, strawberry.argument(description="The user's id.")],
    ) -> User | None:
        principal = await info.context.require("read")
        row = await usecases.get_user(
            info.context.core, principal=principal, user_id=check_id(str(id))
        )
        return User.of(row) if row else None

    @strawberry.field(description="The authenticated user, organization and permissions.")
    async def viewer(self, info: Info[Context, None]) -> Viewer:
        viewer = usecases.viewer(principal=await info.context.principal())
        return Viewer(
            user=User.of(viewer.user),
            organization_id=viewer.organization_id,
            permissions=viewer.permissions,
        )

    @strawberry.field(description="Every exportable resource with its fields.")
    async def export_resources(self, info: Info[Context, None]) -> list[ExportResourceInfo]:
        await info.context.require("read")
        return [ExportResourceInfo.of(r) for r in RESOURCES.values()]

    @strawberry.field(description="One exportable resource with its fields.")
    async def export_resource(
        self,
        info: Info[Context, None],
        name: Annotated[ExportResource, strawberry.argument(description="Which resource.")],
    ) -> ExportResourceInfo:
        await info.context.require("read")
        return ExportResourceInfo.of(RESOURCES[str(name.value)])
