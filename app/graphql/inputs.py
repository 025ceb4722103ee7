"""Mutation inputs, and their translation into the REST body the core validates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry

from app.graphql.enums import CsvDialect, ExportFormat, ExportResource
from app.graphql.scalars import DateTime
from app.timefmt import isoz


@strawberry.input(description="Filter, sort and search for the exported rows.")
class ExportArgumentsInput:
    filter: str | None = strawberry.field(default=None, description="Filter grammar of REST.")
    sort: str | None = strawberry.field(default=None, description="Sort fields.")
    q: str | None = strawberry.field(default=None, description="Partial text search.")


@strawberry.input(description="Date range: absolute date-times or relative phrases.")
class DateRangeInput:
    start: str = strawberry.field(
        description="Inclusive start, e.g. `first day of last month` or `last month` (its start)."
    )
    end: str = strawberry.field(
        description="Exclusive end, e.g. `today` or `last month` (the first second after it)."
    )
    field: str | None = strawberry.field(
        default=None, description="Date field to filter on; defaults per resource."
    )


@strawberry.input(description="A schedule for recurring exports.")
class RecurringInput:
    instruction: str = strawberry.field(description="RFC 5545 RRULE, e.g. FREQ=DAILY;BYHOUR=2.")
    start: DateTime | None = strawberry.field(
        default=None, description="First run; defaults to now."
    )


@strawberry.input(description="A new data export.")
class CreateDataExportInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="Client-chosen id; generated when omitted."
    )
    name: str = strawberry.field(description="Export name, 1-50 characters.")
    resource: ExportResource = strawberry.field(description="What to export.")
    format: ExportFormat = strawberry.field(description="File format.")
    arguments: ExportArgumentsInput | None = strawberry.field(default=None, description="Rows.")
    date_range: DateRangeInput | None = strawberry.field(default=None, description="Dates.")
    email_notification: list[str] | None = strawberry.field(
        default=None, description="Emails to notify when a run completes."
    )
    fields: list[str] | None = strawberry.field(
        default=None, description="Fields to export; defaults per resource."
    )
    recurring: RecurringInput | None = strawberry.field(default=None, description="Schedule.")
    csv_dialect: CsvDialect | None = strawberry.field(
        default=None, description="CSV only: EXCEL for a file Excel opens right; null: RFC4180."
    )


@strawberry.input(
    description="A partial update: omitted members keep their value, null clears optional ones."
)
class UpdateDataExportInput:
    name: str | None = strawberry.field(
        default=strawberry.UNSET, description="Export name, 1-50 characters."
    )
    resource: ExportResource | None = strawberry.field(
        default=strawberry.UNSET, description="What to export."
    )
    format: ExportFormat | None = strawberry.field(
        default=strawberry.UNSET, description="File format."
    )
    arguments: ExportArgumentsInput | None = strawberry.field(
        default=strawberry.UNSET, description="Rows; null clears filter, sort and q."
    )
    date_range: DateRangeInput | None = strawberry.field(
        default=strawberry.UNSET, description="Dates; null exports all time."
    )
    email_notification: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Emails to notify; null notifies nobody."
    )
    fields: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Fields to export; null restores the defaults."
    )
    recurring: RecurringInput | None = strawberry.field(
        default=strawberry.UNSET, description="Schedule; null makes the export one-off."
    )
    csv_dialect: CsvDialect | None = strawberry.field(
        default=strawberry.UNSET,
        description="CSV only; null restores RFC4180. Dropped when format leaves CSV.",
    )


def _arguments(value: ExportArgumentsInput | None) -> dict[str, Any] | None:
    if value is None:
        return None
    return {k: v for k, v in (("filter", value.filter), ("sort", value.sort), ("q", value.q)) if v}


def _date_range(value: DateRangeInput | None) -> dict[str, Any] | None:
    if value is None:
        return None
    body: dict[str, Any] = {"start": value.start, "end": value.end}
    if value.field is not None:
        body["field"] = value.field
    return body


def _recurring(value: RecurringInput | None) -> dict[str, Any] | None:
    if value is None:
        return None
    body: dict[str, Any] = {"instruction": value.instruction}
    if value.start is not None:
        body["start"] = isoz(value.start)
    return body


def _members(source: Any) -> dict[str, Any]:
    """The REST body members present on an input (UNSET members are absent)."""
    converters: dict[str, tuple[str, Callable[[Any], Any]]] = {
        "name": ("name", lambda v: v),
        "resource": ("resource", lambda v: v.value if v is not None else None),
        "format": ("format", lambda v: v.value if v is not None else None),
        "arguments": ("arguments", _arguments),
        "date_range": ("dateRange", _date_range),
        "email_notification": ("emailNotification", lambda v: v),
        "fields": ("fields", lambda v: v),
        "recurring": ("recurring", _recurring),
        "csv_dialect": ("csvDialect", lambda v: v.value if v is not None else None),
    }
    body: dict[str, Any] = {}
    for attr, (key, convert) in converters.items():
        value = getattr(source, attr)
        if value is strawberry.UNSET:
            continue
        body[key] = convert(value)
    return body


def body_of(data: CreateDataExportInput | UpdateDataExportInput) -> dict[str, Any]:
    """The REST body members the input sets (all of a create; the changes of an update)."""
    return _members(data)
