"""Case folding that is identical on SQLite and PostgreSQL.

* PostgreSQL: `translate(lower(x), <fold-only chars>, <their folds>) COLLATE "C"`. `lower()`
  applies the per-character simple lowercase mapping of the column's libc ctype (a UTF-8
  locale such as C.UTF-8 or en_US.UTF-8; ICU collations differ only for U+0130); the translate
  adds the few simple case foldings `lower()` lacks (final sigma, micro sign, long s, ...), so
  `ΣΊΣΥΦΟΣ`, `Σίσυφος` and `σίσυφος` are one value. `COLLATE "C"` makes comparisons, ranges
  and ORDER BY code-point based whatever the column's collation.
* SQLite: a Python function registered per connection (`register_sqlite_functions`) that
  computes the same thing with `fold_text`; SQLite's BINARY collation is code-point order.

Python's `str.lower()` alone would not match PostgreSQL: it turns a word-final `Σ` into `ς`
and `İ` into two code points, while PostgreSQL's `lower()` maps character by character.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

ColumnLike = ColumnElement[Any] | QueryableAttribute[Any]
"""A table column, ORM attribute or other SQL expression."""

SQLITE_FOLD_FUNCTION = "eg_casefold"


def _fold_only_pairs() -> tuple[str, str]:
    """Characters `lower()` leaves alone but simple case folding changes (Unicode 14).

    Listed, not computed from `unicodedata` at import: scanning every code point is slow, and
    the SQL side must render exactly this table. Cherokee (which folds to uppercase) is left
    out to keep the SQL short; `lower()` treats it alike on both sides.
    """
    src = "\u00b5\u017f\u0345\u03c2\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f5"
    dst = "\u03bc\u0073\u03b9\u03c3\u03b2\u03b8\u03c6\u03c0\u03ba\u03c1\u03b5"
    src += "\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85\u1c86\u1c87\u1c88\u1e9b\u1fbe"
    dst += "\u0432\u0434\u043e\u0441\u0442\u0442\u044a\u0463\ua64b\u1e61\u03b9"
    return src, dst


FOLD_FROM, FOLD_TO = _fold_only_pairs()
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def fold_text(value: str) -> str:
    """Case-fold like the SQL side: per-character lowercase, then the fold-only table.

    U+0130 (capital I with dot) becomes a plain `i` first, its simple lowercase, as in
    PostgreSQL. `str.lower()` turns a word-final capital sigma into U+03C2; the table folds
    every U+03C2 to U+03C3, so that context sensitivity disappears.
    """
    return value.replace("\u0130", "i").lower().translate(_FOLD_TABLE)


def _sqlite_fold(value: object) -> object:
    return fold_text(value) if isinstance(value, str) else value


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """Register the fold on a new SQLite connection; call it from the engine's "connect" event.

    Works for a plain `sqlite3` connection and for SQLAlchemy's aiosqlite adapter, which exposes
    a blocking `create_function` that runs on aiosqlite's worker thread.
    """
    dbapi_connection.create_function(SQLITE_FOLD_FUNCTION, 1, _sqlite_fold, deterministic=True)


class _Folded(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "folded"


class _CodePoint(FunctionElement[Any]):
    inherit_cache = True
    name = "code_point"


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Folded)
def _folded_default(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({_args(element, compiler, **kw)})"


@compiles(_Folded, "sqlite")
def _folded_sqlite(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_FOLD_FUNCTION}({_args(element, compiler, **kw)})"


@compiles(_Folded, "postgresql")
def _folded_postgresql(element: _Folded, compiler: SQLCompiler, **kw: Any) -> str:
    src = compiler.render_literal_value(FOLD_FROM, String())
    dst = compiler.render_literal_value(FOLD_TO, String())
    return f'(translate(lower({_args(element, compiler, **kw)}), {src}, {dst}) COLLATE "C")'


@compiles(_CodePoint)
def _code_point_default(element: _CodePoint, compiler: SQLCompiler, **kw: Any) -> str:
    return _args(element, compiler, **kw)


@compiles(_CodePoint, "sqlite")
def _code_point_sqlite(element: _CodePoint, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({_args(element, compiler, **kw)} COLLATE BINARY)"


@compiles(_CodePoint, "postgresql")
def _code_point_postgresql(element: _CodePoint, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({_args(element, compiler, **kw)} COLLATE "C")'


def folded(expr: ColumnLike) -> ColumnElement[str]:
    """The case-folded text of `expr`, identical on SQLite and PostgreSQL (NULL stays NULL)."""
    return _Folded(expr)


def code_point(expr: ColumnLike) -> ColumnElement[Any]:
    """`expr` compared by code point (binary) whatever its collation: the sort tie-break."""
    return _CodePoint(expr)
