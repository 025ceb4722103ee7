"""Expansions as batch loaders: one query for all the users (or files) of a page.

`EXPANSIONS` is the one place an expansion is declared (name → key → batch loader). REST's
`expand=` and GraphQL's fields both resolve through it, so they load the same data. Every load
names the organization.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import DataExport, ExportFile, User, Webhook

BatchLoader = Callable[[AsyncSession, str, Collection[Any]], Awaitable[Mapping[Any, Any]]]


@dataclass(frozen=True)
class Expansion:
    name: str
    key: Callable[[DataExport], Any]
    """What of an export the loader looks up (None: nothing to expand)."""
    load: BatchLoader
    """(session, organization_id, keys) → {key: row}, one query for any number of keys."""


async def load_users(
    session: AsyncSession, organization_id: str, ids: Collection[str]
) -> dict[str, User]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(User).where(User.organization_id == organization_id, User.id.in_(wanted))
    )
    return {user.id: user for user in rows}


async def load_files(
    session: AsyncSession, organization_id: str, ids: Collection[str]
) -> dict[str, ExportFile]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(ExportFile).where(
            ExportFile.organization_id == organization_id, ExportFile.id.in_(wanted)
        )
    )
    return {file.id: file for file in rows}


async def load_exports(
    session: AsyncSession, organization_id: str, ids: Collection[str]
) -> dict[str, DataExport]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(DataExport).where(
            DataExport.organization_id == organization_id, DataExport.id.in_(wanted)
        )
    )
    return {export.id: export for export in rows}


async def load_webhooks(
    session: AsyncSession, organization_id: str, ids: Collection[str]
) -> dict[str, Webhook]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(Webhook).where(Webhook.organization_id == organization_id, Webhook.id.in_(wanted))
    )
    return {webhook.id: webhook for webhook in rows}


async def load_files_by_export(
    session: AsyncSession, organization_id: str, export_pks: Collection[int]
) -> dict[int, list[ExportFile]]:
    """Every retained file of each export, newest first."""
    wanted = sorted(set(export_pks))
    grouped: dict[int, list[ExportFile]] = {pk: [] for pk in wanted}
    if not wanted:
        return grouped
    rows = await session.scalars(
        select(ExportFile)
        .where(ExportFile.organization_id == organization_id, ExportFile.export_pk.in_(wanted))
        .order_by(ExportFile.created_time.desc(), ExportFile.id.desc())
    )
    for row in rows:
        grouped[row.export_pk].append(row)
    return grouped


EXPANSIONS: dict[str, Expansion] = {
    expansion.name: expansion
    for expansion in (
        Expansion("user", lambda export: export.user_id, load_users),
        Expansion("file", lambda export: export.file_id, load_files),
    )
}
FILES_BY_EXPORT = Expansion("files", lambda export: export.pk, load_files_by_export)
"""Not a REST expansion: GraphQL's `DataExport.files`, batched the same way."""


def parse_expand(text: str | None) -> set[str]:
    """`user,file` → {"user", "file"}; raises ValueError naming an unknown expansion."""
    if not text:
        return set()
    names = {part.strip() for part in text.split(",") if part.strip()}
    unknown = sorted(names - set(EXPANSIONS))
    if unknown:
        raise ValueError(
            f"Unknown expansion {', '.join(unknown)}; expected any of {', '.join(EXPANSIONS)}."
        )
    return names


@dataclass(frozen=True)
class NodeType:
    """A kind of object found by its id alone (GraphQL's `node`), through a batch loader."""

    name: str
    """Its GraphQL type."""
    loader: str
    """The name of its per-request loader (shared with the expansion of the same rows)."""
    load: BatchLoader
    prefix: str
    """What the ids this service gives it start with: the tie-break when an id a client chose
    for an export equals another object's id."""


NODE_TYPES: tuple[NodeType, ...] = (
    NodeType("DataExport", "export", load_exports, "exp_"),
    NodeType("User", "user", load_users, "usr_"),
    NodeType("ExportFile", "file", load_files, "file_"),
    NodeType("Webhook", "webhook", load_webhooks, "whk_"),
)
