"""The fast path (app/graphql/fastpath.py) answers exactly what the standard executor answers.

Two apps on one database, one with GRAPHQL_FAST_PATH off: many generated documents (aliases,
named and inline fragments, `@skip` / `@include` with variables, `__typename`, duplicate fields
that merge, nulls, fields the fast path leaves to the standard one, bad ids, refused variables,
unknown exports, missing credentials) go to both, the fast app twice (the first answer teaches
it the document, the second takes the fast path), and the status and JSON must be equal."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update
from starlette.routing import WebSocketRoute

from app.models import DataExport, utcnow
from tests.conftest import Harness, Tenant, add_user, start_harness, with_settings
from tests.graphql.conftest import rest_body

SEED = 20261206
DOCUMENTS = 160

LEAVES = [
    "id",
    "name",
    "resource",
    "format",
    "emailNotification",
    "fields",
    "userId",
    "fileId",
    "recordCount",
    "scheduledTime",
    "createdTime",
    "updatedTime",
    "status",
    "failureReason",
    "csvDialect",
    "attempts",
    "nextAttemptTime",
]
OBJECTS = {
    "arguments": ["filter", "sort", "q", "__typename"],
    "recurring": ["instruction", "start"],
    "dateRange": ["start", "end", "field"],
    "links": ["rel", "href", "__typename"],
    "lastError": ["code", "message", "time"],
    "progress": ["rowsWritten", "rowsTotal"],
    "user": ["id", "email", "firstName", "lastName", "createdTime", "__typename"],
}
USER_LINKS = "links { rel href }"
LEFT_TO_STANDARD = ["file { id name }", "files { id }", "nextOccurrences(count: 2)"]


def fast_path_of(harness: Harness) -> Any:
    """The GraphQL view's fast path (None when GRAPHQL_FAST_PATH is off)."""
    (view,) = [
        r.endpoint
        for r in harness.app.routes
        if isinstance(r, WebSocketRoute) and r.path == "/graphql"
    ]
    return view.schema.fast_path


@pytest.fixture
async def pair(harness: Harness) -> AsyncIterator[tuple[Harness, Harness]]:
    """The test's app (fast path on) and a twin on the same database with it off."""
    assert harness.settings.graphql_fast_path
    async for slow in start_harness(with_settings(harness.settings, graphql_fast_path=False)):
        yield harness, slow


