"""graphql-transport-ws with the same per-operation timeout as HTTP.

A query or mutation sent over a WebSocket is bounded by `GRAPHQL_TIMEOUT_SECONDS` like one sent
over HTTP; a subscription is long-lived by design and bounded by its own watch limit instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    Message,
    NextMessage,
    SubscribeMessage,
)

from app.graphql.context import Context
from app.persisted.operations import PersistedOperations, PersistedQueryError

TIMEOUT_MESSAGE = "The operation took too long and was stopped."
CLOSE_REASON_BYTES = 123  # RFC 6455 §5.5: a control frame carries 125 bytes, 2 for the code


def is_subscription(query: object, operation_name: object, max_tokens: int) -> bool:
    """Whether the operation to run is a subscription. The parse is held to the same token
    limit as Strawberry's own; anything unparsable (or not text) is left to Strawberry, which
    answers it at once."""
    if not isinstance(query, str) or not isinstance(operation_name, str | None):
        return False
    try:
        operation = get_operation_ast(parse(query, max_tokens=max_tokens), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


def _well_typed(payload: dict[Any, Any]) -> bool:
    return (
        isinstance(payload.get("query"), str)
        and isinstance(payload.get("operationName"), str | None)
        and isinstance(payload.get("variables"), dict | None)
        and isinstance(payload.get("extensions"), dict | None)
    )


class BoundedCloseAdapter(ASGIWebSocketAdapter):
    """Strawberry closes with an error as the reason (a syntax error quotes the document, an
    unknown message type repeats it), and a close reason over 123 bytes failed the close itself:
    an unhandled ProtocolError in place of the 4400."""

    async def close(self, code: int, reason: str) -> None:
        encoded = reason.encode()
        if len(encoded) > CLOSE_REASON_BYTES:
            reason = encoded[: CLOSE_REASON_BYTES - 3].decode(errors="ignore") + "..."
        await super().close(code, reason)


class TimedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def send_message(self, message: Message) -> None:
        """An operation that finishes as its socket closes has no one left to answer; the
        handler is cancelling it anyway. Strawberry logged that as an error."""
        with contextlib.suppress(WebSocketDisconnected, WebSocketDisconnect):
            await super().send_message(message)

    def forget_id(self, id: str) -> None:
        """A socket that closes forgets its operations before cancelling them, so one that
        completes meanwhile finds itself gone: a KeyError Strawberry logged as an error."""
        self.operations.pop(id, None)

    async def handle_message(self, message: Message) -> None:
        """A message that is JSON but no object (`5`, `"x"`, `[]`) is invalid, closed with 4400
        like any other; Strawberry indexed it as one and failed with an unhandled TypeError."""
        if not isinstance(message, dict):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """A `subscribe` whose query (or operation name, or variables) has the wrong JSON type
        is an invalid message, closed with 4400 as the protocol says; Strawberry would run it
        and fail with an internal error."""
        payload: object = message.get("payload")
        if not isinstance(payload, dict) or not _well_typed(payload):
            await self.handle_invalid_message("The subscribe payload is malformed.")
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """With GRAPHQL_TRUSTED_DOCUMENTS_ONLY a WebSocket runs only the manifest's documents
        too (sent in full: graphql-transport-ws has no persisted-query protocol), else the
        operation's `error`. Then the HTTP timeout, for all but subscriptions."""
        persisted: PersistedOperations = self.context.request.app.state.persisted
        try:
            await persisted.resolve(query=operation.query, extensions=None, document_id=None)
        except PersistedQueryError as exc:
            refusal = GraphQLError(exc.message, extensions={"code": exc.code})
            await operation.send_initial_errors([refusal])
            return
        max_tokens = self.context.settings.graphql_max_tokens
        if is_subscription(operation.query, operation.operation_name, max_tokens):
            await super().run_operation(operation)
            return
        try:
            async with asyncio.timeout(self.context.settings.graphql_timeout_seconds):
                await super().run_operation(operation)
        except TimeoutError:
            # Sent as an execution error (`next`, then `complete`), coded as HTTP's 504 body.
            error = GraphQLError(TIMEOUT_MESSAGE, extensions={"code": "TIMEOUT"}).formatted
            timed_out = NextMessage(
                id=operation.id, type="next", payload={"data": None, "errors": [error]}
            )
            await operation.send_operation_message(timed_out)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
