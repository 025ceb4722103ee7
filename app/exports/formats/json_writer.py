"""JSON: one array of objects, `/` paths nested as objects, keys in field order.

The text is assembled by hand rather than with `json.dumps(record)` because money must be a
JSON number with exactly two decimals (`10.50`), which no encoder of floats or strings emits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from app.exports.fields import Field
from app.exports.formats.base import (
    JsonFormatter,
    Node,
    Record,
    build_tree,
    encode,
    json_formatter,
)

ObjectRenderer = Callable[[Record], str]


def json_object(nodes: Sequence[Node]) -> ObjectRenderer:
    """A renderer of one record's compact JSON text, nested along `nodes`.

    Keys and per-field formatters are worked out once per export, not once per row.
    """
    members: list[tuple[str, ObjectRenderer]] = []
    for node in nodes:
        key = json.dumps(node.name, ensure_ascii=False) + ":"
        if node.field is None:
            members.append((key, json_object(node.children)))
        else:
            members.append((key, _member(node.field.path, json_formatter(node.field))))

    def render(record: Record) -> str:
        return "{" + ",".join([key + value(record) for key, value in members]) + "}"

    return render


def _member(path: str, formatter: JsonFormatter) -> ObjectRenderer:
    return lambda record: formatter(record.get(path))


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
        self._render = json_object(build_tree(fields))
        self._array = JsonArray("[", "]")

    def header(self) -> bytes:
        return self._array.header()

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._array.items([self._render(record) for record in batch])

    def footer(self) -> bytes:
        return self._array.footer()
