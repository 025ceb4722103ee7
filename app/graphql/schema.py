"""The schema and its hardening: depth, alias and token limits, parser and validation caches,
domain errors mapped to coded GraphQL errors, and unexpected errors masked with a logged
correlation id. The SDL does not depend on settings, so `export-schema` is environment-free."""

from __future__ import annotations

import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Node,
    OperationType,
    SelectionNode,
    ValidationContext,
    VariableDefinitionNode,
    get_operation_ast,
    parse,
)
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import StreamExecutionResult
from strawberry.types.graphql import OperationType as AllowedType

from app.errors import DomainError
from app.graphql.context import Context
from app.graphql.errors import BAD_USER_INPUT, graphql_error
from app.graphql.fastpath import FastPath, fast_path_for
from app.graphql.metrics import OperationMetrics
from app.graphql.mutations import Mutation
from app.graphql.operation import OperationPolicy
from app.graphql.queries import Query
from app.graphql.scalars import SCALARS
from app.graphql.subscriptions import Subscription
from app.settings import Settings

log = logging.getLogger("app.graphql")
# Strawberry's own refusals of a request (no query, no such operation, an operation type the
# transport does not allow): the client's mistake, worded for the client.
REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)
CACHE_SIZE = 512


Where = tuple[list[Node], list[str | int]]


class ErrorPolicy(SchemaExtension):
    """Expected failures reach the client intact; anything else is masked and logged."""

    _streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:  # streamed results were translated before they were sent
            self._translate_all(self.execution_context.result, None)

    def on_execute(self) -> Iterator[None]:
        """A variable's value its type refused is found as execution starts (graphql-core
        locates it at the variable's definition): bad input, coded as a bad argument is.
        Validation's errors at a variable (`never used`) never get this far."""
        yield
        for error in getattr(self.execution_context.result, "errors", None) or []:
            nodes = error.nodes or []
            if nodes and isinstance(nodes[0], VariableDefinitionNode):
                error.extensions = {**(error.extensions or {}), "code": BAD_USER_INPUT}

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        """WebSocket operations (subscriptions, and queries sent over a socket) send each
        result as it comes: translate it before it reaches the client."""
        self._streamed = True
        self._translate_all(result, subscription_field(self.execution_context))
        yield

    def _translate_all(self, result: object, where: Where | None) -> None:
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            translated = [self._translate(error, where) for error in errors]
            result.errors = translated  # type: ignore[attr-defined]

    @staticmethod
    def _translate(error: GraphQLError, where: Where | None) -> GraphQLError:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            return error  # parse, validation and coded errors: meant for the client
        if isinstance(original, REQUEST_ERRORS):  # over WebSocket; HTTP answers them as 400s
            return GraphQLError(
                error.message, nodes=error.nodes, extensions={"code": "BAD_REQUEST"}
            )
        nodes, path = error.nodes, error.path
        if nodes is None and path is None and where is not None:
            # graphql-core locates the errors of every resolver but a subscription's event
            # stream, which it passes on bare: located here, they read as over HTTP.
            nodes, path = where
        if isinstance(original, DomainError):
            coded = graphql_error(original)
            return GraphQLError(
                coded.message,
                nodes=nodes,
                path=path,
                extensions=coded.extensions,
                original_error=original,
            )
        correlation = uuid.uuid4().hex
        log.error("unexpected GraphQL error %s", correlation, exc_info=original)
        return GraphQLError(
            f"An unexpected error occurred; reference {correlation}.",
            nodes=nodes,
            path=path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation},
        )


def subscription_field(context: ExecutionContext) -> Where | None:
    """The root field of the subscription an execution context runs, as graphql-core locates
    a resolver's errors: its node and its response key. None for any other operation."""
    document = context.graphql_document
    if document is None:
        return None
    operation = get_operation_ast(document, context.operation_name)
    if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
        return None
    field = _first_field(document, list(operation.selection_set.selections))
    if field is None:
        return None
    return [field], [field.alias.value if field.alias else field.name.value]


