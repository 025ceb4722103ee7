"""GraphQL object types. Field names are the REST names (`_links` → `links`, each `_embedded`
member → a field), and values mirror the REST JSON one to one."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry
from strawberry.types import Info

from app.exports.representation import csv_dialect
from app.exports.resources import Resource
from app.exports.schedule import RuleError, upcoming
from app.exports.status import Status
from app.exports.story import Story, tell
from app.graphql.context import Context
from app.graphql.enums import (
    CsvDialect,
    ExportErrorCode,
    ExportFormat,
    ExportResource,
    ExportStatus,
    FailureReason,
    FieldKind,
)
from app.graphql.node import Node
from app.graphql.scalars import DateTime, Long
from app.models import DataExport as DataExportRow
from app.models import ExportFile as ExportFileRow
from app.models import User as UserRow
from app.timefmt import parse_iso_datetime

MAX_OCCURRENCES = 100
MIN_LINK_TTL, MAX_LINK_TTL = 60, 7 * 24 * 3600


@strawberry.type(description="An export's latest error: a stable code and a safe message.")
class ExportError:
    code: ExportErrorCode = strawberry.field(description="Stable code (REST `lastError.code`).")
    message: str = strawberry.field(description="What happened, safe to show to people.")
    time: DateTime = strawberry.field(description="When it happened.")


@strawberry.type(description="A running export's progress.")
class ExportProgress:
    rows_written: int = strawberry.field(description="Rows written to the file so far.")
    rows_total: int | None = strawberry.field(
        description="Rows matching when the run started; null until counted."
    )


@strawberry.type(description="A related resource link, as in REST `_links`.")
class Link:
    rel: str = strawberry.field(description="Type of link: self, user, download or signedLink.")
    href: str = strawberry.field(description="Absolute link URL.")


def _links(pairs: list[tuple[str, str]]) -> list[Link]:
    return [Link(rel=rel, href=href) for rel, href in pairs]


@strawberry.type(description="A user of the organization (who requested an export).")
class User(Node):
    row: strawberry.Private[UserRow]

    id: strawberry.ID = strawberry.field(description="User identifier.")

    email: str = strawberry.field(description="Email address.")

    first_name: str = strawberry.field(description="First name.")

    last_name: str = strawberry.field(description="Last name.")

    created_time: DateTime = strawberry.field(description="When the user was created.")

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
            created_time=DateTime(row.created_time),
        )

    @strawberry.field(description="Related links (self).")
    def links(self, info: Info[Context, None]) -> list[Link]:
        return _links(info.context.linker.user_links(self.row))


@strawberry.type(description="A file produced by an export run.")
class ExportFile(Node):
    row: strawberry.Private[ExportFileRow]

    id: strawberry.ID = strawberry.field(description="File identifier.")

    name: str = strawberry.field(description="File name offered on download.")

    content_type: str = strawberry.field(description="MIME type of the file.")

    size: Long = strawberry.field(description="Size in bytes.")

    sha256: str = strawberry.field(description="SHA-256 of the file's bytes, hex.")

    record_count: int = strawberry.field(description="Rows in this file (header excluded).")

    created_time: DateTime = strawberry.field(description="When the file was published.")

    @classmethod
    def of(cls, row: ExportFileRow) -> ExportFile:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            name=row.name,
            content_type=row.content_type,
            size=Long(row.size),
            sha256=row.sha256,
            record_count=row.record_count,
            created_time=DateTime(row.created_time),
        )

    @strawberry.field(description="Related links: download (needs credentials) and signedLink.")
    def links(self, info: Info[Context, None]) -> list[Link]:
        return _links(info.context.linker.file_links(self.row))

    @strawberry.field(
        description="A signed download URL that works without credentials until it expires; "
        f"ttlSeconds between {MIN_LINK_TTL} and {MAX_LINK_TTL}. Stable: its expiry snaps to a "
        "window of a quarter of ttlSeconds, so refetches within a window return the same URL, "
        "which still has more than three quarters of ttlSeconds left."
    )
    def download_url(
        self,
        info: Info[Context, None],
        ttl_seconds: Annotated[
            int | None,
            strawberry.argument(description="Seconds until it expires; default SIGNED_LINK_TTL."),
        ] = None,
    ) -> str:
        from app.errors import Invalid

        ttl = info.context.settings.signed_link_ttl_seconds if ttl_seconds is None else ttl_seconds
        if not MIN_LINK_TTL <= ttl <= MAX_LINK_TTL:
            raise Invalid.one("ttlSeconds", f"Must be between {MIN_LINK_TTL} and {MAX_LINK_TTL}.")
        return info.context.linker.signed(self.row.id, ttl)


@strawberry.type(description="Filter, sort and search applied to the exported rows.")
class ExportArguments:
    filter: str | None = strawberry.field(description="Filter in the collection grammar.")
    sort: str | None = strawberry.field(description="Sort fields, `-` for descending.")
    q: str | None = strawberry.field(description="Case-insensitive partial text search.")


@strawberry.type(description="The date range of exported rows (may be relative phrases).")
class DateRange:
    start: str = strawberry.field(description="Inclusive start: date-time or relative phrase.")
    end: str = strawberry.field(description="Exclusive end: date-time or relative phrase.")
    field: str = strawberry.field(description="The date-time field the range applies to.")


@strawberry.type(description="The schedule of a recurring export.")
class Recurring:
    instruction: str = strawberry.field(description="RFC 5545 RRULE.")
    start: DateTime = strawberry.field(description="When the first run occurs.")


def _arguments(row: DataExportRow) -> ExportArguments:
    args = row.arguments or {}
    return ExportArguments(filter=args.get("filter"), sort=args.get("sort"), q=args.get("q"))


def _recurring(row: DataExportRow) -> Recurring | None:
    rec = row.recurring
    if not rec:
        return None
    return Recurring(
        instruction=rec["instruction"], start=DateTime(parse_iso_datetime(rec["start"]))
    )


def _date_range(row: DataExportRow) -> DateRange | None:
    dr = row.date_range
    if not dr:
        return None
    return DateRange(start=dr["start"], end=dr["end"], field=dr["field"])


@strawberry.type(description="A data export request and its latest result.")
class DataExport(Node):
    row: strawberry.Private[DataExportRow]

    id: strawberry.ID = strawberry.field(
        description="The export identifier, as REST (and every argument) uses it; also its Node id."
    )

    name: str = strawberry.field(description="Export name.")

    resource: ExportResource = strawberry.field(description="The type of resource being exported.")

    format: ExportFormat = strawberry.field(description="Export result format.")

    arguments: ExportArguments = strawberry.field(
        description="Filter, sort and q applied to the rows."
    )

    email_notification: list[str] = strawberry.field(
        description="Emails notified when a run completes."
    )

    fields: list[str] = strawberry.field(description="Exported fields (`/` for nested).")

    recurring: Recurring | None = strawberry.field(
        description="The schedule, for recurring exports."
    )

    user_id: str = strawberry.field(
        description="The ID of the user who requested the export.",
        deprecation_reason="Use requesterId (type ID); userId stays a String so existing "
        "typed clients keep compiling.",
    )

    requester_id: strawberry.ID = strawberry.field(
        description="The id of the user who requested the export (REST `userId`)."
    )

    file_id: str | None = strawberry.field(
        description="The latest file, null until completed.",
        deprecation_reason="Use latestFileId (type ID); fileId stays a String so existing "
        "typed clients keep compiling.",
    )

    latest_file_id: strawberry.ID | None = strawberry.field(
        description="The id of the latest file (REST `fileId`), null until completed."
    )

    record_count: int | None = strawberry.field(
        description="Rows in the latest file (header excluded)."
    )

    scheduled_time: DateTime = strawberry.field(
        description="When the next file is due to be generated."
    )

    created_time: DateTime = strawberry.field(description="When the export was requested.")

    updated_time: DateTime = strawberry.field(description="When the export last changed.")

    status: ExportStatus = strawberry.field(description="Status of the export.")

    failure_reason: FailureReason | None = strawberry.field(
        description="Why the export failed, when it did."
    )

    @classmethod
    def of(cls, row: DataExportRow) -> DataExport:
        return cls(
            row=row,
            id=strawberry.ID(row.id),
            name=row.name,
            resource=ExportResource(row.resource),
            format=ExportFormat(row.format),
            arguments=_arguments(row),
            email_notification=list(row.email_notification or []),
            fields=list(row.fields or []),
            recurring=_recurring(row),
            user_id=row.user_id,
            requester_id=strawberry.ID(row.user_id),
            file_id=row.file_id,
            latest_file_id=strawberry.ID(row.file_id) if row.file_id else None,
            record_count=row.record_count,
            scheduled_time=DateTime(row.scheduled_time),
            created_time=DateTime(row.created_time),
            updated_time=DateTime(row.updated_time),
            status=ExportStatus(row.status),
            failure_reason=FailureReason(row.failure_reason) if row.failure_reason else None,
            date_range=_date_range(row),
        )

    @strawberry.field(description="Related links, as REST `_links`.")
    def links(self, info: Info[Context, None]) -> list[Link]:
        return _links(info.context.linker.export_links(self.row))

    def story(self) -> Story:
        """The row's story, told once: four fields read it (not a GraphQL field)."""
        told: Story | None = self.__dict__.get("_story")
        if told is None:
            told = self.__dict__["_story"] = tell(self.row)
        return told

    date_range: DateRange | None = strawberry.field(description="The date range of exported rows.")

    @strawberry.field(description="How a CSV export's files are written; null for other formats.")
    def csv_dialect(self) -> CsvDialect | None:
        dialect = csv_dialect(self.row)
        return CsvDialect(dialect) if dialect else None

    @strawberry.field(description="Attempts in the current (or latest) run; a retry adds one.")
    def attempts(self) -> int:
        return self.story().attempts

    @strawberry.field(description="The latest error of the current (or latest) run, if any.")
    def last_error(self) -> ExportError | None:
        error = self.story().last_error
        if error is None:
            return None
        return ExportError(
            code=ExportErrorCode(error.code.value), message=error.message, time=DateTime(error.time)
        )

    @strawberry.field(description="When the next attempt is due while the export retries.")
    def next_attempt_time(self) -> DateTime | None:
        due = self.story().next_attempt_time
        return DateTime(due) if due else None

    @strawberry.field(description="Rows written so far while the export is processing.")
    def progress(self) -> ExportProgress | None:
        progress = self.story().progress
        if progress is None:
            return None
        return ExportProgress(rows_written=progress.rows_written, rows_total=progress.rows_total)

    @strawberry.field(description="The user who requested the export (REST `expand=user`).")
    async def user(self, info: Info[Context, None]) -> User | None:
        row = await info.context.loaders["user"].load(self.row.user_id)
        return User.of(row) if row else None

    @strawberry.field(description="The latest file (REST `expand=file`); null until completed.")
    async def file(self, info: Info[Context, None]) -> ExportFile | None:
        if not self.row.file_id:
            return None
        row = await info.context.loaders["file"].load(self.row.file_id)
        return ExportFile.of(row) if row else None

    @strawberry.field(description="Every retained file of this export, newest first.")
    async def files(self, info: Info[Context, None]) -> list[ExportFile]:
        rows = await info.context.loaders["files"].load(self.row.pk)
        return [ExportFile.of(r) for r in rows]

    @strawberry.field(
        description="The next occurrences of a recurring export's schedule (empty otherwise)."
    )
    async def next_occurrences(
        self,
        count: Annotated[int, strawberry.argument(description="How many, 1 to 100.")] = 5,
    ) -> list[DateTime]:
        from app.errors import Invalid

        if not 1 <= count <= MAX_OCCURRENCES:
            raise Invalid.one("count", f"Must be between 1 and {MAX_OCCURRENCES}.")
        rec = self.row.recurring
        if not rec or self.row.status != Status.PENDING:
            return []
        start = parse_iso_datetime(rec["start"])
        after = self.row.scheduled_time
        try:
            later = await asyncio.to_thread(upcoming, rec["instruction"], start, after, count - 1)
        except RuleError:  # a stored rule that today's checks refuse: nothing to foresee
            return []
        return [DateTime(t) for t in [self.row.scheduled_time, *later][:count]]


