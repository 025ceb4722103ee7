"""A csv export on PostgreSQL read as `COPY (SELECT line ...) TO STDOUT`: the server renders
each row's finished CSV line, Python only checks and copies bytes.

The per-cell work of the column path (asyncpg building a str or a datetime per cell, the
money and date-time text, regrouping) was most of a PostgreSQL export's time; here the server
does it while streaming, in the one SELECT the column path runs (same WHERE, naming the
organization, same ORDER BY), with each cell written as `CsvWriter` writes it:

- text neutralised (`'` before = + - @ tab CR) and quoted as the csv module quotes
  (QUOTE_MINIMAL: a quote, comma, CR or LF), NULL as an empty cell, a lone empty cell `""`;
- money from the integer cents (`cents::numeric * 0.01`: exact, two places, no `-0.00`);
- date-times `YYYY-MM-DDTHH:MM:SSZ` from the stored naive UTC (to_char; fractions dropped),
  ±infinity as asyncpg reads them (datetime.max and .min);
- integers as digits, booleans `true`/`false`.

COPY's text format escapes only backslash and the control characters \\b \\f \\n \\r \\t \\v,
so every line it sends is one row: a chunk without a backslash is our rows once its LFs are
CRLFs, and the rare chunk with one is unescaped line by line. tests/exports/formats/
test_fast_path_bytes.py compares these bytes with the plain path's.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asyncpg import PostgresError  # type: ignore[import-untyped]
from sqlalchemy import Boolean, DateTime, Integer, Numeric, Select, String, Text, case, cast, func
from sqlalchemy import literal_column as sql
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DatabaseError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from app.exports.fields import Field, Kind

Sink = Callable[[bytes, int], Awaitable[None]]
"""Takes each chunk of finished CSV bytes and the rows it holds."""

_FORMULA_STARTS = "(61, 43, 45, 64, 9, 13)"  # = + - @ tab CR: ascii() of the first character
# What makes the csv module quote a cell (QUOTE_MINIMAL, "\r\n" lines): found with strpos,
# cheaper on the server than one regex match.
_NEEDS_QUOTES = ("'\"'", "','", "E'\\r'", "E'\\n'")
_TIMESTAMP = '\'YYYY-MM-DD"T"HH24:MI:SS"Z"\''
_SQL_TYPES: dict[Kind, type[Any]] = {
    Kind.STRING: String,
    Kind.INTEGER: Integer,
    Kind.MONEY: Integer,
    Kind.BOOLEAN: Boolean,
    Kind.DATETIME: DateTime,
}
_ESCAPED = re.compile(rb"\\(.)")
_UNESCAPE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def copy_statement(
    stmt: Select[Any], fields: Sequence[Field], dialect: Dialect
) -> Select[Any] | None:
    """`stmt` (from `build_source_query`) selecting one column: each row's CSV line, without
    its line break. None when this is not PostgreSQL or a column is not of its kind's type."""
    if dialect.name != "postgresql":
        return None
    selected = list(stmt.selected_columns)[: len(fields)]
    cells: list[ColumnElement[Any]] = []
    for column, field in zip(selected, fields, strict=True):
        stored = column.type
        if isinstance(stored, TypeDecorator):  # UTCDateTime: naive UTC in a DateTime
            stored = stored.impl_instance
        if not isinstance(stored, _SQL_TYPES[field.kind]):
            return None
        cells.append(_cell(column, field.kind))
    # concat() reads NULL as empty and builds the line once (a chain of || copies it per cell).
    parts = [part for cell in cells for part in (sql("','"), cell)][1:]
    line: ColumnElement[Any] = func.concat(*parts)
    if len(cells) == 1:  # the csv module writes a lone empty cell as `""`
        line = case((line == sql("''"), sql("'\"\"'")), else_=line)
    return stmt.with_only_columns(line.label("line"), maintain_column_froms=True)


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
    neutral = case(
        (func.ascii(column).op("IN")(sql(_FORMULA_STARTS)), sql("''''").op("||")(column)),
        else_=cast(column, Text),
    )
    # Whether to quote is decided on the stored text (a `'` in front changes nothing there):
    # the server then evaluates `neutral` once per cell, in the branch taken.
    return case(
        (
            sum((func.strpos(column, sql(char)) for char in _NEEDS_QUOTES), sql("0")) > 0,
            sql("'\"'")
            .op("||")(func.replace(neutral, sql("'\"'"), sql("'\"\"'")))
            .op("||")(sql("'\"'")),
        ),
        else_=neutral,
    )


async def copy_lines(
    connection: AsyncConnection, stmt: Select[Any], sink: Sink, batch_rows: int
) -> None:
    """Run `stmt` (from `copy_statement`) as a COPY, giving `sink` CRLF-ended CSV lines
    `batch_rows` at a time (the last batch fewer), as the column path writes its batches."""
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors: dict[str, Any] = dict(compiled._bind_processors)  # what execute() applies
    names = compiled.positiontup or []
    arguments = [
        processors[name](params[name]) if name in processors else params[name] for name in names
    ]
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
            await sink(_crlf(data), batch_rows)
            pending, count = ([rest] if rest else []), count - batch_rows

    try:
        await driver.copy_from_query(compiled.string, *arguments, output=receive, format="text")
    except PostgresError as exc:  # the raw driver's error, as SQLAlchemy would have raised it
        raise DatabaseError(compiled.string, arguments, exc) from exc
    if count:
        await sink(_crlf(b"".join(pending)), count)


def _crlf(lines: bytes) -> bytes:
    """COPY's LF-ended lines as CRLF-ended CSV lines."""
    if b"\\" in lines:  # a line break in a cell arrives as `\n`: unescaped after the split
        return b"\r\n".join(_ESCAPED.sub(_unescape, line) for line in lines.split(b"\n"))
    return lines.replace(b"\n", b"\r\n")


def _unescape(match: re.Match[bytes]) -> bytes:
    escaped = match.group(1)
    return _UNESCAPE.get(escaped, escaped)
