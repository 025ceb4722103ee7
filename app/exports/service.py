"""Export rows: create, read, list, replace and delete, scoped to one organization.

Keyword-only functions over an AsyncSession, for the use cases (app/exports/usecases.py), which
own the transaction. Every statement names the organization and finds a row by its id there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from app.db import rowcount
from app.errors import Conflict, FieldError, Invalid, NotFound
from app.exports import keyset
from app.exports.keyset import Position
from app.exports.query import QueryError, parse_filter, parse_sort, q_clause, sort_fields
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
class SeekQuery:
    """A cursor-paged collection request (Relay's connection arguments): `first` rows after
    `after`, or `last` rows before `before`; positions come from an earlier SeekPage."""

    filter: str | None = None
    sort: str | None = None
    q: str | None = None
    first: int | None = None
    last: int | None = None
    after: Position | None = None
    before: Position | None = None


@dataclass(frozen=True)
class SeekPage:
    items: Sequence[DataExport]
    positions: Sequence[Position]
    """Where each item is: what `after`/`before` take to continue from it."""
    total: int
    has_next: bool
    has_previous: bool


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


def _check_texts(filter: str | None, sort: str | None, q: str | None) -> None:
    for name, text in (("filter", filter), ("sort", sort), ("q", q)):
        if text and len(text) > MAX_QUERY_TEXT:  # also keeps the SQL expression tree shallow
            raise Invalid.one(name, f"Must be at most {MAX_QUERY_TEXT} characters.")
        if text and has_unstorable_text(text):
            raise Invalid.one(name, UNSTORABLE_MESSAGE)


def _where(organization_id: str, filter: str | None, q: str | None) -> list[Any]:
    """The organization's exports that `filter` and `q` select, as WHERE conditions."""
    try:
        condition = parse_filter(filter, export_query_fields())
        search = q_clause(q, [DataExport.name])
    except QueryError as exc:
        raise Invalid.one(exc.field, exc.message) from None
    where: list[Any] = [DataExport.organization_id == organization_id]
    if condition is not None:
        where.append(condition)
    if search is not None:
        where.append(search)
    return where


@dataclass(frozen=True)
class Listing:
    """A collection request checked and parsed: bounds, then sort, filter and q as SQL."""

    limit: int
    offset: int
    condition: Any
    order: list[Any]
    search: Any

    def where(self, organization_id: str) -> list[Any]:
        where: list[Any] = [DataExport.organization_id == organization_id]
        if self.condition is not None:
            where.append(self.condition)
        if self.search is not None:
            where.append(self.search)
        return where

    def ordering(self) -> list[Any]:
        """The requested order, then newest first (ties broken by id, so pages never overlap)."""
        return [*self.order, DataExport.created_time.desc(), DataExport.id.desc()]


def plan_listing(query: ListQuery) -> Listing:
    """Spec §4's checks of a collection request, in its order (Invalid naming the parameter):
    what `list_exports` runs, and what the hot reads (app/exports/reads.py) run when plain."""
    limit, offset = check_bounds(query.limit, query.offset)
    filter, sort, q = query.filter, query.sort, query.q
    _check_texts(filter, sort, q)
    fields = export_query_fields()
    try:
        order = parse_sort(sort, fields)
        condition = parse_filter(filter, fields)
        search = q_clause(q, [DataExport.name])
    except QueryError as exc:
        raise Invalid.one(exc.field, exc.message) from None
    return Listing(limit, offset, condition, list(order), search)


async def list_exports(session: AsyncSession, *, organization_id: str, query: ListQuery) -> Page:
    listing = plan_listing(query)
    limit, offset = listing.limit, listing.offset
    where = listing.where(organization_id)
    total = await session.scalar(select(func.count()).select_from(DataExport).where(*where)) or 0
    items: Sequence[DataExport] = []
    if limit and offset < total:
        stmt = select(DataExport).where(*where).order_by(*listing.ordering()).limit(limit)
        items = (await session.scalars(stmt.offset(offset))).all()
    return Page(items=items, total=total, limit=limit, offset=offset)


def _seek_bounds(first: int | None, last: int | None) -> tuple[int, bool]:
    """(page size, backward): Relay's rules, with REST's bounds on the size."""
    errors = [
        FieldError(name, f"Must be between 0 and {MAX_LIMIT}.")
        for name, value in (("first", first), ("last", last))
        if value is not None and not 0 <= value <= MAX_LIMIT
    ]
    if errors:
        raise Invalid(errors)
    if first is not None and last is not None:
        raise Invalid.one("last", "Pass first (forward) or last (backward), not both.")
    if last is not None:
        return last, True
    return (DEFAULT_LIMIT if first is None else first), False


def _export_keys(sort: str | None) -> tuple[list[keyset.Key], str]:
    """The order's keys (the sort's, then createdTime and id descending, as REST orders) and
    the sort's canonical spelling."""
    fields = export_query_fields()
    try:
        chosen = sort_fields(sort, fields)
    except QueryError as exc:
        raise Invalid.one(exc.field, exc.message) from None
    keys = [keyset.key_of(field, descending) for field, descending in chosen]
    keys.append(keyset.key_of(fields["createdTime"], True))
    keys.append(keyset.key_of(fields["id"], True, by_fold=False))  # unique in an organization
    return keys, keyset.canonical_sort(chosen)


async def seek_exports(
    session: AsyncSession, *, organization_id: str, query: SeekQuery
) -> SeekPage:
    """A page of exports after (or before) a position, two statements whatever the page: the
    count with how many rows lie outside the cursors, and the rows (one more than asked, to
    know whether more follow)."""
    size, backward = _seek_bounds(query.first, query.last)
    _check_texts(query.filter, query.sort, query.q)
    keys, sort = _export_keys(query.sort)
    scope = keyset.scope_of(query.filter, query.q)
    where = _where(organization_id, query.filter, query.q)
    window = list(where)
    outside: list[Any] = [literal(0), literal(0)]
    for index, (argument, position, reverse) in enumerate(
        (("after", query.after, False), ("before", query.before, True))
    ):
        if position is None:
            continue
        values = keyset.check_position(position, keys, sort, scope, argument)
        inside = keyset.after(keys, values, reverse=reverse)
        window.append(inside)
        outside[index] = func.coalesce(func.sum(case((inside, 0), else_=1)), 0)
    counted = (
        await session.execute(select(func.count(), *outside).select_from(DataExport).where(*where))
    ).one()
    total, before_after, after_before = int(counted[0]), int(counted[1]), int(counted[2])
    rows = list(
        (
            await session.scalars(
                select(DataExport)
                .where(*window)
                .order_by(*keyset.order_by(keys, reverse=backward))
                .limit(size + 1)
            )
        ).all()
    )
    more = len(rows) > size
    rows = rows[:size]
    if backward:
        rows.reverse()
    return SeekPage(
        items=rows,
        positions=[keyset.position_of(row, keys, sort, scope) for row in rows],
        total=total,
        has_next=(more and not backward) or after_before > 0,
        has_previous=(more and backward) or before_after > 0,
    )
