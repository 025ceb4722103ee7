"""PDF read back with pypdf's text extraction: titles, repeated headers, truncation, paging."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Sequence
from decimal import Decimal

import pytest
from pypdf import PdfReader

from app.exports.fields import Field, Kind
from app.exports.formats import Record, make_writer
from app.exports.formats.pdf import UNICODE_FONT, PdfWriter

from .sample import FIELDS, NASTY_TEXT, batches, expected_rows, records

TABLE = (
    Field("id", Kind.STRING, "id"),
    Field("amount", Kind.MONEY, "amount"),
    Field("billingAddress/country", Kind.STRING, "country"),
    Field("createdTime", Kind.DATETIME, "created"),
)
HEADINGS = [field.path for field in TABLE]
NASTY_TITLE = "Nasty 😀 中文 — \x00 \ud800 end"
needs_unicode_font = pytest.mark.skipif(UNICODE_FONT is None, reason="DejaVuSans not installed")


def write(
    batches_: Sequence[Sequence[Record]],
    fields: Sequence[Field] = TABLE,
    title: str = "Monthly transactions",
) -> bytes:
    writer = make_writer("pdf", fields=fields, resource="transactions", title=title)
    return writer.header() + b"".join(writer.rows(b) for b in batches_) + writer.footer()


def pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def table_rows(count: int) -> list[dict[str, object]]:
    return [
        {"id": f"rec-{i:04d}", "amount": Decimal(i) / 4, "billingAddress/country": "US"}
        for i in range(count)
    ]


def test_is_a_landscape_a4_titled_document() -> None:
    data = write([table_rows(3)])
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert data.startswith(b"%PDF-")
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)  # A4, landscape
    assert reader.metadata is not None
    assert reader.metadata.title == "Monthly transactions"
    assert pages(data)[0].startswith("Monthly transactions")


def test_header_is_repeated_on_every_page_and_no_row_is_lost() -> None:
    count = 150
    texts = pages(write(list(batches(table_rows(count), 0, 40, 0, 40))))

    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert "Monthly transactions" in text
        for heading in HEADINGS:
            assert heading in text, f"page {number} lacks heading {heading}"
        assert f"page {number}" in text
    ids = re.findall(r"rec-\d{4}", "\n".join(texts))
    assert ids == [f"rec-{i:04d}" for i in range(count)]


def test_values_render_as_in_every_format() -> None:
    record = {
        "id": "rec-1",
        "amount": Decimal("-1234.5"),
        "billingAddress/country": None,
        "createdTime": expected_rows()[1]["createdTime"].value,
    }
    text = pages(write([[record]]))[0]
    assert "-1234.50" in text
    assert "2024-02-29T23:30:00Z" in text


def test_a_long_cell_is_cut_with_an_ellipsis() -> None:
    fields = [Field("id", Kind.STRING, "id"), Field("description", Kind.STRING, "d")]
    long_text = "start " + "word " * 300 + "TAILMARK"
    text = pages(write([[{"id": "short-id", "description": long_text}]], fields))[0]

    assert "short-id" in text
    assert "start word word" in text
    assert "TAILMARK" not in text
    assert "…" in text if UNICODE_FONT is not None else "..." in text


def test_a_long_title_is_cut_too() -> None:
    text = pages(write([table_rows(1)], title="Title " * 100 + "TITLEEND"))[0]
    assert "TITLEEND" not in text
    assert text.startswith("Title Title")


@pytest.mark.parametrize("batches_", [[], [[]], [[], []]])
def test_zero_rows_is_still_a_document_with_the_header(batches_: list[list[Record]]) -> None:
    texts = pages(write(batches_))
    assert len(texts) == 1
    assert all(heading in texts[0] for heading in HEADINGS)


def test_only_footer_returns_bytes() -> None:
    writer = make_writer("pdf", fields=TABLE, resource="transactions", title="t")
    assert writer.header() == b""
    assert writer.rows(table_rows(5)) == b""
    assert writer.footer().startswith(b"%PDF-")
    assert (writer.content_type, writer.extension) == ("application/pdf", "pdf")


@needs_unicode_font
def test_unicode_text_is_drawn_with_the_unicode_font() -> None:
    fields = [Field("name", Kind.STRING, "n")]
    text = pages(write([[{"name": "Кириллица"}, {"name": "Ärger ß"}]], fields, "Отчёт"))[0]
    assert "Отчёт" in text
    assert "Кириллица" in text
    assert "Ärger ß" in text


@pytest.mark.parametrize("font_file", [UNICODE_FONT, None], ids=["unicode-font", "core-font"])
def test_nasty_values_never_crash(font_file: object) -> None:
    if font_file is None:
        writer = PdfWriter(FIELDS, title=NASTY_TITLE, font_file=None)
    elif UNICODE_FONT is None:
        pytest.skip("DejaVuSans not installed")
    else:
        writer = PdfWriter(FIELDS, title=NASTY_TITLE)
    items = records(expected_rows())
    items.append(
        {"id": "rec-9999", "description": "lone \ud800 surrogate \U0001d518\U0001d52b \U0010ffff"}
    )
    for batch in batches(items, 3, 0, 5):
        writer.rows(batch)
    data = writer.footer()
    texts = pages(data)
    assert texts[0].startswith("Nasty")
    assert "rec-0000" in texts[0]
    assert "rec-9999" in "".join(texts)


def test_core_font_fallback_replaces_what_latin1_cannot_draw() -> None:
    fields = [Field("id", Kind.STRING, "id"), Field("note", Kind.STRING, "n")]
    writer = PdfWriter(fields, title="Fallback", font_file=None)
    writer.rows([{"id": "a", "note": "Ёж café"}, {"id": "b", "note": "x" * 400}])
    text = pages(writer.footer())[0]
    assert "?? café" in text
    assert "xxx..." in text
    assert "…" not in text


def test_many_columns_still_fit_the_page() -> None:
    fields = [Field(f"field{i}", Kind.STRING, f"c{i}") for i in range(40)]
    record: dict[str, object] = {f"field{i}": f"value-{i}-" + "x" * 30 for i in range(40)}
    data = write([[record]], fields)
    page = PdfReader(io.BytesIO(data)).pages[0]
    xs: list[float] = []

    def visit(text: str, cm: object, tm: list[float], font: object, size: object) -> None:
        if text.strip():
            xs.append(tm[4])

    page.extract_text(visitor_text=visit)
    assert xs
    assert max(xs) < float(page.mediabox.width)


def test_ten_thousand_rows_take_seconds_not_minutes() -> None:
    items: list[dict[str, object]] = [
        {
            "id": f"rec-{i:05d}",
            "amount": Decimal(i),
            "description": NASTY_TEXT[i % len(NASTY_TEXT)],
            "createdTime": None,
        }
        for i in range(10_000)
    ]
    writer = make_writer("pdf", fields=FIELDS, resource="transactions", title="Big")
    started = time.perf_counter()
    for batch in batches(items, *([1000] * 10)):
        writer.rows(batch)
    data = writer.footer()
    elapsed = time.perf_counter() - started
    assert elapsed < 30
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) > 100
    assert "rec-09999" in reader.pages[-1].extract_text()


def test_squeezed_text_columns_leave_numbers_and_dates_whole() -> None:
    fields = [Field(f"text{i}", Kind.STRING, f"t{i}") for i in range(14)] + [
        Field("amount", Kind.MONEY, "amount"),
        Field("createdTime", Kind.DATETIME, "created"),
    ]
    record: dict[str, object] = {f"text{i}": f"T{i} " + "long words " * 20 for i in range(14)}
    record["amount"] = Decimal("-1234567.5")
    record["createdTime"] = expected_rows()[1]["createdTime"].value
    text = pages(write([[record]], fields))[0]
    assert "-1234567.50" in text
    assert "2024-02-29T23:30:00Z" in text
    assert text.count("…" if UNICODE_FONT is not None else "...") >= 14
