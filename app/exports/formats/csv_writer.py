"""CSV (RFC 4180): CRLF rows, minimal quoting, UTF-8 without BOM, a header row of field paths.

The `excel` dialect is the same bytes after a UTF-8 byte-order mark: Excel on Windows reads a
CSV without one in the machine's legacy code page, which mangles Cyrillic, Greek and CJK text;
with it, it reads UTF-8. Rows already end in CRLF, which is what Excel wants.

Named `csv_writer` so the package never shadows the stdlib `csv` module it relies on.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, cast

from app.exports.fields import Field, Kind
from app.exports.formats.base import Column, Record, encode, text_formatter

CsvDialect = Literal["rfc4180", "excel"]
CSV_DIALECTS: Final[tuple[CsvDialect, ...]] = ("rfc4180", "excel")
"""`rfc4180` (the default) is the plain file; `excel` starts it with a UTF-8 byte-order mark."""
UTF8_BOM: Final = b"\xef\xbb\xbf"

# What makes a spreadsheet read a cell as a formula (spec §7).
_FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))
# The same starts after a NUL, in a column joined with NULs: with the first cell checked apart,
# one C scan for a NUL finds whether any cell needs neutralising (a NUL inside a cell can only
# raise a false alarm).
_NEXT_FORMULA = re.compile("\x00[=+\\-@\t\r]")


def neutralise(text: str) -> str:
    """Prefix `'` to text a spreadsheet would run as a formula; other text is untouched."""
    return "'" + text if text[:1] in _FORMULA_STARTS else text


CellFormatter = Callable[[object], str]


def cell_formatter(field: Field) -> CellFormatter:
    """The CSV cell of one field's value: empty for None; text neutralised, numbers plain."""
    text = text_formatter(field)
    if field.kind is Kind.STRING:
        # Only text is neutralised: numbers, negatives included, must stay numbers.
        def string_cell(value: object) -> str:
            if value is None:
                return ""
            if type(value) is str:  # neutralise(), inlined: this runs for every text cell
                return "'" + value if value[:1] in _FORMULA_STARTS else value
            if isinstance(value, str):  # a str subclass is still text
                return neutralise(str(value))
            return text(value) or ""

        return string_cell
    return lambda value: "" if value is None else (text(value) or "")


class CsvWriter:
    """Each call formats only its own rows, so memory does not grow with the export."""

    content_type = "text/csv; charset=utf-8"
    extension = "csv"

    def __init__(self, fields: Sequence[Field], *, dialect: CsvDialect = "rfc4180") -> None:
        if dialect not in CSV_DIALECTS:
            raise ValueError(f"unknown CSV dialect {dialect!r}")
        self._fields = tuple(fields)
        self._columns = tuple((field.path, cell_formatter(field)) for field in self._fields)
        self._preamble = UTF8_BOM if dialect == "excel" else b""

    def header(self) -> bytes:
        return self._preamble + self._lines([[field.path for field in self._fields]])

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self.columns([Column([r.get(path) for r in batch]) for path, _ in self._columns])

    def columns(self, batch: Sequence[Column]) -> bytes:
        """`rows` for a batch given as columns (the worker's path), the same bytes.

        Most batches need no quoting at all: their lines are then plain joins. A column whose
        cells were checked on the way (text, scanned for a quote, comma, CR or LF) or cannot
        hold one (rendered money and date-times) needs no check of the lines; otherwise the
        lines are checked in bulk (no quote, CR or LF in any cell, one comma per column gap).
        Any other batch goes through the csv module with the cells already made.
        """
        made = [
            _column_cells(column, cell, field.kind)
            for column, field, (_, cell) in zip(batch, self._fields, self._columns, strict=True)
        ]
        cells = [texts for texts, _ in made]
        count = len(cells[0])
        if not count:
            return b""
        if len(cells) > 1:  # a lone empty cell is written `""`: the csv module knows
            body = "\r\n".join(map(",".join, zip(*cells, strict=True)))
            if all(plain for _, plain in made) or (
                '"' not in body
                and body.count(",") == count * (len(cells) - 1)
                and body.count("\n") == count - 1
                and body.count("\r") == count - 1
            ):
                return encode(body + "\r\n")
        return self._lines(list(zip(*cells, strict=True)))

    def footer(self) -> bytes:
        return b""

    @staticmethod
    def _lines(rows: Sequence[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        return encode(buffer.getvalue())


# What makes the csv module quote a cell (minimal quoting, `,` delimiter, CRLF lines).
_QUOTED = ('"', ",", "\n", "\r")
# Rendered cells of these kinds are digits, `-`, `.`, `:`, `T` and `Z`: nothing to quote.
_PLAIN_RENDERED = frozenset((Kind.MONEY, Kind.DATETIME))


def _column_cells(column: Column, cell: CellFormatter, kind: Kind) -> tuple[Sequence[str], bool]:
    """A column's cells, as `cell` would make them one by one, in bulk where it can; and True
    when none of them needs quoting (False: not known)."""
    values = cast(Sequence[Any], column.values)
    if column.rendered:  # money and date-times: never neutralised
        texts = ["" if v is None else v for v in values] if None in values else values
        return texts, kind in _PLAIN_RENDERED
    if kind is not Kind.STRING:
        return list(map(cell, values)), False
    texts = values
    try:
        joined = "\x00".join(texts)  # fails on a NULL: then made "" and tried again
    except TypeError:
        texts = ["" if v is None else v for v in values]
        try:
            joined = "\x00".join(texts)
        except TypeError:  # not all text
            return list(map(cell, values)), False
    if joined[:1] in _FORMULA_STARTS or _NEXT_FORMULA.search(joined) is not None:
        return list(map(cell, values)), False
    return texts, not any(mark in joined for mark in _QUOTED)
