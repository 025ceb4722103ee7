"""GraphQL operations in `/metrics`: counts, errors and latency by operation name and type."""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import get_operation_ast
from strawberry.extensions import SchemaExtension

from app.metrics import graphql_duration, graphql_errors, graphql_operations

ANONYMOUS = "anonymous"
UNKNOWN = "unknown"
"""The type of an operation that could not be parsed or named an operation it lacks."""


class OperationMetrics(SchemaExtension):
    """Labels come from the parsed document, never from the request alone: a name a client
    sends without defining it in the document is not a label (no unbounded series)."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        context = self.execution_context
        name, kind = ANONYMOUS, UNKNOWN
        document = context.graphql_document
        if document is not None:
            operation = get_operation_ast(document, context.operation_name)
            if operation is not None:
                name = operation.name.value if operation.name else ANONYMOUS
                kind = operation.operation.value
        failed = getattr(context.result, "errors", None) or context.pre_execution_errors
        record_operation(name, kind, elapsed, failed=bool(failed))


def record_operation(name: str | None, kind: str, elapsed: float, *, failed: bool) -> None:
    """One operation in the metrics (also for those answered by app/graphql/fastpath.py)."""
    name = name or ANONYMOUS
    graphql_operations.labels(name, kind).inc()
    graphql_duration.labels(name, kind).observe(elapsed)
    if failed:
        graphql_errors.labels(name, kind).inc()
