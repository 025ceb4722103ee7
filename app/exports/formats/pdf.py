"""PDF: a landscape A4 table titled with the export's name, its header row on every page.

A table has to know its column widths before the first row is drawn, so this writer buffers
the (already rendered) cells and builds the whole document in `footer()`; PDF exports are
capped in size and exempt from the constant-memory rule (spec §7).

Text is drawn with `FPDF.text()` rather than `cell()`, and string widths are summed from a
per-character cache: both are several times faster, which keeps a 10,000-row export to a few
seconds. Widths are additive because text shaping is off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.fonts import TTFFont

from app.exports.fields import Field, Kind
from app.exports.formats.base import Record, text_value

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)


def find_unicode_font() -> Path | None:
    """DejaVuSans from the system, if installed; without it PDFs fall back to Latin-1 only."""
    for folder in _FONT_DIRS:
        candidate = folder / "DejaVuSans.ttf"
        if candidate.is_file():
            return candidate
    return None


UNICODE_FONT: Final = find_unicode_font()

_FAMILY = "ExportSans"
_MARGIN = 10.0  # mm
_FONT_SIZE = 8.0  # pt
_MIN_FONT_SIZE = 4.0
_ROOMY_COLUMNS = 24  # past this many columns the font shrinks so each column shows some text
_ROW_HEIGHT_PER_PT = 0.62  # mm of row height per point of font size
_TITLE_SIZE = 12.0
_FOOTER_SIZE = 7.0
# Control characters (tab, LF and CR included) would be drawn as boxes or dropped: a table
# cell is one line, so they become spaces.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone halves cannot be encoded at all


class PdfWriter:
    """Buffers cell text in `rows()`; `footer()` returns the complete document."""

    content_type = "application/pdf"
    extension = "pdf"

    def __init__(
        self, fields: Sequence[Field], *, title: str, font_file: Path | None = UNICODE_FONT
    ) -> None:
        self._fields = tuple(fields)
        self._title = title
        self._font_file = font_file
        self._cells: list[list[str]] = []

    def header(self) -> bytes:
        return b""

    def rows(self, batch: Sequence[Record]) -> bytes:
        for record in batch:
            row: list[str] = []
            for field in self._fields:
                text = text_value(record.get(field.path), field)
                row.append("" if text is None else text)
            self._cells.append(row)
        return b""

    def footer(self) -> bytes:
        cells, self._cells = self._cells, []
        return _Document(self._title, self._fields, cells, self._font_file).render()


class _Document(FPDF):
    """The table layout; `header()`/`footer()` are FPDF's per-page hooks."""

    def __init__(
        self, title: str, fields: Sequence[Field], cells: list[list[str]], font_file: Path | None
    ) -> None:
        super().__init__(orientation="landscape", unit="mm", format="A4")
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(auto=False, margin=_MARGIN)
        self.set_title(_SURROGATE.sub("\ufffd", _CONTROL.sub(" ", title)))
        self.set_creator("exports-gateway")
        self._glyphs: set[int] | None = None
        if font_file is None:
            family, bold = "Helvetica", "B"
            self._ellipsis = "..."
        else:
            self.add_font(_FAMILY, "", str(font_file))
            bold_file = font_file.with_name(font_file.stem + "-Bold" + font_file.suffix)
            bold = ""
            if bold_file.is_file():
                self.add_font(_FAMILY, "B", str(bold_file))
                bold = "B"
            family = _FAMILY
            self.set_font(family)
            font = self.current_font
            assert isinstance(font, TTFFont)
            self._glyphs = set(font.cmap)  # the bold face covers the same characters
            self._ellipsis = "…"
        self._family = family
        self._bold = bold
        self._widths: dict[tuple[str, float], dict[str, float]] = {}

        self._title = self._clean(title)
        count = len(fields)
        self._size = max(_MIN_FONT_SIZE, _FONT_SIZE * min(1.0, _ROOMY_COLUMNS / count))
        self._row_height = self._size * _ROW_HEIGHT_PER_PT
        self._pad = self._row_height * 0.25
        self._headings = [self._clean(field.path) for field in fields]
        # Numbers line up on the right, as in a spreadsheet.
        self._right = [field.kind in (Kind.INTEGER, Kind.MONEY) for field in fields]
        self._keep = [field.kind is not Kind.STRING for field in fields]
        for row in cells:  # in place: the document holds a single copy of the table
            row[:] = [self._clean(text) for text in row]
        self._cells = cells
        self._columns = self._column_widths()

    # --- text -------------------------------------------------------------------------------

    def _clean(self, text: str) -> str:
        """Make text drawable: one line, and only characters the font has."""
        text = _CONTROL.sub(" ", text)
        if self._glyphs is None:
            return text.encode("latin-1", "replace").decode("latin-1")
        glyphs = self._glyphs
        if all(ord(char) in glyphs for char in text):
            return text
        missing = "\ufffd" if 0xFFFD in glyphs else "?"
        return "".join(char if ord(char) in glyphs else missing for char in text)

    def _width(self, text: str, style: str, size: float) -> float:
        """The drawn width of `text` in mm, summed from cached character widths.

        May change the current font: callers set the font they draw with afterwards.
        """
        table = self._widths.setdefault((style, size), {})
        total = 0.0
        for char in text:
            width = table.get(char)
            if width is None:
                self.set_font(self._family, style, size)
                width = table[char] = self.get_string_width(char)
            total += width
        return total

    def _fit(self, text: str, room: float, style: str, size: float) -> str:
        """`text` if it fits in `room` mm, else its longest prefix that fits followed by `…`."""
        if self._width(text, style, size) <= room:
            return text
        low, high = 0, len(text)  # text[:low] + ellipsis fits; text[:high] + ellipsis does not
        while high - low > 1:
            middle = (low + high) // 2
            if self._width(text[:middle] + self._ellipsis, style, size) <= room:
                low = middle
            else:
                high = middle
        return text[:low].rstrip() + self._ellipsis

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
            max(value, self._width(heading, self._bold, self._size)) + pad
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
        title = self._fit(self._title, self.epw - 2 * self.c_margin, self._bold, _TITLE_SIZE)
        self.set_font(self._family, self._bold, _TITLE_SIZE)
        self.set_text_color(0)
        self.set_xy(_MARGIN, _MARGIN)
        self.cell(self.epw, _TITLE_SIZE * 0.6, title)
        self.set_xy(_MARGIN, _MARGIN + _TITLE_SIZE * 0.6 + 2)
        self._draw_row(self._headings, style=self._bold, fill=True, heading=True)

    def footer(self) -> None:
        self.set_font(self._family, "", _FOOTER_SIZE)
        self.set_text_color(90)
        self.set_xy(_MARGIN, self.h - _MARGIN + 2)
        self.cell(self.epw, 4, f"page {self.page_no()}", align="R")

    def _draw_row(self, texts: list[str], *, style: str, fill: bool, heading: bool = False) -> None:
        top, height = self.y, self._row_height
        if fill:
            self.set_fill_color(215 if heading else 242)
            self.rect(_MARGIN, top, self.epw, height, style="F")
        self.set_draw_color(180)
        self.set_line_width(0.1)
        self.line(_MARGIN, top + height, _MARGIN + self.epw, top + height)
        self.set_text_color(0)
        baseline = top + height / 2 + self._size * 0.3528 * 0.35
        x = _MARGIN
        for text, width, right in zip(texts, self._columns, self._right, strict=True):
            if text:
                shown = self._fit(text, width - 2 * self._pad, style, self._size)
                left = x + self._pad
                if right:
                    left = x + width - self._pad - self._width(shown, style, self._size)
                self.set_font(self._family, style, self._size)
                self.text(left, baseline, shown)
            x += width
        self.set_y(top + height)