async def _seed(harness: Harness, tenant: Tenant) -> list[str]:
    other = await add_user(harness, "acme", "grace@example.com")
    bodies = [
        rest_body(name="Plain"),
        rest_body(name="Ranged", dateRange={"start": "30 days ago", "end": "today"}),
        rest_body(
            name="Weekly",
            format="json",
            recurring={"instruction": "FREQ=WEEKLY;BYDAY=MO", "start": "2030-01-06T09:00:00Z"},
            arguments={"filter": "status:completed", "sort": "-createdTime", "q": "x"},
            emailNotification=["ops@example.com"],
        ),
        rest_body(name="Excel", csvDialect="excel", fields=["id", "amount"]),
        rest_body(name="Xml", format="xml", resource="customers"),
    ]
    ids = []
    for n, body in enumerate(bodies * 3):
        headers = tenant.headers
        response = await harness.client.post("/data-exports", json=body, headers=headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
        if n % 4 == 1:  # some owned by another user
            async with harness.session() as session:
                await session.execute(
                    update(DataExport).where(DataExport.id == ids[-1]).values(user_id=other.id)
                )
                await session.commit()
    now = utcnow()
    states: list[dict[str, Any]] = [
        {"status": "failed", "failure_reason": "max-retries-reached", "attempts": 5},
        {
            "status": "queued",
            "attempts": 2,
            "not_before": now + timedelta(minutes=5),
            "last_error_code": "storage-unavailable",
            "last_error_message": None,
            "last_error_time": now,
        },
        {"status": "processing", "rows_written": 10, "rows_total": 200, "attempts": 1},
        {"status": "processing", "rows_written": 0, "rows_total": None, "attempts": 1},
    ]
    async with harness.session() as session:
        for export_id, values in zip(ids[1::3], states, strict=False):
            await session.execute(
                update(DataExport).where(DataExport.id == export_id).values(**values)
            )
        await session.commit()
    return ids


class Generator:
    """Random documents over the export type, every construct at some rate."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.fragments: dict[str, str] = {}
        self.variables: dict[str, str] = {}

    def directive(self) -> str:
        roll = self.rng.random()
        if roll < 0.1:
            self.variables["s"] = "Boolean!"
            return " @skip(if: $s)"
        if roll < 0.2:
            self.variables["i"] = "Boolean!"
            return " @include(if: $i)"
        if roll < 0.25:
            return " @include(if: false)"
        if roll < 0.28:
            return " @skip(if: true)"
        return ""

    def alias(self, name: str) -> str:
        return f"{name}A{self.rng.randint(0, 2)}: " if self.rng.random() < 0.15 else ""

    def selection(self, depth: int = 0) -> str:
        rng = self.rng
        parts = []
        for leaf in rng.sample(LEAVES, rng.randint(1, 7)):
            parts.append(f"{self.alias(leaf)}{leaf}{self.directive()}")
        for name in rng.sample(list(OBJECTS), rng.randint(0, 4)):
            inner = " ".join(rng.sample(OBJECTS[name], rng.randint(1, len(OBJECTS[name]))))
            if name == "user" and rng.random() < 0.3:
                inner += " " + USER_LINKS
            parts.append(f"{self.alias(name)}{name}{self.directive()} {{ {inner} }}")
            if name == "user" and rng.random() < 0.2:  # merged with the first
                parts.append("user { email }")
        if rng.random() < 0.3:
            parts.append("__typename")
        if rng.random() < 0.07:
            parts.append(rng.choice(LEFT_TO_STANDARD))
        if depth == 0 and rng.random() < 0.3:
            name = f"F{len(self.fragments)}"
            self.fragments[name] = f"fragment {name} on DataExport {{ {self.selection(1)} }}"
            parts.append(f"...{name}{self.directive()}")
        if depth == 0 and rng.random() < 0.25:
            condition = rng.choice(["on DataExport ", ""])
            parts.append(f"... {condition}{self.directive()}{{ {self.selection(1)} }}")
        rng.shuffle(parts)
        return " ".join(parts)

    def document(self, ids: list[str]) -> tuple[str, dict[str, Any]]:
        self.fragments, self.variables = {}, {}
        rng = self.rng
        values: dict[str, Any] = {}
        roots = []
        for _ in range(rng.choice([1, 1, 1, 2])):
            alias = f"r{len(roots)}: " if roots or rng.random() < 0.2 else ""
            if rng.random() < 0.5:
                self.variables["id"] = "ID!"
                values["id"] = rng.choice([*ids, *ids, "exp_missing", "bad id!"])
                roots.append(f"{alias}dataExport(id: $id) {{ {self.selection()} }}")
            else:
                arguments = []
                if rng.random() < 0.6:
                    self.variables["limit"] = "Int"
                    values["limit"] = rng.choice([3, 10, 100, 0, 2000])
                    arguments.append("limit: $limit")
                if rng.random() < 0.3:
                    arguments.append(f"offset: {rng.choice([0, 2, 50])}")
                if rng.random() < 0.3:
                    arguments.append(f'sort: "{rng.choice(["name", "-createdTime", "nope"])}"')
                if rng.random() < 0.1:
                    arguments.append('filter: "format:json"')
                page = " ".join(
                    rng.sample(["total", "limit", "offset", "__typename"], rng.randint(0, 3))
                )
                listed = f"({', '.join(arguments)})" if arguments else ""
                items = f"items {{ {self.selection()} }}"
                roots.append(f"{alias}dataExports{listed} {{ {page} {items} }}")
        if rng.random() < 0.1:
            roots.append("__typename")
        for name in self.variables:
            if name in ("s", "i"):
                values[name] = rng.random() < 0.5
        if rng.random() < 0.04 and "limit" in values:
            values["limit"] = "ten"  # refused by its type
        definitions = ", ".join(f"${n}: {t}" for n, t in self.variables.items())
        operation = f"query Q({definitions})" if definitions else "query Q"
        text = f"{operation} {{ {' '.join(roots)} }} {' '.join(self.fragments.values())}"
        return text, values


async def _answer(harness: Harness, document: str, values: dict[str, Any], headers: Any) -> Any:
    payload = {"query": document, "variables": values, "operationName": "Q"}
    response = await harness.client.post("/graphql", json=payload, headers=headers)
    assert response.status_code < 500, response.text
    return response.status_code, response.json()


async def test_generated_documents_answer_the_same(
    pair: tuple[Harness, Harness], tenant: Tenant
) -> None:
    fast, slow = pair
    ids = await _seed(fast, tenant)
    generator = Generator(random.Random(SEED))
    path = fast_path_of(fast)
    served = 0
    for _ in range(DOCUMENTS):
        document, values = generator.document(ids)
        expected = await _answer(slow, document, values, tenant.headers)
        before = path.hits
        first = await _answer(fast, document, values, tenant.headers)
        second = await _answer(fast, document, values, tenant.headers)
        served += path.hits - before
        context = json.dumps({"document": document, "variables": values}, indent=1)
        assert first == expected, context
        assert second == expected, context
    print(f"\n{DOCUMENTS} documents, {served} answers from the fast path")
    assert served >= DOCUMENTS // 3  # most documents are the fast path's to answer
    assert fast_path_of(slow) is None


async def test_credentials_and_tenancy_hold_on_the_fast_path(
    pair: tuple[Harness, Harness], tenant: Tenant
) -> None:
    fast, slow = pair
    ids = await _seed(fast, tenant)
    stranger = await fast.tenant("globex", "eve@example.com")
    document = "query Q($id: ID!) { dataExport(id: $id) { id name user { email } } }"
    path = fast_path_of(fast)
    for _ in range(2):
        ok = await _answer(fast, document, {"id": ids[0]}, tenant.headers)
        assert ok == await _answer(slow, document, {"id": ids[0]}, tenant.headers)
    hits = path.hits
    assert hits >= 1
    # Another organization's key sees no export with that id: null, as the standard path says.
    other = await _answer(fast, document, {"id": ids[0]}, stranger.headers)
    assert other == (200, {"data": {"dataExport": None}})
    assert other == await _answer(slow, document, {"id": ids[0]}, stranger.headers)
    # No credentials, or bad ones: the standard path's 401, whatever the fast path knows.
    for headers in ({}, {"REB-APIKEY": "nope"}):
        refused = await _answer(fast, document, {"id": ids[0]}, headers)
        assert refused[0] == 401
        assert refused == await _answer(slow, document, {"id": ids[0]}, headers)
    # A read-only key reads; the page is the same on both paths.
    page = "query Q { dataExports(limit: 5) { total items { id userId user { id } } } }"
    for _ in range(2):
        read = await _answer(fast, page, {}, tenant.read_headers)
        assert read == await _answer(slow, page, {}, tenant.read_headers)
    assert path.hits > hits


async def test_a_mutation_or_a_get_is_never_the_fast_paths(
    pair: tuple[Harness, Harness], tenant: Tenant
) -> None:
    fast, _ = pair
    path = fast_path_of(fast)
    query = "{ dataExports(limit: 1) { total } }"
    for _ in range(2):
        response = await fast.client.get(
            "/graphql", params={"query": query}, headers=tenant.headers
        )
        assert response.json() == {"data": {"dataExports": {"total": 0}}}
    assert path.hits == 1  # GET queries take it too: the second one
    mutation = (
        'mutation { createDataExport(input: {name: "M", resource: CUSTOMERS, format: CSV}) '
        "{ __typename } }"
    )
    for _ in range(2):
        response = await fast.client.post(
            "/graphql", json={"query": mutation}, headers=tenant.headers
        )
        assert response.status_code == 200, response.text
    assert path.hits == 1
