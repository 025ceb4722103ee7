"""Requests the endpoint must refuse as the client's mistake: bodies over the REST limit, input
values a custom scalar cannot parse, and documents of several operations without
`operationName`. Each gets a clear error, and nothing is logged as a server failure."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import Harness, Tenant
from tests.graphql.conftest import count_exports, data, errors, post

LIMIT = 1024 * 1024  # spec §3: "a body over 1 MiB → 413", as REST
CHUNK = 64 * 1024
JSON_TYPE = {"content-type": "application/json"}


def padded(size: int) -> bytes:
    """A valid operation, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"query": "{ __typename }"}).encode()
    return body + b" " * (size - len(body))


class Upload:
    """A streamed body that counts how much of it the server pulled."""

    def __init__(self, size: int) -> None:
        self.body = padded(size)
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), CHUNK):
            self.pulled += CHUNK
            yield self.body[start : start + CHUNK]


@pytest.fixture
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.WARNING):
        yield
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_body_of_exactly_one_mib_is_served(harness: Harness) -> None:
    response = await harness.client.post("/graphql", content=padded(LIMIT), headers=JSON_TYPE)
    assert response.json() == {"data": {"__typename": "Query"}}


@pytest.mark.parametrize(
    ("declared", "most_pulled"),
    [
        ("honest", 0),  # refused by its Content-Length before a byte is read
        ("none", LIMIT + CHUNK),  # chunked: refused once the count passes the limit
        ("false", LIMIT + CHUNK),  # a Content-Length that lies low gets no further
    ],
)
async def test_a_larger_body_is_a_413_without_being_read(
    harness: Harness, declared: str, most_pulled: int, no_server_errors: None
) -> None:
    upload = Upload(150 * LIMIT)
    length = {"honest": str(len(upload.body)), "none": None, "false": "20"}[declared]
    headers = {**JSON_TYPE, **({"content-length": length} if length else {})}
    response = await harness.client.post("/graphql", content=upload, headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "The request body is larger than 1 MiB.",
                "extensions": {"code": "PAYLOAD_TOO_LARGE"},
            }
        ],
    }
    assert upload.pulled <= most_pulled


async def test_a_body_one_byte_over_is_refused_with_credentials_too(
    harness: Harness, tenant: Tenant
) -> None:
    headers = {**tenant.headers, **JSON_TYPE}
    response = await harness.client.post("/graphql", content=padded(LIMIT + 1), headers=headers)
    assert response.status_code == 413


DATETIME_EXPECTED = "Expected an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z."
CREATE_LITERAL = (
    'mutation { createDataExport(input: {name: "x", resource: CUSTOMERS, format: CSV, '
    'recurring: {instruction: "FREQ=DAILY", start: %s}}) { __typename } }'
)
CREATE_VARIABLE = (
    'mutation($start: DateTime) { createDataExport(input: {name: "x", resource: CUSTOMERS, '
    'format: CSV, recurring: {instruction: "FREQ=DAILY", start: $start}}) { __typename } }'
)
BAD_DATETIMES = ["not-a-date", 5, "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", ""]


