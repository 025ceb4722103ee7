"""Random text from every awkward corner of Unicode goes through every format and back."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import xml.etree.ElementTree as ET

import pytest
from pypdf import PdfReader

from app.exports.fields import Field, Kind
from app.exports.formats import make_writer

FIELDS = [Field("id", Kind.STRING, "id"), Field("note/text", Kind.STRING, "note")]
RANGES = [
    (0x00, 0x1F),  # C0 controls
    (0x20, 0x7E),
    (0x7F, 0x9F),  # DEL, C1 controls
    (0xA0, 0x24F),
    (0x400, 0x4FF),  # Cyrillic
    (0x4E00, 0x4E80),  # CJK
    (0x2028, 0x2029),  # line/paragraph separators
    (0xD800, 0xDFFF),  # lone surrogates
    (0xFFFC, 0xFFFF),  # incl. non-characters
    (0x1F600, 0x1F64F),  # emoji
    (0x10FFFE, 0x10FFFF),
]
SPECIALS = "\",;\r\n\t<>&'=+-@"


def random_texts(seed: int, count: int = 60) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        chars = []
        for _ in range(rng.randint(0, 40)):
            if rng.random() < 0.3:
                chars.append(rng.choice(SPECIALS))
            else:
                low, high = rng.choice(RANGES)
                chars.append(chr(rng.randint(low, high)))
        texts.append("".join(chars))
    return texts


def write(fmt: str, texts: list[str]) -> bytes:
    writer = make_writer(fmt, fields=FIELDS, resource="invoices", title=texts[0])
    items: list[dict[str, object]] = [
        {"id": f"i{n}", "note/text": text} for n, text in enumerate(texts)
    ]
    return writer.header() + writer.rows(items[:7]) + writer.rows(items[7:]) + writer.footer()


def no_surrogates(text: str) -> str:
    return re.sub("[\ud800-\udfff]", "?", text)


@pytest.mark.parametrize("seed", range(5))
def test_csv(seed: int) -> None:
    texts = random_texts(seed)
    data = write("csv", texts)
    table = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    expected = [no_surrogates(t) for t in texts]
    expected = ["'" + t if t[:1] in ("=", "+", "-", "@", "\t", "\r") else t for t in expected]
    assert [row[1] for row in table[1:]] == expected


@pytest.mark.parametrize("seed", range(5))
def test_json(seed: int) -> None:
    texts = random_texts(seed)
    parsed = json.loads(write("json", texts).decode("utf-8"))
    assert [item["note"]["text"] for item in parsed] == [no_surrogates(t) for t in texts]
    api = json.loads(write("json-api", texts).decode("utf-8"))
    assert [item["attributes"]["note"]["text"] for item in api["data"]] == [
        no_surrogates(t) for t in texts
    ]


@pytest.mark.parametrize("seed", range(5))
def test_xml(seed: int) -> None:
    texts = random_texts(seed)
    root = ET.fromstring(write("xml", texts))  # noqa: S314 - the writer's own output
    illegal = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
    expected = [illegal.sub("\ufffd", t) or None for t in texts]
    assert [item.findtext("note/text") or None for item in root] == expected


@pytest.mark.parametrize("seed", range(2))
def test_pdf(seed: int) -> None:
    texts = random_texts(seed)
    reader = PdfReader(io.BytesIO(write("pdf", texts)))
    text = "".join(page.extract_text() for page in reader.pages)
    assert all(f"i{n}" in text for n in range(len(texts)))
