"""The rows an export reads: one query built from its resource, fields, arguments and dates.

Filter, sort and q go through the core's one query module; the date range is re-evaluated at
the moment given (`now`), so a recurring export's relative range moves with each occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import RecordLimitExceeded
from app.exports.daterange import parse_date_phrase
from app.exports.fields import Field
from app.exports.formats.base import About, Period
from app.exports.query import parse_filter, parse_sort, q_clause
from app.exports.resources import RESOURCES, Resource, query_fields
from app.exports.validation import ExportSpec


def export_fields(resource: Resource, paths: Sequence[str]) -> list[Field]:
    """The chosen fields in order; unknown paths were rejected at validation."""
    return [f for p in paths if (f := resource.field(p)) is not None]


def resolve_period(
    resource: Resource, date_range: Mapping[str, str] | None, now: datetime
) -> Period | None:
    """The `dateRange` evaluated at `now`: what the query filters on and the PDF prints."""
    if not date_range:
        return None
    return Period(
        field=date_range.get("field") or resource.default_date_field,
        start=parse_date_phrase(date_range["start"], now=now, bound="start"),
        end=parse_date_phrase(date_range["end"], now=now, bound="end"),
    )


def describe_export(
    resource: Resource,
    *,
    name: str,
    arguments: Mapping[str, str],
    date_range: Mapping[str, str] | None,
    now: datetime,
    generated: datetime,
) -> About:
    """The PDF page header's facts, resolved exactly as `build_source_query` resolves them."""
    return About(
        name=name,
        resource=resource.name,
        generated=generated,
        period=resolve_period(resource, date_range, now),
        filter=arguments.get("filter") or "",
        search=arguments.get("q") or "",
        sort=arguments.get("sort") or "",
    )


def build_source_query(
    *,
    resource: Resource,
    organization_id: str,
    fields: Sequence[Field],
    arguments: Mapping[str, str],
    date_range: Mapping[str, str] | None,
    now: datetime,
) -> Select[Any]:
    model = resource.model
    columns = [getattr(model, f.column).label(f.path) for f in fields]
    if all(f.path != "id" for f in fields):  # json-api needs the id even when not chosen
        columns.append(model.id.label("id"))  # type: ignore[attr-defined]
    stmt = select(*columns).where(model.organization_id == organization_id)  # type: ignore[attr-defined]
    vocabulary = query_fields(resource)
    # Stored arguments: a value accepted before enumerated values were checked matches nothing
    # (as it did) instead of failing every attempt of a recurring export.
    condition = parse_filter(arguments.get("filter"), vocabulary, check_values=False)
    if condition is not None:
        stmt = stmt.where(condition)
    search = q_clause(
        arguments.get("q"),
        [getattr(model, f.column) for f in resource.fields if f.path in resource.text_fields],
    )
    if search is not None:
        stmt = stmt.where(search)
    period = resolve_period(resource, date_range, now)
    if period is not None:
        date_field = resource.field(period.field)
        assert date_field is not None
        column = getattr(model, date_field.column)
        stmt = stmt.where(column >= period.start, column < period.end)
    order = parse_sort(arguments.get("sort"), vocabulary)
    return stmt.order_by(*order, model.id)  # type: ignore[attr-defined]


def source_query_for(spec: ExportSpec, organization_id: str, now: datetime) -> Select[Any]:
    resource = RESOURCES[spec.resource]
    return build_source_query(
        resource=resource,
        organization_id=organization_id,
        fields=export_fields(resource, spec.fields),
        arguments=spec.arguments,
        date_range=spec.date_range,
        now=now,
    )


def _matching(stmt: Select[Any]) -> Select[Any]:
    """The rows `stmt` matches, without its columns or order: counting them then reads only
    what the filter needs (an index, often), not every exported column of every row. On a
    million transactions in SQLite that is 0.06 s instead of 2.2 s."""
    return stmt.with_only_columns(literal_column("1"), maintain_column_froms=True).order_by(None)


def bounded_count(stmt: Select[Any], bound: int) -> Select[Any]:
    """The count of matching rows, stopping after `bound` + 1 so a huge table costs bounded
    time (and reading only what the filter needs)."""
    limited = _matching(stmt).limit(bound + 1).subquery()
    return select(func.count()).select_from(limited)


async def count_bounded(session: AsyncSession, stmt: Select[Any], bound: int) -> int:
    return await session.scalar(bounded_count(stmt, bound)) or 0


async def count_all(session: AsyncSession, stmt: Select[Any]) -> int:
    """Count every matching row (what a record-limit problem reports)."""
    everything = _matching(stmt).subquery()
    return await session.scalar(select(func.count()).select_from(everything)) or 0


async def check_record_limit(
    session: AsyncSession, *, organization_id: str, spec: ExportSpec, maximum: int, now: datetime
) -> None:
    """Fail fast at request time when the export would already exceed the record limit."""
    stmt = source_query_for(spec, organization_id, now)
    if await count_bounded(session, stmt, maximum) > maximum:
        # Only a rejected request pays for the exact count the problem reports.
        raise RecordLimitExceeded(matched=await count_all(session, stmt), maximum=maximum)


def record_keys(fields: Sequence[Field]) -> tuple[str, ...]:
    """The names of the columns `build_source_query` selects, in order."""
    paths = tuple(f.path for f in fields)
    return paths if "id" in paths else (*paths, "id")


def to_record(row: Sequence[Any], keys: Sequence[str], money: Sequence[str]) -> dict[str, Any]:
    """One row to API values: cents become exact two-decimal money, the rest stay as they are."""
    record = dict(zip(keys, row, strict=True))
    for path in money:
        if record[path] is not None:
            record[path] = Decimal(record[path]).scaleb(-2)  # 1050 → Decimal("10.50")
    return record
