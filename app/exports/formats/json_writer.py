"""JSON: one array of objects, `/` paths nested as objects, keys in field order.

The text is assembled by hand rather than with `json.dumps(record)` because money must be a
JSON number with exactly two decimals (`10.50`), which no encoder of floats or strings emits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.exports.fields import Field
from app.exports.formats.base import Node, Record, build_tree, encode, json_value


def json_object(nodes: Sequence[Node], record: Record) -> str:
    """The compact JSON text of one record, nested along `nodes`."""
    members: list[str] = []
    for node in nodes:
        key = json.dumps(node.name, ensure_ascii=False)
        if node.field is None:
            members.append(f"{key}:{json_object(node.children, record)}")
        else:
            members.append(f"{key}:{json_value(record.get(node.field.path), node.field)}")
    return "{" + ",".join(members) + "}"


class JsonArray:
    """The streaming skeleton shared by json and json-api: `open`, items one per line, `close`.

    It remembers across batches whether an item was written, which decides the separator.
    """

    def __init__(self, open_text: str, close_text: str) -> None:
        self._open = open_text
        self._close = close_text
        self._written = False

    def header(self) -> bytes:
        return encode(self._open)

    def items(self, texts: Sequence[str]) -> bytes:
        if not texts:
            return b""
        lead = ",\n" if self._written else "\n"
        self._written = True
        return encode(lead + ",\n".join(texts))

    def footer(self) -> bytes:
        return encode(("\n" if self._written else "") + self._close + "\n")


class JsonWriter:
    """`[`, then each batch's objects, then `]`; an empty export is `[]`."""

    content_type = "application/json"
    extension = "json"

    def __init__(self, fields: Sequence[Field]) -> None:
        self._tree = build_tree(fields)
        self._array = JsonArray("[", "]")

    def header(self) -> bytes:
        return self._array.header()

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._array.items([json_object(self._tree, record) for record in batch])

    def footer(self) -> bytes:
        return self._array.footer()
