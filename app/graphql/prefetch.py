"""Loading an export's user with the export (one statement, REST's `expand=user`) when the
operation selects it, for the standard executor's root resolvers: what the core loads primes the
request's `user` dataloader, so `DataExport.user` finds it without a statement of its own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from app.graphql.context import Context


def _fields(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    """The fields of a selection set, through fragments (Strawberry has resolved spreads)."""
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def selects_user(info: Info[Context, None], *path: str) -> bool:
    """Whether the resolver's field selects `user` below `path` (e.g. `items`)."""
    level: list[SelectedField] = list(_fields(info.selected_fields))
    for name in path:
        level = [f for parent in level for f in _fields(parent.selections) if f.name == name]
    return any(f.name == "user" for parent in level for f in _fields(parent.selections))


def expansion(info: Info[Context, None], *path: str) -> set[str]:
    return {"user"} if selects_user(info, *path) else set()


def prime_users(info: Info[Context, None], loaded: Mapping[str, Mapping[Any, Any]]) -> None:
    users = loaded.get("user")
    if users:
        info.context.loaders["user"].prime_many(users)
