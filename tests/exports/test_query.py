"""The query grammar on real databases: SQLite always, PostgreSQL when TEST_DATABASE_URL is set.

Every database test runs the same assertions on both, so "identical on SQLite and PostgreSQL"
is checked on returned rows, not on SQL text.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    event,
    literal,
    select,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from app.exports.fields import Kind
from app.exports.query import (
    QueryError,
    QueryField,
    parse_filter,
    parse_sort,
    q_clause,
)
from app.textfold import FOLD_FROM, FOLD_TO, fold_text, folded, register_sqlite_functions


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database (as the app's models do)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def dt(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type, misc]


COLUMNS = ("id", "name", "status", "country", "qty", "amount", "active", "created")
ROWS = [
    (1, "Alice", "completed", "US", 10, 1000, True, dt(2026, 1, 1)),
    (2, "bob", "failed", "us", 20, 1050, False, dt(2026, 1, 15, 12, 30)),
    (3, "Ärger", "FAILED", "DE", 5, -325, True, dt(2025, 12, 31, 23, 59, 59)),
    (4, "ärger", None, "de", None, None, None, None),
    (5, "ΣΊΣΥΦΟΣ", "pending", "GR", 0, 0, False, dt(2026, 2, 1)),
    (6, "σίσυφος", "Completed", None, 100, 10000, True, dt(2026, 1, 1, 0, 0, 1)),
    (7, "100% off_sale", "completed", "US", 7, 99, True, dt(2026, 1, 31, 23, 59, 59)),
    (8, "100 percent offXsale", "pending", "FR", 8, 100, False, dt(2026, 1, 2)),
    (9, "back\\slash", "refunded", "FR", 9, 1, True, dt(2026, 1, 3)),
    (10, "alice", "completed", "us", 11, 1001, None, dt(2026, 1, 4)),
    (11, None, "pending", None, 12, 5, True, dt(2026, 1, 5)),
    (12, "Zed", "Refunded", "de", -4, 2000, False, dt(2026, 1, 6)),
]
ALL = [r[0] for r in ROWS]


def make_table(name: str, text_collation: str | None) -> Table:
    """The test table; `text_collation` puts a linguistic collation on `name` (PostgreSQL)."""
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(100, collation=text_collation)),
        Column("status", String(20)),
        Column("country", String(2)),
        Column("qty", Integer),
        Column("amount", Integer),  # money in cents
        Column("active", Boolean),
        Column("created", UTCDateTime()),
    )


@dataclass
class Db:
    engine: AsyncEngine
    table: Table
    fields: dict[str, QueryField]

    async def ids(
        self,
        *,
        filter: str | None = None,
        sort: str | None = None,
        q: str | None = None,
        q_columns: tuple[str, ...] = ("name",),
    ) -> list[int]:
        t = self.table
        stmt = select(t.c.id)
        condition = parse_filter(filter, self.fields)
        if condition is not None:
            stmt = stmt.where(condition)
        search = q_clause(q, [t.c[c] for c in q_columns])
        if search is not None:
            stmt = stmt.where(search)
        stmt = stmt.order_by(*parse_sort(sort, self.fields), t.c.id)
        async with self.engine.connect() as conn:
            return list((await conn.scalars(stmt)).all())

    async def scalar(self, expr: Any) -> Any:
        async with self.engine.connect() as conn:
            return await conn.scalar(select(expr))


def by_name(fields: list[QueryField]) -> dict[str, QueryField]:
    return {field.name: field for field in fields}


def bind_fields(t: Table) -> dict[str, QueryField]:
    return by_name(
        [
            QueryField("name", Kind.STRING, t.c.name),
            QueryField("status", Kind.STRING, t.c.status),
            QueryField("billingAddress.country", Kind.STRING, t.c.country),
            QueryField("qty", Kind.INTEGER, t.c.qty),
            QueryField("amount", Kind.MONEY, t.c.amount),
            QueryField("active", Kind.BOOLEAN, t.c.active),
            QueryField("createdTime", Kind.DATETIME, t.c.created),
        ]
    )


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    register_sqlite_functions(dbapi_connection)


# Both databases in one run when PostgreSQL is configured (as CI's second pass does).
DATABASES = ["sqlite", "postgresql"] if os.environ.get("TEST_DATABASE_URL") else ["sqlite"]


@pytest.fixture(params=DATABASES)
async def db(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Db]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'query.db'}"
    else:
        url = os.environ["TEST_DATABASE_URL"]
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _on_connect)
    collation = None
    if engine.dialect.name == "postgresql":
        # A linguistic collation on `name` proves sorting/ranges do not depend on it.
        async with engine.connect() as conn:
            icu = await conn.scalar(
                text("SELECT count(*) FROM pg_collation WHERE collname = 'en-x-icu'")
            )
        collation = "en-x-icu" if icu else None
    table = make_table(f"query_test_{uuid4().hex[:12]}", collation)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.create_all)
            await conn.execute(table.insert(), [dict(zip(COLUMNS, r, strict=True)) for r in ROWS])
        yield Db(engine, table, bind_fields(table))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(table.metadata.drop_all)
        await engine.dispose()


def without(*excluded: int) -> list[int]:
    return [i for i in ALL if i not in excluded]


# --- filter on rows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        pytest.param(None, ALL, id="none"),
        pytest.param("", ALL, id="empty"),
        pytest.param("status:completed,pending;billingAddress.country:us", [1, 7, 10], id="and-or"),
        pytest.param("status:failed;", [2, 3], id="trailing-semicolon"),
        pytest.param("status:COMPLETED", [1, 6, 7, 10], id="case-insensitive"),
        pytest.param("status:!FAILED", without(2, 3), id="negate-keeps-null"),
        pytest.param("status:!failed,!pending", [1, 4, 6, 7, 9, 10, 12], id="negate-all"),
        pytest.param("status:!failed,pending", [1, 4, 6, 7, 9, 10, 12], id="negate-old-style"),
        pytest.param("billingAddress.country:DE", [3, 4, 12], id="nested"),
        pytest.param("billingAddress.country:!de,us", [5, 6, 8, 9, 11], id="nested-negated"),
        pytest.param("name:a:b", [], id="colon-in-value"),
        pytest.param(
            "status:completed;amount:10..;createdTime:..2026-01-04", [1, 6, 10], id="three-terms"
        ),
        pytest.param("status:failed;status:!FAILED", [], id="same-field-twice"),
    ],
)
async def test_filter_text(db: Db, filter_text: str | None, expected: list[int]) -> None:
    assert await db.ids(filter=filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        pytest.param("name:ärger", [3, 4], id="umlaut-lower"),
        pytest.param("name:ÄRGER", [3, 4], id="umlaut-upper"),
        pytest.param("name:σίσυφος", [5, 6], id="greek-final-sigma"),
        pytest.param("name:ΣΊΣΥΦΟΣ", [5, 6], id="greek-upper"),
        pytest.param("name:Σίσυφοσ", [5, 6], id="greek-title"),
        pytest.param("name:alice", [1, 10], id="ascii"),
        pytest.param("name:a..b", [1, 10], id="text-range"),
        pytest.param("name:..B", [1, 7, 8, 10], id="text-range-open-low"),
        pytest.param("name:ä..", [3, 4, 5, 6], id="text-range-code-point"),
        pytest.param("name:!ärger", [1, 2, 5, 6, 7, 8, 9, 10, 11, 12], id="text-negated"),
    ],
)
async def test_filter_unicode_text(db: Db, filter_text: str, expected: list[int]) -> None:
    assert await db.ids(filter=filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        pytest.param("qty:5..10", [1, 3, 7, 8, 9], id="int-range"),
        pytest.param("qty:!5..10", [2, 4, 5, 6, 10, 11, 12], id="int-range-negated"),
        pytest.param("qty:-4,0", [5, 12], id="int-or"),
        pytest.param("qty:+12", [11], id="int-plus"),
        pytest.param("amount:10..100", [1, 2, 6, 10, 12], id="money-range"),
        pytest.param("amount:..0", [3, 5], id="money-open-low"),
        pytest.param("amount:10.5..", [2, 6, 12], id="money-open-high"),
        pytest.param("amount:-3.25", [3], id="money-negative"),
        pytest.param("amount:10.50", [2], id="money-two-decimals"),
        pytest.param("amount:0.99,0.05", [7, 11], id="money-or"),
        pytest.param("amount:!0.99,0.05", [1, 2, 3, 4, 5, 6, 8, 9, 10, 12], id="money-negated"),
        pytest.param("active:true", [1, 3, 6, 7, 9, 11], id="bool-true"),
        pytest.param("active:FALSE", [2, 5, 8, 12], id="bool-false"),
        pytest.param("active:1", [1, 3, 6, 7, 9, 11], id="bool-one"),
        pytest.param("active:0", [2, 5, 8, 12], id="bool-zero"),
        pytest.param("active:!true", [2, 4, 5, 8, 10, 12], id="bool-negated"),
        pytest.param("active:true,false", without(4, 10), id="bool-or"),
    ],
)
async def test_filter_typed(db: Db, filter_text: str, expected: list[int]) -> None:
    assert await db.ids(filter=filter_text) == expected


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        pytest.param("createdTime:2026-01-01T00:00:00Z..", without(3, 4), id="open-high"),
        pytest.param("createdTime:..2026-01-01", [1, 3], id="bare-date-inclusive"),
        pytest.param("createdTime:2026-01-01T01:00:00+01:00", [1], id="offset"),
        pytest.param("createdTime:2026-01-31T18:59:59-05:00", [7], id="negative-offset"),
        pytest.param("createdTime:2026-01-01T00:00:01", [6], id="no-offset-is-utc"),
        pytest.param("createdTime:2026-01-01t00:00:00z", [1], id="lowercase-t-z"),
        pytest.param("createdTime:2026-01-01T00:00Z", [1], id="no-seconds"),
        pytest.param(
            "createdTime:2025-12-31T23:59:59Z..2026-01-01T00:00:01Z", [1, 3, 6], id="closed"
        ),
        pytest.param(
            "createdTime:2026-01-01T00:00:00.5Z..2026-01-01T00:00:01.000001Z", [6], id="fraction"
        ),
        pytest.param("createdTime:!..2026-01-01", without(1, 3), id="negated-range"),
    ],
)
async def test_filter_datetime(db: Db, filter_text: str, expected: list[int]) -> None:
    assert await db.ids(filter=filter_text) == expected


# --- sort ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort_text", "expected"),
    [
        pytest.param("name", [8, 7, 1, 10, 9, 2, 12, 3, 4, 5, 6, 11], id="text-asc-nulls-last"),
        pytest.param("+name", [8, 7, 1, 10, 9, 2, 12, 3, 4, 5, 6, 11], id="text-plus"),
        pytest.param("-name", [11, 6, 5, 4, 3, 12, 2, 9, 10, 1, 7, 8], id="text-desc-nulls-1st"),
        pytest.param("amount", [3, 5, 9, 11, 7, 8, 1, 10, 2, 12, 6, 4], id="money-asc"),
        pytest.param("-amount", [4, 6, 12, 2, 10, 1, 8, 7, 11, 9, 5, 3], id="money-desc"),
        pytest.param(
            "active,-createdTime", [5, 2, 12, 8, 7, 11, 9, 6, 1, 3, 4, 10], id="bool-then-date"
        ),
        # fold, then code point ("FAILED" < "failed"), then the next field
        pytest.param("status,-qty", [6, 10, 1, 7, 3, 2, 11, 8, 5, 12, 9, 4], id="text-then-int"),
        pytest.param(None, ALL, id="none"),
        pytest.param("", ALL, id="empty"),
    ],
)
async def test_sort(db: Db, sort_text: str | None, expected: list[int]) -> None:
    assert await db.ids(sort=sort_text) == expected


async def test_sort_with_filter(db: Db) -> None:
    assert await db.ids(filter="billingAddress.country:us", sort="-name") == [2, 10, 1, 7]


# --- q ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param("0% off_", [7], id="percent-underscore-literal"),
        pytest.param("_", [7], id="underscore"),
        pytest.param("%", [7], id="percent"),
        pytest.param("\\", [9], id="backslash"),
        pytest.param("LIC", [1, 10], id="case-insensitive"),
        pytest.param("ΣΥΦ", [5, 6], id="greek"),
        pytest.param("υφος", [5, 6], id="greek-final-sigma"),
        pytest.param("RGER", [3, 4], id="umlaut"),
        pytest.param(" off ", [7, 8], id="trimmed"),
        pytest.param("   ", ALL, id="blank"),
        pytest.param(None, ALL, id="none"),
        pytest.param("nothing-like-this", [], id="no-match"),
    ],
)
async def test_q(db: Db, q: str | None, expected: list[int]) -> None:
    assert await db.ids(q=q) == expected


async def test_q_several_columns(db: Db) -> None:
    assert await db.ids(q="fail", q_columns=("name", "status")) == [2, 3]
    assert await db.ids(q="e", q_columns=()) == []


async def test_q_with_filter_and_sort(db: Db) -> None:
    ids = await db.ids(q="E", filter="active:!false", sort="-amount")
    assert ids == [4, 10, 1, 7, 3]


# --- the fold itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "ΣΊΣΥΦΟΣ",
        "Ärger",
        "İstanbul",
        "\u00b5 \u017f \u0345 \u03d0 \u1e9b",  # fold-only: micro, long s, ypogegrammeni, ...
        "\u01c5",  # title-case dz digraph
        "\u1e9e\u00df",  # capital and small sharp s
        "\u13a0\uab70",  # Cherokee
        "\ufb01",  # fi ligature
        "\u2126\u212a\u212b",  # ohm, kelvin, angstrom signs
        "ASCII mixed 123",
    ],
)
async def test_database_fold_matches_python(db: Db, value: str) -> None:
    assert await db.scalar(folded(literal(value, String()))) == fold_text(value)


async def test_database_fold_keeps_null(db: Db) -> None:
    assert await db.scalar(folded(literal(None, String()))) is None


def test_fold_table_is_simple_case_folding() -> None:
    assert len(FOLD_FROM) == len(FOLD_TO)
    for char, target in zip(FOLD_FROM, FOLD_TO, strict=True):
        assert char.lower() == char
        assert char.casefold() == target


def test_fold_text() -> None:
    assert fold_text("ΣΊΣΥΦΟΣ") == fold_text("σίσυφος") == "σίσυφοσ"
    assert fold_text("İ") == "i"
    assert fold_text("Ärger") == "ärger"


async def test_orm_attributes(db: Db) -> None:
    """The app binds ORM attributes, not table columns."""

    class Base(DeclarativeBase):
        pass

    class Item(Base):
        __table__ = db.table

    fields = by_name(
        [
            QueryField("name", Kind.STRING, Item.name),  # type: ignore[attr-defined]
            QueryField("amount", Kind.MONEY, Item.amount),  # type: ignore[attr-defined]
        ]
    )
    stmt = (
        select(Item.id)  # type: ignore[attr-defined]
        .where(parse_filter("name:!bob;amount:..10", fields))  # type: ignore[arg-type]
        .where(q_clause("e", [Item.name]))  # type: ignore[attr-defined,arg-type]
        .order_by(*parse_sort("-name", fields))
    )
    async with db.engine.connect() as conn:
        assert list((await conn.scalars(stmt)).all()) == [3, 1, 7, 8]


# --- grammar errors (no database needed) --------------------------------------------------


FIELDS = bind_fields(make_table("grammar", None))


@pytest.mark.parametrize(
    ("filter_text", "fragment"),
    [
        ("status:", 'no value for field "status"'),
        ("nope:1", 'unknown field "nope"'),
        ("Status:failed", 'unknown field "Status"'),
        ("billingaddress.country:de", 'unknown field "billingaddress.country"'),
        ("billingAddress:de", 'unknown field "billingAddress"'),
        ("status", 'expected "field:value"'),
        (":x", "missing field name"),
        ("status:a,,b", 'empty value for field "status"'),
        ("status:a,", 'empty value for field "status"'),
        ("status:!", 'empty value for field "status"'),
        ("status:a,!b", "negate the first value"),
        ("qty:..", "range needs at least one end"),
        ("qty:1.5", '"1.5" is not an integer'),
        ("qty:abc", "is not an integer"),
        ("qty:1_000", "is not an integer"),
        ("qty: 1", "is not an integer"),
        ("qty:99999999999999999999", "is not an integer"),
        ("qty:1..x", '"x" is not an integer'),
        ("amount:1.234", "at most two decimals"),
        ("amount:1e3", "at most two decimals"),
        ("amount:10.", "at most two decimals"),
        ("amount:abc..5", "at most two decimals"),
        ("active:yes", "true or false"),
        ("active:true..false", 'field "active" cannot be a range'),
        ("createdTime:2026-13-01", "RFC 3339"),
        ("createdTime:yesterday", "RFC 3339"),
        ("createdTime:2026-01-01T25:00:00Z", "RFC 3339"),
        ("createdTime:2026-01-01T00:00:00+24:00", "RFC 3339"),
        ("createdTime:20260101", "RFC 3339"),
        ("createdTime:0001-01-01T00:00:00+01:00", "RFC 3339"),
    ],
)
def test_filter_errors_name_term_and_field(filter_text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_filter(f"status:ok;{filter_text}", FIELDS)
    assert caught.value.field == "filter"
    assert fragment in caught.value.message
    assert f'"{filter_text}"' in caught.value.message


@pytest.mark.parametrize("filter_text", [";", "status:a;;qty:1", ";status:a", "status:a;;"])
def test_filter_empty_terms(filter_text: str) -> None:
    with pytest.raises(QueryError, match="Empty filter term") as caught:
        parse_filter(filter_text, FIELDS)
    assert caught.value.field == "filter"


@pytest.mark.parametrize(
    ("sort_text", "fragment"),
    [
        ("nope", 'Unknown sort field "nope"'),
        ("Name", 'Unknown sort field "Name"'),
        ("--name", 'Unknown sort field "-name"'),
        ("name,", "Empty sort item"),
        (",name", "Empty sort item"),
        ("-", "Empty sort item"),
        ("+", "Empty sort item"),
        ("name,-name", 'Field "name" appears more than once'),
        ("qty,qty", 'Field "qty" appears more than once'),
    ],
)
def test_sort_errors(sort_text: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_sort(sort_text, FIELDS)
    assert caught.value.field == "sort"
    assert fragment in caught.value.message


def test_query_error_is_value_error() -> None:
    err = QueryError("limit", "Must be between 0 and 1000.")
    assert isinstance(err, ValueError)
    assert (err.field, err.message) == ("limit", "Must be between 0 and 1000.")
    assert str(err) == "limit: Must be between 0 and 1000."
