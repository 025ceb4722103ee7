"""The hot reads (issue 8): an export by id and a page of exports, each with its user when asked,
as plain read-only rows in as few driver calls as they take.

The ORM path costs, per statement, a session, an ORM compile and four hops to aiosqlite's
thread; these statements are compiled once per dialect and shape, run through
`app.db.fetch_direct` (one driver call each, one pooled connection per read), and their values
converted by the column types' own result processors, so rows read exactly as the ORM reads
them. The user comes with the export in one LEFT JOIN on `(organization_id, id)`: the `user`
expansion of the core's registry, loaded with the row instead of by a second statement (a user
that is not the organization's is no user, as for its batch loader). Every statement names the
organization.

Rows are named tuples with the ORM models' attribute names: everything that renders an export
(REST's representation, GraphQL's types, links, the story) reads them as it reads the models.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.sqltypes import JSON

from app.db import direct_reads
from app.exports.service import Listing, Page
from app.fastjson import loads
from app.models import DataExport, User, UTCDateTime

EXPORTS = DataExport.__table__
USERS = User.__table__
ExportRow = namedtuple("ExportRow", [c.key for c in EXPORTS.columns])  # type: ignore[misc]
UserRow = namedtuple("UserRow", [c.key for c in USERS.columns])  # type: ignore[misc]
JOINED = frozenset({"user"})
"""The expansions these reads load with the export (others take the batch loaders' path)."""

Converter = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Prepared:
    """One statement compiled for one dialect: its SQL, its parameters' names in the order the
    SQL takes them, and each result column's converter."""

    sql: str
    names: tuple[str, ...]
    converters: tuple[Converter, ...]

    def bind(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        return self.sql, [values[name] for name in self.names]


@dataclass
class Statements:
    """Compiled statements by dialect and shape; shapes are few (by id or page, with or without
    the user, the sort), so the cache is bounded by what the API can ask."""

    max_size: int = 256
    compiled: dict[tuple[str, Hashable], Prepared] = field(default_factory=dict)

    def get(self, dialect: Dialect, key: Hashable, build: Callable[[], Select[Any]]) -> Prepared:
        found = self.compiled.get((dialect.name, key))
        if found is None:
            found = _prepare(build(), dialect)
            if len(self.compiled) >= self.max_size:
                self.compiled.clear()
            self.compiled[(dialect.name, key)] = found
        return found


STATEMENTS = Statements()


def _sqlite_utc(standard: Converter) -> Converter:
    """SQLite's stored `YYYY-MM-DD HH:MM:SS[.ffffff]` through `datetime.fromisoformat` (C)
    instead of SQLAlchemy's regular expression, aware UTC as `UTCDateTime` makes it; anything
    else (a value with an offset of its own included) takes the standard way. The offset is
    written into the text: `.replace(tzinfo=UTC)` cost five times the parse (keyword call)."""
    parse = datetime.fromisoformat

    def convert(value: Any) -> Any:
        if type(value) is str:
            try:
                parsed = parse(value + "+00:00")
                if parsed.tzinfo is UTC:  # not so for a bare date: fromisoformat drops it
                    return parsed
            except ValueError:
                pass
        elif value is None:  # the processor's answer (tests check), without its call
            return None
        return value if standard is None else standard(value)

    return convert


def _prepare(statement: Select[Any], dialect: Dialect) -> Prepared:
    compiled = statement.compile(dialect=dialect)
    converters = tuple(_converter(column.type, dialect) for column in statement.selected_columns)
    return Prepared(compiled.string, tuple(compiled.positiontup or ()), converters)


def _converter(kind: Any, dialect: Dialect) -> Converter:
    """The column type's own result processor; on SQLite, JSON text parsed by orjson first (a
    page has five JSON columns per row: json.loads was a sixth of a GraphQL page's time) and
    `UTCDateTime` by `datetime.fromisoformat` (SQLAlchemy's regular expression was most of the
    rest). The JSON processor's own deserializer is json.loads: app/db.py's engines choose no
    other."""
    default: Converter = kind.dialect_impl(dialect).result_processor(dialect, None)
    if dialect.name != "sqlite":
        return default
    if isinstance(kind, UTCDateTime):
        return _sqlite_utc(default)
    if isinstance(kind, JSON) and default is not None:
        return _json_text(default)
    return default


def _json_text(default: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Text through app/fastjson.py (json.loads' answers); other values, and text it fails on,
    to the column type's own processor, which answers (or fails) exactly as before."""

    def convert(value: Any) -> Any:
        if type(value) is str:
            try:
                return loads(value)
            except ValueError:
                pass
        elif value is None:  # the processor's answer (tests check), without its call
            return None
        return default(value)

    return convert


def _columns(with_user: bool) -> list[Any]:
    return [*EXPORTS.columns, *(USERS.columns if with_user else ())]


def _joined(with_user: bool) -> Any:
    if not with_user:
        return EXPORTS
    same_organization = and_(
        USERS.c.id == EXPORTS.c.user_id, USERS.c.organization_id == EXPORTS.c.organization_id
    )
    return EXPORTS.outerjoin(USERS, same_organization)


def _by_id(with_user: bool) -> Select[Any]:
    return (
        select(*_columns(with_user))
        .select_from(_joined(with_user))
        .where(
            EXPORTS.c.organization_id == bindparam("organization"),
            EXPORTS.c.id == bindparam("id"),
        )
    )


def _count() -> Select[Any]:
    organization = EXPORTS.c.organization_id == bindparam("organization")
    return select(func.count()).select_from(EXPORTS).where(organization)


def _page(with_user: bool, ordering: Sequence[ColumnElement[Any]]) -> Select[Any]:
    return (
        select(*_columns(with_user))
        .select_from(_joined(with_user))
        .where(EXPORTS.c.organization_id == bindparam("organization"))
        .order_by(*ordering)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _rows(
    prepared: Prepared, raw: Sequence[Sequence[Any]], with_user: bool
) -> list[tuple[DataExport, User | None]]:
    """Rows to (export, user) pairs, converted a column at a time: `map` runs each converter
    over its column in C, where a loop per row and cell cost a third of `_rows` (issue 8)."""
    if not raw:
        return []
    width = len(EXPORTS.columns)
    columns: list[Any] = list(zip(*raw, strict=True))
    for i, convert in enumerate(prepared.converters):
        if convert is not None:
            columns[i] = map(convert, columns[i])
    exports = map(ExportRow, *columns[:width])
    if not with_user:
        return [(cast(DataExport, export), None) for export in exports]
    users = (
        None if values[0] is None else UserRow(*values)
        for values in zip(*columns[width:], strict=True)
    )
    return cast(list[tuple[DataExport, User | None]], list(zip(exports, users, strict=True)))


def joinable(expand: Collection[str]) -> bool:
    """Whether these reads load every expansion asked for."""
    return set(expand) <= JOINED


async def export_by_id(
    engine: AsyncEngine, *, organization_id: str, export_id: str, with_user: bool
) -> tuple[DataExport, User | None] | None:
    """The export (and its user), or None: one statement."""
    prepared = STATEMENTS.get(engine.dialect, ("id", with_user), lambda: _by_id(with_user))
    values = {"organization": organization_id, "id": export_id}
    async with direct_reads(engine) as fetch:
        raw = await fetch(*prepared.bind(values))
    rows = _rows(prepared, raw, with_user)
    return rows[0] if rows else None


def is_plain(listing: Listing) -> bool:
    """A listing these reads serve: no filter or q (whose values are bound per request), any
    sort (which only orders)."""
    return listing.condition is None and listing.search is None


async def export_page(
    engine: AsyncEngine,
    *,
    organization_id: str,
    listing: Listing,
    sort: str | None,
    with_user: bool,
) -> tuple[Page, dict[str, User]]:
    """A plain listing's page and its users (by id): the count and the page, two statements on
    one connection, whatever the page's size."""
    dialect = engine.dialect
    count = STATEMENTS.get(dialect, "count", _count)
    page = STATEMENTS.get(
        dialect, ("page", with_user, sort or ""), lambda: _page(with_user, listing.ordering())
    )
    values = {"organization": organization_id, "limit": listing.limit, "offset": listing.offset}
    rows: list[tuple[DataExport, User | None]] = []
    async with direct_reads(engine) as fetch:
        total = int((await fetch(*count.bind(values)))[0][0])
        if listing.limit and listing.offset < total:
            rows = _rows(page, await fetch(*page.bind(values)), with_user)
    users = {user.id: user for _, user in rows if user is not None}
    items = [export for export, _ in rows]
    return Page(items=items, total=total, limit=listing.limit, offset=listing.offset), users
