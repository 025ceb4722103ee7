"""Write operations, each returning the export or a typed error clients can switch on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.auth import Principal
from app.errors import DomainError, Unauthorized
from app.exports import service
from app.exports.ratelimit import consume_write
from app.exports.source import check_record_limit
from app.exports.storage import Storage
from app.exports.validation import ExportSpec, validate_export
from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    RecordLimitError,
    ValidationError,
    typed_error,
)
from app.graphql.inputs import (
    CreateDataExportInput,
    UpdateDataExportInput,
    create_body,
    update_body,
)
from app.graphql.queries import ExportIdArg, check_id
from app.graphql.types import DataExport
from app.models import DataExport as DataExportRow
from app.models import utcnow

T = TypeVar("T")

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


@strawberry.type(description="The export was deleted, with its files.")
class DeletedDataExport:
    id: strawberry.ID = strawberry.field(description="The deleted export's id.")


DeleteDataExportResult = Annotated[
    DeletedDataExport | NotFoundError | ForbiddenError | RateLimitedError | ValidationError,
    strawberry.union("DeleteDataExportResult", description="The deletion, or why not."),
]


def stored_body(row: DataExportRow) -> dict[str, Any]:
    """An export's writable members in the REST input shape."""
    return {
        "name": row.name,
        "resource": row.resource,
        "format": row.format,
        "arguments": dict(row.arguments or {}),
        "dateRange": dict(row.date_range) if row.date_range else None,
        "emailNotification": list(row.email_notification or []),
        "fields": list(row.fields or []),
        "recurring": dict(row.recurring) if row.recurring else None,
    }


async def _count_write(context: Context, principal: Principal) -> None:
    settings = context.settings
    await consume_write(
        context.session,
        organization_id=principal.organization_id,
        limit=settings.rate_limit_writes,
        window_seconds=settings.rate_limit_window_seconds,
    )


async def _check_limit(context: Context, principal: Principal, spec: ExportSpec) -> None:
    await check_record_limit(
        context.session,
        organization_id=principal.organization_id,
        spec=spec,
        settings=context.settings,
    )


async def _write(
    context: Context, work: Callable[[AsyncSession, Principal], Awaitable[T]]
) -> T | Any:
    """Run one write in a transaction; expected failures become typed results.

    Unauthorized is not typed: it stays an error so the response is an HTTP 401.
    """
    try:
        principal = await context.require("write")
        async with context.db() as session:  # rolls back on failure
            result = await work(session, principal)
            await session.commit()
            return result
    except Unauthorized:
        raise
    except DomainError as exc:
        return typed_error(exc)


@strawberry.type(description="Create, change and delete data exports.")
class Mutation:
    @strawberry.mutation(description="Request a new export (optionally with your own id).")
    async def create_data_export(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateDataExportInput, strawberry.argument(description="The export to create.")
        ],
    ) -> DataExportResult:
        context = info.context

        async def create(session: AsyncSession, principal: Principal) -> DataExport:
            export_id = check_id(str(input.id)) if input.id is not None else None
            await _count_write(context, principal)
            now = utcnow()  # one clock read: a default recurring.start equals createdTime
            spec = validate_export(create_body(input), now=now)
            await _check_limit(context, principal, spec)
            row = await service.create_export(
                session,
                organization_id=principal.organization_id,
                user_id=principal.user_id,
                spec=spec,
                export_id=export_id,
                now=now,
            )
            return DataExport.of(row)

        return await _write(context, create)

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

        async def update(session: AsyncSession, principal: Principal) -> DataExport:
            row = await service.get_export(
                session, organization_id=principal.organization_id, export_id=check_id(str(id))
            )
            await _count_write(context, principal)
            now = utcnow()
            spec = validate_export(
                update_body(stored_body(row), input), now=now, stored_recurring=row.recurring
            )
            await _check_limit(context, principal, spec)  # a 422 comes before a 409 (spec §3)
            replaced = await service.replace_export(session, export=row, spec=spec, now=now)
            return DataExport.of(replaced)

        return await _write(context, update)

    @strawberry.mutation(description="Delete an export and its files.")
    async def delete_data_export(
        self, info: Info[Context, None], id: ExportIdArg
    ) -> DeleteDataExportResult:
        context = info.context
        removed: list[str] = []

        async def remove(session: AsyncSession, principal: Principal) -> DeletedDataExport:
            row = await service.get_export(
                session, organization_id=principal.organization_id, export_id=check_id(str(id))
            )
            await _count_write(context, principal)
            removed.extend(await service.delete_export(session, export=row))
            return DeletedDataExport(id=id)

        result = await _write(context, remove)
        storage: Storage = context.request.app.state.storage
        for key in removed:  # after the commit: a failed delete leaves the files
            storage.delete(key)
        return result
