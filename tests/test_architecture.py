"""Imports go one way (ARCHITECTURE.md): foundations → storage → exports → auth → surfaces →
app → cli. The core never imports a web framework; REST and GraphQL never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"

LAYERS: list[tuple[str, ...]] = [
    (
        "app.settings",
        "app.errors",
        "app.ids",
        "app.timefmt",
        "app.textfold",
        "app.fastjson",
        "app.requestid",
        "app.metrics",
    ),
    ("app.db", "app.models", "app.migrate", "app.migrations"),
    ("app.exports", "app.persisted"),
    ("app.auth",),
    ("app.graphql", "app.rest"),
    ("app.main", "app.logs", "app.demo", "app.demo_data"),
    ("app.cli", "app.__main__", "app"),
]
WEB_FRAMEWORKS = ("starlette", "strawberry", "uvicorn", "graphql")


def _module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    best = -1
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix != "app":
                best = rank
    return best if best >= 0 else len(LAYERS) - 1


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


MODULES = sorted(p for p in APP.rglob("*.py") if "node_modules" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    for imported in _imports(path):
        if not imported.startswith("app.") or imported.startswith(module):
            continue
        assert _layer(imported) <= own, f"{module} (layer {own}) imports {imported}"
        if module.startswith("app.rest"):
            assert not imported.startswith("app.graphql"), f"{module} imports {imported}"
        if module.startswith("app.graphql"):
            assert not imported.startswith("app.rest"), f"{module} imports {imported}"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if _module_name(p).startswith(("app.exports", "app.persisted"))],
    ids=_module_name,
)
def test_core_is_framework_free(path: Path) -> None:
    for imported in _imports(path):
        assert imported.split(".")[0] not in WEB_FRAMEWORKS, f"{path.name} imports {imported}"


def test_layering_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself can fail: an exports module importing app.rest is flagged."""
    assert _layer("app.exports.service") < _layer("app.rest.routes")
    assert _layer("app.db") < _layer("app.exports.worker")


SURFACES = ("app.rest", "app.graphql")


@pytest.mark.parametrize(
    "path", [p for p in MODULES if _module_name(p).startswith(SURFACES)], ids=_module_name
)
def test_surfaces_reach_data_only_through_the_use_cases(path: Path) -> None:
    """REST and GraphQL translate requests into use-case calls: no SQL, no sessions, no
    service or worker internals (app/exports/usecases.py owns transactions and files)."""
    for imported in _imports(path):
        assert imported.split(".")[0] != "sqlalchemy", f"{path.name} imports {imported}"
        assert imported not in ("app.exports.service", "app.db", "app.exports.storage"), (
            f"{path.name} imports {imported}"
        )
