"""The registry, field-list checks and the value rendering all formats share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from app.exports.fields import Field, Kind
from app.exports.formats import FORMATS, make_writer
from app.exports.formats.base import format_datetime, format_money, text_value

from .sample import FIELDS

MONEY = Field("amount", Kind.MONEY, "amount")
INTEGER = Field("quantity", Kind.INTEGER, "quantity")


def test_every_listed_format_has_a_writer() -> None:
    assert FORMATS == ("csv", "json", "json-api", "xml", "pdf")
    extensions = {}
    for fmt in FORMATS:
        writer = make_writer(fmt, fields=FIELDS, resource="transactions", title="t")
        extensions[fmt] = writer.extension
        assert writer.content_type
    assert extensions == {
        "csv": "csv",
        "json": "json",
        "json-api": "json",
        "xml": "xml",
        "pdf": "pdf",
    }


def test_writers_are_independent_instances() -> None:
    one = make_writer("json", fields=FIELDS, resource="transactions", title="t")
    two = make_writer("json", fields=FIELDS, resource="transactions", title="t")
    one.rows([{"id": "a"}])
    assert two.rows([{"id": "b"}]).startswith(b"\n{")


@pytest.mark.parametrize("fmt", ["CSV", "jsonapi", "xlsx", ""])
def test_unknown_format_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        make_writer(fmt, fields=FIELDS, resource="transactions", title="t")


@pytest.mark.parametrize(
    "paths",
    [
        [],
        ["id", "id"],
        ["billingAddress", "billingAddress/country"],
        ["billingAddress/country", "billingAddress"],
        ["a/b/c", "a/b"],
        ["a//b"],
        ["/a"],
        ["a/"],
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_unusable_field_lists_are_refused_up_front(fmt: str, paths: list[str]) -> None:
    fields = [Field(path, Kind.STRING, "c") for path in paths]
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make_writer(fmt, fields=fields, resource="transactions", title="t")


def test_datetimes_are_utc_whole_seconds() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    assert format_datetime(datetime(2024, 1, 1, 5, 29, 59, 999999, tzinfo=east)) == (
        "2023-12-31T23:59:59Z"
    )
    assert format_datetime(datetime(987, 6, 5, 4, 3, 2, tzinfo=UTC)) == "0987-06-05T04:03:02Z"
    assert format_datetime(datetime(2024, 7, 1, 12, 0)) == "2024-07-01T12:00:00Z"  # naive = UTC


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("10.5"), "10.50"),
        (Decimal("10"), "10.00"),
        (Decimal("-0.5"), "-0.50"),
        (Decimal("1.005"), "1.01"),  # half up
        (Decimal("-1.005"), "-1.01"),
        (Decimal("-0.001"), "0.00"),  # never -0.00
        (Decimal("-0"), "0.00"),
        (Decimal("1E+3"), "1000.00"),  # never an exponent
        (Decimal("123456789012345678901234567890.1"), "123456789012345678901234567890.10"),
        (12, "12.00"),
    ],
)
def test_money_has_exactly_two_decimals(amount: Decimal | int, text: str) -> None:
    assert format_money(amount) == text
    assert text_value(amount, MONEY) == text


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_money_that_is_not_a_number_is_refused(amount: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_money(amount)


def test_text_values() -> None:
    assert text_value(True, INTEGER) == "true"  # a bool is not rendered as 1
    assert text_value(False, MONEY) == "false"
    assert text_value(-7, INTEGER) == "-7"
    assert text_value(Decimal("2.50"), INTEGER) == "2.50"
    assert text_value(Decimal("5E+2"), INTEGER) == "500"
    assert text_value(None, MONEY) is None
    assert text_value("", MONEY) == ""


@pytest.mark.parametrize("value", [1.5, date(2024, 1, 1), b"bytes", ["list"], object()])
def test_values_outside_the_contract_are_refused(value: object) -> None:
    with pytest.raises(TypeError, match="amount"):
        text_value(value, MONEY)
    writer = make_writer("json", fields=[MONEY], resource="transactions", title="t")
    with pytest.raises(TypeError):
        writer.rows([{"amount": value}])
