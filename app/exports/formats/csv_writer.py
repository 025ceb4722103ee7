"""CSV (RFC 4180): CRLF rows, minimal quoting, UTF-8 without BOM, a header row of field paths.

Named `csv_writer` so the package never shadows the stdlib `csv` module it relies on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from app.exports.fields import Field, Kind
from app.exports.formats.base import Record, encode, text_value

# What makes a spreadsheet read a cell as a formula (spec §7).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Prefix `'` to text a spreadsheet would run as a formula; other text is untouched."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class CsvWriter:
    """Each call formats only its own rows, so memory does not grow with the export."""

    content_type = "text/csv; charset=utf-8"
    extension = "csv"

    def __init__(self, fields: Sequence[Field]) -> None:
        self._fields = tuple(fields)

    def header(self) -> bytes:
        return self._lines([[field.path for field in self._fields]])

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._lines([self._cells(record) for record in batch]) if batch else b""

    def footer(self) -> bytes:
        return b""

    def _cells(self, record: Record) -> list[str]:
        cells: list[str] = []
        for field in self._fields:
            value = record.get(field.path)
            text = text_value(value, field)
            if text is None:
                cells.append("")
            elif field.kind is Kind.STRING and isinstance(value, str):
                # Only text is neutralised: numbers, negatives included, must stay numbers.
                cells.append(neutralise(text))
            else:
                cells.append(text)
        return cells

    @staticmethod
    def _lines(rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        return encode(buffer.getvalue())
