"""Custom scalars: `DateTime` serialised exactly as REST (whole seconds, UTC, `Z`), and `Long`
for sizes beyond GraphQL's 32-bit Int. Plain NewTypes for the type checker, mapped to GraphQL
definitions through the schema's `scalar_map`.

Bad input raises a coded GraphQLError naming what was expected: any other exception would reach
the client as graphql-core's rendering of a Python message, or be masked as an internal error."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, GraphQLScalarLiteralParser, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

from app.graphql.errors import BAD_USER_INPUT
from app.timefmt import isoz, parse_iso_datetime

DateTime = NewType("DateTime", datetime)
Long = NewType("Long", int)

DATETIME_EXPECTED = "Expected an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z."
LONG_EXPECTED = "Expected a 64-bit integer, e.g. 1048576."
LONG_RANGE = range(-(2**63), 2**63)


def bad_input(message: str, node: ValueNode | None = None) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": BAD_USER_INPUT})


def _parse_datetime(value: object) -> datetime:
    if isinstance(value, str):
        try:
            return parse_iso_datetime(value)
        except (ValueError, OverflowError):  # OverflowError: out of range once in UTC
            pass
    raise bad_input(DATETIME_EXPECTED)


def _parse_long(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in LONG_RANGE:
        return value
    raise bad_input(LONG_EXPECTED)


def _literal(parse: Callable[[object], object]) -> GraphQLScalarLiteralParser:
    """A literal is parsed like a variable's value, and its error points at the literal."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> object:
        try:
            return parse(value_from_ast_untyped(node, variables))
        except GraphQLError as error:
            raise bad_input(error.message, node) from None

    return parse_literal


SCALARS: dict[object, ScalarDefinition] = {
    DateTime: strawberry.scalar(
        name="DateTime",
        description="An ISO 8601 date-time in UTC with whole seconds, e.g. 2026-01-31T08:15:00Z.",
        serialize=isoz,
        parse_value=_parse_datetime,
        parse_literal=_literal(_parse_datetime),
    ),
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit integer (file sizes can exceed GraphQL's 32-bit Int).",
        serialize=int,
        parse_value=_parse_long,
        parse_literal=_literal(_parse_long),
    ),
}
