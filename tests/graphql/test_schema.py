"""The schema contract: descriptions everywhere, UPPER_SNAKE enums that map onto the REST values,
REST date-times, and a committed `schema.graphql` that the CLI reproduces from no environment."""

from __future__ import annotations

import os
import subprocess
from enum import Enum
from pathlib import Path
from typing import Any

import graphql
import pytest

from app.graphql import enums
from app.graphql.schema import build_schema
from app.settings import Settings
from tests.conftest import Harness, Tenant, run_cli
from tests.graphql.conftest import ISO_Z, UPPER_SNAKE, data, rest_body

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schema.graphql"


def _introspect() -> dict[str, Any]:
    result = build_schema().execute_sync(graphql.get_introspection_query(descriptions=True))
    assert result.errors is None
    assert result.data is not None
    return result.data["__schema"]


def _own_types() -> list[dict[str, Any]]:
    return [t for t in _introspect()["types"] if not t["name"].startswith("__")]


def test_every_type_field_argument_and_enum_value_has_a_description() -> None:
    missing: list[str] = []
    for kind in _own_types():
        name = kind["name"]
        if not (kind["description"] or "").strip():
            missing.append(f"type {name} ({kind['kind']})")
        for member in kind.get("fields") or []:
            if not (member["description"] or "").strip():
                missing.append(f"field {name}.{member['name']}")
        for member in kind.get("inputFields") or []:
            if not (member["description"] or "").strip():
                missing.append(f"input field {name}.{member['name']}")
        for member in kind.get("enumValues") or []:
            if not (member["description"] or "").strip():
                missing.append(f"enum value {name}.{member['name']}")
        for field in kind.get("fields") or []:
            for argument in field["args"]:
                if not (argument["description"] or "").strip():
                    missing.append(f"argument {name}.{field['name']}({argument['name']})")
    assert missing == []


def test_the_walk_covers_every_kind_of_type() -> None:
    """Guard the test above against walking an empty or partial schema."""
    kinds = {t["kind"] for t in _own_types()}
    assert {"OBJECT", "INPUT_OBJECT", "ENUM", "UNION", "INTERFACE", "SCALAR"} <= kinds
    names = {t["name"] for t in _own_types()}
    assert {"Query", "Mutation", "Subscription", "DataExport", "UpdateDataExportInput"} <= names


def _upper_snake(rest_value: str) -> str:
    """`json-api` → `JSON_API`, `invoiceItems` → `INVOICE_ITEMS`."""
    spaced = "".join(f"_{c}" if c.isupper() else c for c in rest_value)
    return spaced.replace("-", "_").upper()


@pytest.mark.parametrize(
    ("enum", "rest_values"),
    [
        (enums.ExportFormat, ["csv", "json", "json-api", "xml", "pdf"]),
        (
            enums.ExportResource,
            ["transactions", "customers", "subscriptions", "invoices", "invoiceItems"],
        ),
        (enums.ExportStatus, ["pending", "queued", "processing", "completed", "failed"]),
        (enums.FailureReason, ["record-limit-exceeded", "max-retries-reached"]),
    ],
)
def test_enums_are_upper_snake_of_the_rest_values(enum: type[Enum], rest_values: list[str]) -> None:
    assert sorted(member.value for member in enum) == sorted(rest_values)
    for member in enum:
        assert UPPER_SNAKE.match(member.name), member
        assert member.name == _upper_snake(member.value)
    assert enums.ExportFormat.JSON_API.value == "json-api"
    assert enums.ExportResource["INVOICE_ITEMS"].value == "invoiceItems"


def test_every_enum_in_the_schema_is_upper_snake() -> None:
    enum_types = [t for t in _own_types() if t["kind"] == "ENUM"]
    assert len(enum_types) >= 5
    for kind in enum_types:
        assert (kind["description"] or "").strip(), kind["name"]
        for value in kind["enumValues"]:
            assert UPPER_SNAKE.match(value["name"]), (kind["name"], value["name"])


