"""PDF read back two ways: the text layer (pypdf, and PDFium for CJK) and the ink of pages
rendered to images by PDFium. Headers, labels, totals, scripts, truncation and paging."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops
from pypdf import PdfReader

from app import demo_data
from app.exports.fields import Field, Kind
from app.exports.formats import Record, make_writer
from app.exports.formats.base import About, Period
from app.exports.formats.pdf import PdfWriter, currency_path
from app.exports.resources import RESOURCES

from .sample import FIELDS, NASTY_TEXT, batches, expected_rows, records

TABLE = (
    Field("id", Kind.STRING, "id"),
    Field("amount", Kind.MONEY, "amount"),
    Field("currency", Kind.STRING, "currency"),
    Field("billingAddress/country", Kind.STRING, "country"),
    Field("createdTime", Kind.DATETIME, "created"),
)
HEADINGS = ["ID", "Amount", "Currency", "Billing address country", "Created time (UTC)"]
NASTY_TITLE = "Nasty 😀 中文 — \x00 \ud800 end"
ABOUT = About(
    name="March revenue",
    resource="transactions",
    generated=datetime(2026, 3, 10, 12, 0, 5, tzinfo=UTC),
    period=Period(
        "processedTime", datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    ),
    filter="result:approved",
    search="ren",
    sort="-amount",
)
GREEK = "Αθήνα Ωμέγα ελληνικά"
KOREAN = "서울 한국어"


def write(
    batches_: Sequence[Sequence[Record]],
    fields: Sequence[Field] = TABLE,
    title: str = "Monthly transactions",
    about: About | None = None,
) -> bytes:
    writer = make_writer("pdf", fields=fields, resource="transactions", title=title, about=about)
    return writer.header() + b"".join(writer.rows(b) for b in batches_) + writer.footer()


def pages(data: bytes) -> list[str]:
    """pypdf's text; it puts a NUL before each character of a CFF (CJK) font, dropped here."""
    return [page.extract_text().replace("\x00", "") for page in PdfReader(io.BytesIO(data)).pages]


