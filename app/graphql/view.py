"""The `/graphql` endpoint: Strawberry's ASGI view, credentials from headers or `connection_init`,
a per-operation timeout (HTTP and WebSocket), a request body limit, JSON error bodies for
everything the transport rejects, and the GraphQL-over-HTTP spec's media types (negotiation.py):
under `application/graphql-response+json` a request error has no `data` and a 4xx status.
Each resolver's use case opens its own short database session, so neither a request nor a
WebSocket holds one between operations."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from app import fastjson
from app.errors import DomainError
from app.exports.links import Linker, base_url
from app.graphql.context import Context
from app.graphql.ide import ide_routes, with_ide
from app.graphql.negotiation import GRAPHQL_RESPONSE_JSON, OFFERED, negotiate
from app.graphql.schema import build_schema
from app.graphql.websocket import BoundedCloseAdapter, TimedTransportWSHandler, is_subscription
from app.metrics import persisted_queries
from app.persisted.operations import PersistedOperations, PersistedQueryError, Resolution
from app.settings import MAX_BODY_BYTES, Settings

log = logging.getLogger("app.graphql")

NO_QUERY = "No GraphQL query in the request: send `query`."
SUBSCRIPTIONS_OVER_HTTP = "Subscriptions are served over WebSocket (graphql-transport-ws) only."
TOO_LARGE = "The request body is larger than 1 MiB."
NOT_AN_OPERATION = "The request body must be a JSON object with `query`."
NOT_ACCEPTABLE = f"Send an Accept header that allows {' or '.join(OFFERED)}."
#: request.state keys: the negotiated media type, and whether the result was a request error.
MEDIA_TYPE = "graphql_media_type"
REQUEST_ERROR = "graphql_request_error"


def _error_body(message: str, code: str, media_type: str = "") -> dict[str, Any]:
    """A request error's body; `data: null` only under application/json, as before the spec's
    own type, which says a request error has no `data` entry."""
    errors = [{"message": message, "extensions": {"code": code}}]
    return (
        {"errors": errors}
        if media_type == GRAPHQL_RESPONSE_JSON
        else {"data": None, "errors": errors}
    )


def _json(body: dict[str, Any], status: int, media_type: str, **kw: Any) -> JSONResponse:
    response = JSONResponse(body, status_code=status, **kw)
    if media_type == GRAPHQL_RESPONSE_JSON:
        response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
    return response


def _is_request_error(result: ExecutionResult) -> bool:
    """Nothing was executed: parse, validation, variable coercion or operation-selection errors,
    which carry no `path` (every field error does) and leave no data."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or [])
    )


def _linker(settings: Settings, scope_holder: Request | WebSocket) -> Linker:
    url = scope_holder.url
    base = base_url(settings.public_base_url, url.scheme, url.netloc)
    return Linker(base, settings.signing_secret, settings.signed_link_ttl_seconds)


def _bounded(scope: Scope, receive: Receive) -> Receive:
    """Refuse a body over MAX_BODY_BYTES before it is read: at once by its Content-Length, and
    by counting while it streams, so a chunked body or a false Content-Length gets no further."""
    declared = Headers(scope=scope).get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, TOO_LARGE)
    size = 0

    async def receive_bounded() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, TOO_LARGE)
        return message

    return receive_bounded


def _transport_error(exc: HTTPException, *, ide: bool, media_type: str) -> JSONResponse:
    """A JSON body for what Strawberry (or the body limit) rejects before execution. A mutation
    over GET is a 405 with `Allow: POST`, as the GraphQL-over-HTTP spec asks (Strawberry says
    400); another method is a 405 allowing GET and POST."""
    status = exc.status_code
    cause = exc.__cause__
    if isinstance(cause, InvalidOperationTypeError) and cause.operation_type.value == "mutation":
        status = 405  # only a mutation over GET reaches here: POST allows every operation
    if status == 405:
        body = _error_body(exc.reason, "METHOD_NOT_ALLOWED", media_type)
        allow = "POST" if status != exc.status_code else "GET, POST"  # a mutation: POST only
        return _json(body, 405, media_type, headers={"Allow": allow})
    reason = exc.reason
    if status == 404:  # Strawberry's answer to a GET without a query that could want an IDE
        status, reason = 400, NO_QUERY + (" GraphiQL is served here to browsers." if ide else "")
    code = "PAYLOAD_TOO_LARGE" if status == 413 else "BAD_REQUEST"
    return _json(_error_body(reason, code, media_type), status, media_type)


class PersistedQueryRefused(HTTPException):
    """A persisted-operation error (app/persisted/operations.py) on its way to `__call__`."""

    def __init__(self, error: PersistedQueryError) -> None:
        super().__init__(400, error.message)
        self.error = error


def _persisted_error(error: PersistedQueryError, media_type: str) -> JSONResponse:
    """`PersistedQueryNotFound` and `PersistedQueryNotSupported` are a 200 under
    application/json, as Apollo Server answers them (clients read the body and resend), and a
    400 under application/graphql-response+json, where a request error is a 4xx; the others
    have their own 4xx. Never cached: the same GET succeeds once the client sent the document."""
    if error.retryable:
        status = 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
    else:
        status = error.status
    body = _error_body(error.message, error.code, media_type)
    return _json(body, status, media_type, headers={"Cache-Control": "private, no-store"})


async def _document_id(request: Request) -> object:
    """`documentId` from the query string (GET) or the JSON body (POST; Starlette keeps the
    body it read, and it is parsed again only when it mentions the key)."""
    if request.method == "GET":
        return request.query_params.get("documentId")
    body = await request.body()
    if b'"documentId"' not in body:
        return None
    data = json.loads(body)
    return data.get("documentId") if isinstance(data, dict) else None


