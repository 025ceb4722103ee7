"""Read operations: the same core calls, bounds and grammar as REST."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.errors import NotFound
from app.exports import usecases
from app.exports.resources import RESOURCES
from app.exports.usecases import ListQuery, Page, Position, SeekQuery
from app.graphql import prefetch
from app.graphql.context import Context
from app.graphql.cursors import decode_cursor, encode_cursor
from app.graphql.enums import ExportResource
from app.graphql.ids import check_id
from app.graphql.nodes import NodeQueries
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

FilterArg = Annotated[
    str | None,
    strawberry.argument(description="`field:value` terms; `;` AND, `,` OR, `!` not, `..` range."),
]
SortArg = Annotated[
    str | None, strawberry.argument(description="Comma list of fields, `-` for descending.")
]
QArg = Annotated[str | None, strawberry.argument(description="Partial text search on name.")]
ExportIdArg = Annotated[strawberry.ID, strawberry.argument(description="The export's id.")]


async def _list(
    context: Context,
    filter: str | None,
    sort: str | None,
    q: str | None,
    limit: int,
    offset: int,
    info: Info[Context, None] | None = None,
) -> Page:
    """The core's listing, with REST's grammar and bounds, for both paging styles; with `info`,
    the users come with the page when its items select them (app/graphql/prefetch.py)."""
    query = ListQuery(filter=filter, sort=sort, q=q, limit=limit, offset=offset)
    principal = await context.require("read")
    expand = prefetch.expansion(info, "items") if info is not None else set()
    page = await usecases.list_exports(
        context.core, principal=principal, query=query, expand=expand
    )
    if info is not None:
        prefetch.prime_users(info, page.loaded)
    return page


@strawberry.type(description="Read data exports, users, webhooks and the exportable resources.")
class Query(NodeQueries, WebhookQueries, PreviewQueries):
    @strawberry.field(description="One data export by id; null when it does not exist.")
    async def data_export(self, info: Info[Context, None], id: ExportIdArg) -> DataExport | None:
        principal = await info.context.require("read")
        try:
            shown = await usecases.show_export(
                info.context.core,
                principal=principal,
                export_id=check_id(str(id)),
                expand=prefetch.expansion(info),
            )
        except NotFound:
            return None
        prefetch.prime_users(info, shown.loaded)
        return DataExport.of(shown.export)

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
        page = await _list(info.context, filter, sort, q, limit, offset, info)
        return DataExportPage(
            items=[DataExport.of(r) for r in page.items],
            total=page.total,
            limit=page.limit,
            offset=page.offset,
        )

    @strawberry.field(
        description="Data exports with opaque keyset cursors (Relay connection): `first` after "
        "`after` pages forward, `last` before `before` backward; neither means first 100. Pages "
        "stay exact while exports are created and deleted in between: no repeats, no gaps."
    )
    async def data_exports_connection(
        self,
        info: Info[Context, None],
        first: Annotated[
            int | None, strawberry.argument(description="0 to 1000; not with last.")
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="endCursor of the previous page (same sort, filter, q)."
            ),
        ] = None,
        last: Annotated[
            int | None, strawberry.argument(description="0 to 1000, from the end; not with first.")
        ] = None,
        before: Annotated[
            str | None,
            strawberry.argument(description="startCursor of the next page (same sort, filter, q)."),
        ] = None,
        filter: FilterArg = None,
        sort: SortArg = None,
        q: QArg = None,
    ) -> DataExportConnection:
        principal = await info.context.require("read")  # 401 before 422, as in REST
        secret = info.context.core.signing_secret

        def position(cursor: str | None, argument: str) -> Position | None:
            return decode_cursor(cursor, secret, argument) if cursor is not None else None

        query = SeekQuery(
            filter=filter,
            sort=sort,
            q=q,
            first=first,
            last=last,
            after=position(after, "after"),
            before=position(before, "before"),
        )
        page = await usecases.seek_exports(info.context.core, principal=principal, query=query)
        edges = [
            DataExportEdge(cursor=encode_cursor(at, secret), node=DataExport.of(row))
            for row, at in zip(page.items, page.positions, strict=True)
        ]
        return DataExportConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
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
            current_organization_id=strawberry.ID(viewer.organization_id),
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
