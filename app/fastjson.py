"""json.loads' answers at orjson's speed (issue 8: request bodies, SQLite's JSON columns).

orjson reads valid JSON as json.loads does, except what it refuses (NaN and Infinity, lone
surrogates, text json.loads decodes from UTF-16 or UTF-32 bytes, nesting past 1024 levels)
and integers past 64 bits, which it reads as floats where json.loads keeps ints. Those, and
any text with a run of 19 digits, go to json.loads itself, which answers (or fails) exactly
as before."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

LONG_NUMBER = re.compile(r"[0-9]{19}")
LONG_NUMBER_BYTES = re.compile(rb"[0-9]{19}")


def loads(data: str | bytes) -> Any:
    """What `json.loads(data)` returns, or the error it raises."""
    long_number = LONG_NUMBER if isinstance(data, str) else LONG_NUMBER_BYTES
    if len(data) < 19 or long_number.search(data) is None:  # type: ignore[arg-type]
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
