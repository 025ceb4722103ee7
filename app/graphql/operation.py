"""What every operation is held to, beyond Strawberry's defaults: two corrections, made with
public API only (a validation rule and a schema extension)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    SKIP,
    ArgumentNode,
    BooleanValueNode,
    EnumValueNode,
    ExecutionResult,
    FloatValueNode,
    GraphQLError,
    GraphQLInputType,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationRule,
    ValueNode,
    ValuesOfCorrectTypeRule,
    VariableDefinitionNode,
    VisitorAction,
    validate_input_literal,
)
from graphql.pyutils import print_path_list
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from app.graphql.errors import BAD_USER_INPUT

# graphql-core's wording (`execute` and `subscribe` say it when given no operation name).
OPERATION_NAME_REQUIRED = "Must provide operation name if query contains multiple operations."


class NamedValuesOfCorrectType(ValidationRule):
    """graphql-core's ValuesOfCorrectTypeRule, naming what holds a bad literal: its rule says
    "Expected value of type …" without the argument or input field, no help in a long mutation
    input. This one words it as graphql-core words a bad variable: "Argument 'input' has invalid
    value at .recurring.start: …". It visits the literals that rule visits (a list against its
    parent input type, as graphql-core's TypeInfo has stepped into the item type) and validates
    each whole literal once with graphql-core's public `validate_input_literal`."""

    holder = "Value"

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self.holder = f"Argument '{node.name.value}'"

    def enter_variable_definition(self, node: VariableDefinitionNode, *_args: Any) -> None:
        self.holder = f"The default of '${node.variable.name.value}'"

    def enter_null_value(self, node: NullValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_list_value(self, node: ListValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_parent_input_type())

    def enter_object_value(self, node: ObjectValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_enum_value(self, node: EnumValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_int_value(self, node: IntValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_float_value(self, node: FloatValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def enter_boolean_value(self, node: BooleanValueNode, *_args: Any) -> VisitorAction:
        return self.check(node, self.context.get_input_type())

    def check(self, node: ValueNode, input_type: GraphQLInputType | None) -> VisitorAction:
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
                error.message = f"{self.holder} has invalid value{print_path_list(path)}: " + (
                    error.message
                )
                error.extensions = {**(error.extensions or {}), "code": BAD_USER_INPUT}
                self.report_error(error)
        return SKIP  # the whole literal is validated: its parts are not visited again


def with_named_values(rules: tuple[type[Any], ...]) -> tuple[type[Any], ...]:
    """The rules with graphql-core's ValuesOfCorrectTypeRule swapped for the naming one."""
    return tuple(
        NamedValuesOfCorrectType if rule is ValuesOfCorrectTypeRule else rule for rule in rules
    )


class OperationPolicy(SchemaExtension):
    """Puts NamedValuesOfCorrectType in place of graphql-core's rule, and makes a document of
    several operations without `operationName` a request error, as the spec's GetOperation
    asks: Strawberry hands the first operation's name to graphql-core, so such a document would
    silently run its first operation.

    The error is graphql-core's own, answered as graphql-core answers it when given no name:
    an execution result for a query or mutation, an error before execution for a subscription.
    Goes after ValidationCache in the schema's extensions: a document that does not validate
    is answered with its validation errors first."""

    named = False

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        # Nothing is parsed yet: `operation_name` is still the request's own. (Once there is
        # a document, Strawberry answers the first operation's name for a request without.)
        self.named = context.operation_name is not None
        context.validation_rules = with_named_values(context.validation_rules)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if (
            not context.pre_execution_errors
            and self.ambiguous()
            and context.operation_type is OperationType.SUBSCRIPTION
        ):
            context.pre_execution_errors = [GraphQLError(OPERATION_NAME_REQUIRED)]
        yield

    def on_execute(self) -> Iterator[None]:
        if self.ambiguous():  # a result set here is returned instead of executing
            failed = ExecutionResult(data=None, errors=[GraphQLError(OPERATION_NAME_REQUIRED)])
            self.execution_context.result = failed
        yield

    def ambiguous(self) -> bool:
        document = self.execution_context.graphql_document
        if self.named or document is None:
            return False
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        return len(operations) > 1
