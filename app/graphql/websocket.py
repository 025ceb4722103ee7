"""graphql-transport-ws with the same per-operation timeout as HTTP.

A query or mutation sent over a WebSocket is bounded by `GRAPHQL_TIMEOUT_SECONDS` like one sent
over HTTP; a subscription is long-lived by design and bounded by its own watch limit instead.
"""

from __future__ import annotations

import asyncio

from graphql import GraphQLError, OperationType, get_operation_ast, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    NextMessage,
)

from app.graphql.context import Context

TIMEOUT_MESSAGE = "The operation took too long and was stopped."


def is_subscription(query: str, operation_name: str | None) -> bool:
    """Whether the operation to run is a subscription; unparsable text is left to Strawberry,
    which answers it at once."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return False
    return operation is not None and operation.operation == OperationType.SUBSCRIPTION


class TimedTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    async def run_operation(self, operation: Operation[Context, None]) -> None:
        if is_subscription(operation.query, operation.operation_name):
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
