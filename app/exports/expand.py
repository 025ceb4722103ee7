"""Expansions as batch loaders: one query for all the users (or files) of a page.

REST `expand` and GraphQL field selection both go through these, so they load the same data.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ExportFile, User

EXPANSIONS = ("user", "file")


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


async def load_users(
    session: AsyncSession, *, organization_id: str, ids: Iterable[str]
) -> dict[str, User]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = await session.scalars(
        select(User).where(User.organization_id == organization_id, User.id.in_(wanted))
    )
    return {user.id: user for user in rows}


async def load_files(
    session: AsyncSession, *, organization_id: str, ids: Iterable[str]
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


async def load_files_by_export(
    session: AsyncSession, *, organization_id: str, export_pks: Iterable[int]
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