@strawberry.type(description="One page of data exports, as REST limit/offset paging.")
class DataExportPage:
    items: list[DataExport] = strawberry.field(description="The exports on this page.")
    total: int = strawberry.field(description="Total matching exports (Pagination-Total).")
    limit: int = strawberry.field(description="Page size used (Pagination-Limit).")
    offset: int = strawberry.field(description="Offset used (Pagination-Offset).")


@strawberry.type(description="An export in a connection, with its cursor.")
class DataExportEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: DataExport = strawberry.field(description="The export.")


@strawberry.type(description="Relay-style paging information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More edges follow.")
    has_previous_page: bool = strawberry.field(description="Edges precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first edge.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last edge.")


@strawberry.type(description="Cursor-paged data exports.")
class DataExportConnection:
    edges: list[DataExportEdge] = strawberry.field(description="The edges of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
    total_count: int = strawberry.field(description="Total matching exports.")


@strawberry.type(description="The authenticated caller.")
class Viewer:
    user: User = strawberry.field(description="The authenticated user.")
    organization_id: str = strawberry.field(
        description="The caller's organization.",
        deprecation_reason="Use currentOrganizationId (type ID); organizationId stays a String "
        "so existing typed clients keep compiling.",
    )
    current_organization_id: strawberry.ID = strawberry.field(
        description="The id of the caller's organization."
    )
    permissions: list[str] = strawberry.field(description="Granted permissions: read, write.")


@strawberry.type(description="An exportable field of a resource.")
class ResourceField:
    path: str = strawberry.field(description="Name in `fields` (`/` for nested).")
    filter_name: str = strawberry.field(description="Name in filter and sort (`.` nested).")
    kind: FieldKind = strawberry.field(description="Value type.")
    description: str = strawberry.field(description="What the field holds.")
    is_default: bool = strawberry.field(description="Exported when `fields` is omitted.")


@strawberry.type(description="An exportable resource and its fields.")
class ExportResourceInfo:
    name: ExportResource = strawberry.field(description="The resource.")
    fields: list[ResourceField] = strawberry.field(description="Every exportable field.")
    default_fields: list[str] = strawberry.field(description="Fields used when omitted.")
    date_fields: list[str] = strawberry.field(description="Fields a dateRange may use.")
    default_date_field: str = strawberry.field(description="dateRange.field when omitted.")
    text_search_fields: list[str] = strawberry.field(description="Fields that `q` searches.")

    @classmethod
    def of(cls, resource: Resource) -> ExportResourceInfo:
        return cls(
            name=ExportResource(resource.name),
            fields=[
                ResourceField(
                    path=f.path,
                    filter_name=f.dotted,
                    kind=FieldKind(f.kind.value),
                    description=f.description,
                    is_default=f.path in resource.default_fields,
                )
                for f in resource.fields
            ],
            default_fields=list(resource.default_fields),
            date_fields=list(resource.date_fields),
            default_date_field=resource.default_date_field,
            text_search_fields=list(resource.text_fields),
        )