async def test_enum_values_round_trip_between_graphql_and_rest(
    harness: Harness, tenant: Tenant
) -> None:
    client = harness.client
    created = await data(
        client,
        """mutation { createDataExport(input: {
            name: "Items", resource: INVOICE_ITEMS, format: JSON_API}) {
          ... on DataExport { id resource format status } } }""",
        tenant.headers,
    )
    node = created["createDataExport"]
    assert (node["resource"], node["format"], node["status"]) == (
        "INVOICE_ITEMS",
        "JSON_API",
        "PENDING",
    )
    rest = (await client.get(f"/data-exports/{node['id']}", headers=tenant.headers)).json()
    assert (rest["resource"], rest["format"], rest["status"]) == (
        "invoiceItems",
        "json-api",
        "pending",
    )

    response = await client.post(
        "/data-exports",
        json=rest_body(resource="invoiceItems", format="json-api"),
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    found = await data(
        client,
        "query($id: ID!) { dataExport(id: $id) { resource format } }",
        tenant.headers,
        {"id": response.json()["id"]},
    )
    assert found["dataExport"] == {"resource": "INVOICE_ITEMS", "format": "JSON_API"}


async def test_date_times_serialise_exactly_as_rest(harness: Harness, tenant: Tenant) -> None:
    client = harness.client
    response = await client.post(
        "/data-exports",
        json=rest_body(
            recurring={"instruction": "FREQ=DAILY", "start": "2091-03-04T10:20:30.987+02:00"}
        ),
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    rest = response.json()
    found = await data(
        client,
        """query($id: ID!) { dataExport(id: $id) {
            createdTime updatedTime scheduledTime recurring { start }
            user { createdTime } } }""",
        tenant.headers,
        {"id": rest["id"]},
    )
    node = found["dataExport"]
    user = (await client.get(f"/users/{rest['userId']}", headers=tenant.headers)).json()
    pairs = [
        (node["createdTime"], rest["createdTime"]),
        (node["updatedTime"], rest["updatedTime"]),
        (node["scheduledTime"], rest["scheduledTime"]),
        (node["recurring"]["start"], rest["recurring"]["start"]),
        (node["user"]["createdTime"], user["createdTime"]),
    ]
    for graphql_value, rest_value in pairs:
        assert graphql_value == rest_value
        assert ISO_Z.match(graphql_value), graphql_value
    assert node["recurring"]["start"] == "2091-03-04T08:20:30Z"


def _export_schema(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_cli(["export-schema"], env, ROOT, timeout=60)


def test_committed_schema_file_matches_export_schema(tmp_path: Path) -> None:
    committed = SCHEMA_FILE.read_text(encoding="utf-8")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    weird = {
        **base,
        "GRAPHQL_MAX_DEPTH": "3",
        "GRAPHQL_MAX_ALIASES": "1",
        "GRAPHQL_INTROSPECTION": "false",
        "GRAPHQL_IDE": "no",
        "DATABASE_URL": "garbage://not-a-database",
        "APP_ENV": "development",
        "VAR_DIR": str(tmp_path / "must-not-be-created"),
        "LOG_LEVEL": "DEBUG",
    }
    plain = _export_schema(base)
    odd = _export_schema(weird)
    for run in (plain, odd):
        assert run.returncode == 0, run.stderr
        assert run.stdout == committed
        assert run.stderr == ""
    assert not (tmp_path / "must-not-be-created").exists()
    # Only SDL on stdout: it parses as a schema with the three root types.
    parsed = graphql.build_schema(odd.stdout)
    assert parsed.query_type is not None
    assert parsed.mutation_type is not None
    assert parsed.subscription_type is not None


def test_export_schema_ignores_production_settings(tmp_path: Path) -> None:
    """APP_ENV=production without secrets would fail Settings.from_env: the SDL needs none."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "APP_ENV": "production",
        "DATABASE_URL": "garbage",
    }
    run = _export_schema(env)
    assert run.returncode == 0, run.stderr
    assert run.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


async def test_served_schema_is_the_committed_one(harness: Harness) -> None:
    """Introspecting the running app (any settings) gives the schema the file describes."""
    response = await harness.client.post(
        "/graphql", json={"query": graphql.get_introspection_query(descriptions=True)}
    )
    assert response.status_code == 200, response.text
    served = graphql.build_client_schema(response.json()["data"])
    committed = graphql.build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    printed = [
        graphql.print_schema(graphql.lexicographic_sort_schema(s)) for s in (served, committed)
    ]
    assert printed[0] == printed[1]


def test_settings_do_not_change_the_sdl() -> None:
    tight = Settings(
        graphql_max_depth=2, graphql_max_aliases=1, graphql_introspection=False, graphql_ide=False
    )
    assert build_schema(tight).as_str() == build_schema().as_str()


def test_graphql_enums_mirror_the_core_lists_exactly() -> None:
    """One status enum, one failure list, one format list: GraphQL only names them."""
    from app.exports.formats import FORMATS
    from app.exports.resources import RESOURCES
    from app.exports.status import ErrorCode as CoreErrorCode
    from app.exports.status import FailureReason as CoreReason
    from app.exports.status import Status
    from app.graphql.enums import (
        ExportErrorCode,
        ExportFormat,
        ExportResource,
        ExportStatus,
        FailureReason,
    )

    assert [m.value for m in ExportStatus] == [s.value for s in Status]
    assert [m.value for m in FailureReason] == [r.value for r in CoreReason]
    assert [m.value for m in ExportErrorCode] == [c.value for c in CoreErrorCode]
    assert [m.value for m in ExportFormat] == list(FORMATS)
    assert [m.value for m in ExportResource] == list(RESOURCES)
