"""The column path (what the worker runs) writes exactly the bytes of the plain path.

The plain path is kept here as the reference: one record per row, one formatter call per
cell, the csv module for every line (the writers as they were before the column path), fed
by SQLAlchemy's own result processing and `to_record`. Values are chosen to hit every
shortcut and its way out: formula starts, quotes, commas, line breaks, NULs, surrogates,
empty strings and NULLs, negative and huge money, date-times with fractions, at the ends of
time and stored in a form SQLAlchemy does not write.
"""

from __future__ import annotations

import contextlib
import csv
import io
import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Select, insert, text, update
from sqlalchemy.exc import DatabaseError

from app.db import is_sqlite, make_engine
from app.exports.fields import Field, Kind
from app.exports.formats import Record, make_writer
from app.exports.formats.base import Column, ColumnWriter, build_tree
from app.exports.formats.csv_writer import UTF8_BOM, cell_formatter
from app.exports.formats.json_writer import JsonArray, json_object
from app.exports.pg_copy import copy_lines, copy_statement, csv_lines
from app.exports.resources import RESOURCES
from app.exports.source import (
    batches as read_batches,
)
from app.exports.source import (
    build_source_query,
    columns,
    reading_for,
    record_keys,
    records,
    to_record,
)
from app.models import Organization, Transaction

from .sample import FIELDS

# --- the reference: the plain path ----------------------------------------------------------


