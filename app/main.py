"""The ASGI application: REST and GraphQL over one core; the lifespan owns engine and worker."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from app.auth import KeyCache
from app.db import close_direct_reads, make_engine, make_sessionmaker
from app.errors import DomainError
from app.exports.changes import make_feed
from app.exports.health import Readiness
from app.exports.limits import Limits
from app.exports.storage import Storage
from app.exports.usecases import Core
from app.graphql.view import graphql_routes
from app.logs import RequestContext
from app.persisted.operations import build as build_persisted
from app.rest.docs import routes as docs_routes
from app.rest.health import routes as health_routes
from app.rest.metrics import RequestMetrics
from app.rest.openapi import routes as openapi_routes
from app.rest.preview import routes as preview_routes
from app.rest.problems import handle_domain_error, handle_http_exception, handle_unexpected
from app.rest.routes import routes as rest_routes
from app.rest.webhooks import routes as webhook_routes
from app.settings import Settings

log = logging.getLogger("app")


def settle_garbage_collector() -> None:
    """Everything built at startup (the schema, the ORM's metadata, compiled statements) lives
    as long as the process: frozen, the collector stops walking it on every full collection,
    which under load of pages of a hundred exports took a tenth of the CPU (issue 8)."""
    gc.collect()
    gc.freeze()


class App(Starlette):
    """Starlette whose outermost layer is the request context (app/logs.py): the request id,
    security headers and access line cover even the 500 that Starlette's error middleware
    answers."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack())


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        # One change feed per process: subscriptions wait on it (app/exports/changes.py).
        changes = make_feed(settings.database_url, app.state.sessionmaker)
        await changes.start()
        app.state.core = Core(
            sessions=app.state.sessionmaker,
            storage=app.state.storage,
            limits=Limits.of(settings),
            signing_secret=settings.signing_secret,
            changes=changes,
            webhook_allow_private=settings.webhook_allow_private,
        )
        worker_task: asyncio.Task[None] | None = None
        worker_engine: AsyncEngine | None = None
        worker_identity: str | None = None
        if settings.worker_mode == "inprocess":
            from app.exports.worker import Worker, worker_pool_size

            # Its own connections: a long export never takes one a request is waiting for.
            worker_engine = make_engine(
                settings.database_url, pool_size=worker_pool_size(settings.worker_concurrency)
            )
            worker = Worker(
                settings, make_sessionmaker(worker_engine), app.state.storage, kind="inprocess"
            )
            app.state.worker = worker
            worker_identity = worker.identity
            worker_task = asyncio.create_task(worker.run(), name="export-worker")
        app.state.readiness = Readiness.of(settings, worker_identity=worker_identity)
        app.state.persisted = build_persisted(settings, app.state.sessionmaker)
        settle_garbage_collector()
        try:
            yield
        finally:
            await app.state.persisted.close()
            await app.state.readiness.close()
            if worker_task is not None:
                app.state.worker.stop()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker_task
            if worker_engine is not None:
                await worker_engine.dispose()
            await changes.stop()
            await close_direct_reads(engine)
            await engine.dispose()

    app = App(
        routes=[
            *health_routes(),
            *openapi_routes(),
            *docs_routes(),
            *graphql_routes(settings),
            *rest_routes(),
            *preview_routes(),  # after `{id}`: its POST-less 405s and OPTIONS stay as they were
            *webhook_routes(),
        ],
        middleware=[Middleware(RequestMetrics)],
        exception_handlers={
            HTTPException: handle_http_exception,
            DomainError: handle_domain_error,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False  # both spellings are routes; anything else is a 404
    app.state.settings = settings
    app.state.storage = Storage(settings.storage_dir)
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)  # app/auth.py
    return app
