"""`previewDataExport`: what a create of the same input would export, with nothing stored.

A query, not a mutation: it changes nothing and counts no write, so a client may run it as
often as a form changes, and GraphQL runs queries' fields in parallel and lets caches and
retries treat them as safe. Its failures are typed like a mutation's, because a client
needs to show which field to fix, exactly as after `createDataExport`.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from app.errors import TimedOut
from app.exports import usecases
from app.exports.principal import Principal
from app.graphql.context import Context
from app.graphql.enums import ErrorCode
from app.graphql.errors import Error, ForbiddenError, RecordLimitError, ValidationError, write
from app.graphql.ids import check_id
from app.graphql.inputs import CreateDataExportInput, body_of
from app.graphql.scalars import DateTime


@strawberry.type(description="A date range resolved to instants: start inclusive, end exclusive.")
class DataExportPeriod:
    start: DateTime = strawberry.field(description="The first instant included.")
    end: DateTime = strawberry.field(description="The first instant after the range.")
    field: str = strawberry.field(description="The date field filtered on.")


@strawberry.type(description="What the export's first run would write; nothing was stored.")
class DataExportPreview:
    record_count: int = strawberry.field(
        description="Records the run would write (at most the record limit)."
    )
    run_time: DateTime = strawberry.field(
        description="When the run counts as happening (now, or a recurring export's first "
        "occurrence): relative dates resolve here."
    )
    period: DataExportPeriod | None = strawberry.field(
        description="The resolved date range; null without one (all time)."
    )
    columns: list[str] = strawberry.field(description="The field paths, in file order.")
    rows: list[list[str | None]] = strawberry.field(
        description="The first records (at most 20), one text per column as every format "
        "renders it (money with two decimals, ISO date-times); null for no value."
    )
    content_type: str = strawberry.field(description="The file's media type.")
    sample: str | None = strawberry.field(
        description="The file's first bytes exactly (the whole file when `rows` holds every "
        "record); null for pdf."
    )

    @classmethod
    def of(cls, preview: usecases.Preview) -> DataExportPreview:
        period = preview.period
        return cls(
            record_count=preview.record_count,
            run_time=DateTime(preview.run_time),
            period=None
            if period is None
            else DataExportPeriod(
                start=DateTime(period.start), end=DateTime(period.end), field=period.field
            ),
            columns=preview.columns,
            rows=preview.rows,
            content_type=preview.content_type,
            sample=preview.sample,
        )


@strawberry.type(description="The preview took longer than PREVIEW_TIMEOUT_SECONDS.")
class PreviewTimeoutError(Error):
    timeout_seconds: float = strawberry.field(description="The bound it ran into.")


DataExportPreviewResult = Annotated[
    DataExportPreview | ValidationError | ForbiddenError | RecordLimitError | PreviewTimeoutError,
    strawberry.union("DataExportPreviewResult", description="The preview, or why not."),
]


@strawberry.type
class PreviewQueries:
    @strawberry.field(
        description="What createDataExport with this input would export: the record count, "
        "the resolved period, the columns and the first rows. Validated like the create; "
        "nothing is stored and no write is counted. Needs the `write` permission."
    )
    async def preview_data_export(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateDataExportInput, strawberry.argument(description="The export to preview.")
        ],
    ) -> DataExportPreviewResult:
        context = info.context

        async def preview(
            principal: Principal,
        ) -> DataExportPreview | PreviewTimeoutError:
            if input.id is not None:
                check_id(str(input.id))  # the create would refuse it
            try:
                found = await usecases.preview_export(
                    context.core, principal=principal, body=body_of(input)
                )
            except TimedOut as exc:
                return PreviewTimeoutError(
                    message=exc.message, code=ErrorCode.TIMEOUT, timeout_seconds=exc.seconds
                )
            return DataExportPreview.of(found)

        return await write(context, preview)
