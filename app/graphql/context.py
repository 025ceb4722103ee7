"""The per-request GraphQL context: one database session, the caller, and fresh dataloaders.

Authentication is lazy, so introspection-only operations touch no database and need no
credentials; the first resolver that needs the caller authenticates (one query) and caches it.

GraphQL resolves sibling fields and dataloader batches concurrently, but an AsyncSession must
never be used by two coroutines at once (PostgreSQL refuses): every use goes through `db()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.auth import Principal, authenticate
from app.errors import Unauthorized
from app.exports.expand import load_files, load_files_by_export, load_users
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
    _lock: asyncio.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._lock = asyncio.Lock()
        # A WebSocket context lives as long as its connection, across operations and
        # subscription events: there, loaders batch but must not cache (stale files, users).
        cache = not isinstance(self.request, WebSocket)
        self.users = DataLoader(load_fn=self._load_users, cache=cache)
        self.files = DataLoader(load_fn=self._load_files, cache=cache)
        self.files_by_export = DataLoader(load_fn=self._load_files_by_export, cache=cache)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        """The session, for one resolver at a time; rolled back when the block fails.
        Not reentrant: do not call `principal()` or a dataloader inside the block."""
        async with self._lock:
            try:
                yield self.session
            except asyncio.CancelledError:
                # A statement cut off by a timeout leaves its connection in an unknown state;
                # a WebSocket keeps using this session, so it starts over on a fresh one.
                await self.session.invalidate()
                raise
            except Exception:
                await self.session.rollback()
                raise

    async def principal(self) -> Principal:
        if self._principal is None:
            async with self.db() as session:
                if self._principal is None:  # another resolver may have authenticated
                    try:
                        self._principal = await authenticate(
                            session, self.credentials, self.settings
                        )
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
        async with self.db() as session:
            found = await load_users(session, organization_id=principal.organization_id, ids=ids)
        return [found.get(i) for i in ids]

    async def _load_files(self, ids: list[str]) -> list[ExportFile | None]:
        principal = await self.principal()
        async with self.db() as session:
            found = await load_files(session, organization_id=principal.organization_id, ids=ids)
        return [found.get(i) for i in ids]

    async def _load_files_by_export(self, pks: list[int]) -> list[list[ExportFile]]:
        principal = await self.principal()
        async with self.db() as session:
            found = await load_files_by_export(
                session, organization_id=principal.organization_id, export_pks=pks
            )
        return [found[pk] for pk in pks]
