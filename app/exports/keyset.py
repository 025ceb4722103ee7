"""Keyset (seek) paging: a position is the sort-key values of a row, not its offset.

A page starts strictly after (or before) a position, so rows inserted or deleted between two
requests never shift it: no row repeats and none is skipped among those that stay, even when
the row a cursor came from is gone. The order is the collection's: the requested sort keys
(text by fold then code point, NULL as the largest value), then the stable tie-break the caller
gives (for exports `createdTime` then `id`, both descending), which makes it total.

Positions carry what they were made for (the canonical sort and a fingerprint of filter and
q), so one used with another listing is refused naming the argument it came in, rather than
quietly starting somewhere else. Surfaces turn positions into opaque cursors and back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, false, literal, or_, true
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.errors import Invalid
from app.exports.fields import Kind
from app.exports.query import QueryField
from app.textfold import code_point, folded

Scalar = str | int | bool | None
"""A key value as a cursor holds it: text, a number, a flag, an ISO date-time, or null."""


@dataclass(frozen=True)
class Key:
    """One key of the order: a column read from rows by `attribute`, compared by fold and code
    point when `by_fold` (text sorts), else by value."""

    name: str
    kind: Kind
    column: ColumnElement[Any]
    attribute: str
    descending: bool
    by_fold: bool
    nullable: bool

    def exprs(self) -> list[ColumnElement[Any]]:
        if self.by_fold:
            return [folded(self.column), code_point(self.column)]
        return [self.column]

    def literals(self, value: Any) -> list[ColumnElement[Any] | None]:
        """The value as SQL beside each of `exprs()` (None for NULL)."""
        if value is None:
            return [None] * len(self.exprs())
        if self.by_fold:
            text = literal(value, String())
            return [folded(text), code_point(text)]
        return [literal(value, self.column.type)]


def _column(field: QueryField) -> tuple[ColumnElement[Any], str]:
    attr = field.column
    if not isinstance(attr, QueryableAttribute):
        raise TypeError(f"keyset paging needs a mapped column, not {attr!r}")
    expr = attr.__clause_element__()
    return expr, attr.key


def key_of(field: QueryField, descending: bool, *, by_fold: bool | None = None) -> Key:
    """The key for a sort field; `by_fold=False` compares text as the column does (a
    tie-break on a unique id needs no fold)."""
    column, attribute = _column(field)
    return Key(
        name=field.name,
        kind=field.kind,
        column=column,
        attribute=attribute,
        descending=descending,
        by_fold=field.kind is Kind.STRING if by_fold is None else by_fold,
        nullable=bool(getattr(column, "nullable", True)),
    )


def canonical_sort(sort: Sequence[tuple[QueryField, bool]]) -> str:
    """`-createdTime,name`: how a sort is spelled in a position, whatever spelling made it."""
    return ",".join(("-" if descending else "") + field.name for field, descending in sort)


def scope_of(filter: str | None, q: str | None) -> str:
    """A fingerprint of the rows a listing covers (its filter and q)."""
    text = f"{filter or ''}\x00{(q or '').strip()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Position:
    """Where a page starts or ends: a row's key values, and the listing they belong to."""

    sort: str
    scope: str
    values: tuple[Scalar, ...]


def _dump(key: Key, value: Any) -> Scalar:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"no cursor form for {key.name} value {value!r}")


def position_of(row: Any, keys: Sequence[Key], sort: str, scope: str) -> Position:
    return Position(sort, scope, tuple(_dump(k, getattr(row, k.attribute)) for k in keys))


_KIND_TYPES: dict[Kind, tuple[type, ...]] = {
    Kind.STRING: (str,),
    Kind.INTEGER: (int,),
    Kind.MONEY: (int,),
    Kind.BOOLEAN: (bool,),
    Kind.DATETIME: (str,),
}


def _load(key: Key, value: Scalar) -> Any:
    if value is None:
        if not key.nullable:
            raise ValueError(f"{key.name} cannot be null")
        return None
    if not isinstance(value, _KIND_TYPES[key.kind]) or (
        key.kind is not Kind.BOOLEAN and isinstance(value, bool)
    ):
        raise ValueError(f"{key.name} has the wrong type")
    if key.kind is Kind.DATETIME:
        assert isinstance(value, str)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError(f"{key.name} has no time zone")
        return moment
    return value


def check_position(
    position: Position, keys: Sequence[Key], sort: str, scope: str, argument: str
) -> list[Any]:
    """The position's values, typed for `keys`; a position from another listing (or one that
    does not fit the keys) is an Invalid naming `argument`."""
    if position.sort != sort:
        made = f'"{position.sort}"' if position.sort else "the default order"
        now = f'"{sort}"' if sort else "the default order"
        raise Invalid.one(
            argument,
            f"This cursor was made for sort {made}, not {now}: page with the sort it was made "
            f"for, or start again without {argument}.",
        )
    if position.scope != scope:
        raise Invalid.one(
            argument,
            "This cursor was made for another filter or q: page with the filter and q it was "
            f"made for, or start again without {argument}.",
        )
    if len(position.values) != len(keys):
        raise Invalid.one(argument, "Not a cursor of this connection.")
    try:
        return [_load(k, v) for k, v in zip(keys, position.values, strict=True)]
    except ValueError:
        raise Invalid.one(argument, "Not a cursor of this connection.") from None


def order_by(keys: Sequence[Key], *, reverse: bool = False) -> list[ColumnElement[Any]]:
    """ORDER BY for `keys`; NULL is the largest value (last ascending, first descending), so
    `reverse` is exactly the opposite order."""
    clauses: list[ColumnElement[Any]] = []
    for key in keys:
        descending = key.descending != reverse
        for expr in key.exprs():
            clauses.append(expr.desc().nulls_first() if descending else expr.asc().nulls_last())
    return clauses


def _later(
    expr: ColumnElement[Any], value: ColumnElement[Any] | None, descending: bool, nullable: bool
) -> ColumnElement[bool]:
    """`expr` comes strictly after `value` in this direction (NULL the largest value)."""
    if descending:
        if value is None:
            return expr.is_not(None) if nullable else true()
        return and_(expr.is_not(None), expr < value) if nullable else expr < value
    if value is None:
        return false()
    return or_(expr > value, expr.is_(None)) if nullable else expr > value


def _same(
    expr: ColumnElement[Any], value: ColumnElement[Any] | None, nullable: bool
) -> ColumnElement[bool]:
    if value is None:
        return expr.is_(None) if nullable else false()
    return and_(expr.is_not(None), expr == value) if nullable else expr == value


def after(
    keys: Sequence[Key], values: Sequence[Any], *, reverse: bool = False
) -> ColumnElement[bool]:
    """Rows strictly after the position `values` in the order of `keys` (before it when
    `reverse`): `(a > x) OR (a = x AND b > y) OR …`, spelled out so that mixed directions and
    NULLs work on every database. Never NULL for a row, so `NOT after(…)` is its complement."""
    parts: list[tuple[ColumnElement[Any], ColumnElement[Any] | None, bool, bool]] = []
    for key, value in zip(keys, values, strict=True):
        for expr, lit in zip(key.exprs(), key.literals(value), strict=True):
            parts.append((expr, lit, key.descending != reverse, key.nullable))
    alternatives: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for expr, lit, descending, nullable in parts:
        alternatives.append(and_(*equal, _later(expr, lit, descending, nullable)))
        equal.append(_same(expr, lit, nullable))
    return or_(*alternatives)
