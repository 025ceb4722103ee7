"""JSON: one array of objects, `/` paths nested as objects, keys in field order.

The text is assembled by hand rather than with `json.dumps(record)` because money must be a
JSON number with exactly two decimals (`10.50`), which no encoder of floats or strings emits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from app.exports.fields import Field, Kind
from app.exports.formats.base import (
    Column,
    JsonFormatter,
    Node,
    Record,
    build_tree,
    dump_string,
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
    """`[`, then each batch's objects, then `]`; an empty export is `[]`.

    A batch is rendered a column at a time: each value's JSON text in bulk, then every object
    from one %-template of the nested keys (`{"id":%s,"billingAddress":{"country":%s}}`), so
    no Python code runs per object.
    """

    content_type = "application/json"
    extension = "json"

    def __init__(self, fields: Sequence[Field]) -> None:
        self._fields = tuple(fields)
        pieces: list[str] = [""]
        self._leaves: list[tuple[int, Field, JsonFormatter]] = []
        self._layout(build_tree(self._fields), pieces)
        self._pieces = [piece.replace("%", "%%") for piece in pieces]
        self._array = JsonArray("[", "]")

    def _layout(self, nodes: Sequence[Node], pieces: list[str]) -> None:
        """The template's literal text around each leaf, leaves in the order the keys go."""
        pieces[-1] += "{"
        for n, node in enumerate(nodes):
            pieces[-1] += ("," if n else "") + json.dumps(node.name, ensure_ascii=False) + ":"
            if node.field is None:
                self._layout(node.children, pieces)
            else:
                index = self._fields.index(node.field)
                self._leaves.append((index, node.field, json_formatter(node.field)))
                pieces.append("")
        pieces[-1] += "}"

    def header(self) -> bytes:
        return self._array.header()

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self.columns([Column([r.get(f.path) for r in batch]) for f in self._fields])

    def columns(self, batch: Sequence[Column]) -> bytes:
        texts, template = [], [self._pieces[0]]
        for (index, field, formatter), piece in zip(self._leaves, self._pieces[1:], strict=True):
            values, quoted = _json_texts(batch[index], field, formatter)
            texts.append(values)
            template += ('"%s"' if quoted else "%s", piece)
        objects = list(map("".join(template).__mod__, zip(*texts, strict=True)))
        return self._array.items(objects)

    def footer(self) -> bytes:
        return self._array.footer()


def _json_texts(
    column: Column, field: Field, formatter: JsonFormatter
) -> tuple[Sequence[str], bool]:
    """A column's JSON texts as `formatter` makes them one by one, in bulk where it can; True
    when they still need their quotes (rendered date-times: the template adds them)."""
    values = column.values
    nulls = None in values
    if column.rendered:  # money is a bare number, a date-time a string with nothing to escape
        quoted = field.kind is Kind.DATETIME
        if not nulls:
            return values, quoted  # type: ignore[return-value]
        if quoted:
            return ["null" if v is None else f'"{v}"' for v in values], False
        return ["null" if v is None else v for v in values], False  # type: ignore[misc]
    if field.kind is Kind.STRING and not nulls:
        if _nothing_to_escape(values):
            return values, True  # type: ignore[return-value]
        try:
            return list(map(dump_string, values)), False  # type: ignore[arg-type]
        except TypeError:  # not all text
            pass
    return list(map(formatter, values)), False


def _nothing_to_escape(values: Sequence[object]) -> bool:
    """Whether every value is a str that `dump_string` would only put in quotes: no `"`,
    no backslash, no control character below U+0020 (what it escapes; other text, non-ASCII
    included, stays as it is). One C pass each: the types, isprintable (False for every
    control character, and for some other text, which then simply takes the general way),
    two memchr scans."""
    if set(map(type, values)) != {str}:
        return False
    joined = "".join(values)  # type: ignore[arg-type]
    return joined.isprintable() and '"' not in joined and "\\" not in joined