class PlainCsv:
    def __init__(self, fields: Sequence[Field], *, excel: bool = False) -> None:
        self._fields = tuple(fields)
        self._cells = [(f.path, cell_formatter(f)) for f in fields]
        self._preamble = UTF8_BOM if excel else b""

    def header(self) -> bytes:
        return self._preamble + self._lines([[f.path for f in self._fields]])

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._lines([[cell(r.get(path)) for path, cell in self._cells] for r in batch])

    def footer(self) -> bytes:
        return b""

    @staticmethod
    def _lines(rows: Sequence[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        return buffer.getvalue().encode("utf-8", "replace")


class PlainJson:
    def __init__(self, fields: Sequence[Field]) -> None:
        self._render = json_object(build_tree(fields))
        self._array = JsonArray("[", "]")

    def header(self) -> bytes:
        return self._array.header()

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._array.items([self._render(record) for record in batch])

    def footer(self) -> bytes:
        return self._array.footer()


def plain(fmt: str, fields: Sequence[Field]) -> PlainCsv | PlainJson:
    return PlainJson(fields) if fmt == "json" else PlainCsv(fields, excel=fmt == "excel")


def fast(fmt: str, fields: Sequence[Field]) -> ColumnWriter:
    name, dialect = ("csv", "excel") if fmt == "excel" else (fmt, None)
    writer = make_writer(
        name, fields=fields, resource="transactions", title="t", csv_dialect=dialect
    )  # type: ignore[arg-type]
    assert isinstance(writer, ColumnWriter)
    return writer


# --- adversarial values ---------------------------------------------------------------------

TEXTS: tuple[str | None, ...] = (
    "plain",
    "",
    None,
    "=1+2",
    "+44 20",
    "-minus",
    "@SUM(A1)",
    "\tlead tab",
    "\rlead cr",
    "mid=dle - and + @",
    'quote " inside',
    "comma, inside",
    "line\nbreak",
    "crlf\r\nbreak",
    " lead space",
    "Кириллица ёж",
    "中文 日本語 😀",
    "'already quoted",
    "x" * 3000,
    "trailing\n",
    "back\\slash",
    "literal \\u0000 escape",
    "control \x1f\x08\x0c",
)
WRITER_ONLY = ("nul\x00inside", "\x00=after nul", "lone \ud800 surrogate")
MONEY: tuple[int, ...] = (0, 1, -1, 5, -5, 99, -99, 100, -100, 123456, -123456, 2**63 - 1, -(2**63))
TIMES: tuple[datetime | None, ...] = (
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=UTC),
    None,
)


def value(field: Field, rng: random.Random, texts: Sequence[str | None]) -> object:
    if field.kind is Kind.STRING:
        return rng.choice(texts)
    if field.kind is Kind.MONEY:
        return rng.choice(
            (None, Decimal("10.50"), Decimal("-0.004"), Decimal("12345678901234.999"))
        )
    if field.kind is Kind.DATETIME:
        return rng.choice(TIMES)
    if field.kind is Kind.INTEGER:
        return rng.choice((None, 0, -7, 10**30))
    if field.kind is Kind.BOOLEAN:
        return rng.choice((None, True, False))
    raise AssertionError(field.kind)


def record_batches(fields: Sequence[Field], seed: int) -> list[list[dict[str, object]]]:
    """Batches of every size that matters; some wholly plain, so the join shortcut is taken."""
    rng = random.Random(seed)
    texts = TEXTS + WRITER_ONLY
    batches = []
    for size in (1, 2, 7, 50, 300):
        batches.append([{f.path: value(f, rng, texts) for f in fields} for _ in range(size)])
    clean = ("plain", "a-b", "x=y", "😀")
    for size in (1, 40):
        batches.append([{f.path: value(f, rng, clean) for f in fields} for _ in range(size)])
    return batches


def write_all(writer: Any, batches: Sequence[Any], method: str = "rows") -> bytes:
    return writer.header() + b"".join(getattr(writer, method)(b) for b in batches) + writer.footer()


FORMATS = ("csv", "excel", "json")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("seed", range(3))
def test_rows_equal_the_plain_path(fmt: str, seed: int) -> None:
    batches = record_batches(FIELDS, seed)
    assert write_all(fast(fmt, FIELDS), batches) == write_all(plain(fmt, FIELDS), batches)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("count", [1, 2])
def test_one_or_two_string_columns(fmt: str, count: int) -> None:
    """One column: an empty cell alone on its line is `""` (the csv module's rule)."""
    fields = [Field(f"c{n}", Kind.STRING, f"c{n}") for n in range(count)]
    alone = [[{f.path: t for f in fields}] for t in TEXTS + WRITER_ONLY]  # each its own batch
    batches = [*alone, [{f.path: t for f in fields} for t in TEXTS + WRITER_ONLY], [{"c0": ""}]]
    batches += [[{"c0": "a"}, {"c0": ""}], [{"c0": None}], []]
    assert write_all(fast(fmt, fields), batches) == write_all(plain(fmt, fields), batches)


@pytest.mark.parametrize("fmt", FORMATS)
def test_rendered_columns_equal_the_plain_path(fmt: str) -> None:
    """Money and date-times handed over already rendered, as the source makes them."""
    fields = [
        Field("amount", Kind.MONEY, "amount"),
        Field("at", Kind.DATETIME, "at"),
        Field("note", Kind.STRING, "note"),
    ]
    rows = [(cents, at, note) for cents in MONEY for at in TIMES for note in ("x", None, "=y")]
    batch = [{"amount": Decimal(c).scaleb(-2), "at": at, "note": n} for c, at, n in rows]
    rendered = [
        Column([fast_money(c) for c, _, _ in rows], rendered=True),
        Column(
            [None if at is None else at.isoformat()[:19] + "Z" for _, at, _ in rows], rendered=True
        ),
        Column([n for _, _, n in rows]),
    ]
    writer = fast(fmt, fields)
    ours = writer.header() + writer.columns(rendered) + writer.footer()
    assert ours == write_all(plain(fmt, fields), [batch])


def fast_money(cents: int) -> str:
    sign, whole = ("-" if cents < 0 else ""), abs(cents)
    return f"{sign}{whole // 100}.{whole % 100:02d}"


# --- through the database: the source's columns against SQLAlchemy's records ---------------

ORG = "org_bytes"
TRANSACTIONS = RESOURCES["transactions"]
ALL_FIELDS = list(TRANSACTIONS.fields)


def transaction_rows(count: int, seed: int) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    texts = [t for t in TEXTS if t is not None and len(t) <= 20]  # the columns' lengths
    short = [t for t in TEXTS if t is None or len(t) <= 20]
    for n in range(count):
        created = rng.choice([t for t in TIMES if t is not None])
        yield {
            "organization_id": ORG,
            "id": f"txn_{n:05d}" if n % 7 else f"={n}",
            "customer_id": rng.choice(texts),
            "invoice_id": rng.choice(short),
            "type": rng.choice(texts),
            "status": rng.choice(("completed", "-1", "@x")),
            "result": "approved",
            "amount": rng.choice(MONEY),
            "currency": rng.choice(("USD", "EUR", "+1")),
            "gateway_name": rng.choice(texts),
            "payment_method": rng.choice(texts),
            "billing_first_name": rng.choice(short),
            "billing_last_name": rng.choice(short),
            "billing_country": rng.choice(("US", None, "")),
            "description": rng.choice(TEXTS),
            "processed_time": rng.choice(TIMES),
            "created_time": created,
            "updated_time": rng.choice([t for t in TIMES if t is not None]),
        }


def transactions_query(fields: Sequence[Field]) -> Select[Any]:
    """The source query of an export of ORG's transactions: every row, no range or filter."""
    return build_source_query(
        resource=TRANSACTIONS,
        organization_id=ORG,
        fields=fields,
        arguments={},
        date_range=None,
        now=datetime.now(UTC),
    )


async def read_three(
    url: str, fields: Sequence[Field], fmt: str, size: int
) -> tuple[bytes, bytes, bytes]:
    """One export of the table three ways: the plain path; the column path; the driver's
    values made records (what the writers without a column path get)."""
    engine = make_engine(url)
    stmt = transactions_query(fields)
    keys = record_keys(fields)
    money = tuple(f.path for f in fields if f.kind is Kind.MONEY)
    try:
        async with engine.connect() as connection:
            reference = plain(fmt, fields)
            expected = reference.header()
            result = await connection.stream(stmt.execution_options(yield_per=size))
            async for partition in result.partitions(size):
                expected += reference.rows([to_record(row, keys, money) for row in partition])
            expected += reference.footer()

            by_column, by_record = fast(fmt, fields), fast(fmt, fields)
            reading = reading_for(stmt, fields, connection.dialect)
            got, again = by_column.header(), by_record.header()
            async for partition in read_batches(
                connection, reading.statement, size
            ):  # as the worker
                got += by_column.columns(columns(reading, partition, len(fields)))
                again += by_record.rows(records(reading, partition))
            got += by_column.footer()
            again += by_record.footer()
    finally:
        await engine.dispose()
    return expected, got, again


async def seed_transactions(url: str, count: int, seed: int) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Organization).values(id=ORG, name="bytes", created_time=TIMES[0])
            )
            await connection.execute(insert(Transaction), list(transaction_rows(count, seed)))
            if is_sqlite(url):  # stored as other programs write them: the general path
                for n, stored in enumerate(
                    ("2026-02-03", "2026-02-03 04:05", "2026-02-03T04:05:06.5+02:00")
                ):
                    await connection.execute(
                        update(Transaction)
                        .where(Transaction.id == f"txn_{n + 1:05d}")
                        .values(created_time=text(f"'{stored}'"))
                    )
    finally:
        await engine.dispose()


