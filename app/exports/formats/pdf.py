"""PDF: a landscape A4 table for people, with a page header that says what they are reading.

Every page starts with the export's name, "page N of M", its resource, period (the resolved
`dateRange`, UTC), filter and generation time, then the column heads (readable labels, not
API paths). The first page also carries the record count and, per money column, its totals
per currency. Times read `2026-03-10 12:00` (UTC, said in the heading).

The fonts come with the installation (Python packages, never the system or the network):
Fira Sans draws Latin, Cyrillic and Greek; Noto Sans CJK JP draws what Fira lacks (Chinese,
Japanese, Korean). Each cell is split into runs by the font that has its characters.

A table has to know its column widths before the first row is drawn, so this writer keeps
the (already rendered) cell text and builds the document in `footer()`; PDF exports are
capped in size and exempt from the constant-memory rule (spec §7). Count and totals are
summed as the rows stream past.

Text is drawn with `FPDF.text()` rather than `cell()`, and string widths are summed from a
per-character cache: both are several times faster, which keeps a 10,000-row export to a few
seconds. Widths are additive because text shaping is off.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.fonts import TTFFont

from app.exports.fields import Field, Kind
from app.exports.formats.base import About, Record, format_money, text_value


def _package_file(package: str, *parts: str) -> Path:
    return Path(str(files(package).joinpath(*parts)))


REGULAR_FONT: Final = _package_file("fontpkg_fira_sans", "files", "FiraSans-Regular.ttf")
BOLD_FONT: Final = _package_file("fontpkg_fira_sans", "files", "FiraSans-Bold.ttf")
CJK_FONT: Final = _package_file("noto_cjk_sans_jp_regular", "NotoSansCJKjp-Regular.otf")

_MAIN = "ExportSans"
_CJK = "ExportCJK"  # regular only: bold CJK would be another 16 MB for the column heads
_MARGIN = 10.0  # mm
_FONT_SIZE = 8.0  # pt
_MIN_FONT_SIZE = 4.0
_ROOMY_COLUMNS = 24  # past this many columns the font shrinks so each column shows some text
_ROW_HEIGHT_PER_PT = 0.62  # mm of row height per point of font size
_TITLE_SIZE = 12.0
_INFO_SIZE = 7.5
_INFO_LINE = 3.8  # mm
_PT = 0.3528  # mm per point
# Control characters (tab, LF and CR included) would be drawn as boxes or dropped: a table
# cell is one line, so they become spaces.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone halves cannot be encoded at all
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_ACRONYMS = {"id": "ID", "edd": "EDD", "url": "URL"}
NO_CURRENCY = "(no currency)"


def human_time(value: datetime) -> str:
    """`2026-03-10 12:00` in UTC, with seconds only when there are some."""
    if value.tzinfo is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")


def label(field: Field) -> str:
    """A column head for people: `primaryAddress/country` -> `Primary address country`,
    `customerId` -> `Customer ID`, `isEddRequired` -> `EDD required`; times say `(UTC)`."""
    words = [w.lower() for part in field.path.split("/") for w in _WORD.findall(part)]
    if len(words) > 1 and words[0] == "is":
        words = words[1:]
    if not words:
        return field.path
    words = [_ACRONYMS.get(w, w) for w in words]
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    return text + " (UTC)" if field.kind is Kind.DATETIME else text


def currency_path(field: Field) -> str:
    """Where a money field's currency is: the `currency` field beside it (resources.py keeps
    to this, and a test checks every resource)."""
    parent, _, _ = field.path.rpartition("/")
    return f"{parent}/currency" if parent else "currency"


class PdfWriter:
    """Keeps cell text and sums totals in `rows()`; `footer()` returns the complete document."""

    content_type = "application/pdf"
    extension = "pdf"

    def __init__(self, fields: Sequence[Field], *, title: str, about: About | None = None) -> None:
        self._fields = tuple(fields)
        self._about = about or About(name=title, resource="", generated=datetime.now(UTC))
        self._cells: list[list[str]] = []
        paths = [f.path for f in self._fields]
        # (money column, its currency column or -1 when the export leaves it out)
        self._money = [
            (i, paths.index(c) if (c := currency_path(f)) in paths else -1)
            for i, f in enumerate(self._fields)
            if f.kind is Kind.MONEY
        ]
        self._totals: dict[int, dict[str, Decimal]] = {i: {} for i, _ in self._money}

    def header(self) -> bytes:
        return b""

    def rows(self, batch: Sequence[Record]) -> bytes:
        fields = self._fields
        for record in batch:
            values = [record.get(field.path) for field in fields]
            for index, currency_index in self._money:
                amount = values[index]
                if currency_index >= 0 and isinstance(amount, Decimal | int):
                    currency = values[currency_index]
                    key = currency if isinstance(currency, str) and currency else NO_CURRENCY
                    sums = self._totals[index]
                    sums[key] = sums.get(key, Decimal(0)) + amount
            row: list[str] = []
            for value, field in zip(values, fields, strict=True):
                if isinstance(value, datetime):
                    row.append(human_time(value))
                else:
                    text = text_value(value, field)
                    row.append("" if text is None else text)
            self._cells.append(row)
        return b""

    def footer(self) -> bytes:
        cells, self._cells = self._cells, []
        summary = [f"Records: {len(cells):,}"]
        for index, currency_index in self._money:
            name = label(self._fields[index])
            if currency_index < 0:
                summary.append(f"{name}: not totalled, its currency column is not exported")
                continue
            sums = self._totals[index]
            ordered = sorted(sums, key=lambda c: (c == NO_CURRENCY, c))
            parts = [f"{c} {format_money(sums[c])}" for c in ordered]
            summary.append(f"Total {name.lower()}: " + ("  ·  ".join(parts) or "none"))
        return _Document(self._about, self._fields, cells, summary).render()


def _period(about: About) -> str:
    period = about.period
    if period is None:
        return "Period: all time"
    start, end = human_time(period.start), human_time(period.end)
    return f"Period: {start} UTC to {end} UTC, by {_field_words(period.field)}"


def _field_words(path: str) -> str:
    return label(Field(path, Kind.STRING, "")).lower()


class _Document(FPDF):
    """The table layout; `header()` is FPDF's per-page hook."""

    def __init__(
        self, about: About, fields: Sequence[Field], cells: list[list[str]], summary: list[str]
    ) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=False, margin=_MARGIN)
        self.set_title(_SURROGATE.sub("\ufffd", _CONTROL.sub(" ", about.name)))
        self.set_creator("exports-gateway")
        self.alias_nb_pages()
        self.add_font(_MAIN, "", str(REGULAR_FONT))
        self.add_font(_MAIN, "B", str(BOLD_FONT))
        self.add_font(_CJK, "", str(CJK_FONT))
        self._main_glyphs = self._glyphs(_MAIN)  # the bold face covers the same characters
        self._all_glyphs = self._main_glyphs | self._glyphs(_CJK)
        self._missing = "\ufffd" if 0xFFFD in self._all_glyphs else "?"
        self._widths: dict[tuple[str, float], dict[str, float]] = {}

        self._title = self._clean(about.name)
        info = [
            f"Resource: {about.resource}" if about.resource else "",
            _period(about),
            f"Generated: {human_time(about.generated)} UTC",
        ]
        self._info = [
            self._clean("     ".join(part for part in info if part)),
            self._clean(
                "     ".join(
                    [f"Filter: {about.filter or 'none'}"]
                    + ([f"Search: {about.search}"] if about.search else [])
                    + ([f"Sort: {about.sort}"] if about.sort else [])
                )
            ),
        ]
        self._summary = [self._clean(line) for line in summary]
        count = len(fields)
        self._size = max(_MIN_FONT_SIZE, _FONT_SIZE * min(1.0, _ROOMY_COLUMNS / count))
        self._row_height = self._size * _ROW_HEIGHT_PER_PT
        self._pad = self._row_height * 0.25
        self._headings = [self._clean(label(field)) for field in fields]
        # Numbers line up on the right, as in a spreadsheet.
        self._right = [field.kind in (Kind.INTEGER, Kind.MONEY) for field in fields]
        self._keep = [field.kind is not Kind.STRING for field in fields]
        for row in cells:  # in place: the document holds a single copy of the table
            row[:] = [self._clean(text) for text in row]
        self._cells = cells
        self._columns = self._column_widths()

    def _glyphs(self, family: str) -> set[int]:
        self.set_font(family)
        font = self.current_font
        assert isinstance(font, TTFFont)
        return set(font.cmap)

    # --- text -------------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        """Make text drawable: one line, and only characters one of the fonts has."""
        text = _CONTROL.sub(" ", text)
        glyphs = self._all_glyphs
        if all(ord(char) in glyphs for char in text):
            return text
        return "".join(char if ord(char) in glyphs else self._missing for char in text)

    def _use(self, char: str, style: str, size: float) -> None:
        """Select the font that draws `char` (Fira Sans, else the CJK font)."""
        if ord(char) in self._main_glyphs:
            self.set_font(_MAIN, style, size)
        else:
            self.set_font(_CJK, "", size)

    def _width(self, text: str, style: str, size: float) -> float:
        """The drawn width of `text` in mm, summed from cached character widths.

        May change the current font: callers set the font they draw with afterwards.
        """
        table = self._widths.setdefault((style, size), {})
        total = 0.0
        for char in text:
            width = table.get(char)
            if width is None:
                self._use(char, style, size)
                width = table[char] = self.get_string_width(char)
            total += width
        return total

    def _draw(self, x: float, baseline: float, text: str, style: str, size: float) -> None:
        """Draw one line of text, each run of characters in the font that has them."""
        main = self._main_glyphs
        for in_main, chars in itertools.groupby(text, key=lambda char: ord(char) in main):
            run = "".join(chars)
            if in_main:
                self.set_font(_MAIN, style, size)
            else:
                self.set_font(_CJK, "", size)
            self.text(x, baseline, run)
            x += self._width(run, style, size)

    def _fit(self, text: str, room: float, style: str, size: float) -> str:
        """`text` if it fits in `room` mm, else its longest prefix that fits followed by `…`."""
        room += 1e-6  # a column sized to its text must not lose a rounding error's worth
        if self._width(text, style, size) <= room:
            return text
        low, high = 0, len(text)  # text[:low] + ellipsis fits; text[:high] + ellipsis does not
        while high - low > 1:
            middle = (low + high) // 2
            if self._width(text[:middle] + "…", style, size) <= room:
                low = middle
            else:
                high = middle
        return text[:low].rstrip() + "…"

    # --- layout -----------------------------------------------------------------------------

    def _column_widths(self) -> list[float]:
        """Columns as wide as their widest text when the page allows. Otherwise the widest
        text columns are cut to a common width, while numbers, dates and booleans keep room for
        their values (a cut amount or date is useless); only when those alone overflow the
        page is everything shared out."""
        pad = 2 * self._pad
        values = [0.0] * len(self._headings)
        for row in self._cells:
            for index, text in enumerate(row):
                width = self._width(text, "", self._size)
                if width > values[index]:
                    values[index] = width
        wanted = [
            max(value, self._width(heading, "B", self._size)) + pad
            for value, heading in zip(values, self._headings, strict=True)
        ]
        room = self.epw
        if sum(wanted) <= room:
            return [width * room / sum(wanted) for width in wanted]
        floors = [
            value + pad if keep else 0.0 for value, keep in zip(values, self._keep, strict=True)
        ]
        if sum(floors) > room:
            floors = [0.0] * len(wanted)

        def widths(level: float) -> list[float]:
            return [
                max(floor, min(want, level)) for floor, want in zip(floors, wanted, strict=True)
            ]

        low, high = 0.0, max(wanted)  # widths(low) fits the page, widths(high) does not
        for _ in range(50):
            middle = (low + high) / 2
            if sum(widths(middle)) <= room:
                low = middle
            else:
                high = middle
        return widths(low)

    # --- drawing ----------------------------------------------------------------------------

    def render(self) -> bytes:
        self.add_page()
        bottom = self.h - _MARGIN - self._row_height
        shade = False
        for row in self._cells:
            if self.y > bottom:
                self.add_page()
                shade = False
            self._draw_row(row, style="", fill=shade)
            shade = not shade
        return bytes(self.output())

    def header(self) -> None:
        top = _MARGIN
        self.set_font(_MAIN, "", _INFO_SIZE)
        self.set_text_color(60)
        self.set_xy(_MARGIN, top)
        page = f"page {self.page_no()} of {self.str_alias_nb_pages}"
        self.cell(self.epw, _TITLE_SIZE * 0.5, page, align="R")
        room = self.epw - self._width("page 0000 of 0000", "", _INFO_SIZE) - 4
        title = self._fit(self._title, room, "B", _TITLE_SIZE)
        self.set_text_color(0)
        self._draw(_MARGIN, top + _TITLE_SIZE * _PT * 0.9, title, "B", _TITLE_SIZE)
        y = top + _TITLE_SIZE * 0.5 + 1.5
        lines = self._info + (self._summary if self.page_no() == 1 else [])
        for number, line in enumerate(lines):
            if number == len(self._info):  # the summary, first page only
                self.set_text_color(0)
                y += 1
            else:
                self.set_text_color(70)
            style = "B" if number == len(self._info) else ""
            shown = self._fit(line, self.epw, style, _INFO_SIZE)
            self._draw(_MARGIN, y + _INFO_SIZE * _PT * 0.8, shown, style, _INFO_SIZE)
            y += _INFO_LINE
        self.set_draw_color(120)
        self.set_line_width(0.3)
        self.line(_MARGIN, y + 0.8, _MARGIN + self.epw, y + 0.8)
        self.set_xy(_MARGIN, y + 2)
        self._draw_row(self._headings, style="B", fill=True, heading=True)

    def _draw_row(self, texts: list[str], *, style: str, fill: bool, heading: bool = False) -> None:
        top, height = self.y, self._row_height
        if fill:
            self.set_fill_color(215 if heading else 242)
            self.rect(_MARGIN, top, self.epw, height, style="F")
        self.set_draw_color(180)
        self.set_line_width(0.1)
        self.line(_MARGIN, top + height, _MARGIN + self.epw, top + height)
        self.set_text_color(0)
        baseline = top + height / 2 + self._size * _PT * 0.35
        x = _MARGIN
        for text, width, right in zip(texts, self._columns, self._right, strict=True):
            if text:
                shown = self._fit(text, width - 2 * self._pad, style, self._size)
                left = x + self._pad
                if right:
                    left = x + width - self._pad - self._width(shown, style, self._size)
                self._draw(left, baseline, shown, style, self._size)
            x += width
        self.set_y(top + height)
