"""The `/graphql` endpoint: Strawberry's ASGI view with one database session per request (per
connection for WebSockets), credentials from headers or `connection_init`, a per-operation
timeout (HTTP and WebSocket), and JSON error bodies for everything the transport rejects."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from cross_web import HTTPException
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from app.errors import DomainError
from app.exports.links import Linker
from app.graphql.context import Context
from app.graphql.ide import ide_routes, with_ide
from app.graphql.schema import build_schema
from app.graphql.websocket import TimedTransportWSHandler
from app.settings import Settings

SESSION_KEY = "graphql_session"


def _error_body(message: str, code: str) -> dict[str, Any]:
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def _linker(settings: Settings, scope_holder: Request | WebSocket) -> Linker:
    url = scope_holder.url
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    base = settings.public_base_url or f"{scheme}://{url.netloc}"
    return Linker(base, settings.signing_secret, settings.signed_link_ttl_seconds)


def _transport_error(exc: HTTPException) -> JSONResponse:
    """A JSON body for what Strawberry rejects before execution. A mutation over GET is a 405
    with `Allow: POST`, as the GraphQL-over-HTTP spec asks; Strawberry says 400."""
    status = exc.status_code
    if isinstance(exc.__cause__, InvalidOperationTypeError):
        status = 405
    if status == 405:
        body = _error_body(exc.reason, "METHOD_NOT_ALLOWED")
        return JSONResponse(body, status_code=405, headers={"Allow": "POST"})
    return JSONResponse(_error_body(exc.reason, "BAD_REQUEST"), status_code=status)


class GatewayGraphQL(GraphQL[Context, None]):
    # Only graphql-transport-ws: the legacy graphql-ws protocol is deprecated by its authors.
    graphql_transport_ws_handler_class = TimedTransportWSHandler

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with scope["app"].state.sessionmaker() as session:
            scope.setdefault("state", {})[SESSION_KEY] = session
            if scope["type"] != "http":
                await super().__call__(scope, receive, send)
                return
            request = Request(scope, receive)
            response: Response
            try:
                async with asyncio.timeout(self.settings.graphql_timeout_seconds):
                    response = await self.run(request)
            except HTTPException as exc:
                response = _transport_error(exc)
            except TimeoutError:
                response = JSONResponse(
                    _error_body("The operation took too long and was stopped.", "TIMEOUT"),
                    status_code=504,
                )
            await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        session: AsyncSession = request.state.graphql_session
        return Context(
            request=request,
            response=response,
            session=session,
            settings=self.settings,
            linker=_linker(self.settings, request),
            credentials=request.headers,
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """An operation that failed authentication answers no data at all (and HTTP 401), even
        when the failing field is nullable."""
        body = await super().process_result(request, result)
        if any(
            (error.extensions or {}).get("code") == "UNAUTHENTICATED"
            for error in result.errors or []
        ):
            body["data"] = None
        return body

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Credentials travel in the `connection_init` payload; bad ones close with 4403."""
        params: Mapping[str, Any] = context.connection_params or {}
        nested = params.get("headers")
        headers: Mapping[str, Any] = nested if isinstance(nested, dict) else params
        context.credentials = {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}
        try:
            await context.require("read")
        except DomainError:
            raise ConnectionRejectionError from None
        return await super().on_ws_connect(context)


def graphql_routes(settings: Settings) -> list[BaseRoute]:
    view = GatewayGraphQL(settings)
    endpoint = with_ide(view) if settings.graphql_ide else view
    routes: list[BaseRoute] = [
        Route("/graphql", endpoint, methods=["GET", "HEAD", "POST"]),
        WebSocketRoute("/graphql", view),
    ]
    if settings.graphql_ide:
        routes = [*ide_routes(), *routes]
    return routes
