"""Case folding that behaves the same on SQLite and PostgreSQL.

SQLite's built-in lower() folds ASCII only, so SQLite gets a registered Python function; on
PostgreSQL `lower()` folds Unicode. Sorting breaks ties by code point (`COLLATE "C"` on
PostgreSQL; SQLite's default BINARY collation already compares UTF-8 by code point).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

SQLITE_FOLD_FUNCTION = "eg_fold"


def fold_text(value: str | None) -> str | None:
    """The Python side of the fold, used for bound values and by SQLite."""
    return None if value is None else value.lower()


class folded(FunctionElement[str]):
    """`folded(column)`: the case-folded text of a column or expression."""

    type = String()
    inherit_cache = True
    name = "folded"


@compiles(folded)
def _fold_default(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _fold_sqlite(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({compiler.process(element.clauses, **kw)})"


def codepoint_order(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """An expression that sorts by code point on every dialect."""
    return _CodepointOrder(expr)


class _CodepointOrder(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "codepoint_order"


@compiles(_CodepointOrder)
def _codepoint_default(element: _CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


@compiles(_CodepointOrder, "sqlite")
def _codepoint_sqlite(element: _CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)}) COLLATE BINARY"


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Register the fold function on a new SQLite connection (plain or aiosqlite-adapted)."""
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, fold_text, deterministic=True)
