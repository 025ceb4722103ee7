"""Typed field metadata shared by validation, querying and the format writers.

A field is named by its API path (`billingAddress/country`); filters and sorts spell the same
field with dots (`billingAddress.country`). Values travel through the core as plain Python:
str, int, bool, Decimal (money, two places), aware UTC datetime, or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a field's values are typed, compared and rendered."""

    STRING = "string"
    INTEGER = "integer"
    MONEY = "money"
    BOOLEAN = "boolean"
    DATETIME = "datetime"


@dataclass(frozen=True, slots=True)
class Field:
    """One exportable (or filterable) field of a resource."""

    path: str
    kind: Kind
    column: str
    description: str = ""

    @property
    def dotted(self) -> str:
        """The spelling used by `filter` and `sort`."""
        return self.path.replace("/", ".")