class GatewayGraphQL(GraphQL[Context, None]):
    # Only graphql-transport-ws: the legacy graphql-ws protocol is deprecated by its authors.
    graphql_transport_ws_handler_class = TimedTransportWSHandler
    websocket_adapter_class = BoundedCloseAdapter

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        response: Response
        media_type = negotiate(Headers(scope=scope).get("accept"))
        if media_type is None:
            body = _error_body(NOT_ACCEPTABLE, "NOT_ACCEPTABLE")
            await JSONResponse(body, status_code=406)(scope, receive, send)
            return
        try:
            request = Request(scope, _bounded(scope, receive))
            setattr(request.state, MEDIA_TYPE, media_type)
            async with asyncio.timeout(self.settings.graphql_timeout_seconds):
                response = await self.run(request)
            if media_type == GRAPHQL_RESPONSE_JSON:
                response.headers["content-type"] = f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8"
                if getattr(request.state, REQUEST_ERROR, False) and response.status_code == 200:
                    response.status_code = 400
        except PersistedQueryRefused as exc:
            response = _persisted_error(exc.error, media_type)
        except HTTPException as exc:
            response = _transport_error(exc, ide=self.settings.graphql_ide, media_type=media_type)
        except TimeoutError:
            message = "The operation took too long and was stopped."
            response = _json(_error_body(message, "TIMEOUT", media_type), 504, media_type)
        response.headers["vary"] = "Accept"
        await response(scope, receive, send)

    def encode_json(self, data: object) -> str:
        """orjson (a page of 100 exports is ~100 KB of JSON): UTF-8 rather than `\\u` escapes,
        the same JSON. A string, as WebSocket messages must be text frames."""
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        """JSON nested past the parser's recursion limit, or bytes in no encoding JSON allows,
        is not JSON either. Strawberry only catches JSONDecodeError: these would be a 500 over
        HTTP (not a 400) and an unhandled error over WebSocket (not a 4400 close)."""
        try:
            return fastjson.loads(data)  # json.loads' answers, faster
        except (RecursionError, UnicodeDecodeError) as exc:
            raise json.JSONDecodeError(type(exc).__name__, "", 0) from exc

    def parse_json(self, data: str | bytes) -> Any:
        """A request body must be an object (or a list, which Strawberry refuses as a batch):
        Strawberry reads any other JSON value as one and fails with a 500. Bodies arrive as
        bytes; query-string values arrive as str, and Strawberry checks those itself."""
        parsed = super().parse_json(data)
        if isinstance(data, bytes) and not isinstance(parsed, dict | list):
            raise HTTPException(400, NOT_AN_OPERATION)
        return parsed

    async def execute_single(  # Strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """Persisted operations first: a hash or `documentId` becomes its document (or a
        persisted-query error), and a new automatic persisted query is stored once it has
        validated. Subscriptions are served over WebSocket only: over HTTP Strawberry would run
        them as multipart streams, which this gateway does not speak (a 400, not a masked 500)."""
        resolution = await self._resolve(request, request_data)
        if resolution is not None:
            request_data = replace(request_data, query=resolution.query)
        query = request_data.query or ""
        max_tokens = self.settings.graphql_max_tokens
        if "subscription" in query and is_subscription(
            query, request_data.operation_name, max_tokens
        ):
            raise HTTPException(400, SUBSCRIPTIONS_OVER_HTTP)
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if resolution is not None and resolution.register and not _is_request_error(result):
            await self._register(request, resolution.register, resolution.query)
        return result

    async def _resolve(
        self, request: Request, request_data: GraphQLRequestData
    ) -> Resolution | None:
        persisted: PersistedOperations = request.app.state.persisted
        extensions = request_data.extensions
        try:
            document_id = await _document_id(request)
            resolution = await persisted.resolve(
                query=request_data.query, extensions=extensions, document_id=document_id
            )
        except PersistedQueryError as exc:
            persisted_queries.labels("miss" if exc.code.endswith("NOT_FOUND") else "refused").inc()
            raise PersistedQueryRefused(exc) from exc
        named = document_id is not None or bool(extensions and "persistedQuery" in extensions)
        if named and request_data.query is None:
            persisted_queries.labels("hit").inc()
        return resolution

    async def _register(self, request: Request, sha: str, document: str) -> None:
        """A store that fails costs the client one more round trip later, never this answer."""
        persisted: PersistedOperations = request.app.state.persisted
        try:
            await persisted.register(sha, document)
        except Exception:
            log.warning("could not store a persisted query", exc_info=True)
            return
        persisted_queries.labels("registered").inc()

    def should_render_graphql_ide(self, request: Any) -> bool:
        """A GET naming a persisted document has no `query` either, and is no browser's."""
        if not super().should_render_graphql_ide(request):  # a POST: at once
            return False
        params = request.query_params
        return "extensions" not in params and "documentId" not in params

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        return Context(
            request=request,
            response=response,
            core=request.app.state.core,
            settings=self.settings,
            linker=_linker(self.settings, request),
            credentials=request.headers,
        )

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """An operation that failed authentication answers no data at all (and HTTP 401), even
        when the failing field is nullable: `data: null` under application/json, no `data`
        under application/graphql-response+json, where it is a request error (a 4xx), as are
        the results of operations that never executed (made a 400 by `__call__`)."""
        body = await super().process_result(request, result)
        unauthenticated = any(
            (error.extensions or {}).get("code") == "UNAUTHENTICATED"
            for error in result.errors or []
        )
        if unauthenticated:
            body["data"] = None
        if getattr(request.state, MEDIA_TYPE, None) == GRAPHQL_RESPONSE_JSON and (
            unauthenticated or _is_request_error(result)
        ):
            del body["data"]
            setattr(request.state, REQUEST_ERROR, True)
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
