"""Shared fixture data: fields of every Kind (nested paths included) and nasty values.

Every value is paired, by hand, with what the spec says it must read as, so the format tests
compare against these expectations and never against the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from app.exports.fields import Field, Kind


@dataclass(frozen=True)
class Cell:
    """A value as the core hands it over, its text rendering, and its parsed-JSON form."""

    value: object
    text: str | None
    json: object


def _same(text: str | None) -> Cell:
    return Cell(text, text, text)


FIELDS: tuple[Field, ...] = (
    Field("id", Kind.STRING, "id"),
    # A nested group whose members are not adjacent: it must sit where its first field sits.
    Field("billingAddress/firstName", Kind.STRING, "billing_first_name"),
    Field("amount", Kind.MONEY, "amount"),
    Field("description", Kind.STRING, "description"),
    Field("quantity", Kind.INTEGER, "quantity"),
    Field("isEddRequired", Kind.BOOLEAN, "is_edd_required"),
    Field("createdTime", Kind.DATETIME, "created_time"),
    Field("billingAddress/country", Kind.STRING, "billing_country"),
    Field("lifetimeRevenue/amount", Kind.MONEY, "lifetime_revenue_amount"),
    Field("lifetimeRevenue/currency", Kind.STRING, "lifetime_revenue_currency"),
)
PATHS = [field.path for field in FIELDS]

NASTY_TEXT: tuple[str | None, ...] = (
    "plain",
    "emoji 😀🎉 done",
    "Кириллица и ёж",
    "中文字符 日本語",
    'quote " and ""double""',
    "comma, here",
    "new\nline",
    "crlf\r\nline",
    "<tag attr='x'>&amp;</tag> & < >",
    "=SUM(A1:A2)",
    "+1 555 0100",
    "-42",
    "@cmd",
    "\tleading tab",
    "\rleading cr",
    "ctrl \x00\x01\x08\x0b\x0c\x1f\x7f end",
    "",
    None,
    "  padded  ",
    "a=b-c+d@e",
)

AMOUNTS = (
    Cell(Decimal("10.5"), "10.50", Decimal("10.50")),
    Cell(Decimal("-1234.50"), "-1234.50", Decimal("-1234.50")),
    Cell(Decimal("0"), "0.00", Decimal("0.00")),
    Cell(Decimal("7"), "7.00", Decimal("7.00")),
    Cell(Decimal("-0.01"), "-0.01", Decimal("-0.01")),
    Cell(Decimal("99999999999.99"), "99999999999.99", Decimal("99999999999.99")),
    Cell(None, None, None),
)
QUANTITIES = (
    Cell(1, "1", 1),
    Cell(-3, "-3", -3),
    Cell(0, "0", 0),
    Cell(2**40, "1099511627776", 2**40),
    Cell(None, None, None),
)
BOOLEANS = (Cell(True, "true", True), Cell(False, "false", False), Cell(None, None, None))
TIMES = (
    # Microseconds are cut, not rounded; other zones are converted to UTC.
    Cell(
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        "2024-02-29T23:59:59Z",
        "2024-02-29T23:59:59Z",
    ),
    Cell(
        datetime(2024, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),
        "2024-02-29T23:30:00Z",
        "2024-02-29T23:30:00Z",
    ),
    Cell(datetime(1999, 12, 31, tzinfo=UTC), "1999-12-31T00:00:00Z", "1999-12-31T00:00:00Z"),
    Cell(None, None, None),
)
COUNTRIES = (_same("US"), _same("DE"), _same(None), _same("ÅLAND"))
CURRENCIES = (_same("USD"), _same("EUR"), _same(None))


def expected_rows(count: int = len(NASTY_TEXT)) -> list[dict[str, Cell]]:
    """Row i cycles through every column's values, so each value meets every other kind."""
    rows: list[dict[str, Cell]] = []
    for i in range(count):
        rows.append(
            {
                "id": _same(f"rec-{i:04d}"),
                "billingAddress/firstName": _same(NASTY_TEXT[(i + 7) % len(NASTY_TEXT)]),
                "amount": AMOUNTS[i % len(AMOUNTS)],
                "description": _same(NASTY_TEXT[i % len(NASTY_TEXT)]),
                "quantity": QUANTITIES[i % len(QUANTITIES)],
                "isEddRequired": BOOLEANS[i % len(BOOLEANS)],
                "createdTime": TIMES[i % len(TIMES)],
                "billingAddress/country": COUNTRIES[i % len(COUNTRIES)],
                "lifetimeRevenue/amount": AMOUNTS[(i + 3) % len(AMOUNTS)],
                "lifetimeRevenue/currency": CURRENCIES[i % len(CURRENCIES)],
            }
        )
    return rows


def records(rows: Sequence[Mapping[str, Cell]]) -> list[dict[str, object]]:
    """The records a writer receives for `rows`."""
    return [{path: cell.value for path, cell in row.items()} for row in rows]


def batches(items: Sequence[dict[str, object]], *sizes: int) -> Iterator[list[dict[str, object]]]:
    """Split `items` into consecutive batches of the given sizes (zeros allowed), then the rest."""
    start = 0
    for size in sizes:
        yield list(items[start : start + size])
        start += size
    yield list(items[start:])


def nest(flat: Mapping[str, object]) -> dict[str, object]:
    """`{"a/b": 1}` -> `{"a": {"b": 1}}`, the shape json and xml must produce."""
    tree: dict[str, object] = {}
    for path, value in flat.items():
        *groups, leaf = path.split("/")
        level = tree
        for name in groups:
            child = level.setdefault(name, {})
            assert isinstance(child, dict)
            level = child
        level[leaf] = value
    return tree
