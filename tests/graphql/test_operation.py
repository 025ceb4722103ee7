"""The schema extensions of app/graphql/operation.py and schema.py on a tiny schema: documents
of several operations need a name (answered as graphql-core answers it), and a subscription's
errors are located as a resolver's are."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from strawberry.extensions import ValidationCache
from strawberry.types.execution import ExecutionResult, PreExecutionError

from app.errors import NotFound
from app.graphql.operation import OPERATION_NAME_REQUIRED, OperationPolicy
from app.graphql.schema import ErrorPolicy, GatewaySchema

RUNS: list[str] = []


@strawberry.type
class Query:
    @strawberry.field
    def a(self) -> int:
        RUNS.append("a")
        return 1

    @strawberry.field
    def echo(self, n: int) -> int:
        return n


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1

    @strawberry.subscription
    async def missing(self) -> AsyncGenerator[int, None]:
        raise NotFound("Nothing here.")
        yield 0  # an async generator, failing as it is first read


SCHEMA = GatewaySchema(
    query=Query,
    subscription=Subscription,
    extensions=[ValidationCache, OperationPolicy, ErrorPolicy],
)


async def first(query: str, operation_name: str | None = None) -> ExecutionResult:
    stream: Any = await SCHEMA.subscribe(query, operation_name=operation_name)
    async for result in stream:
        assert isinstance(result, ExecutionResult)
        return result
    raise AssertionError("no result")


async def test_several_operations_without_a_name_run_none() -> None:
    RUNS.clear()
    result = await SCHEMA.execute("query A { a } query B { b: a }")
    assert result.data is None
    assert [e.message for e in result.errors or []] == [OPERATION_NAME_REQUIRED]
    assert RUNS == []
    named = await SCHEMA.execute("query A { a } query B { b: a }", operation_name="B")
    assert named.data == {"b": 1}
    assert (await SCHEMA.execute("query A { a }")).data == {"a": 1}


async def test_validation_errors_come_before_the_missing_name() -> None:
    result = await SCHEMA.execute("query A { a } query B { nope }")
    assert [e.message for e in result.errors or []] == [
        "Cannot query field 'nope' on type 'Query'."
    ]


async def test_a_subscription_first_is_refused_before_execution() -> None:
    result = await first("subscription S { ticks } query Q { a }")
    assert isinstance(result, PreExecutionError)
    assert [e.message for e in result.errors or []] == [OPERATION_NAME_REQUIRED]
    assert (await first("subscription S { ticks } query Q { a }", "S")).data == {"ticks": 1}


async def test_a_bad_literal_names_its_argument() -> None:
    result = await SCHEMA.execute('{ echo(n: "x") }')
    (error,) = result.errors or []
    assert error.message.startswith("Argument 'n' has invalid value: ")


async def test_a_subscription_error_is_located_at_its_field() -> None:
    for query in [
        "subscription { renamed: missing }",
        "subscription { ...F } fragment F on Subscription { renamed: missing }",
    ]:
        (error,) = (await first(query)).errors or []
        assert error.formatted == {
            "message": "Nothing here.",
            "locations": [{"line": 1, "column": query.index("renamed") + 1}],
            "path": ["renamed"],
            "extensions": {"code": "NOT_FOUND"},
        }
