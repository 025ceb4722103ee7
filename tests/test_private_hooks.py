"""The library internals app/ leans on (README, "Private hooks"), each touched on a tiny input.

An upgrade that changes one fails here with a message naming the hook, before anything subtler
breaks. `test_no_unlisted_private_hook` keeps the list whole: an underscore attribute of a
library, read or overridden anywhere in app/, must be listed (and checked) here."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import cross_web
import pytest
import strawberry
from fpdf import FPDF
from fpdf.fonts import TTFFont
from graphql import ExecutionResult, GraphQLError, ValuesOfCorrectTypeRule, parse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.extensions import SchemaExtension, ValidationCache
from strawberry.http import async_base_view
from strawberry.http.async_base_view import AsyncBaseHTTPView
from strawberry.http.base import BaseView
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

import app
from app.exports.formats.pdf import CJK_FONT, REGULAR_FONT
from app.graphql import ide, view, websocket

APP = Path(app.__file__).resolve().parent

# Library attributes whose names start with one underscore, read or overridden in app/, and
# where. Each has a check below and a line in the README.
PRIVATE_HOOKS: set[tuple[str, str]] = {("_bind_processors", "app/exports/pg_copy.py")}

# Undocumented (though not underscored) methods of library classes that app/ overrides: their
# upstream definitions must still exist, with the parameters ours take.
UNDOCUMENTED_OVERRIDES: list[tuple[type[Any], str, type[Any]]] = [
    (websocket.TimedTransportWSHandler, "send_message", BaseGraphQLTransportWSHandler),
    (websocket.TimedTransportWSHandler, "forget_id", BaseGraphQLTransportWSHandler),
    (websocket.TimedTransportWSHandler, "handle_message", BaseGraphQLTransportWSHandler),
    (websocket.TimedTransportWSHandler, "handle_subscribe", BaseGraphQLTransportWSHandler),
    (websocket.TimedTransportWSHandler, "run_operation", BaseGraphQLTransportWSHandler),
    (websocket.BoundedCloseAdapter, "close", ASGIWebSocketAdapter),
    (view.GatewayGraphQL, "execute_single", AsyncBaseHTTPView),
    (view.GatewayGraphQL, "encode_json", BaseView),
    (view.GatewayGraphQL, "decode_json", BaseView),
    (view.GatewayGraphQL, "parse_json", BaseView),
    (ide._IDEStaticFiles, "file_response", StaticFiles),
]


# --- the list is whole --------------------------------------------------------------------


def _app_modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(app.__path__, "app."):
        if ".migrations" not in info.name and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def _library_bases(cls: type[Any]) -> Iterator[type[Any]]:
    for base in cls.__mro__[1:]:
        if base.__module__.split(".")[0] not in ("app", "builtins"):
            yield base


def _private_reads() -> set[tuple[str, str]]:
    """`x._name` (or getattr(x, "_name")) where no code in app/ defines `_name`."""
    trees = {p: ast.parse(p.read_text()) for p in APP.rglob("*.py") if "migrations" not in p.parts}
    defined: set[str] = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.id if isinstance(node, ast.Name) else node.attr)
    found: set[tuple[str, str]] = set()
    for path, tree in trees.items():
        where = str(path.relative_to(APP.parent))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and node.attr not in defined:
                name = node.attr
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr", "setattr")
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
            ):
                name = str(node.args[1].value)
            if name and name.startswith("_") and not name.startswith("__"):
                found.add((name, where))
    return found


def _written_in(cls: type[Any]) -> Iterator[tuple[str, Callable[..., Any]]]:
    """The functions written in the body of an app/ class (not generated by a library)."""
    for name, value in vars(cls).items():
        function = getattr(value, "__func__", value)
        if inspect.isfunction(function) and function.__qualname__ == f"{cls.__qualname__}.{name}":
            yield name, function


def _app_classes() -> Iterator[type[Any]]:
    for module in _app_modules():
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                yield cls


def _private_overrides() -> set[tuple[str, str]]:
    """Methods with one leading underscore, written in an app/ class, that a library base has."""
    found: set[tuple[str, str]] = set()
    for cls in _app_classes():
        for name, _ in _written_in(cls):
            private = name.startswith("_") and not name.startswith("__")
            if private and any(name in vars(base) for base in _library_bases(cls)):
                where = Path(inspect.getfile(cls)).resolve().relative_to(APP.parent)
                found.add((name, str(where)))
    return found


def test_no_unlisted_private_hook() -> None:
    used = _private_reads() | _private_overrides()
    assert not used - PRIVATE_HOOKS, (
        f"app/ uses library internals not checked here: {sorted(used - PRIVATE_HOOKS)}; "
        "use public API, or add a check below, a PRIVATE_HOOKS entry and a README line"
    )
    assert not PRIVATE_HOOKS - used, (
        f"app/ no longer uses {sorted(PRIVATE_HOOKS - used)}: remove its PRIVATE_HOOKS "
        "entry, its check below and its README line"
    )


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [p.name for p in inspect.signature(function).parameters.values()]


def test_every_override_takes_the_parameters_upstream_passes() -> None:
    """Whatever app/ overrides on a library class, it takes the arguments the library calls it
    with (`__init__` excepted: ours are called by app/ itself)."""
    for cls in _app_classes():
        for name, function in _written_in(cls):
            if name == "__init__":
                continue
            upstream = next((b for b in _library_bases(cls) if name in vars(b)), None)
            if upstream is None or not inspect.isfunction(vars(upstream)[name]):
                continue
            ours, theirs = _parameters(function), _parameters(vars(upstream)[name])
            assert ours == theirs, (
                f"{upstream.__module__}.{upstream.__qualname__}.{name}{theirs} is overridden "
                f"by {cls.__module__}.{cls.__qualname__}.{name}{ours}"
            )


@pytest.mark.parametrize(
    ("cls", "name", "upstream"),
    UNDOCUMENTED_OVERRIDES,
    ids=[f"{c.__name__}.{n}" for c, n, _ in UNDOCUMENTED_OVERRIDES],
)
def test_undocumented_methods_overridden_still_exist(
    cls: type[Any], name: str, upstream: type[Any]
) -> None:
    hook = f"{upstream.__module__}.{upstream.__qualname__}.{name}"
    assert issubclass(cls, upstream), f"{cls.__qualname__} no longer derives from {hook}"
    assert inspect.isfunction(vars(upstream).get(name)), f"{hook} is gone"
    assert _parameters(vars(cls)[name]) == _parameters(vars(upstream)[name]), f"{hook} changed"


# --- Strawberry ---------------------------------------------------------------------------


def test_strawberry_view_uses_the_handler_and_adapter_classes() -> None:
    """view.py plugs its WebSocket handler and adapter in as class attributes of the view."""
    run = inspect.getsource(AsyncBaseHTTPView.run)
    for attribute in ("graphql_transport_ws_handler_class", "websocket_adapter_class"):
        assert f"self.{attribute}(" in run, f"AsyncBaseHTTPView.run no longer uses {attribute}"


def test_strawberry_raises_cross_web_http_exceptions() -> None:
    """view.py catches the HTTPException Strawberry's view raises (imported from cross-web), and
    tells a mutation over GET by the InvalidOperationTypeError it is raised from."""
    raised = vars(async_base_view)["HTTPException"]
    assert raised is cross_web.HTTPException, (
        "Strawberry no longer raises cross-web's HTTPException"
    )
    error = cross_web.HTTPException(405, "reason")
    assert (error.status_code, error.reason) == (405, "reason"), "HTTPException attributes"
    cause = InvalidOperationTypeError(OperationType.MUTATION)
    assert cause.operation_type is OperationType.MUTATION, "InvalidOperationTypeError"


class _Websocket:
    def __init__(self) -> None:
        self.closed: list[tuple[int, str]] = []

    async def close(self, code: int, reason: str) -> None:
        self.closed.append((code, reason))


def test_strawberry_transport_ws_handler_internals() -> None:
    """websocket.py overrides the handler's message methods and reads `operations`; an
    operation forgets its id through `forget_id` before its final message is sent."""
    calls: list[object] = []

    class Handler(BaseGraphQLTransportWSHandler[None, None]):
        async def handle_subscribe(self, message: Any) -> None:
            calls.append(("subscribe", message["id"]))

        def forget_id(self, id: str) -> None:
            calls.append(("forget", id))

        async def send_message(self, message: Any) -> None:
            calls.append(("send", message["type"]))

    socket = _Websocket()
    handler = Handler(None, socket, None, None, None, timedelta(seconds=1))  # type: ignore[arg-type]
    assert handler.operations == {}, "BaseGraphQLTransportWSHandler.operations"

    async def exercise() -> None:
        subscribe: Any = {"type": "subscribe", "id": "s", "payload": {}}
        await handler.handle_message(subscribe)
        operation = Operation(handler, "1", "{ a }", None, None)
        assert (operation.id, operation.query, operation.operation_name) == ("1", "{ a }", None)
        await operation.send_operation_message({"id": "1", "type": "complete"})
        await handler.handle_invalid_message("bad")

    asyncio.run(exercise())
    assert calls == [("subscribe", "s"), ("forget", "1"), ("send", "complete")], calls
    assert socket.closed == [(4400, "bad")], "handle_invalid_message no longer closes with 4400"


def test_strawberry_behaviour_operation_policy_relies_on() -> None:
    """app/graphql/operation.py's OperationPolicy, public API relied on in a precise way."""

    @strawberry.type
    class Query:
        @strawberry.field
        def a(self) -> int:
            raise AssertionError("executed despite a result set in on_execute")

    schema = strawberry.Schema(query=Query)
    context = ExecutionContext(
        query="query A { a } query B { a }", schema=schema, allowed_operations=()
    )
    assert context.operation_name is None, "operation_name before parsing is not the request's"
    context.graphql_document = parse(context.query or "")
    assert context.operation_name == "A", "Strawberry no longer falls back to the first operation"
    assert ValuesOfCorrectTypeRule in context.validation_rules, "default validation rules"

    cache = ValidationCache()
    cache.execution_context = context
    hook = cache.on_validate()
    next(iter(hook))
    assert context.pre_execution_errors == [], (
        "ValidationCache no longer validates before it yields"
    )

    class Answer(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            self.execution_context.result = ExecutionResult(None, [GraphQLError("set")])
            yield

    answered = asyncio.run(strawberry.Schema(query=Query, extensions=[Answer]).execute("{ a }"))
    assert [e.message for e in answered.errors or []] == ["set"], "on_execute result ignored"


# --- Starlette ----------------------------------------------------------------------------


def test_starlette_static_files_not_modified() -> None:
    """app/graphql/ide answers revalidations with StaticFiles' own not-modified check."""
    etag = '"abc"'
    response = Response(headers={"etag": etag})
    request = Headers({"if-none-match": etag})
    assert StaticFiles.is_not_modified(None, response.headers, request), "is_not_modified"  # type: ignore[arg-type]
    assert NotModifiedResponse(response.headers).status_code == 304, "NotModifiedResponse"


# --- fpdf2 --------------------------------------------------------------------------------


def test_fpdf_ttf_font_cmap() -> None:
    """app/exports/formats/pdf.py reads the glyphs its fonts have from `TTFFont.cmap` (a
    TrueType and a CFF-flavoured OpenType font) to choose which one draws a character."""
    pdf = FPDF()
    for family, file, char in (("Probe", REGULAR_FONT, "A"), ("ProbeCJK", CJK_FONT, "美")):
        pdf.add_font(family, "", str(file))
        pdf.set_font(family)
        font = pdf.current_font
        assert isinstance(font, TTFFont), "FPDF.current_font is no TTFFont"
        assert ord(char) in font.cmap, "TTFFont.cmap no longer maps code points"
    pdf.add_page()
    pdf.output()  # as pdf.py does: writing the document lets go of the font file


# --- SQLAlchemy ---------------------------------------------------------------------------


def test_sqlalchemy_compiled_bind_processors_cover_expanded_parameters() -> None:
    """app/exports/pg_copy.py hands a COPY's parameters to asyncpg itself, processed as
    execute() would: `SQLCompiler._bind_processors` must map each name of `positiontup`
    (IN lists expanded by render_postcompile included) that has a processor to it."""
    from datetime import UTC, datetime

    from sqlalchemy import bindparam, column, select, table
    from sqlalchemy.dialects import postgresql

    from app.models import UTCDateTime

    rows = table("t", column("at", UTCDateTime()), column("code"))
    stmt = select(rows.c.code).where(
        rows.c.at > bindparam("since", datetime(2026, 1, 1, 1, tzinfo=UTC), type_=UTCDateTime()),
        rows.c.code.in_(["a", "b"]),
    )
    compiled = stmt.compile(
        dialect=postgresql.asyncpg.dialect(), compile_kwargs={"render_postcompile": True}
    )
    processors = dict(compiled._bind_processors)
    names = compiled.positiontup or []
    assert len(names) == 3, f"positiontup changed shape: {names}"
    assert "since" in processors, "SQLCompiler._bind_processors no longer holds a TypeDecorator's"
    assert processors["since"](datetime(2026, 1, 1, 1, tzinfo=UTC)) == datetime(2026, 1, 1, 1)