@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_database_read_by_column_equals_the_plain_path(
    database_url: str, fmt: str
) -> None:
    await seed_transactions(database_url, 400, seed=11)
    for fields, size in ((ALL_FIELDS, 64), (ALL_FIELDS[:1], 400), (ALL_FIELDS[6:8], 1)):
        expected, by_column, by_record = await read_three(database_url, fields, fmt, size)
        assert expected.count(b"\n") > 400
        assert by_column == expected
        assert by_record == expected


async def read_copied(url: str, fields: Sequence[Field], fmt: str) -> bytes | None:
    """The export as the worker writes a csv on PostgreSQL (app/exports/pg_copy.py): the
    lines the server renders; None where that path is not taken (SQLite)."""
    engine = make_engine(url)
    stmt = transactions_query(fields)
    writer = fast(fmt, fields)
    chunks: list[bytes] = []
    sizes: list[int] = []

    async def sink(chunk: bytes, rows: int) -> None:
        assert chunk.count(b"\r\n") >= rows  # whole lines (and line breaks in cells)
        chunks.append(chunk)
        sizes.append(rows)

    try:
        async with engine.connect() as connection:
            copying = copy_statement(stmt, fields, connection.dialect)
            if copying is None:
                return None
            await copy_lines(connection, copying, [f.kind for f in fields], sink, 64)
    finally:
        await engine.dispose()
    body = b"".join(chunks)
    assert sizes == [64] * 6 + [16]  # every row counted once, line breaks in cells or not
    return writer.header() + body + writer.footer()


