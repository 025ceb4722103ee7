"""The per-request GraphQL context: one database session, the caller, and fresh dataloaders.

Authentication is lazy, so introspection-only operations touch no database and need no
credentials; the first resolver that needs the caller authenticates (one query) and caches it.

GraphQL resolves sibling fields and dataloader batches concurrently, but an AsyncSession must
never be used by two coroutines at once (PostgreSQL refuses): every use goes through `db()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
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


async def to_the_end(cleanup: Awaitable[None]) -> None:
    """Await a session's cleanup to its end even when the task is cancelled meanwhile: cut
    off, a rollback leaves its connection half reset, and the session would be handed on (or
    closed) in the middle of it. graphql-core cancels the siblings of a field that failed, a
    timeout or a closing socket its operations. The cancellation is raised once it is done."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                if not task.cancelled():
                    task.exception()  # retrieved: the cancellation is what propagates
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


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
                # The cancellation, not a failure to clean up after it, is what propagates.
                with contextlib.suppress(Exception):
                    await to_the_end(self.session.invalidate())
                raise
            except Exception:
                # A rollback expires every row the session holds, rows sibling fields may still
                # be resolving (they run concurrently): reading one would then need a lazy load,
                # which async SQLAlchemy refuses. Detached first, they keep what they loaded.
                self.session.expunge_all()
                await to_the_end(self.session.rollback())
                raise

    async def settle(self) -> None:
        """Wait until no resolver is using the session, before it is closed. graphql-core
        cancels a failed field's siblings without waiting for them, and a closing socket
        cancels its operations: one cut off mid-statement still rolls back or invalidates the
        session (in `db()`, under the lock). Closed meanwhile, the session failed the request
        (a 500) or the socket (an ASGI error)."""
        async with self._lock:
            pass

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
