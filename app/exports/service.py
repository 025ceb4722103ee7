"""Export rows: create, read, list, replace and delete, scoped to one organization.

Keyword-only functions over an AsyncSession, for the use cases (app/exports/usecases.py), which
own the transaction. Every statement names the organization and finds a row by its id there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.db import rowcount
from app.errors import Conflict, FieldError, Invalid, NotFound
from app.exports.query import QueryError, parse_filter, parse_sort, q_clause
from app.exports.resources import export_query_fields
from app.exports.schedule import first_run
from app.exports.status import Status
from app.exports.validation import (
    MAX_QUERY_TEXT,
    UNSTORABLE_MESSAGE,
    ExportSpec,
    has_unstorable_text,
)
from app.ids import new_id
from app.models import DataExport, ExportFile, PendingFile, utcnow
from app.timefmt import parse_iso_datetime

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class ListQuery:
    """A collection request (spec §4), as every surface spells it."""

    filter: str | None = None
    sort: str | None = None
    q: str | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Page:
    items: Sequence[DataExport]
    total: int
    limit: int
    offset: int
    loaded: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict)
    """The expansions asked for with the page (name → key → row), loaded with it."""


def check_bounds(limit: int | None, offset: int | None) -> tuple[int, int]:
    """Spec §4 bounds, shared by every surface."""
    limit = DEFAULT_LIMIT if limit is None else limit
    offset = 0 if offset is None else offset
    errors = []
    if not 0 <= limit <= MAX_LIMIT:
        errors.append(("limit", f"Must be between 0 and {MAX_LIMIT}."))
    if offset < 0:
        errors.append(("offset", "Must be 0 or more."))
    if errors:
        raise Invalid([FieldError(f, m) for f, m in errors])
    return limit, offset


def _scheduled_time(spec: ExportSpec, now: datetime) -> datetime:
    if spec.recurring is None:
        return now
    return first_run(parse_iso_datetime(spec.recurring["start"]), now)


def _request_values(spec: ExportSpec, now: datetime) -> dict[str, Any]:
    """The columns a create or a replace sets from the request; a replace starts over."""
    return {
        "name": spec.name,
        "resource": spec.resource,
        "format": spec.format,
        "arguments": dict(spec.arguments),
        "date_range": dict(spec.date_range) if spec.date_range else None,
        "email_notification": list(spec.email_notification),
        "fields": list(spec.fields),
        "recurring": dict(spec.recurring) if spec.recurring else None,
        "csv_dialect": spec.csv_dialect,
        "scheduled_time": _scheduled_time(spec, now),
        "status": Status.PENDING,
        "updated_time": now,
        "attempts": 0,
        "not_before": None,
    }


async def find_export(
    session: AsyncSession, *, organization_id: str, export_id: str
) -> DataExport | None:
    return await session.scalar(
        select(DataExport).where(
            DataExport.organization_id == organization_id, DataExport.id == export_id
        )
    )


async def create_export(
    session: AsyncSession,
    *,
    organization_id: str,
    user_id: str,
    spec: ExportSpec,
    export_id: str | None = None,
    now: datetime | None = None,
) -> DataExport:
    now = now or utcnow()
    if export_id is not None and await find_export(
        session, organization_id=organization_id, export_id=export_id
    ):
        raise Conflict(f"A data export with id {export_id!r} already exists.")
    export = DataExport(
        id=export_id or new_id("exp"),
        organization_id=organization_id,
        user_id=user_id,
        created_time=now,
        file_id=None,
        record_count=None,
        failure_reason=None,
        **_request_values(spec, now),
    )
    session.add(export)
    try:
        await session.flush()
    except IntegrityError:  # the same client-chosen id, created concurrently: roll back
        raise Conflict(f"A data export with id {export.id!r} already exists.") from None
    return export


def ensure_modifiable(export: DataExport) -> None:
    """Only a pending export (new, or recurring between runs) may be changed."""
    if export.status != Status.PENDING:
        raise Conflict(
            f"The data export is {export.status} and can no longer be modified."
            if Status(export.status).final
            else f"The data export is {export.status}; modify it when it is pending."
        )


async def replace_export(
    session: AsyncSession, *, export: DataExport, spec: ExportSpec, now: datetime | None = None
) -> DataExport:
    """Replace a pending export's request. The write is conditional on the row still being
    pending, so a worker's claim or a concurrent delete since it was read is a 409, never a
    lost claim or a 500."""
    ensure_modifiable(export)
    values = _request_values(spec, now or utcnow())
    result = await session.execute(
        update(DataExport)
        .where(
            DataExport.organization_id == export.organization_id,
            DataExport.id == export.id,
            DataExport.pk == export.pk,
            DataExport.status == Status.PENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        status = await session.scalar(
            select(DataExport.status).where(
                DataExport.organization_id == export.organization_id, DataExport.id == export.id
            )
        )
        if status is None:
            raise Conflict("The data export was deleted while this request changed it.")
        export.status = status
        ensure_modifiable(export)
        raise Conflict("The data export changed while this request changed it; retry.")
    for column, value in values.items():  # what was written, without reading it back
        set_committed_value(export, column, value)
    return export


async def delete_export(
    session: AsyncSession, *, organization_id: str, export_id: str
) -> list[str]:
    """Delete the export with its file rows; returns the storage keys to remove after the commit.

    The export row is locked first (PostgreSQL; SQLite serializes writers from the first
    DELETE), so a worker cannot commit a file for it in between: every file row, published or
    pending, is deleted here and its key returned. Of concurrent deletes one succeeds and the
    others find nothing (404)."""
    locked = select(DataExport.pk).where(
        DataExport.organization_id == organization_id, DataExport.id == export_id
    )
    if session.get_bind().dialect.name == "postgresql":
        locked = locked.with_for_update()
    pk = await session.scalar(locked)
    if pk is None:
        raise NotFound(f"Data export {export_id!r} was not found.")
    published = await session.execute(
        delete(ExportFile)
        .where(ExportFile.organization_id == organization_id, ExportFile.export_pk == pk)
        .returning(ExportFile.storage_key)
    )
    keys = list(published.scalars())
    pending = await session.execute(
        delete(PendingFile)
        .where(PendingFile.organization_id == organization_id, PendingFile.export_pk == pk)
        .returning(PendingFile.storage_key)
    )
    keys += pending.scalars()
    result = await session.execute(
        delete(DataExport)
        .where(
            DataExport.organization_id == organization_id,
            DataExport.id == export_id,
            DataExport.pk == pk,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise NotFound(f"Data export {export_id!r} was not found.")
    return keys


async def list_exports(session: AsyncSession, *, organization_id: str, query: ListQuery) -> Page:
    limit, offset = check_bounds(query.limit, query.offset)
    filter, sort, q = query.filter, query.sort, query.q
    for name, text in (("filter", filter), ("sort", sort), ("q", q)):
        if text and len(text) > MAX_QUERY_TEXT:  # also keeps the SQL expression tree shallow
            raise Invalid.one(name, f"Must be at most {MAX_QUERY_TEXT} characters.")
        if text and has_unstorable_text(text):
            raise Invalid.one(name, UNSTORABLE_MESSAGE)
    fields = export_query_fields()
    try:
        condition = parse_filter(filter, fields)
        order = parse_sort(sort, fields)
        search = q_clause(q, [DataExport.name])
    except QueryError as exc:
        raise Invalid.one(exc.field, exc.message) from None
    where = [DataExport.organization_id == organization_id]
    if condition is not None:
        where.append(condition)
    if search is not None:
        where.append(search)
    total = await session.scalar(select(func.count()).select_from(DataExport).where(*where)) or 0
    items: Sequence[DataExport] = []
    if limit and offset < total:
        stmt = (
            select(DataExport)
            .where(*where)
            .order_by(*order, DataExport.created_time.desc(), DataExport.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = (await session.scalars(stmt)).all()
    return Page(items=items, total=total, limit=limit, offset=offset)