@pytest.mark.parametrize("fmt", ["csv", "excel"])
async def test_the_csv_postgresql_renders_equals_the_plain_path(
    database_url: str, fmt: str
) -> None:
    await seed_transactions(database_url, 400, seed=12)
    for fields in (ALL_FIELDS, ALL_FIELDS[:1], ALL_FIELDS[1:2], ALL_FIELDS[6:8]):
        expected, _, _ = await read_three(database_url, fields, fmt, 400)
        copied = await read_copied(database_url, fields, fmt)
        if is_sqlite(database_url) or len(fields) == 1:
            assert copied is None  # SQLite, or a lone field: the column path
        else:
            assert copied == expected


def test_a_batch_with_nothing_to_quote_is_transformed_in_bulk() -> None:
    """The bulk replaces give the csv module's bytes, and anything to quote or neutralise
    (a cell's escaped tab or line break included) takes the csv module's way."""
    kinds = [Kind.STRING, Kind.MONEY, Kind.DATETIME]
    clean = b"a b\t-0.05\t2026-01-02T03:04:05Z\tf\nf\t0.00\t\tf\n"
    assert csv_lines(clean, kinds) == b"a b,-0.05,2026-01-02T03:04:05Z\r\nf,0.00,\r\n"
    for cell, flag, shown in (
        (b"=1", b"t", "'=1"),
        (b"-x", b"t", "'-x"),
        (b"\\tab", b"f", "'\tab"),
        (b"a,b", b"f", "a,b"),
        (b'say "hi"', b"f", 'say "hi"'),
        (b"line\\nbreak", b"f", "line\nbreak"),
        (b"back\\\\slash", b"f", "back\\slash"),
    ):
        rows = clean + cell + b"\t-1.00\t\t" + flag + b"\n"
        expected = io.StringIO()
        csv.writer(expected, lineterminator="\r\n").writerows(
            [["a b", "-0.05", "2026-01-02T03:04:05Z"], ["f", "0.00", ""], [shown, "-1.00", ""]]
        )
        assert csv_lines(rows, kinds) == expected.getvalue().encode()


async def test_batches_read_what_sqlalchemy_streams_and_fail_as_it_does(database_url: str) -> None:
    """The worker's reading (on SQLite straight from the driver's cursor): the rows
    SQLAlchemy's stream gives, `size` at a time; left early, the connection is free again;
    a failing statement raises SQLAlchemy's error (the worker's `source-query-failed`)."""
    await seed_transactions(database_url, 130, seed=13)
    stmt = transactions_query(ALL_FIELDS)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            reading = reading_for(stmt, ALL_FIELDS, connection.dialect)
            streamed = (await connection.execute(reading.statement)).all()
            got = [list(b) async for b in read_batches(connection, reading.statement, 50)]
            assert [len(b) for b in got] == [50, 50, 30]
            assert [tuple(r) for b in got for r in b] == [tuple(r) for r in streamed]
            assert len({r[0] for r in streamed}) == 130  # one organization's rows, each once

            async with contextlib.aclosing(
                read_batches(connection, reading.statement, 50)
            ) as partial:
                assert len(await anext(partial)) == 50
            assert await connection.scalar(text("SELECT 1")) == 1  # the cursor was closed

            broken = reading.statement.where(text("no_such_column = 1"))
            with pytest.raises(DatabaseError):
                async for _ in read_batches(connection, broken, 50):
                    pass
    finally:
        await engine.dispose()
