"""The execution context operations run in: Strawberry's, with two corrections (below)."""

from __future__ import annotations

from typing import Any

from graphql import (
    SKIP,
    ArgumentNode,
    GraphQLError,
    GraphQLInputType,
    OperationDefinitionNode,
    ValueNode,
    ValuesOfCorrectTypeRule,
    VariableDefinitionNode,
    VisitorAction,
    specified_rules,
    validate_input_literal,
)
from graphql.pyutils import print_path_list
from strawberry.types import ExecutionContext


class NamedValuesOfCorrectType(ValuesOfCorrectTypeRule):
    """graphql-core's rule reports a bad literal without saying which argument or input field
    holds it, no help in a long mutation input. This one names it, worded as graphql-core
    words a bad variable: "Argument 'input' has invalid value at .recurring.start: …"."""

    holder = "Value"

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self.holder = f"Argument '{node.name.value}'"

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        self.holder = f"The default of '${node.variable.name.value}'"

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        if input_type:
            found: list[tuple[GraphQLError, list[str | int]]] = []
            hide = self.context.hide_suggestions

            def collect(error: GraphQLError, path: list[str | int]) -> None:
                found.append((error, path))

            validate_input_literal(node, input_type, collect, hide_suggestions=hide)
            if not hide and any(isinstance(e.original_error, IndexError) for e, _ in found):
                # graphql-core sizes its "did you mean" table by a value's length, not by its
                # lowercase's ("\u0130".lower() is two characters), and reports the IndexError
                # (which reads as an internal error): validated without suggestions, then.
                found.clear()
                validate_input_literal(node, input_type, collect, hide_suggestions=True)
            for error, path in found:
                self._report(error, path)
        return SKIP

    def _report(self, error: GraphQLError, path: list[str | int]) -> None:
        error.message = f"{self.holder} has invalid value{print_path_list(path)}: {error.message}"
        self.report_error(error)


RULES = tuple(
    NamedValuesOfCorrectType if rule is ValuesOfCorrectTypeRule else rule
    for rule in specified_rules
)


class OperationContext(ExecutionContext):
    """Without `operationName`, Strawberry hands the first operation's name to graphql-core, so
    a document of several operations silently runs its first one. The spec (GetOperation) asks
    for a request error, which graphql-core raises when given no name."""

    @property
    def operation_name(self) -> str | None:
        document = self.graphql_document
        if self._provided_operation_name is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                return None
        return super().operation_name
