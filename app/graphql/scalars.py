"""Custom scalars: `DateTime` serialised exactly as REST (whole seconds, UTC, `Z`), and `Long`
for sizes beyond GraphQL's 32-bit Int. Plain NewTypes for the type checker, mapped to GraphQL
definitions through the schema's `scalar_map`."""

from __future__ import annotations

from datetime import datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from app.timefmt import isoz, parse_iso_datetime

DateTime = NewType("DateTime", datetime)
Long = NewType("Long", int)


def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO 8601 string")
    return parse_iso_datetime(value)


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Long must be an integer")
    return value


SCALARS: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="An ISO 8601 date-time in UTC with whole seconds, e.g. 2026-01-31T08:15:00Z.",
        serialize=isoz,
        parse_value=_parse_datetime,
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (file sizes can exceed GraphQL's 32-bit Int).",
        serialize=int,
        parse_value=_parse_long,
    ),
}
