"""The per-request GraphQL context: one database session, the caller, and fresh dataloaders.

Authentication is lazy, so introspection-only operations touch no database and need no
credentials; the first resolver that needs the caller authenticates (one query) and caches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.auth import Principal, authenticate
from app.errors import Unauthorized
from app.exports.expand import load_files, load_users
from app.exports.links import Linker
from app.models import ExportFile, User
from app.settings import Settings


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    session: AsyncSession
    settings: Settings
    linker: Linker
    credentials: Mapping[str, str]
    connection_params: dict[str, Any] | None = None
    _principal: Principal | None = None
    users: DataLoader[str, User | None] = field(init=False)
    """Users by id, batched: one query however many exports ask (REST `expand=user`)."""
    files: DataLoader[str, ExportFile | None] = field(init=False)
    files_by_export: DataLoader[int, list[ExportFile]] = field(init=False)

    def __post_init__(self) -> None:
        self.users = DataLoader(load_fn=self._load_users)
        self.files = DataLoader(load_fn=self._load_files)
        self.files_by_export = DataLoader(load_fn=self._load_files_by_export)

    async def principal(self) -> Principal:
        if self._principal is None:
            try:
                self._principal = await authenticate(self.session, self.credentials, self.settings)
            except Unauthorized:
                if isinstance(self.response, Response):
                    self.response.status_code = 401
                raise
        return self._principal

    async def require(self, permission: str) -> Principal:
        principal = await self.principal()
        principal.require(permission)
        return principal

    async def _load_users(self, ids: list[str]) -> list[User | None]:
        principal = await self.principal()
        found = await load_users(self.session, organization_id=principal.organization_id, ids=ids)
        return [found.get(i) for i in ids]

    async def _load_files(self, ids: list[str]) -> list[ExportFile | None]:
        principal = await self.principal()
        found = await load_files(self.session, organization_id=principal.organization_id, ids=ids)
        return [found.get(i) for i in ids]

    async def _load_files_by_export(self, pks: list[int]) -> list[list[ExportFile]]:
        rows = await self.session.scalars(
            select(ExportFile)
            .where(ExportFile.export_pk.in_(pks))
            .order_by(ExportFile.created_time.desc(), ExportFile.id.desc())
        )
        grouped: dict[int, list[ExportFile]] = {pk: [] for pk in pks}
        for row in rows:
            grouped[row.export_pk].append(row)
        return [grouped[pk] for pk in pks]