def _first_field(document: DocumentNode, selections: list[SelectionNode]) -> FieldNode | None:
    """A subscription selects one root field (graphql-core validates it), maybe in fragments."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    seen: set[str] = set()
    while selections:
        node = selections.pop(0)
        if isinstance(node, FieldNode):
            return node
        if isinstance(node, InlineFragmentNode):
            selections[:0] = node.selection_set.selections
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                selections[:0] = fragment.selection_set.selections
    return None


# Shared by every operation (and schema), like Strawberry's ParserCache, keyed by the document
# text and the parse options (the token limit).
_cached_parse = functools.lru_cache(maxsize=CACHE_SIZE)(parse)


class AnsweredParserCache(SchemaExtension):
    """A parser cache. Strawberry's parses as the parsing step starts, outside the error
    handling of Strawberry's WebSocket path: there a syntax error (or the token limit) was
    logged as an internal error and the operation completed without an answer. A document that
    does not parse is left to Strawberry's own parse, which answers the error on every
    transport."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # On an error Strawberry parses again (errors are not cached) and answers it.
        with contextlib.suppress(GraphQLError):
            context.graphql_document = _cached_parse(context.query, **context.parse_options)
        yield


def tolerant(rule: type[ASTValidationRule]) -> type[ASTValidationRule]:
    """Strawberry's depth rule follows fragment spreads as it is built, and a spread of a
    fragment the document does not define raised KeyError: answered as the bare message
    "'Name'" over HTTP, logged as an internal error (and unanswered) over WebSocket. Without
    it, graphql-core's KnownFragmentNames reports the spread for what it is."""

    class Tolerant(rule):  # type: ignore[misc,valid-type]
        def __init__(self, context: ValidationContext) -> None:
            try:
                super().__init__(context)
            except KeyError:
                ASTValidationRule.__init__(self, context)

    return Tolerant


class GatewaySchema(strawberry.Schema):
    fast_path: FastPath | None = None
    """app/graphql/fastpath.py: the hot reads without per-field overhead (GRAPHQL_FAST_PATH)."""

    async def execute(  # Strawberry's signature
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[AllowedType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """A query the standard path has answered cleanly before goes to the fast path first;
        whatever it does not answer, and everything else, to Strawberry's executor."""
        fast = self.fast_path
        context = context_value if isinstance(context_value, Context) else None
        queries = allowed_operation_types is None or AllowedType.QUERY in allowed_operation_types
        # What a client sent, unchecked until Strawberry checks it: only well-typed requests
        # (a list as operationName is the standard path's to refuse).
        plain = (
            isinstance(query, str)
            and (operation_name is None or isinstance(operation_name, str))
            and (variable_values is None or isinstance(variable_values, dict))
        )
        if fast is not None and query is not None and context is not None and queries and plain:
            with contextlib.suppress(GraphQLError):  # a document that does not parse
                answer = await fast.execute(
                    _cached_parse(query), query, operation_name, variable_values, context
                )
                if answer is not None:
                    return answer
        result = await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )
        if fast is not None and query is not None and context is not None and queries and plain:
            fast.learn(query, operation_name, result)
        return result

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Expected errors are the client's business; ErrorPolicy logs the unexpected ones."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    settings = settings or Settings()
    s = settings
    # The limit rules are built once: the validation cache is keyed by the rule classes, and
    # the limiters make a new class per instance (a per-operation limiter never hits the cache).
    limit_rules = [
        *map(tolerant, QueryDepthLimiter(max_depth=s.graphql_max_depth).validation_rules),
        *MaxAliasesLimiter(max_alias_count=s.graphql_max_aliases).validation_rules,
    ]
    # Factories: a fresh extension per operation (the caches themselves are shared).
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        OperationMetrics,  # first: its time covers the others' work too
        AnsweredParserCache,
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        OperationPolicy,  # after ValidationCache: validation errors are answered first
        lambda: AddValidationRules(limit_rules),
        lambda: MaxTokensLimiter(max_token_count=s.graphql_max_tokens),
        ErrorPolicy,
    ]
    if not s.graphql_introspection:
        extensions.append(DisableIntrospection)
    schema = GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALARS),
    )
    if s.graphql_fast_path:
        schema.fast_path = fast_path_for(schema)
    return schema
