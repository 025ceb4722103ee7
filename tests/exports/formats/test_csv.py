"""CSV read back with the stdlib csv module (RFC 4180, CRLF, UTF-8, formula neutralising)."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from decimal import Decimal

import pytest

from app.exports.fields import Field, Kind
from app.exports.formats import FormatWriter, Record, make_writer

from .sample import FIELDS, PATHS, batches, expected_rows, records

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def write(batches_: Sequence[Sequence[Record]], fields: Sequence[Field] = FIELDS) -> bytes:
    writer: FormatWriter = make_writer("csv", fields=fields, resource="transactions", title="t")
    return writer.header() + b"".join(writer.rows(b) for b in batches_) + writer.footer()


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_round_trip_of_every_kind_and_nasty_values() -> None:
    rows = expected_rows()
    table = parse(write([records(rows)]))

    assert table[0] == PATHS
    assert len(table) == len(rows) + 1
    kinds = {field.path: field.kind for field in FIELDS}
    for got, row in zip(table[1:], rows, strict=True):
        want = []
        for path in PATHS:
            text = row[path].text
            if text is None:
                want.append("")
            elif kinds[path] is Kind.STRING and text.startswith(FORMULA_STARTS):
                want.append("'" + text)
            else:
                want.append(text)
        assert got == want


def test_rfc4180_bytes_crlf_minimal_quoting_no_bom() -> None:
    fields = [Field("id", Kind.STRING, "id"), Field("note", Kind.STRING, "note")]
    data = write(
        [[{"id": "a", "note": "plain"}, {"id": "b", "note": 'say "hi", then\nleave'}]], fields
    )

    assert not data.startswith(codecs.BOM_UTF8)
    assert data == b'id,note\r\na,plain\r\nb,"say ""hi"", then\nleave"\r\n'


def test_non_ascii_is_utf8() -> None:
    fields = [Field("name", Kind.STRING, "name")]
    assert write([[{"name": "Ёж 中 😀"}]], fields) == "name\r\nЁж 中 😀\r\n".encode()


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "-"])
def test_text_that_looks_like_a_formula_is_neutralised(text: str) -> None:
    fields = [Field("note", Kind.STRING, "note")]
    assert parse(write([[{"note": text}]], fields))[1] == ["'" + text]


@pytest.mark.parametrize("text", ["a=1", "1+1", "x-y", "mail@example.com", " =1", "'quoted"])
def test_formula_characters_later_in_text_are_left_alone(text: str) -> None:
    fields = [Field("note", Kind.STRING, "note")]
    assert parse(write([[{"note": text}]], fields))[1] == [text]


def test_numbers_negatives_included_stay_plain() -> None:
    fields = [
        Field("amount", Kind.MONEY, "amount"),
        Field("quantity", Kind.INTEGER, "quantity"),
        Field("code", Kind.STRING, "code"),  # a non-text value in a text field
    ]
    data = write([[{"amount": Decimal("-5"), "quantity": -3, "code": -7}]], fields)
    assert data.endswith(b"\r\n-5.00,-3,-7\r\n")


def test_none_is_an_empty_cell_and_missing_keys_too() -> None:
    fields = [
        Field("a", Kind.STRING, "a"),
        Field("b", Kind.MONEY, "b"),
        Field("c/d", Kind.INTEGER, "c"),
    ]
    assert parse(write([[{"a": None, "b": None}]], fields)) == [["a", "b", "c/d"], ["", "", ""]]


def test_batches_stream_to_the_same_bytes_as_one_batch() -> None:
    items = records(expected_rows())
    whole = write([items])
    assert write(list(batches(items, 0, 3, 0, 1, 7))) == whole
    assert write([[item] for item in items]) == whole


def test_each_call_returns_only_its_own_rows() -> None:
    writer = make_writer("csv", fields=FIELDS, resource="transactions", title="t")
    items = records(expected_rows())
    assert parse(writer.header()) == [PATHS]
    assert writer.rows([]) == b""
    assert len(parse(writer.rows(items[:4]))) == 4
    assert len(parse(writer.rows(items[4:5]))) == 1
    assert writer.footer() == b""


def test_zero_rows_is_the_header_only() -> None:
    assert write([]) == (",".join(PATHS) + "\r\n").encode()
    assert write([[], []]) == write([])


def test_metadata() -> None:
    writer = make_writer("csv", fields=FIELDS, resource="transactions", title="t")
    assert (writer.content_type, writer.extension) == ("text/csv; charset=utf-8", "csv")


class _Text(str):
    """A str subclass, as some drivers hand back."""


def test_text_of_a_str_subclass_is_still_neutralised() -> None:
    field = Field(path="note", kind=Kind.STRING, column="note")
    writer = make_writer("csv", fields=[field], resource="transactions", title="t")
    body = writer.rows([{"note": _Text("=1+1")}, {"note": _Text("plain")}]).decode()
    assert list(csv.reader(io.StringIO(body))) == [["'=1+1"], ["plain"]]
