"""Write operations, each returning the export or a typed error clients can switch on."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.exports import usecases
from app.exports.principal import Principal
from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    RecordLimitError,
    ValidationError,
    write,
)
from app.graphql.ids import check_id
from app.graphql.inputs import CreateDataExportInput, UpdateDataExportInput, body_of
from app.graphql.queries import ExportIdArg
from app.graphql.types import DataExport
from app.graphql.webhooks import WebhookMutations

DataExportResult = Annotated[
    DataExport
    | ValidationError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | RateLimitedError
    | RecordLimitError,
    strawberry.union("DataExportResult", description="The export, or why not."),
]


@strawberry.type(
    description="The export was deleted, with its files. Select `dataExport { id }` (its "
    "`__typename` is DataExport) to evict `DataExport:<id>` from a normalized client cache."
)
class DeletedDataExport:
    id: strawberry.ID = strawberry.field(description="The deleted export's id.")
    data_export: DataExport = strawberry.field(
        description="The deleted export as last read before the deletion; its file is gone."
    )


DeleteDataExportResult = Annotated[
    DeletedDataExport | NotFoundError | ForbiddenError | RateLimitedError | ValidationError,
    strawberry.union("DeleteDataExportResult", description="The deletion, or why not."),
]


@strawberry.type(description="Create, change and delete data exports and webhooks.")
class Mutation(WebhookMutations):
    @strawberry.mutation(description="Request a new export (optionally with your own id).")
    async def create_data_export(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateDataExportInput, strawberry.argument(description="The export to create.")
        ],
    ) -> DataExportResult:
        context = info.context

        async def create(principal: Principal) -> DataExport:
            export_id = check_id(str(input.id)) if input.id is not None else None
            written = await usecases.create_export(
                context.core, principal=principal, body=body_of(input), export_id=export_id
            )
            return DataExport.of(written.export)

        return await write(context, create)

    @strawberry.mutation(
        description="Change a pending export; omitted members keep their value (REST PUT rules)."
    )
    async def update_data_export(
        self,
        info: Info[Context, None],
        id: ExportIdArg,
        input: Annotated[
            UpdateDataExportInput, strawberry.argument(description="Only the fields to change.")
        ],
    ) -> DataExportResult:
        context = info.context

        async def update(principal: Principal) -> DataExport:
            written = await usecases.update_export(
                context.core,
                principal=principal,
                export_id=check_id(str(id)),
                changes=body_of(input),
            )
            return DataExport.of(written.export)

        return await write(context, update)

    @strawberry.mutation(description="Delete an export and its files.")
    async def delete_data_export(
        self, info: Info[Context, None], id: ExportIdArg
    ) -> DeleteDataExportResult:
        context = info.context

        async def remove(principal: Principal) -> DeletedDataExport:
            last: list[DataExport] = []
            await usecases.delete_export(
                context.core,
                principal=principal,
                export_id=check_id(str(id)),
                deleted=lambda row: last.append(DataExport.of(row)),
            )
            return DeletedDataExport(id=id, data_export=last[0])

        return await write(context, remove)