def pdfium_pages(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    try:
        return [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()


def images(data: bytes, scale: float = 2.0) -> list[Image.Image]:
    document = pdfium.PdfDocument(data)
    try:
        return [document[i].render(scale=scale).to_pil().convert("L") for i in range(len(document))]
    finally:
        document.close()


def inked(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> int:
    """How many pixels of `box` are darker than light grey (the zebra shading is lighter)."""
    region = image.crop(box) if box else image
    return sum(region.histogram()[:160])


def table_rows(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": f"rec-{i:04d}",
            "amount": Decimal(i) / 4,
            "currency": "USD",
            "billingAddress/country": "US",
        }
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
    assert "Monthly transactions" in pages(data)[0]


def test_every_page_has_the_header_and_page_n_of_m_and_no_row_is_lost() -> None:
    count = 150
    texts = pages(write(list(batches(table_rows(count), 0, 40, 0, 40)), about=ABOUT))

    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert "March revenue" in text
        assert "Resource: transactions" in text
        assert "Period: 2026-02-01 00:00 UTC to 2026-03-01 00:00 UTC, by processed time" in text
        assert "Filter: result:approved" in text
        assert "Search: ren" in text
        assert "Sort: -amount" in text
        assert "Generated: 2026-03-10 12:00:05 UTC" in text
        assert f"page {number} of {len(texts)}" in text
        for heading in HEADINGS:
            assert heading in text, f"page {number} lacks heading {heading}"
    ids = re.findall(r"rec-\d{4}", "\n".join(texts))
    assert ids == [f"rec-{i:04d}" for i in range(count)]


def test_no_period_and_no_filter_are_said_so() -> None:
    about = About(name="All", resource="customers", generated=ABOUT.generated)
    text = pages(write([table_rows(1)], about=about))[0]
    assert "Period: all time" in text
    assert "Filter: none" in text
    assert "Search:" not in text


def test_first_page_only_has_the_count_and_totals_per_currency() -> None:
    rows = table_rows(130)
    for i, row in enumerate(rows):
        row["currency"] = ("USD", "EUR", "GBP", None)[i % 4]
    rows.append({"id": "rec-neg", "amount": Decimal("-1000.005"), "currency": "EUR"})
    rows.append({"id": "rec-none", "amount": None, "currency": "JPY"})
    expected: dict[str, Decimal] = {}
    for row in rows:
        if row["amount"] is not None:
            key = str(row["currency"] or "(no currency)")
            expected[key] = expected.get(key, Decimal(0)) + Decimal(str(row["amount"]))
    texts = pages(write([rows]))

    assert "Records: 132" in texts[0]
    totals = re.search(r"Total amount: (.*)", texts[0])
    assert totals is not None
    found = {
        c: Decimal(a)
        for c, a in re.findall(r"(USD|EUR|GBP|\(no currency\)) (-?\d+\.\d\d)", totals[1])
    }
    assert found == {c: v.quantize(Decimal("0.01")) for c, v in expected.items()}
    assert "JPY" not in totals[1]  # a currency with no amounts has no total
    assert all("Records:" not in text and "Total amount" not in text for text in texts[1:])


def test_money_without_its_currency_column_is_not_summed_across_currencies() -> None:
    fields = [f for f in TABLE if f.path != "currency"]
    text = pages(write([table_rows(5)], fields))[0]
    assert "Amount: not totalled, its currency column is not exported" in text


def test_every_money_field_of_every_resource_has_its_currency_beside_it() -> None:
    for resource in RESOURCES.values():
        for field in resource.fields:
            if field.kind is Kind.MONEY:
                currency = resource.field(currency_path(field))
                assert currency is not None, f"{resource.name} {field.path}"
                assert currency.kind is Kind.STRING


def test_column_heads_are_labels_not_paths() -> None:
    fields = list(RESOURCES["customers"].fields)
    text = pages(write([[]], fields))[0]
    for label in ("ID", "Email", "First name", "Primary address country", "EDD required"):
        assert label in text
    assert "Created time (UTC)" in text
    for path in ("firstName", "primaryAddress", "isEddRequired", "createdTime"):
        assert path not in text


def test_values_render_for_people() -> None:
    record = {
        "id": "rec-1",
        "amount": Decimal("-1234.5"),
        "billingAddress/country": None,
        "createdTime": expected_rows()[1]["createdTime"].value,  # 01:30+02:00 = 23:30Z
    }
    other = {"id": "rec-2", "createdTime": datetime(2024, 1, 2, 3, 4, 5, 999, tzinfo=UTC)}
    text = pages(write([[record, other]]))[0]
    assert "-1234.50" in text
    assert "2024-02-29 23:30" in text
    assert "2024-01-02 03:04:05" in text  # seconds only when there are some
    assert "T23:30" not in text


def demo_words() -> list[str]:
    """Every name and city the demo data can produce, plus the scripts it does not use yet."""
    return [
        *demo_data.FIRST,
        *demo_data.LAST,
        *(city for _, city in demo_data.PLACES),
        GREEK,
        KOREAN,
    ]


def test_every_script_of_the_demo_data_is_in_the_text_layer() -> None:
    words = demo_words()
    scripts = "".join(words)
    assert re.search("[\u0400-\u04ff]", scripts)
    assert re.search("[\u4e00-\u9fff]", scripts)
    fields = [Field("id", Kind.STRING, "id"), Field("firstName", Kind.STRING, "n")]
    rows = [{"id": f"w{i}", "firstName": word} for i, word in enumerate(words)]
    data = write([rows], fields, title="Names 美咲 Ольга Ωμέγα")
    pypdf_text = "\n".join(pages(data))
    pdfium_text = "\n".join(pdfium_pages(data))
    for text in (pypdf_text, pdfium_text):
        for word in words:
            assert word in text, word
        assert "\ufffd" not in text
        assert "Names 美咲 Ольга Ωμέγα" in text


def _one_cell(text: str) -> Image.Image:
    """The one-character body cell of a one-column table (drawn last), rendered."""
    data = write([[{"id": text}]], [Field("id", Kind.STRING, "id")], title="t")
    page = images(data, scale=4)[0]
    heading = pdfium.PdfDocument(data)
    try:
        textpage = heading[0].get_textpage()
        index = len(textpage.get_text_range().rstrip()) - 1
        left, bottom, right, top = textpage.get_charbox(index)
        height = heading[0].get_height()
    finally:
        heading.close()
    box = (
        int(left * 4) - 4,
        int((height - top) * 4) - 4,
        int(right * 4) + 4,
        int((height - bottom) * 4) + 4,
    )
    return page.crop(box)


def test_cjk_glyphs_are_drawn_not_boxes() -> None:
    """A glyph a font lacks is drawn as the same box whatever the character; real glyphs of
    different characters differ from each other and from that box (U+10FFFF has no glyph in
    any font and is drawn as the replacement)."""
    missing = _one_cell("\U0010ffff")
    drawn = {char: _one_cell(char) for char in "美咲佐藤東京한Жλ"}
    for char, image in drawn.items():
        assert inked(image) > 20, char
        same_size = missing.resize(image.size)
        assert ImageChops.difference(image, same_size).getbbox() is not None, char
    seen = list(drawn.values())
    for i, one in enumerate(seen):
        for other in seen[i + 1 :]:
            assert ImageChops.difference(one, other.resize(one.size)).getbbox() is not None


def test_rendered_pages_have_ink_in_the_header_and_the_table(tmp_path: object) -> None:
    data = write([table_rows(80)], about=ABOUT)
    rendered = images(data)
    assert len(rendered) >= 2
    for number, image in enumerate(rendered, start=1):
        width, height = image.size
        header_band = (0, 0, width, height // 8)
        body = (0, height // 4, width, height)
        assert inked(image, header_band) > 2000, f"page {number}: empty header"
        assert inked(image, body) > 5000, f"page {number}: empty table"
        # the right edge of the header band holds "page N of M"
        assert inked(image, (width * 3 // 4, 0, width, height // 16)) > 100
    blank = images(write([[]], about=ABOUT))[0]
    assert inked(blank, (0, blank.size[1] // 3, blank.size[0], blank.size[1])) == 0


def test_a_long_cell_is_cut_with_an_ellipsis() -> None:
    fields = [Field("id", Kind.STRING, "id"), Field("description", Kind.STRING, "d")]
    long_text = "start " + "word " * 300 + "TAILMARK"
    text = pages(write([[{"id": "short-id", "description": long_text}]], fields))[0]

    assert "short-id" in text
    assert "start word word" in text
    assert "TAILMARK" not in text
    assert "…" in text


def test_a_long_title_is_cut_too() -> None:
    text = pages(write([table_rows(1)], title="Title " * 100 + "TITLEEND"))[0]
    assert "TITLEEND" not in text
    assert "Title Title" in text


@pytest.mark.parametrize("batches_", [[], [[]], [[], []]])
def test_zero_rows_is_still_a_document_with_the_header(batches_: list[list[Record]]) -> None:
    texts = pages(write(batches_))
    assert len(texts) == 1
    assert all(heading in texts[0] for heading in HEADINGS)
    assert "Records: 0" in texts[0]
    assert "Total amount: none" in texts[0]


def test_only_footer_returns_bytes() -> None:
    writer = make_writer("pdf", fields=TABLE, resource="transactions", title="t")
    assert writer.header() == b""
    assert writer.rows(table_rows(5)) == b""
    assert writer.footer().startswith(b"%PDF-")
    assert (writer.content_type, writer.extension) == ("application/pdf", "pdf")


def test_nasty_values_never_crash() -> None:
    writer = PdfWriter(FIELDS, title=NASTY_TITLE)
    items = records(expected_rows())
    items.append(
        {"id": "rec-9999", "description": "lone \ud800 surrogate \U0001d518\U0001d52b \U0010ffff"}
    )
    for batch in batches(items, 3, 0, 5):
        writer.rows(batch)
    data = writer.footer()
    texts = pages(data)
    assert texts[0].startswith("page 1 of") or "Nasty" in texts[0]
    assert "Nasty" in texts[0]
    assert "rec-0000" in texts[0]
    assert "rec-9999" in "".join(texts)
    assert "中文字符 日本語" in "".join(texts)


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
    last = reader.pages[-1].extract_text()
    assert "rec-09999" in last
    assert f"page {len(reader.pages)} of {len(reader.pages)}" in last


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
    assert "2024-02-29 23:30" in text
    assert text.count("…") >= 14
