"""CSV (RFC 4180): CRLF rows, minimal quoting, UTF-8 without BOM, a header row of field paths.

The `excel` dialect is the same bytes after a UTF-8 byte-order mark: Excel on Windows reads a
CSV without one in the machine's legacy code page, which mangles Cyrillic, Greek and CJK text;
with it, it reads UTF-8. Rows already end in CRLF, which is what Excel wants.

Named `csv_writer` so the package never shadows the stdlib `csv` module it relies on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Final, Literal

from app.exports.fields import Field, Kind
from app.exports.formats.base import Record, encode, text_formatter

CsvDialect = Literal["rfc4180", "excel"]
CSV_DIALECTS: Final[tuple[CsvDialect, ...]] = ("rfc4180", "excel")
"""`rfc4180` (the default) is the plain file; `excel` starts it with a UTF-8 byte-order mark."""
UTF8_BOM: Final = b"\xef\xbb\xbf"

# What makes a spreadsheet read a cell as a formula (spec §7).
_FORMULA_STARTS = frozenset(("=", "+", "-", "@", "\t", "\r"))


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
        if not batch:
            return b""
        # Column by column: one formatter mapped over a column keeps the per-cell work in C.
        columns = [list(map(cell, (r.get(path) for r in batch))) for path, cell in self._columns]
        return self._lines(list(zip(*columns, strict=True)))

    def footer(self) -> bytes:
        return b""

    @staticmethod
    def _lines(rows: Sequence[Sequence[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        return encode(buffer.getvalue())
