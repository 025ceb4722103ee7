"""JSON:API: `{"data": [{"type", "id", "attributes"}]}`, streamed like the plain json format.

`id` is always the record's id (a string, as JSON:API requires) and is never repeated among
the attributes. Other fields keep their names, including a resource's own `type` field: it
lives inside `attributes`, so it cannot collide with the resource object's `type`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.exports.fields import Field
from app.exports.formats.base import Record, build_tree
from app.exports.formats.json_writer import JsonArray, json_object


class JsonApiWriter:
    """One resource object per record; an empty export is `{"data": []}`."""

    content_type = "application/vnd.api+json"
    extension = "json"

    def __init__(self, fields: Sequence[Field], *, resource: str) -> None:
        self._type = json.dumps(resource, ensure_ascii=False)
        self._attributes = json_object(build_tree([f for f in fields if f.path != "id"]))
        self._array = JsonArray('{"data":[', "]}")

    def header(self) -> bytes:
        return self._array.header()

    def rows(self, batch: Sequence[Record]) -> bytes:
        return self._array.items([self._resource_object(record) for record in batch])

    def footer(self) -> bytes:
        return self._array.footer()

    def _resource_object(self, record: Record) -> str:
        record_id = record.get("id")
        if record_id is None:
            raise ValueError("a json-api record needs an id")
        return (
            f'{{"type":{self._type},"id":{json.dumps(str(record_id), ensure_ascii=False)},'
            f'"attributes":{self._attributes(record)}}}'
        )
