"""A csv export on PostgreSQL read as `COPY (SELECT cells ...) TO STDOUT`: the server renders
each cell's text and streams the rows; Python checks and transforms bytes in bulk.

The per-cell work of the column path (asyncpg building a str or a datetime per cell, the
money and date-time text, regrouping) was most of a PostgreSQL export's time. Here the one
SELECT the column path runs (same WHERE, naming the organization, same ORDER BY) returns
each field's cell text instead: money from the integer cents (`cents::numeric * 0.01`: exact,
two places), date-times
`YYYY-MM-DDTHH:MM:SSZ` from the stored naive UTC (to_char; fractions dropped; ±infinity as
asyncpg reads them, datetime.max and .min), integers as digits, booleans `true`/`false`,
NULL as empty; and last a flag, whether a text cell of the row starts with = + - @.

COPY's text format separates cells with a tab and escapes only backslash and the control
characters \\b \\f \\n \\r \\t \\v in them, so every line is one row and every raw tab
separates cells: `csv_lines` turns a batch with nothing to quote or neutralise into CSV with
two replaces, and any other batch goes through the csv module cell by cell.
tests/exports/formats/test_fast_path_bytes.py compares the bytes with the plain path's.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    Numeric,
    Select,
    String,
    Text,
    case,
    cast,
    false,
    func,
    or_,
)
from sqlalchemy import literal_column as sql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DatabaseError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from app.db import driver_statement
from app.exports.fields import Field, Kind
from app.exports.formats.csv_writer import neutralise

Sink = Callable[[bytes, int], Awaitable[None]]
"""Takes each chunk of finished CSV bytes and the rows it holds."""

_TIMESTAMP = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_SQL_TYPES: dict[Kind, type[Any]] = {
    Kind.STRING: String,
    Kind.INTEGER: Integer,
    Kind.MONEY: Integer,
    Kind.BOOLEAN: Boolean,
    Kind.DATETIME: DateTime,
}
_FORMULA_STARTS = "(61, 43, 45, 64)"  # = + - @, as ascii() gives a text's first character
_ESCAPED = re.compile(rb"\\(.)")
_UNESCAPE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def copy_statement(
    stmt: Select[Any], fields: Sequence[Field], dialect: Dialect
) -> Select[Any] | None:
    """`stmt` (from `build_source_query`) selecting each field's cell text (never NULL), a
    negative amount's `-` as a vertical tab. None when this is not PostgreSQL, for a lone
    field (the csv module writes its empty cell `""`) or a column not of its kind's type."""
    if dialect.name != "postgresql" or len(fields) < 2:
        return None
    selected = list(stmt.selected_columns)[: len(fields)]
    cells: list[ColumnElement[Any]] = []
    for n, (column, field) in enumerate(zip(selected, fields, strict=True)):
        stored = column.type
        if isinstance(stored, TypeDecorator):  # UTCDateTime: naive UTC in a DateTime
            stored = stored.impl_instance
        if not isinstance(stored, _SQL_TYPES[field.kind]):
            return None
        cells.append(func.coalesce(_cell(column, field.kind), sql("''")).label(f"c{n}"))
    # Last, whether a text cell of the row starts with = + - @ (tab and CR arrive escaped):
    # `t` sends the row's batch the csv module's way, where the cell is neutralised.
    starts = [
        func.ascii(column).op("IN")(sql(_FORMULA_STARTS))
        for column, field in zip(selected, fields, strict=True)
        if field.kind is Kind.STRING
    ]
    flag = func.coalesce(or_(*starts), false()) if starts else false()
    return stmt.with_only_columns(*cells, flag.label("formula"), maintain_column_froms=True)


def _cell(column: ColumnElement[Any], kind: Kind) -> ColumnElement[Any]:
    if kind is Kind.MONEY:
        return cast(cast(column, Numeric()) * sql("0.01"), Text)
    if kind is Kind.DATETIME:
        # asyncpg writes datetime.max and .min as ±infinity and reads them back the same way.
        return case(
            (column == sql("'infinity'::timestamp"), sql("'9999-12-31T23:59:59Z'")),
            (column == sql("'-infinity'::timestamp"), sql("'0001-01-01T00:00:00Z'")),
            else_=func.to_char(column, sql(_TIMESTAMP)),
        )
    if kind is Kind.INTEGER:
        return cast(column, Text)
    if kind is Kind.BOOLEAN:
        return case((column, sql("'true'")), (~column, sql("'false'")))
    return cast(column, Text)


async def copy_lines(
    connection: AsyncConnection,
    stmt: Select[Any],
    kinds: Sequence[Kind],
    sink: Sink,
    batch_rows: int,
) -> None:
    """Run `stmt` (from `copy_statement`) as a COPY, giving `sink` CRLF-ended CSV lines
    `batch_rows` at a time (the last batch fewer), as the column path writes its batches."""
    dialect = connection.dialect
    sql, arguments = driver_statement(stmt, dialect)
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    pending: list[bytes] = []
    count = 0  # the lines in `pending`; every row is one line ending in LF

    async def receive(chunk: bytes) -> None:
        nonlocal pending, count
        pending.append(chunk)
        count += chunk.count(b"\n")
        while count >= batch_rows:
            data = b"".join(pending)
            rest = b""
            if count > batch_rows:  # cut after the batch's last line
                *lines, rest = data.split(b"\n", batch_rows)
                data = b"\n".join(lines) + b"\n"
            await sink(csv_lines(data, kinds), batch_rows)
            pending, count = ([rest] if rest else []), count - batch_rows

    try:
        await driver.copy_from_query(sql, *arguments, output=receive, format="text")
    except PostgresError as exc:  # the raw driver's error, as SQLAlchemy would have raised it
        raise DatabaseError(sql, arguments, exc) from exc
    if count:
        await sink(csv_lines(b"".join(pending), kinds), count)


def csv_lines(rows: bytes, kinds: Sequence[Kind]) -> bytes:
    """COPY's text rows (tab-separated, LF-ended, the formula flag last) as `CsvWriter`
    writes them.

    A batch with no backslash (an escaped tab, line break or backslash in a cell), quote or
    comma, and no row flagged, needs neither quoting nor neutralising: its rows lose their
    flag cell, tabs become commas and LFs CRLFs. Any other batch goes through the csv module,
    cell by cell.
    """
    # `in` on bytes is a memchr-fast scan; a regex character class is several times slower.
    if not any(mark in rows for mark in (b"\\", b'"', b",", b"\tt\n")):
        return rows.replace(b"\tf\n", b"\r\n").replace(b"\t", b",")
    cells = [
        [_text(cell, kind) for cell, kind in zip(line.split(b"\t")[:-1], kinds, strict=True)]
        for line in rows.split(b"\n")[:-1]
    ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(cells)
    return buffer.getvalue().encode()


def _text(cell: bytes, kind: Kind) -> str:
    text = _ESCAPED.sub(_unescape, cell).decode()
    return neutralise(text) if kind is Kind.STRING else text


def _unescape(match: re.Match[bytes]) -> bytes:
    escaped = match.group(1)
    return _UNESCAPE.get(escaped, escaped)
