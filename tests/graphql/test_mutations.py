"""Mutations: create, partial update and delete, each returning the export or a typed error, and
storing nothing when they fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from app.exports.worker import Worker
from app.models import DataExport
from app.settings import Settings
from tests.conftest import Harness, Tenant, freeze_rate_limit_clock, start_harness, with_settings
from tests.graphql.conftest import count_exports, data, errors, rest_body

EXPORT_FIELDS = """
  id name resource format userId status scheduledTime
  arguments { filter sort q }
  dateRange { start end field }
  emailNotification fields
  recurring { instruction start }
"""

CREATE = f"""mutation($input: CreateDataExportInput!) {{
  createDataExport(input: $input) {{
    __typename
    ... on DataExport {{ {EXPORT_FIELDS} }}
    ... on Error {{ message code }}
    ... on ValidationError {{ invalidFields {{ field message }} }}
    ... on RateLimitedError {{ retryAfterSeconds }}
    ... on RecordLimitError {{ matchedRecords maxRecords invalidFields {{ field message }} }}
  }}
}}"""

UPDATE = f"""mutation($id: ID!, $input: UpdateDataExportInput!) {{
  updateDataExport(id: $id, input: $input) {{
    __typename
    ... on DataExport {{ {EXPORT_FIELDS} updatedTime }}
    ... on Error {{ message code }}
    ... on ValidationError {{ invalidFields {{ field message }} }}
  }}
}}"""

DELETE = """mutation($id: ID!) {
  deleteDataExport(id: $id) {
    __typename
    ... on DeletedDataExport { id }
    ... on Error { message code }
  }
}"""

GET = f"query($id: ID!) {{ dataExport(id: $id) {{ {EXPORT_FIELDS} updatedTime }} }}"

FULL_INPUT: dict[str, Any] = {
    "name": "Everything",
    "resource": "TRANSACTIONS",
    "format": "JSON_API",
    "arguments": {"filter": "result:approved", "sort": "-amount", "q": "gift"},
    "dateRange": {"start": "first day of last month midnight", "end": "today"},
    "emailNotification": ["ops@example.com", "cfo@example.com"],
    "fields": ["id", "amount", "billingAddress/country"],
    "recurring": {"instruction": "FREQ=WEEKLY;BYDAY=MO", "start": "2091-01-01T06:00:00Z"},
}


async def create(harness: Harness, tenant: Tenant, **input: Any) -> dict[str, Any]:
    result = (await data(harness.client, CREATE, tenant.headers, {"input": input}))[
        "createDataExport"
    ]
    assert isinstance(result, dict)
    return result


async def test_create_without_client_id(harness: Harness, tenant: Tenant) -> None:
    node = await create(harness, tenant, **FULL_INPUT)
    assert node["__typename"] == "DataExport"
    assert node["id"].startswith("exp_")
    assert node["userId"] == tenant.user.id
    assert node["status"] == "PENDING"
    assert node["arguments"] == FULL_INPUT["arguments"]
    assert node["dateRange"] == {**FULL_INPUT["dateRange"], "field": "processedTime"}
    assert node["emailNotification"] == FULL_INPUT["emailNotification"]
    assert node["fields"] == FULL_INPUT["fields"]
    assert node["recurring"] == FULL_INPUT["recurring"]
    assert node["scheduledTime"] == "2091-01-01T06:00:00Z"  # a future start is the first run

    rest = await harness.client.get(f"/data-exports/{node['id']}", headers=tenant.headers)
    assert rest.status_code == 200
    assert rest.json()["name"] == "Everything"
    assert rest.json()["format"] == "json-api"


async def test_create_with_client_id_then_duplicate_is_a_conflict(
    harness: Harness, tenant: Tenant
) -> None:
    mine = {"id": "my-export.1", "name": "Mine", "resource": "CUSTOMERS", "format": "CSV"}
    node = await create(harness, tenant, **mine)
    assert (node["__typename"], node["id"]) == ("DataExport", "my-export.1")

    again = await create(harness, tenant, **{**mine, "name": "Other", "resource": "INVOICES"})
    assert again["__typename"] == "ConflictError"
    assert again["code"] == "CONFLICT"
    assert "my-export.1" in again["message"]

    # Nothing changed and nothing was added.
    assert await count_exports(harness) == 1
    stored = (await data(harness.client, GET, tenant.headers, {"id": "my-export.1"}))["dataExport"]
    assert (stored["name"], stored["resource"]) == ("Mine", "CUSTOMERS")

    # The same id in another organization is fine: ids are unique per organization.
    other = await harness.tenant("globex", "eve@example.com")
    theirs = await create(harness, other, **{**mine, "name": "Theirs"})
    assert theirs["__typename"] == "DataExport"


async def test_create_invalid_lists_every_field_and_stores_nothing(
    harness: Harness, tenant: Tenant
) -> None:
    bad = {
        "id": "not valid!",
        "name": "x" * 51,
        "resource": "TRANSACTIONS",
        "format": "CSV",
        "dateRange": {"start": "someday", "end": "today"},
        "emailNotification": ["ok@example.com", "not-an-email"],
        "fields": ["id", "nope"],
        "recurring": {"instruction": "FREQ=SECONDLY"},
    }
    node = await create(harness, tenant, **bad)
    assert node["__typename"] == "ValidationError"
    assert node["code"] == "VALIDATION_FAILED"
    fields = [item["field"] for item in node["invalidFields"]]
    assert fields == ["id"]  # a bad id stops before the body is checked

    del bad["id"]
    node = await create(harness, tenant, **bad)
    assert node["__typename"] == "ValidationError"
    fields = [item["field"] for item in node["invalidFields"]]
    for expected in (
        "name",
        "dateRange.start",
        "emailNotification.1",
        "fields.1",
        "recurring.instruction",
    ):
        assert expected in fields, fields
    assert all(item["message"] for item in node["invalidFields"])

    # The same body over REST names the same fields.
    rest_input = {
        **bad,
        "resource": "transactions",
        "format": "csv",
    }
    rest = await harness.client.post("/data-exports", json=rest_input, headers=tenant.headers)
    assert rest.status_code == 422
    assert [f["field"] for f in rest.json()["invalidFields"]] == fields
    assert await count_exports(harness) == 0


async def test_read_only_key_gets_forbidden_error(harness: Harness, tenant: Tenant) -> None:
    node = (
        await data(
            harness.client,
            CREATE,
            tenant.read_headers,
            {"input": {"name": "No", "resource": "CUSTOMERS", "format": "CSV"}},
        )
    )["createDataExport"]
    assert node["__typename"] == "ForbiddenError"
    assert node["code"] == "FORBIDDEN"
    assert await count_exports(harness) == 0

    existing = await create(harness, tenant, name="Keep", resource="CUSTOMERS", format="CSV")
    upd = (
        await data(
            harness.client,
            UPDATE,
            tenant.read_headers,
            {"id": existing["id"], "input": {"name": "Changed"}},
        )
    )["updateDataExport"]
    assert upd["__typename"] == "ForbiddenError"
    deleted = (await data(harness.client, DELETE, tenant.read_headers, {"id": existing["id"]}))[
        "deleteDataExport"
    ]
    assert deleted["__typename"] == "ForbiddenError"
    stored = (await data(harness.client, GET, tenant.headers, {"id": existing["id"]}))["dataExport"]
    assert stored["name"] == "Keep"


async def test_a_read_only_key_is_forbidden_before_its_input_is_judged(
    harness: Harness, tenant: Tenant
) -> None:
    """403 comes before 422 (spec §3), as on REST: a bad id or body is not even looked at."""
    bad_id = {"id": "not an id", "input": {"name": "x"}}
    results = [
        await data(harness.client, UPDATE, tenant.read_headers, bad_id),
        await data(harness.client, DELETE, tenant.read_headers, {"id": "not an id"}),
        await data(
            harness.client,
            CREATE,
            tenant.read_headers,
            {"input": {"id": "not an id", "name": "", "resource": "CUSTOMERS", "format": "CSV"}},
        ),
    ]
    assert [next(iter(r.values()))["__typename"] for r in results] == ["ForbiddenError"] * 3


async def test_update_is_partial(harness: Harness, tenant: Tenant) -> None:
    node = await create(harness, tenant, **FULL_INPUT)
    upd = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": node["id"], "input": {"name": "Renamed"}}
        )
    )["updateDataExport"]
    assert upd["__typename"] == "DataExport"
    assert upd["name"] == "Renamed"
    unchanged = {k: v for k, v in node.items() if k not in ("name", "__typename")}
    assert {k: upd[k] for k in unchanged} == unchanged

    # null clears dateRange; everything else stays.
    cleared = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": node["id"], "input": {"dateRange": None}}
        )
    )["updateDataExport"]
    assert cleared["dateRange"] is None
    assert cleared["name"] == "Renamed"
    assert cleared["arguments"] == FULL_INPUT["arguments"]
    assert cleared["recurring"] == FULL_INPUT["recurring"]
    assert cleared["fields"] == FULL_INPUT["fields"]

    # Several members at once, enum members included.
    changed = (
        await data(
            harness.client,
            UPDATE,
            tenant.headers,
            {
                "id": node["id"],
                "input": {
                    "format": "PDF",
                    "recurring": None,
                    "arguments": {"filter": "status:completed"},
                    "dateRange": {"start": "yesterday", "end": "today", "field": "createdTime"},
                },
            },
        )
    )["updateDataExport"]
    assert changed["format"] == "PDF"
    assert changed["recurring"] is None
    assert changed["arguments"] == {"filter": "status:completed", "sort": None, "q": None}
    assert changed["dateRange"] == {"start": "yesterday", "end": "today", "field": "createdTime"}
    assert changed["emailNotification"] == FULL_INPUT["emailNotification"]

    rest = (await harness.client.get(f"/data-exports/{node['id']}", headers=tenant.headers)).json()
    assert rest["name"] == "Renamed"
    assert rest["format"] == "pdf"
    assert rest["recurring"] is None


async def test_update_invalid_and_unknown(harness: Harness, tenant: Tenant) -> None:
    node = await create(harness, tenant, **FULL_INPUT)
    bad = (
        await data(
            harness.client,
            UPDATE,
            tenant.headers,
            {"id": node["id"], "input": {"name": "", "fields": ["id", "bogus"]}},
        )
    )["updateDataExport"]
    assert bad["__typename"] == "ValidationError"
    assert [f["field"] for f in bad["invalidFields"]] == ["name", "fields.1"]
    stored = (await data(harness.client, GET, tenant.headers, {"id": node["id"]}))["dataExport"]
    assert stored["name"] == "Everything"
    assert stored["fields"] == FULL_INPUT["fields"]

    missing = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": "exp_nope", "input": {"name": "x"}}
        )
    )["updateDataExport"]
    assert missing["__typename"] == "NotFoundError"
    assert missing["code"] == "NOT_FOUND"

    bad_id = (
        await data(harness.client, UPDATE, tenant.headers, {"id": "../x", "input": {"name": "x"}})
    )["updateDataExport"]
    assert bad_id["__typename"] == "ValidationError"
    assert [f["field"] for f in bad_id["invalidFields"]] == ["id"]
    assert await count_exports(harness) == 1


async def test_update_of_a_finished_export_is_a_conflict(harness: Harness, tenant: Tenant) -> None:
    node = await create(harness, tenant, name="Soon done", resource="CUSTOMERS", format="CSV")
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    done = (await data(harness.client, GET, tenant.headers, {"id": node["id"]}))["dataExport"]
    assert done["status"] == "COMPLETED"

    result = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": node["id"], "input": {"name": "Late"}}
        )
    )["updateDataExport"]
    assert result["__typename"] == "ConflictError"
    assert result["code"] == "CONFLICT"
    after = (await data(harness.client, GET, tenant.headers, {"id": node["id"]}))["dataExport"]
    assert after == done


@pytest.mark.parametrize("status", ["queued", "processing"])
async def test_update_of_a_busy_export_is_a_conflict(
    harness: Harness, tenant: Tenant, status: str
) -> None:
    node = await create(harness, tenant, name="Busy", resource="CUSTOMERS", format="CSV")
    async with harness.session() as session:
        await session.execute(
            update(DataExport).where(DataExport.id == node["id"]).values(status=status)
        )
        await session.commit()
    result = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": node["id"], "input": {"name": "No"}}
        )
    )["updateDataExport"]
    assert result["__typename"] == "ConflictError"
    assert status in result["message"]


async def test_delete_then_not_found(harness: Harness, tenant: Tenant) -> None:
    node = await create(harness, tenant, name="Bye", resource="CUSTOMERS", format="CSV")
    await Worker(harness.settings, harness.app.state.sessionmaker, harness.app.state.storage).run(
        once=True
    )
    file_id = (
        await harness.client.get(f"/data-exports/{node['id']}", headers=tenant.headers)
    ).json()["fileId"]
    assert file_id
    key = await _storage_key(harness, file_id)
    assert harness.app.state.storage.path(key).is_file()

    deleted = (await data(harness.client, DELETE, tenant.headers, {"id": node["id"]}))[
        "deleteDataExport"
    ]
    assert deleted == {"__typename": "DeletedDataExport", "id": node["id"]}
    assert not harness.app.state.storage.path(key).exists()
    assert await count_exports(harness) == 0
    gone = await harness.client.get(f"/data-exports/{node['id']}", headers=tenant.headers)
    assert gone.status_code == 404
    found = await data(harness.client, GET, tenant.headers, {"id": node["id"]})
    assert found == {"dataExport": None}

    again = (await data(harness.client, DELETE, tenant.headers, {"id": node["id"]}))[
        "deleteDataExport"
    ]
    assert again["__typename"] == "NotFoundError"
    assert again["code"] == "NOT_FOUND"


async def test_delete_answers_the_deleted_export_for_cache_eviction(
    harness: Harness, tenant: Tenant
) -> None:
    """`DeletedDataExport.dataExport` is the object itself, as last read: `__typename`
    DataExport and its id (what Apollo's `cache.identify` and urql's `invalidate` key on),
    and the fields the client holds; the old `... on DeletedDataExport { id }` still works."""
    node = await create(harness, tenant, name="Evict me", resource="CUSTOMERS", format="CSV")
    before = (await data(harness.client, GET, tenant.headers, {"id": node["id"]}))["dataExport"]
    query = (
        "mutation($id: ID!) { deleteDataExport(id: $id) { __typename ... on DeletedDataExport "
        f"{{ id dataExport {{ __typename {EXPORT_FIELDS} updatedTime }} }} }} }}"
    )
    deleted = (await data(harness.client, query, tenant.headers, {"id": node["id"]}))[
        "deleteDataExport"
    ]
    assert deleted == {
        "__typename": "DeletedDataExport",
        "id": node["id"],
        "dataExport": {"__typename": "DataExport", **before},
    }
    assert await count_exports(harness) == 0
    found = await data(harness.client, GET, tenant.headers, {"id": node["id"]})
    assert found == {"dataExport": None}


async def _storage_key(harness: Harness, file_id: str) -> str:
    from app.models import ExportFile

    async with harness.session() as session:
        row = await session.get(ExportFile, file_id)
        assert row is not None
        return row.storage_key


async def test_unauthenticated_mutation_is_http_401(harness: Harness) -> None:
    response = await harness.client.post(
        "/graphql",
        json={
            "query": CREATE,
            "variables": {"input": {"name": "No", "resource": "CUSTOMERS", "format": "CSV"}},
        },
        headers={"REB-APIKEY": "wrong-key-wrong-key-wrong-key-wrong"},
    )
    assert response.status_code == 401
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await count_exports(harness) == 0


@pytest.fixture
async def limited(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    freeze_rate_limit_clock(monkeypatch)  # the three writes must share one 600 s window
    async for h in start_harness(with_settings(settings, rate_limit_writes=2)):
        yield h


async def test_rate_limit_is_a_typed_error(limited: Harness) -> None:
    tenant = await limited.tenant("acme")
    input = {"name": "One", "resource": "CUSTOMERS", "format": "CSV"}
    first = await create(limited, tenant, **input)
    second = await create(limited, tenant, **{**input, "name": "Two"})
    assert [first["__typename"], second["__typename"]] == ["DataExport", "DataExport"]

    third = await create(limited, tenant, **{**input, "name": "Three"})
    assert third["__typename"] == "RateLimitedError"
    assert third["code"] == "RATE_LIMITED"
    assert 0 < third["retryAfterSeconds"] <= limited.settings.rate_limit_window_seconds
    assert await count_exports(limited) == 2

    upd = (
        await data(
            limited.client, UPDATE, tenant.headers, {"id": first["id"], "input": {"name": "X"}}
        )
    )["updateDataExport"]
    assert upd["__typename"] == "RateLimitedError"
    deleted = (await data(limited.client, DELETE, tenant.headers, {"id": first["id"]}))[
        "deleteDataExport"
    ]
    assert deleted["__typename"] == "RateLimitedError"
    stored = (await data(limited.client, GET, tenant.headers, {"id": first["id"]}))["dataExport"]
    assert stored["name"] == "One"
    assert await count_exports(limited) == 2

    # REST shares the same counter.
    rest = await limited.client.post(
        "/data-exports",
        json={"name": "Four", "resource": "customers", "format": "csv"},
        headers=tenant.headers,
    )
    assert rest.status_code == 429


async def test_record_limit_is_a_typed_error(settings: Settings) -> None:
    from app.demo import seed_demo

    async for h in start_harness(with_settings(settings, export_max_records=5)):
        tenant = await h.tenant("acme")
        async with h.session() as session:
            await seed_demo(
                session,
                organization_id="acme",
                customers=10,
                transactions=20,
                pepper=h.settings.api_key_pepper,
                keys_file=None,
                show_progress=False,
            )
        before = await count_exports(h)
        node = await create(h, tenant, name="Too big", resource="CUSTOMERS", format="CSV")
        assert node["__typename"] == "RecordLimitError"
        assert node["code"] == "RECORD_LIMIT_EXCEEDED"
        assert (node["matchedRecords"], node["maxRecords"]) == (10, 5)
        assert [f["field"] for f in node["invalidFields"]] == ["dateRange"]  # as REST names it
        assert await count_exports(h) == before


async def test_mutation_errors_are_not_graphql_errors(harness: Harness, tenant: Tenant) -> None:
    """Typed errors come back as data; only schema misuse is a GraphQL error."""
    (error,) = await errors(
        harness.client,
        'mutation { createDataExport(input: {name: "x", resource: NOPE, format: CSV}) '
        "{ __typename } }",
        tenant.headers,
    )
    assert "NOPE" in error["message"]
    assert await count_exports(harness) == 0


async def rest_create(harness: Harness, tenant: Tenant, **overrides: Any) -> str:
    """An export made through REST, so these tests start from what a REST caller stored."""
    response = await harness.client.post(
        "/data-exports", json=rest_body(**overrides), headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    export_id: str = response.json()["id"]
    return export_id


async def test_changing_the_resource_resets_defaults_the_client_never_chose(
    harness: Harness, tenant: Tenant
) -> None:
    export_id = await rest_create(
        harness, tenant, resource="transactions", dateRange={"start": "yesterday", "end": "today"}
    )
    moved = (
        await data(
            harness.client,
            UPDATE,
            tenant.headers,
            {"id": export_id, "input": {"resource": "CUSTOMERS"}},
        )
    )["updateDataExport"]
    assert moved["__typename"] == "DataExport"
    assert moved["resource"] == "CUSTOMERS"
    assert moved["fields"] == ["id", "email", "firstName", "lastName", "createdTime"]
    assert moved["dateRange"] == {"start": "yesterday", "end": "today", "field": "createdTime"}

    # Chosen fields that do not exist for the new resource are still named.
    chosen = (
        await data(
            harness.client,
            UPDATE,
            tenant.headers,
            {"id": export_id, "input": {"resource": "INVOICES", "fields": ["email"]}},
        )
    )["updateDataExport"]
    assert chosen["__typename"] == "ValidationError"
    assert [e["field"] for e in chosen["invalidFields"]] == ["fields.0"]


async def test_an_old_schedule_sent_back_unchanged_is_not_rejudged(
    harness: Harness, tenant: Tenant
) -> None:
    """The age limit on recurring.start applies to new schedules, not to one already held."""
    export_id = await rest_create(
        harness, tenant, resource="customers", recurring={"instruction": "FREQ=DAILY"}
    )
    old = {"instruction": "FREQ=DAILY", "start": "2019-01-01T00:00:00Z"}
    async with harness.session() as session:
        await session.execute(
            update(DataExport).where(DataExport.id == export_id).values(recurring=old)
        )
        await session.commit()
    renamed = (
        await data(
            harness.client, UPDATE, tenant.headers, {"id": export_id, "input": {"name": "y"}}
        )
    )["updateDataExport"]
    assert renamed["__typename"] == "DataExport"
    assert renamed["name"] == "y"
    assert renamed["recurring"] == old
    moved = (
        await data(
            harness.client,
            UPDATE,
            tenant.headers,
            {
                "id": export_id,
                "input": {
                    "recurring": {"instruction": "FREQ=DAILY", "start": "2019-01-02T00:00:00Z"}
                },
            },
        )
    )["updateDataExport"]
    assert moved["__typename"] == "ValidationError"
    assert [e["field"] for e in moved["invalidFields"]] == ["recurring.start"]
