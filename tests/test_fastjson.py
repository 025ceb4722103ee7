"""app/fastjson.py answers what json.loads answers (request bodies, SQLite's JSON columns)."""

from __future__ import annotations

import json

from app import fastjson

TEXTS = [
    '{"query": "{ a }", "variables": {"id": "exp_1", "n": 3, "f": 1.5e3, "x": null}}',
    '{"a": "\\ud800"}',
    '{"a": 1, "a": 2}',
    "NaN",
    "[Infinity, -Infinity]",
    "1e400",
    "-0",
    "9223372036854775807",
    "18446744073709551616",
    "-123456789012345678901234567890",
    "[" * 2000 + "]" * 2000,
    "not json",
    "",
]


def _answer(read: object, data: str | bytes) -> str:
    try:
        value = read(data)  # type: ignore[operator]
    except (ValueError, RecursionError) as error:
        return f"{type(error).__name__}: {error}"
    return f"{type(value).__name__}: {value!r}"


def test_the_same_values_and_errors_as_json_loads() -> None:
    for text in TEXTS:
        datas: list[str | bytes] = [text, text.encode(), text.encode("utf-16")]
        for data in datas:
            assert _answer(fastjson.loads, data) == _answer(json.loads, data), data[:40]
