"""XML read back with xml.etree.ElementTree (and minidom for well-formedness of odd input)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from decimal import Decimal
from xml.dom import minidom

import pytest

from app.exports.fields import Field, Kind
from app.exports.formats import Record, make_writer

from .sample import FIELDS, PATHS, batches, expected_rows, nest, records

# Characters XML 1.0 cannot carry that occur in the sample data; the writer shows U+FFFD.
ILLEGAL_IN_SAMPLE = "\x00\x01\x08\x0b\x0c\x1f"


def write(
    batches_: Sequence[Sequence[Record]],
    fields: Sequence[Field] = FIELDS,
    resource: str = "transactions",
) -> bytes:
    writer = make_writer("xml", fields=fields, resource=resource, title="t")
    return writer.header() + b"".join(writer.rows(b) for b in batches_) + writer.footer()


def parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)  # noqa: S314 - the input is the writer's own output


def as_tree(element: ET.Element) -> dict[str, object]:
    """Children as a nested dict (text for leaves), after checking names are not repeated."""
    names = [child.tag for child in element]
    assert len(names) == len(set(names))
    return {child.tag: as_tree(child) if len(child) else child.text for child in element}


def order(element: ET.Element) -> list[object]:
    return [(child.tag, order(child)) for child in element]


def xml_text(text: str | None) -> str | None:
    if not text:
        return None  # XML cannot tell None and "" apart: both are an element without text
    for char in ILLEGAL_IN_SAMPLE:
        text = text.replace(char, "\ufffd")
    return text


def test_round_trip_nested_elements_in_field_order() -> None:
    rows = expected_rows()
    data = write([records(rows)])
    root = parse(data)

    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert root.tag == "transactions"
    assert [child.tag for child in root] == ["transaction"] * len(rows)
    for element, row in zip(root, rows, strict=True):
        assert as_tree(element) == nest({path: xml_text(row[path].text) for path in PATHS})
    assert order(root[0]) == [
        ("id", []),
        ("billingAddress", [("firstName", []), ("country", [])]),
        ("amount", []),
        ("description", []),
        ("quantity", []),
        ("isEddRequired", []),
        ("createdTime", []),
        ("lifetimeRevenue", [("amount", []), ("currency", [])]),
    ]


def test_escaping_whitespace_and_carriage_returns_survive() -> None:
    fields = [Field("note", Kind.STRING, "note")]
    values = ["<a href='x'>&amp;</a> & < > ]]>", "crlf\r\nline", "\rcr", "\ttab\n", "  pad  "]
    root = parse(write([[{"note": value} for value in values]], fields))
    assert [item.findtext("note") for item in root] == values


def test_illegal_characters_are_replaced_and_the_file_parses() -> None:
    fields = [Field("note", Kind.STRING, "note")]
    nasty = "a\x00b\x08c\x0bd\x1fe\ud800f\ufffeg\uffffh\x7fi😀"
    data = write([[{"note": nasty}]], fields)

    minidom.parseString(data)  # noqa: S318 - a second parser; the input is our own output
    text = parse(data).findtext("transaction/note")
    assert text == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg\ufffdh\x7fi😀"


def test_values_render_as_in_every_format() -> None:
    fields = [
        Field("amount", Kind.MONEY, "amount"),
        Field("count", Kind.INTEGER, "count"),
        Field("flag", Kind.BOOLEAN, "flag"),
        Field("gone", Kind.DATETIME, "gone"),
    ]
    data = write([[{"amount": Decimal("-3.5"), "count": -1, "flag": True, "gone": None}]], fields)
    assert b"<amount>-3.50</amount><count>-1</count><flag>true</flag><gone/>" in data
    item = parse(data)[0]
    gone = item.find("gone")
    assert gone is not None
    assert gone.text is None
    assert len(gone) == 0


@pytest.mark.parametrize(
    ("resource", "item"),
    [
        ("transactions", "transaction"),
        ("customers", "customer"),
        ("subscriptions", "subscription"),
        ("invoices", "invoice"),
        ("invoiceItems", "invoiceItem"),
    ],
)
def test_root_is_the_resource_and_records_are_singular(resource: str, item: str) -> None:
    root = parse(write([[{"id": "x1"}, {"id": "x2"}]], [FIELDS[0]], resource))
    assert root.tag == resource
    assert [(child.tag, child.findtext("id")) for child in root] == [(item, "x1"), (item, "x2")]


def test_streams_across_batches_and_each_chunk_is_whole_elements() -> None:
    items = records(expected_rows())
    whole = write([items])
    assert write(list(batches(items, 0, 4, 0, 1))) == whole

    writer = make_writer("xml", fields=FIELDS, resource="transactions", title="t")
    writer.header()
    assert writer.rows([]) == b""
    chunk = writer.rows(items[:3])
    assert len(parse(b"<chunk>" + chunk + b"</chunk>")) == 3


@pytest.mark.parametrize("batches_", [[], [[]], [[], []]])
def test_zero_rows_is_an_empty_root(batches_: list[list[Record]]) -> None:
    root = parse(write(batches_, resource="invoiceItems"))
    assert root.tag == "invoiceItems"
    assert len(root) == 0


@pytest.mark.parametrize("path", ["1st", "has space", "billingAddress/2nd", "a<b"])
def test_paths_that_cannot_be_element_names_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="element name"):
        make_writer("xml", fields=[Field(path, Kind.STRING, "c")], resource="customers", title="t")


def test_metadata() -> None:
    writer = make_writer("xml", fields=FIELDS, resource="transactions", title="t")
    assert (writer.content_type, writer.extension) == ("application/xml; charset=utf-8", "xml")
