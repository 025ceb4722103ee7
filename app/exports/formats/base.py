"""The writer contract, the format registry and the value rendering every format shares.

Keeping value rendering in one place is what makes the formats agree with each other: a
datetime or a money amount reads the same in a CSV cell, a JSON number, an XML element and a
PDF table cell (spec §7).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from app.exports.fields import Field, Kind
from app.timefmt import isoz

if TYPE_CHECKING:  # the format modules import this one
    from app.exports.formats.csv_writer import CsvDialect

Record = Mapping[str, object]
"""One exported row: field path (`billingAddress/country`) -> str | int | bool | Decimal |
aware UTC datetime | None. A path missing from the mapping is exported as None."""

FORMATS: tuple[str, ...] = ("csv", "json", "json-api", "xml", "pdf")

_CENT = Decimal("0.01")
# Wide enough that quantizing any realistic amount never raises InvalidOperation.
_MONEY_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)


class FormatWriter(Protocol):
    """Turns record batches into file bytes: `header() + rows(b1) + rows(b2) + ... + footer()`.

    Writers other than pdf return only the bytes of the current call, so an export of any
    size runs in constant memory; the caller owns the file.
    """

    content_type: str
    extension: str

    def header(self) -> bytes: ...

    def rows(self, batch: Sequence[Record]) -> bytes: ...

    def footer(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Column:
    """One field's values in a batch, a column at a time (what `ColumnWriter.columns` takes).

    `rendered` columns hold each value's `text_value` already (None stays None): the source
    renders money and date-times in bulk from what the database returns, which is far cheaper
    than making a Decimal or a datetime per cell only to print it.
    """

    values: Sequence[object]
    rendered: bool = False


@runtime_checkable
class ColumnWriter(FormatWriter, Protocol):
    """A writer that also takes a batch as columns, in field order: the fast path of an export.

    `columns(batch)` returns exactly the bytes `rows` would for the same records.
    """

    def columns(self, batch: Sequence[Column]) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Period:
    """A resolved `dateRange`: `start <= field < end`, both aware UTC."""

    field: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class About:
    """What a reader of a printed export needs to know about it (the PDF's page header).

    The other formats are read by programs, which get this from the API instead.
    """

    name: str
    resource: str
    generated: datetime
    period: Period | None = None
    filter: str = ""
    search: str = ""
    sort: str = ""


def make_writer(
    fmt: str,
    *,
    fields: Sequence[Field],
    resource: str,
    title: str,
    about: About | None = None,
    csv_dialect: CsvDialect | None = None,
) -> FormatWriter:
    """Build a fresh (single-use, stateful) writer for one export file.

    `about` feeds the PDF's page header; without it the header names only `title`.
    `csv_dialect` (`excel` or the default `rfc4180`) applies to csv only and is ignored
    otherwise: validation refuses it with another format before a writer is ever made.

    Raises ValueError for an unknown format or an unusable field list, before any byte is
    written, so a bad request fails at once rather than half way through a file.
    """
    # Imported here because the format modules import this one; the PDF's only for a PDF
    # (reportlab takes a tenth of a second to import).
    from app.exports.formats.csv_writer import CsvWriter
    from app.exports.formats.json_writer import JsonWriter
    from app.exports.formats.jsonapi import JsonApiWriter
    from app.exports.formats.xml_writer import XmlWriter

    chosen = tuple(fields)
    _check_fields(chosen)
    if fmt == "csv":
        return CsvWriter(chosen, dialect=csv_dialect or "rfc4180")
    if fmt == "json":
        return JsonWriter(chosen)
    if fmt == "json-api":
        return JsonApiWriter(chosen, resource=resource)
    if fmt == "xml":
        return XmlWriter(chosen, resource=resource)
    if fmt == "pdf":
        from app.exports.formats.pdf import PdfWriter

        return PdfWriter(chosen, title=title, about=about)
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _check_fields(fields: Sequence[Field]) -> None:
    if not fields:
        raise ValueError("an export needs at least one field")
    seen: set[str] = set()
    for field in fields:
        if any(not part for part in field.path.split("/")):
            raise ValueError(f"malformed field path {field.path!r}")
        if field.path in seen:
            raise ValueError(f"field {field.path!r} is listed twice")
        seen.add(field.path)
    # Nesting conflicts (`a` next to `a/b`) are caught when the tree is built.
    build_tree(fields)


# --- values ---------------------------------------------------------------------------------


def format_datetime(value: datetime) -> str:
    """The API's one date-time form, shared with REST and GraphQL."""
    return isoz(value)


def format_money(value: Decimal | int) -> str:
    """Exactly two decimals, plain notation, half-up rounding, never `-0.00`."""
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money amount {value!r} is not a finite number")
    cents = amount.quantize(_CENT, context=_MONEY_CONTEXT)
    if cents.is_zero():
        cents = abs(cents)
    return f"{cents:f}"


def format_decimal(value: Decimal) -> str:
    """A non-money decimal in plain notation (no exponent), valid as CSV text and JSON number."""
    if not value.is_finite():
        raise ValueError(f"decimal {value!r} is not a finite number")
    return f"{value:f}"


def text_value(value: object, field: Field) -> str | None:
    """The canonical text of a value (CSV cell, XML text, PDF cell); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        if field.kind is Kind.MONEY:
            return format_money(value)
        return str(value) if isinstance(value, int) else format_decimal(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    raise TypeError(f"field {field.path!r}: cannot export a {type(value).__name__} value")


def json_value(value: object, field: Field) -> str:
    """The JSON text of a value; money and other decimals are bare JSON numbers."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return f'"{format_datetime(value)}"'
    text = text_value(value, field)
    assert text is not None  # None was handled above
    return text


TextFormatter = Callable[[object], str | None]
JsonFormatter = Callable[[object], str]
dump_string: Callable[[str], str] = json.encoder.encode_basestring  # = dumps(ensure_ascii=False)


def text_formatter(field: Field) -> TextFormatter:
    """`text_value` for one field, checking the field's usual type first.

    This runs once per cell of every export, so the common case skips the generic dispatch;
    anything else still goes through `text_value` and its errors.
    """
    kind = field.kind

    def general(value: object) -> str | None:
        return text_value(value, field)

    if kind is Kind.STRING:
        return lambda value: value if type(value) is str else general(value)
    if kind is Kind.DATETIME:
        return lambda value: isoz(value) if type(value) is datetime else general(value)
    if kind is Kind.INTEGER:
        return lambda value: str(value) if type(value) is int else general(value)
    return general


def json_formatter(field: Field) -> JsonFormatter:
    """`json_value` for one field, with the same fast paths as `text_formatter`."""
    kind = field.kind

    def general(value: object) -> str:
        return json_value(value, field)

    if kind is Kind.STRING:
        return lambda value: dump_string(value) if type(value) is str else general(value)
    if kind is Kind.DATETIME:
        return lambda value: f'"{isoz(value)}"' if type(value) is datetime else general(value)
    if kind is Kind.INTEGER:
        return lambda value: str(value) if type(value) is int else general(value)
    return general


def encode(text: str) -> bytes:
    """UTF-8 that cannot fail: a lone surrogate (unencodable) becomes `?`."""
    return text.encode("utf-8", "replace")


# --- nesting --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """One key of a nested record: a leaf holding a field, or a group of child nodes."""

    name: str
    field: Field | None = None
    children: tuple[Node, ...] = ()


def build_tree(fields: Sequence[Field]) -> tuple[Node, ...]:
    """Nest `/` paths; a group sits where its first field sits, so key order = field order."""
    root: dict[str, object] = {}
    for field in fields:
        *groups, leaf = field.path.split("/")
        level = root
        for depth, name in enumerate(groups):
            child = level.setdefault(name, {})
            if not isinstance(child, dict):
                prefix = "/".join(groups[: depth + 1])
                raise ValueError(f"field {field.path!r} nests under field {prefix!r}")
            level = child
        if leaf in level:
            raise ValueError(f"field {field.path!r} clashes with another field")
        level[leaf] = field
    return _freeze(root)


def _freeze(level: dict[str, object]) -> tuple[Node, ...]:
    nodes: list[Node] = []
    for name, item in level.items():
        if isinstance(item, Field):
            nodes.append(Node(name, field=item))
        else:
            assert isinstance(item, dict)  # only a Field or a dict is ever stored
            nodes.append(Node(name, children=_freeze(item)))
    return tuple(nodes)