@pytest.mark.parametrize("value", BAD_DATETIMES)
async def test_a_bad_datetime_literal_names_its_field(
    harness: Harness, tenant: Tenant, value: object, no_server_errors: None
) -> None:
    query = CREATE_LITERAL % json.dumps(value)
    (error,) = await errors(harness.client, query, tenant.headers)
    assert error["message"] == (
        f"Argument 'input' has invalid value at .recurring.start: {DATETIME_EXPECTED}"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    column = query.index(json.dumps(value)) + 1
    assert error["locations"] == [{"line": 1, "column": column}]
    assert await count_exports(harness) == 0


@pytest.mark.parametrize("value", BAD_DATETIMES)
async def test_a_bad_datetime_variable_names_its_variable(
    harness: Harness, tenant: Tenant, value: object, no_server_errors: None
) -> None:
    (error,) = await errors(harness.client, CREATE_VARIABLE, tenant.headers, {"start": value})
    assert error["message"] == f"Variable '$start' has invalid value: {DATETIME_EXPECTED}"
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert "isoformat" not in json.dumps(error)

    # Inside an input object, the path within it is named.
    whole = "mutation($i: CreateDataExportInput!) { createDataExport(input: $i) { __typename } }"
    bad = {"name": "x", "resource": "CUSTOMERS", "format": "CSV"}
    bad["recurring"] = {"instruction": "FREQ=DAILY", "start": value}
    (error,) = await errors(harness.client, whole, tenant.headers, {"i": bad})
    assert error["message"] == (
        f"Variable '$i' has invalid value at .recurring.start: {DATETIME_EXPECTED}"
    )
    assert await count_exports(harness) == 0


async def test_good_datetimes_still_parse(harness: Harness, tenant: Tenant) -> None:
    created = await data(
        harness.client, CREATE_LITERAL % '"2091-01-31T08:15:00+01:00"', tenant.headers
    )
    assert created == {"createDataExport": {"__typename": "DataExport"}}
    variable = {"start": "2091-01-31T07:15:00Z"}
    created = await data(harness.client, CREATE_VARIABLE, tenant.headers, variable)
    assert created == {"createDataExport": {"__typename": "DataExport"}}


LONG_EXPECTED = "Expected a 64-bit integer, e.g. 1048576."
UNUSED = "Variable '$n' is never used."


def long_default(value: str) -> str:
    """Long is output-only, so no argument takes one; a variable's default is still parsed."""
    return f"query($n: Long = {value}) {{ __typename }}"


@pytest.mark.parametrize("value", ['"big"', "1.5", "true", str(2**63), str(-(2**63) - 1)])
async def test_a_bad_long_is_a_client_error(
    harness: Harness, tenant: Tenant, value: str, no_server_errors: None
) -> None:
    found = await errors(harness.client, long_default(value), tenant.headers)
    assert sorted((e["message"], e.get("extensions") or {}) for e in found) == [
        (f"The default of '$n' has invalid value: {LONG_EXPECTED}", {"code": "BAD_USER_INPUT"}),
        (UNUSED, {}),
    ]


@pytest.mark.parametrize("value", [str(2**63 - 1), str(-(2**63))])
async def test_a_long_within_64_bits_is_accepted(
    harness: Harness, tenant: Tenant, value: str
) -> None:
    found = await errors(harness.client, long_default(value), tenant.headers)
    assert [e["message"] for e in found] == [UNUSED]


TWO_OPERATIONS = "query A { a: __typename } query B { b: __typename }"
MUST_NAME = "Must provide operation name if query contains multiple operations."


async def test_several_operations_need_an_operation_name(harness: Harness, tenant: Tenant) -> None:
    response = await post(harness.client, TWO_OPERATIONS, tenant.headers)
    assert response.status_code == 200  # a request error, answered as parse and validation ones
    assert response.json() == {"data": None, "errors": [{"message": MUST_NAME}]}

    named = await harness.client.post(
        "/graphql", json={"query": TWO_OPERATIONS, "operationName": "B"}, headers=tenant.headers
    )
    assert named.json() == {"data": {"b": "Query"}}

    single = await post(harness.client, "query A { a: __typename }", tenant.headers)
    assert single.json() == {"data": {"a": "Query"}}


async def test_a_mutation_first_in_the_document_is_not_run_unnamed(
    harness: Harness, tenant: Tenant
) -> None:
    document = (
        'mutation Make { createDataExport(input: {name: "x", resource: CUSTOMERS, format: CSV}) '
        "{ __typename } } query Look { __typename }"
    )
    (error,) = await errors(harness.client, document, tenant.headers)
    assert error["message"] == MUST_NAME
    assert await count_exports(harness) == 0


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query ($l: Int!) { dataExports(limit: $l) { total } }", {"l": "ten"}),
        ("query ($l: Int!) { dataExports(limit: $l) { total } }", {}),
        ("query ($l: Int!) { dataExports(limit: $l) { total } }", {"l": None}),
        ('{ dataExports(limit: "ten") { total } }', None),
        ("{ dataExports(limit: 5000) { total } }", None),
        ('{ dataExports(filter: "nope:1") { total } }', None),
        ('{ dataExport(id: "a b") { id } }', None),
        ('{ dataExportsConnection(after: "not-a-cursor") { totalCount } }', None),
    ],
    ids=["variable", "missing", "null", "literal", "bounds", "grammar", "id", "cursor"],
)
async def test_every_bad_argument_or_variable_value_has_one_code(
    harness: Harness, tenant: Tenant, query: str, variables: dict[str, object] | None
) -> None:
    """However a bad value is found (graphql-core's coercion of a variable or a literal, a
    scalar, the core's checks), a client switches on one code."""
    found = await errors(harness.client, query, tenant.headers, variables)
    assert [(e.get("extensions") or {}).get("code") for e in found] == ["BAD_USER_INPUT"]
