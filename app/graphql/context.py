"""The per-request GraphQL context: the core, the caller, and fresh dataloaders.

No database session lives here: every resolver's use case opens its own short one, so a
WebSocket holds no connection between (or during idle) operations.

Authentication is lazy, so introspection-only operations touch no database and need no
credentials; the first resolver that needs the caller authenticates (one query) and caches it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

from app.auth import CHALLENGE, KeyCache, sign_in
from app.errors import Unauthorized
from app.exports import usecases
from app.exports.expand import EXPANSIONS, FILES_BY_EXPORT, NODE_TYPES, BatchLoader
from app.exports.links import Linker
from app.exports.principal import Principal
from app.exports.usecases import Core
from app.settings import Settings


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket | None
    core: Core
    settings: Settings
    linker: Linker
    credentials: Mapping[str, str]
    connection_params: dict[str, Any] | None = None
    _principal: Principal | None = None
    _loaders: dict[str, DataLoader[Any, Any]] | None = field(default=None, repr=False)
    _signing_in: asyncio.Lock = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._signing_in = asyncio.Lock()

    @property
    def loaders(self) -> dict[str, DataLoader[Any, Any]]:
        """One batched loader per expansion of the core's registry, plus `files` and one per
        node type (`export`, `webhook`): one query per page however many objects ask (REST
        `expand=`, `node`/`nodes`). Made on first use: the fast path's reads need none."""
        if self._loaders is None:
            # A WebSocket context lives as long as its connection, across operations and
            # subscription events: there, loaders batch but must not cache (stale files, users).
            cache = not isinstance(self.request, WebSocket)
            batches: dict[str, BatchLoader] = {
                expansion.name: expansion.load
                for expansion in (*EXPANSIONS.values(), FILES_BY_EXPORT)
            }
            for node in NODE_TYPES:  # `user` and `file` share the expansions' loaders
                batches.setdefault(node.loader, node.load)
            self._loaders = {
                name: DataLoader(load_fn=self._loader(name, load), cache=cache)
                for name, load in batches.items()
            }
        return self._loaders

    async def principal(self) -> Principal:
        async with self._signing_in:  # concurrent resolvers authenticate once
            if self._principal is None:
                try:
                    cache: KeyCache | None = getattr(self.request.app.state, "key_cache", None)
                    self._principal = await sign_in(
                        self.core.sessions, self.credentials, self.settings, cache
                    )
                except Unauthorized:
                    if isinstance(self.response, Response):
                        self.response.status_code = 401
                        self.response.headers["WWW-Authenticate"] = CHALLENGE
                    raise
        return self._principal

    async def require(self, permission: str) -> Principal:
        principal = await self.principal()
        principal.require(permission)
        return principal

    def _loader(self, name: str, loader: BatchLoader) -> Any:
        async def load(keys: list[Any]) -> list[Any]:
            principal = await self.principal()
            found = await usecases.load(self.core, principal=principal, loader=loader, keys=keys)
            default: list[Any] | None = [] if name == FILES_BY_EXPORT.name else None
            return [found.get(key, default) for key in keys]

        return load
