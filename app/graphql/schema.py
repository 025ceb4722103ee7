"""The schema and its hardening: depth, alias and token limits, parser and validation caches,
domain errors mapped to coded GraphQL errors, and unexpected errors masked with a logged
correlation id. The SDL does not depend on settings, so `export-schema` is environment-free."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext
from strawberry.types.execution import StreamExecutionResult
from strawberry.types.graphql import OperationType

from app.errors import DomainError
from app.graphql.errors import graphql_error
from app.graphql.mutations import Mutation
from app.graphql.operation import RULES, OperationContext
from app.graphql.queries import Query
from app.graphql.scalars import SCALARS
from app.graphql.subscriptions import Subscription
from app.settings import Settings

log = logging.getLogger("app.graphql")
CACHE_SIZE = 512


class ErrorPolicy(SchemaExtension):
    """Expected failures reach the client intact; anything else is masked and logged."""

    _streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:  # streamed results were translated before they were sent
            self._translate_all(self.execution_context.result)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """WebSocket operations (subscriptions, and queries sent over a socket) send each
        result as it comes: translate it before it reaches the client."""
        self._streamed = True
        self._translate_all(result)
        yield

    def _translate_all(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [self._translate(error) for error in errors]  # type: ignore[attr-defined]

    @staticmethod
    def _translate(error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error  # parse, validation and coded errors: meant for the client
        if isinstance(original, DomainError):
            coded = graphql_error(original)
            return GraphQLError(
                coded.message,
                nodes=error.nodes,
                path=error.path,
                extensions=coded.extensions,
                original_error=original,
            )
        correlation = uuid.uuid4().hex
        log.error("unexpected GraphQL error %s", correlation, exc_info=original)
        return GraphQLError(
            f"An unexpected error occurred; reference {correlation}.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation},
        )


class GatewaySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are the client's business; ErrorPolicy logs the unexpected ones."""

    def _create_execution_context(  # Strawberry's, for OperationContext and its rules
        self,
        query: str | None,
        allowed_operation_types: Iterable[OperationType],
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionContext:
        return OperationContext(
            query=query,
            schema=self,
            allowed_operations=allowed_operation_types,
            context=context_value,
            root_value=root_value,
            variables=variable_values,
            provided_operation_name=operation_name,
            operation_extensions=operation_extensions,
            validation_rules=RULES,
        )


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    s = settings
    # The limit rules are built once: the validation cache is keyed by the rule classes, and
    # the limiters make a new class per instance (a per-operation limiter never hits the cache).
    limit_rules = [
        *QueryDepthLimiter(max_depth=s.graphql_max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=s.graphql_max_aliases).validation_rules,
    ]
    # Factories: a fresh extension per operation (the caches themselves are shared).
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=s.graphql_max_tokens),
        ErrorPolicy,
    ]
    if not s.graphql_introspection:
        extensions.append(DisableIntrospection)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
    )
