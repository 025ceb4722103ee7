"""json and json-api read back with the stdlib json module; money checked in the raw text."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from app.exports.fields import Field, Kind
from app.exports.formats import Record, make_writer

from .sample import FIELDS, PATHS, batches, expected_rows, nest, records

MONEY_PATHS = [field.path for field in FIELDS if field.kind is Kind.MONEY]


def write(
    fmt: str,
    batches_: Sequence[Sequence[Record]],
    fields: Sequence[Field] = FIELDS,
    resource: str = "transactions",
) -> bytes:
    writer = make_writer(fmt, fields=fields, resource=resource, title="t")
    return writer.header() + b"".join(writer.rows(b) for b in batches_) + writer.footer()


def load(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"), parse_float=Decimal)


def key_order(value: object) -> object:
    """Keys in document order, recursively, to check ordering (dict equality ignores it)."""
    if isinstance(value, dict):
        return [(key, key_order(item)) for key, item in value.items()]
    return None


# --- json -----------------------------------------------------------------------------------


def test_json_round_trip_nested_in_field_order() -> None:
    rows = expected_rows()
    parsed = load(write("json", [records(rows)]))

    expected = [nest({path: row[path].json for path in PATHS}) for row in rows]
    assert parsed == expected
    assert isinstance(parsed, list)
    assert [key_order(item) for item in parsed] == [key_order(item) for item in expected]
    first = parsed[0]
    assert list(first) == [
        "id",
        "billingAddress",
        "amount",
        "description",
        "quantity",
        "isEddRequired",
        "createdTime",
        "lifetimeRevenue",
    ]
    assert list(first["billingAddress"]) == ["firstName", "country"]


def test_json_types_booleans_null_integers() -> None:
    fields = [
        Field("flag", Kind.BOOLEAN, "flag"),
        Field("count", Kind.INTEGER, "count"),
        Field("when", Kind.DATETIME, "when"),
        Field("gone", Kind.STRING, "gone"),
    ]
    parsed = json.loads(write("json", [[{"flag": False, "count": -2, "when": None}]], fields))
    assert parsed == [{"flag": False, "count": -2, "when": None, "gone": None}]
    assert type(parsed[0]["count"]) is int


def test_json_money_is_a_number_with_two_decimals_in_the_raw_text() -> None:
    rows = expected_rows()
    text = write("json", [records(rows)]).decode()

    written = re.findall(r'"amount":(null|-?[0-9][0-9.eE+-]*)', text)
    wanted = [row[path].text or "null" for row in rows for path in MONEY_PATHS]
    assert written == wanted
    assert '"amount":-1234.50' in text
    assert '"amount":10.50,' in text
    for token in written:
        assert token == "null" or re.fullmatch(r"-?\d+\.\d\d", token)


def test_json_strings_survive_control_characters_and_unicode() -> None:
    fields = [Field("note", Kind.STRING, "note")]
    nasty = 'ctrl \x00\x1f\x7f " \\ / \u2028 😀 Ж 中'
    data = write("json", [[{"note": nasty}]], fields)
    assert json.loads(data) == [{"note": nasty}]
    assert "😀 Ж 中".encode() in data  # UTF-8, not \u escapes


def test_json_streams_across_batches_with_empty_ones() -> None:
    items = records(expected_rows())
    whole = write("json", [items])
    streamed = write("json", list(batches(items, 0, 0, 1, 0, 5, 2, 0)))
    assert streamed == whole
    assert load(streamed) == load(whole)


def test_json_each_call_returns_only_its_own_objects() -> None:
    writer = make_writer("json", fields=FIELDS, resource="transactions", title="t")
    items = records(expected_rows())
    assert writer.header() == b"["
    assert writer.rows([]) == b""
    first = writer.rows(items[:3])
    second = writer.rows(items[3:4])
    assert len(load(b"[" + first + b"]")) == 3
    assert second.startswith(b",")
    assert len(load(b"[" + second[1:] + b"]")) == 1


@pytest.mark.parametrize("batches_", [[], [[]], [[], [], []]])
def test_json_zero_rows_is_an_empty_array(batches_: list[list[Record]]) -> None:
    data = write("json", batches_)
    assert json.loads(data) == []
    assert data.strip() == b"[]"


def test_json_lone_surrogate_does_not_break_the_file() -> None:
    data = write("json", [[{"note": "bad \ud800 half"}]], [Field("note", Kind.STRING, "n")])
    assert json.loads(data.decode("utf-8")) == [{"note": "bad ? half"}]


# --- json-api -------------------------------------------------------------------------------


def test_json_api_document() -> None:
    rows = expected_rows()
    parsed = load(write("json-api", [records(rows)]))

    assert isinstance(parsed, dict)
    assert list(parsed) == ["data"]
    attribute_paths = [path for path in PATHS if path != "id"]
    assert parsed["data"] == [
        {
            "type": "transactions",
            "id": row["id"].json,
            "attributes": nest({path: row[path].json for path in attribute_paths}),
        }
        for row in rows
    ]
    assert all(list(item) == ["type", "id", "attributes"] for item in parsed["data"])


def test_json_api_id_comes_from_the_record_even_when_not_a_chosen_field() -> None:
    fields = [Field("type", Kind.STRING, "type"), Field("amount", Kind.MONEY, "amount")]
    data = write(
        "json-api",
        [[{"id": "inv_1", "type": "sale", "amount": Decimal("3")}], [{"id": 42, "type": None}]],
        fields,
        resource="invoiceItems",
    )
    assert json.loads(data) == {
        "data": [
            {"type": "invoiceItems", "id": "inv_1", "attributes": {"type": "sale", "amount": 3}},
            {"type": "invoiceItems", "id": "42", "attributes": {"type": None, "amount": None}},
        ]
    }
    assert b'"amount":3.00}' in data


def test_json_api_only_id_chosen_gives_empty_attributes() -> None:
    data = write("json-api", [[{"id": "c1"}]], [Field("id", Kind.STRING, "id")], "customers")
    assert json.loads(data) == {"data": [{"type": "customers", "id": "c1", "attributes": {}}]}


def test_json_api_streams_across_batches() -> None:
    items = records(expected_rows())
    assert write("json-api", list(batches(items, 0, 2, 0, 9))) == write("json-api", [items])


@pytest.mark.parametrize("batches_", [[], [[]], [[], []]])
def test_json_api_zero_rows(batches_: list[list[Record]]) -> None:
    assert json.loads(write("json-api", batches_)) == {"data": []}


def test_json_api_record_without_id_is_refused() -> None:
    writer = make_writer("json-api", fields=FIELDS, resource="transactions", title="t")
    writer.header()
    with pytest.raises(ValueError, match="id"):
        writer.rows([{"amount": Decimal(1)}])


def test_metadata() -> None:
    plain = make_writer("json", fields=FIELDS, resource="transactions", title="t")
    api = make_writer("json-api", fields=FIELDS, resource="transactions", title="t")
    assert (plain.content_type, plain.extension) == ("application/json", "json")
    assert (api.content_type, api.extension) == ("application/vnd.api+json", "json")


def test_text_left_to_the_template_is_exactly_what_dump_string_would_only_quote() -> None:
    """A text column the writer quotes through its template (no call per value) must be one
    dump_string would not change inside the quotes: checked for every character of the BMP
    and beyond, alone and in company."""
    from app.exports.formats.base import dump_string
    from app.exports.formats.json_writer import _nothing_to_escape

    characters = [chr(c) for c in range(0x3000)] + ["\ud800", "\U0001f600", "\u2028", "\ufeff"]
    for c in characters:
        text = f"a{c}b"
        if _nothing_to_escape([text]):
            assert dump_string(text) == f'"{text}"', repr(c)
    assert _nothing_to_escape(["plain", "", "Ольга 美咲 😀", "=1+2"])
    assert not _nothing_to_escape(["plain", 'a "quote"'])
    assert not _nothing_to_escape(["plain", "back\\slash"])
    assert not _nothing_to_escape(["plain", "line\nbreak"])
    assert not _nothing_to_escape(["plain", None])
    assert not _nothing_to_escape([])

    class Text(str):
        def __str__(self) -> str:
            return "other"

    assert not _nothing_to_escape(["plain", Text("x")])  # %s would call its __str__
