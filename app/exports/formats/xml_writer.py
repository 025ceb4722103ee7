"""XML: `<resources><resource>…` with fields as elements and `/` paths as nested elements.

The output must parse whatever the data holds, so text is escaped, characters XML 1.0 forbids
(control characters other than tab/LF/CR, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, and CR
is written as `&#13;` so a parser does not fold it into LF. None is an empty element (`<x/>`);
XML cannot tell it apart from an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.exports.fields import Field
from app.exports.formats.base import Node, Record, build_tree, encode, text_value

_NOT_XML_CHAR = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Field paths and resource names are camelCase identifiers; anything else is refused up front.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_SINGULAR = {
    "transactions": "transaction",
    "customers": "customer",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "invoiceItems": "invoiceItem",
}


def xml_text(text: str) -> str:
    """Character data that always parses back to `text` (bar the characters XML forbids)."""
    return _NOT_XML_CHAR.sub("\ufffd", text).translate(_ESCAPES)


def singular(resource: str) -> str:
    """The record element's name: the known resources, else the plural `s` dropped."""
    if resource in _SINGULAR:
        return _SINGULAR[resource]
    return resource[:-1] if len(resource) > 1 and resource.endswith("s") else "record"


class XmlWriter:
    """Each call formats only its own records; the root element spans header to footer."""

    content_type = "application/xml; charset=utf-8"
    extension = "xml"

    def __init__(self, fields: Sequence[Field], *, resource: str) -> None:
        self._tree = build_tree(fields)
        self._root = resource
        self._item = singular(resource)
        for name in (self._root, self._item, *_names(self._tree)):
            if not _NAME.match(name):
                raise ValueError(f"{name!r} cannot be an XML element name")

    def header(self) -> bytes:
        return encode(f'<?xml version="1.0" encoding="UTF-8"?>\n<{self._root}>\n')

    def rows(self, batch: Sequence[Record]) -> bytes:
        parts: list[str] = []
        for record in batch:
            parts.append(f"<{self._item}>")
            _elements(self._tree, record, parts)
            parts.append(f"</{self._item}>\n")
        return encode("".join(parts))

    def footer(self) -> bytes:
        return encode(f"</{self._root}>\n")


def _elements(nodes: Sequence[Node], record: Record, parts: list[str]) -> None:
    for node in nodes:
        if node.field is None:
            parts.append(f"<{node.name}>")
            _elements(node.children, record, parts)
            parts.append(f"</{node.name}>")
            continue
        text = text_value(record.get(node.field.path), node.field)
        if text is None:
            parts.append(f"<{node.name}/>")
        else:
            parts.append(f"<{node.name}>{xml_text(text)}</{node.name}>")


def _names(nodes: Sequence[Node]) -> list[str]:
    names: list[str] = []
    for node in nodes:
        names.append(node.name)
        names.extend(_names(node.children))
    return names
