"""The one query grammar of the API (spec section 4): `filter`, `sort` and `q` turned into SQL.

Used for the data-exports collection and, with the exported resource's fields, for an export's
`arguments`. Everything a user can type is validated here and reported as `QueryError` naming
the offending parameter, so callers can map it straight to a 422.

Text compares, searches and sorts by the case fold of `app.textfold`, the same on SQLite and
PostgreSQL. A field may be spelled `a.b` or `a/b`; an enumerated field's values (exact, range
ends, negated) must be among its allowed ones, so a typo is a 422 rather than an empty result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, false, not_, or_
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.exports.fields import Allowed, Kind, choices_text, did_you_mean, dotted_path
from app.textfold import ColumnLike, code_point, fold_text, folded
from app.timefmt import parse_iso_datetime

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# --- fields and errors --------------------------------------------------------------------


@dataclass(frozen=True)
class QueryField:
    """A filterable/sortable field: its dotted API name, kind, SQL expression and, for an
    enumerated text field, its allowed values."""

    name: str
    kind: Kind
    column: ColumnLike
    allowed: Allowed | None = None


class QueryError(ValueError):
    """A bad `filter`, `sort`, `q`, `limit` or `offset`; `field` names the parameter (a 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _expr(column: ColumnLike) -> ColumnElement[Any]:
    return column.__clause_element__() if isinstance(column, QueryableAttribute) else column


# --- filter grammar -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    low: str | None
    high: str | None


@dataclass(frozen=True)
class _Term:
    text: str
    name: str
    negated: bool
    values: tuple[str | _Range, ...]


def _filter_error(term: str, problem: str) -> QueryError:
    return QueryError("filter", f'Invalid filter term "{term}": {problem}')


def _parse_terms(text: str | None) -> list[_Term]:
    """Split `filter` into terms; syntax only (no field or value checks)."""
    if not text:
        return []
    parts = text.split(";")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing ";" is tolerated
    terms: list[_Term] = []
    for part in parts:
        if not part:
            raise QueryError("filter", 'Empty filter term; join "field:value" terms with ";".')
        name, colon, raw = part.partition(":")  # values may contain ":" (times)
        if not colon:
            raise _filter_error(part, 'expected "field:value".')
        if not name:
            raise _filter_error(part, "missing field name.")
        if not raw:
            raise _filter_error(part, f'no value for field "{name}".')
        items = raw.split(",")
        negated = items[0].startswith("!")
        if negated:  # "!a,!b" and the older "!a,b" both exclude a and b
            items = [i[1:] if i.startswith("!") else i for i in items]
        elif any(i.startswith("!") for i in items):
            raise _filter_error(part, 'negate the first value ("!a,!b") to exclude values.')
        values: list[str | _Range] = []
        for item in items:
            if not item:
                raise _filter_error(part, f'empty value for field "{name}".')
            if ".." in item:
                low, _, high = item.partition("..")
                if not low and not high:
                    raise _filter_error(part, 'a range needs at least one end ("a..b").')
                values.append(_Range(low or None, high or None))
            else:
                values.append(item)
        terms.append(_Term(part, name, negated, tuple(values)))
    return terms


_INTEGER = re.compile(r"[+-]?[0-9]+")
_MONEY = re.compile(r"[+-]?[0-9]+(?:\.[0-9]{1,2})?")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def _int64(value: int) -> int:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise ValueError("out of range")
    return value


_KIND_NAMES = {
    Kind.STRING: "text",
    Kind.INTEGER: "an integer",
    Kind.MONEY: "an amount with at most two decimals",
    Kind.BOOLEAN: "true or false",
    Kind.DATETIME: "an RFC 3339 date-time",
}


def _typed(value: str, field: QueryField, term: str, check_values: bool) -> object:
    """A filter value as the field's Python/database value (money in cents, folded text)."""
    if check_values and field.allowed is not None and value not in field.allowed:
        raise QueryError("filter", field.allowed.unknown(value, field.name))
    try:
        match field.kind:
            case Kind.STRING:
                return fold_text(value)
            case Kind.INTEGER:
                if _INTEGER.fullmatch(value):
                    return _int64(int(value))
            case Kind.MONEY:
                if _MONEY.fullmatch(value):
                    return _int64(int(Decimal(value) * 100))
            case Kind.BOOLEAN:
                if value.lower() in _BOOLEANS:
                    return _BOOLEANS[value.lower()]
            case Kind.DATETIME:
                return parse_iso_datetime(value, whole_seconds=False)
    except (ValueError, OverflowError):
        pass
    raise _filter_error(term, f'"{value}" is not {_KIND_NAMES[field.kind]} (field "{field.name}").')


def _unknown_field(name: str, fields: Mapping[str, QueryField]) -> str:
    """`unknown field "x"; use one of: …` with every field, or the closest few of a long list."""
    known = choices_text(name, sorted(fields))
    hint = did_you_mean(name, fields, '"')
    return f'unknown field "{name}"; use one of: {known}{hint}.'


def lookup(name: str, fields: Mapping[str, QueryField]) -> QueryField | None:
    """The field named `name`, spelled `a.b` or `a/b`."""
    return fields.get(dotted_path(name))


def _term_clause(term: _Term, field: QueryField, check_values: bool) -> ColumnElement[bool]:
    column = _expr(field.column)
    target = folded(column) if field.kind is Kind.STRING else column
    exact: list[object] = []
    conditions: list[ColumnElement[bool]] = []
    for value in term.values:
        if isinstance(value, str):
            exact.append(_typed(value, field, term.text, check_values))
            continue
        if field.kind is Kind.BOOLEAN:
            raise _filter_error(term.text, f'field "{field.name}" cannot be a range.')
        bounds: list[ColumnElement[bool]] = []
        if value.low is not None:
            bounds.append(target >= _typed(value.low, field, term.text, check_values))
        if value.high is not None:
            bounds.append(target <= _typed(value.high, field, term.text, check_values))
        conditions.append(and_(*bounds))
    if len(exact) == 1:
        conditions.insert(0, target == exact[0])
    elif exact:
        conditions.insert(0, target.in_(exact))
    match = or_(*conditions)
    if term.negated:  # a NULL is not any of the excluded values, so it is kept
        return or_(column.is_(None), not_(match))
    return match


def parse_filter(
    text: str | None, fields: Mapping[str, QueryField], *, check_values: bool = True
) -> ColumnElement[bool] | None:
    """`filter` as a WHERE condition, or None when empty.

    `check_values=False` skips the enumerated-value check, for stored arguments only: they were
    checked when accepted, and one stored before values were checked must still run.

    Terms are ANDed, a term's values ORed; `..` ranges are inclusive; text matches by fold.
    A negated term (`status:!failed`) excludes the values but keeps rows where the field is
    NULL, since "not failed" is true of a transaction without a status.
    """
    clauses: list[ColumnElement[bool]] = []
    for term in _parse_terms(text):
        field = lookup(term.name, fields)
        if field is None:
            raise _filter_error(term.text, _unknown_field(term.name, fields))
        clauses.append(_term_clause(term, field, check_values))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else and_(*clauses)


# --- sort ---------------------------------------------------------------------------------


def _parse_sort(text: str | None) -> list[tuple[str, bool]]:
    """`sort` as (name, descending) pairs; syntax and duplicates only."""
    if not text:
        return []
    items: list[tuple[str, bool]] = []
    seen: set[str] = set()
    for item in text.split(","):
        descending = item.startswith("-")
        name = item[1:] if item[:1] in ("-", "+") else item
        if not name:
            raise QueryError("sort", 'Empty sort item; use "field" or "-field", comma-separated.')
        if dotted_path(name) in seen:
            raise QueryError("sort", f'Field "{name}" appears more than once in sort.')
        seen.add(dotted_path(name))
        items.append((name, descending))
    return items


def sort_fields(
    text: str | None, fields: Mapping[str, QueryField]
) -> list[tuple[QueryField, bool]]:
    """`sort` as (field, descending) pairs, every name checked (keyset paging needs the fields,
    not just the ORDER BY)."""
    found: list[tuple[QueryField, bool]] = []
    for name, descending in _parse_sort(text):
        field = lookup(name, fields)
        if field is None:
            known = choices_text(name, sorted(fields))
            hint = did_you_mean(name, fields, '"')
            raise QueryError("sort", f'Unknown sort field "{name}"; use one of: {known}{hint}.')
        found.append((field, descending))
    return found


def sort_exprs(field: QueryField) -> list[ColumnElement[Any]]:
    """What a field sorts by: text by fold, then code point; anything else by its value."""
    column = _expr(field.column)
    return [folded(column), code_point(column)] if field.kind is Kind.STRING else [column]


def parse_sort(text: str | None, fields: Mapping[str, QueryField]) -> list[ColumnElement[Any]]:
    """`sort` as ORDER BY clauses (callers append their own stable tie-break, e.g. the id).

    Text sorts by fold, then code point. NULL sorts as the largest value on both databases
    (last ascending, first descending: PostgreSQL's default, spelled out for SQLite).
    """
    order: list[ColumnElement[Any]] = []
    for field, descending in sort_fields(text, fields):
        for key in sort_exprs(field):
            order.append(key.desc().nulls_first() if descending else key.asc().nulls_last())
    return order


# --- q ------------------------------------------------------------------------------------


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def q_clause(q: str | None, text_columns: Sequence[ColumnLike]) -> ColumnElement[bool] | None:
    """`q` as a case-insensitive substring match over the text columns (ORed), or None.

    Surrounding whitespace is ignored; `%`, `_` and `\\` are literal. With no text columns
    nothing can match, which is an empty result rather than an error.
    """
    needle = (q or "").strip()
    if not needle:
        return None
    if not text_columns:
        return false()
    pattern = f"%{_like_escape(fold_text(needle))}%"
    return or_(*(folded(_expr(c)).like(pattern, escape="\\") for c in text_columns))
