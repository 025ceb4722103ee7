"""Collection `filter`, `sort` and `q` are capped at 2000 characters like export arguments:
longer is a 422 naming the parameter, and the deepest filter that fits still runs on SQLite
(whose expression trees stop at depth 1000) and PostgreSQL alike."""

from __future__ import annotations

import pytest

from app.exports.validation import MAX_QUERY_TEXT
from app.exports.worker import Worker
from tests.conftest import Harness, Tenant
from tests.graphql.conftest import errors, invalid_field_names
from tests.rest.conftest import body, invalid_fields


def _repeat(head: str, item: str, separator: str) -> str:
    """`head` followed by as many `item`s as fit in MAX_QUERY_TEXT characters."""
    count = (MAX_QUERY_TEXT - len(head) + len(separator)) // (len(item) + len(separator))
    text = head + separator.join([item] * count)
    assert MAX_QUERY_TEXT - len(item) - len(separator) < len(text) <= MAX_QUERY_TEXT
    return text


DEEPEST_FILTERS = {
    "and-terms": _repeat("", "name:a", ";"),
    "or-ranges": _repeat("name:", "a..b", ","),
    "negated-ranges": _repeat("name:!", "a..b", ","),
}


@pytest.mark.parametrize("shape", DEEPEST_FILTERS)
async def test_the_deepest_filter_that_fits_runs(
    harness: Harness, tenant: Tenant, shape: str
) -> None:
    response = await harness.client.get(
        "/data-exports", params={"filter": DEEPEST_FILTERS[shape]}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("parameter", ["filter", "sort", "q"])
async def test_over_the_cap_is_a_422_naming_the_parameter(
    harness: Harness, tenant: Tenant, parameter: str
) -> None:
    value = {"filter": "name:a;" * 1000, "sort": "name," * 1000, "q": "x" * 2001}[parameter]
    response = await harness.client.get(
        "/data-exports", params={parameter: value}, headers=tenant.headers
    )
    assert invalid_fields(response) == [parameter]


async def test_graphql_names_the_argument_too(harness: Harness, tenant: Tenant) -> None:
    query = "query($f: String) { dataExports(filter: $f) { total } }"
    (error,) = await errors(harness.client, query, tenant.headers, {"f": "name:a;" * 1000})
    assert invalid_field_names(error) == ["filter"]


async def test_an_export_with_the_deepest_argument_filter_completes(
    harness: Harness, tenant: Tenant
) -> None:
    arguments = {"filter": _repeat("customerId:", "a..b", ",")}
    created = await harness.client.post(
        "/data-exports", json=body(arguments=arguments), headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    worker = Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage)
    await worker.run(once=True)
    done = await harness.client.get(f"/data-exports/{created.json()['id']}", headers=tenant.headers)
    assert done.json()["status"] == "completed", done.json()
