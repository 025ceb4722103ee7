"""`GET /openapi.json` against the app it describes.

Two halves. The structural tests hold the document to the router and the app's constants
(every route documented and nothing more, every operation secured or explicitly public, every
4xx a problem, enumerations taken from the code), so it cannot drift silently. The schemathesis
run holds the server to the document: a real uvicorn on 127.0.0.1, a real API key, a fixed
seed, and the checks for server errors and for responses that break the document (status code,
content type, headers, body schema) over every documented operation.

Size and seed: OPENAPI_FUZZ_CASES (default 150: the short pass of `make test`) is the least
number of cases to run, FUZZ_SEED the seed (default fixed), OPENAPI_FUZZ_PHASES the
schemathesis phases (default `examples,fuzzing`; `make fuzz` adds coverage and stateful).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.routing import Mount, Route, WebSocketRoute

from app.auth import issue_api_key
from app.db import make_engine, make_sessionmaker
from app.demo import ensure_user
from app.exports import service
from app.exports.expand import EXPANSIONS
from app.exports.formats.base import FORMATS
from app.exports.resources import RESOURCES
from app.exports.status import FailureReason, Status
from app.main import create_app
from app.rest import openapi
from app.rest.openapi import API_AUTH, METRICS_AUTH, PUBLIC, openapi_document
from app.rest.routes import PREFIXES, EncodedSlashRoutes
from app.settings import Settings
from tests.conftest import Harness, Tenant
from tests.graphql.browser import serve_asgi
from tests.rest.conftest import PROBLEM_JSON, body

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
DEFAULT_CASES = 150
DEFAULT_SEED = 20261206
DEFAULT_PHASES = "examples,fuzzing"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: Routes the document leaves to others: GraphQL (its own schema, /graphql) and static assets.
UNDOCUMENTED = re.compile(r"^/graphql(/|$)|^/docs/static$")
#: The operations anyone may call, without credentials.
PUBLIC_PATHS = {
    "/",
    "/health/live",
    "/health/ready",
    "/openapi.json",
    "/docs",
    "/files/{id}/signed",
}


def document() -> dict[str, Any]:
    return openapi_document()


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document()["paths"].items():
        for method, op in item.items():
            assert method in METHODS, (path, method)
            yield path, method, op


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/components/...`) to what it names."""
    while "$ref" in node:
        target: Any = document()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def validator(name: str) -> jsonschema_rs.Validator:
    """A validator for one of the document's schemas, its `$ref`s resolving inside it."""
    root = {"$ref": f"#/components/schemas/{name}", "components": document()["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


# --- the document against the router -----------------------------------------------------------


def served_operations(settings: Settings) -> set[tuple[str, str]]:
    """(path template, method) of every route the app serves; a trailing slash is a spelling
    of the same path (the document says so once), HEAD the GET without a body."""
    found: set[tuple[str, str]] = set()
    table = create_app(settings).routes
    for route in [
        r for g in table for r in (g.routes if isinstance(g, EncodedSlashRoutes) else [g])
    ]:
        if isinstance(route, (Mount, WebSocketRoute)):
            assert isinstance(route, WebSocketRoute) or UNDOCUMENTED.match(route.path), route.path
            continue
        assert isinstance(route, Route), route
        if UNDOCUMENTED.match(route.path):
            continue
        path = route.path.replace(":path}", "}")
        path = path.rstrip("/") or "/"
        for method in route.methods or ():
            if method != "HEAD":
                found.add((path, method.lower()))
    return found


def test_every_route_is_documented_and_nothing_else(settings: Settings) -> None:
    documented = {(path, method) for path, method, _ in operations()}
    served = served_operations(settings)
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"
    for prefix in PREFIXES:
        assert prefix in document()["paths"]
        assert f"{prefix}/{{id}}" in document()["paths"]


def test_the_document_is_valid_openapi_3_1() -> None:
    from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

    assert document()["openapi"].startswith("3.1.")
    OPENAPI_31_VALIDATOR.validate(json.loads(json.dumps(document())))
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_every_operation_is_secured_or_explicitly_public() -> None:
    schemes = document()["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {**schemes["ApiKey"], "type": "apiKey", "in": "header"}
    assert schemes["ApiKey"]["name"] == "REB-APIKEY"
    assert schemes["BearerJWT"]["scheme"] == "bearer"
    assert schemes["BearerJWT"]["bearerFormat"] == "JWT"
    for path, method, op in operations():
        assert "security" in op, (path, method)
        security = op["security"]
        if path in PUBLIC_PATHS:
            assert security == PUBLIC, (path, method)
        elif path == "/metrics":
            assert security == METRICS_AUTH
        else:
            assert security == API_AUTH, (path, method)
            assert {"401", "403"} <= set(op["responses"]), (path, method)
        for requirement in security:
            assert set(requirement) <= set(schemes)


def test_every_4xx_is_a_problem() -> None:
    problem = "#/components/schemas/Problem"
    for path, method, op in operations():
        for status, response in op["responses"].items():
            if not status.startswith("4"):
                continue
            resolved = resolve(response)
            assert list(resolved["content"]) == [PROBLEM_JSON], (path, method, status)
            body_schema = resolved["content"][PROBLEM_JSON]["schema"]
            refs = [body_schema.get("$ref")]
            refs += [part.get("$ref") for part in resolve(body_schema).get("allOf", [])]
            assert problem in refs, (path, method, status)
            assert "X-Request-Id" in resolved["headers"]
            if status == "422":
                assert resolve(body_schema)["allOf"][1]["required"] == ["invalidFields"]
            if status == "429":
                assert {"Retry-After", "X-RateLimit-Retry-After"} <= set(resolved["headers"])
    members = set(document()["components"]["schemas"]["Problem"]["properties"])
    assert {"type", "title", "status", "detail", "requestId", "invalidFields"} <= members


def test_writes_and_collections_document_their_headers() -> None:
    for path, method, op in operations():
        success = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        if path.endswith("data-exports") and method == "get":
            assert set(success["200"]["headers"]) == set(openapi.PAGINATION_HEADERS)
        if path.endswith("/preview"):  # a POST that counts no write and takes no expand
            assert set(success) == {"200"}
            assert not set(openapi.RATE_HEADERS) & set(success["200"].get("headers", {}))
            assert "429" not in op["responses"]
            assert "504" in op["responses"]
            continue
        if "data-exports" in path and method in ("post", "put", "delete"):
            for response in success.values():
                assert set(openapi.RATE_HEADERS) <= set(response["headers"])
            assert "429" in op["responses"]
        if "data-exports" in path:
            names = {resolve(p)["name"] for p in op.get("parameters", [])}
            assert "expand" in names
            assert set(re.findall(r"\{(\w+)\}", path)) <= names


def test_enumerations_come_from_the_code() -> None:
    schemas = document()["components"]["schemas"]
    export = schemas["DataExport"]["properties"]
    assert export["resource"]["enum"] == list(RESOURCES)
    assert export["format"]["enum"] == list(FORMATS)
    assert list(openapi.FORMAT_MEDIA_TYPES) == list(FORMATS)
    assert export["status"]["enum"] == [s.value for s in Status]
    assert export["failureReason"]["enum"] == [*(r.value for r in FailureReason), None]
    assert set(export["_embedded"]["properties"]) == set(EXPANSIONS)
    assert schemas["DataExportInput"]["required"] == ["name", "resource", "format"]
    limit = resolve(document()["components"]["parameters"]["limit"])
    assert limit["schema"]["maximum"] == service.MAX_LIMIT
    assert openapi.DEFAULT_LIMIT == service.DEFAULT_LIMIT


def test_the_export_schema_is_open_and_knows_the_new_members() -> None:
    export = document()["components"]["schemas"]["DataExport"]
    assert "additionalProperties" not in export
    for name in ("csvDialect", "attempts", "lastError", "nextAttemptTime", "progress", "_embedded"):
        assert name in export["properties"]
        assert name not in export["required"]
    check = validator("DataExport")
    sample = {
        "attempts": 2,
        "lastError": {"code": "worker-lost", "message": "m", "time": "2026-01-01T00:00:00Z"},
        "nextAttemptTime": None,
        "progress": {"rowsWritten": 10, "rowsTotal": None},
        "someLaterMember": True,
    }
    template = dict.fromkeys(export["required"])
    errors = {e.instance_path[0] for e in check.iter_errors({**template, **sample})}
    assert errors.isdisjoint(sample), errors


async def test_real_answers_match_their_schemas(harness: Harness, tenant: Tenant) -> None:
    client = harness.client
    created = await client.post(
        "/data-exports?expand=user,file", json=body(), headers=tenant.headers
    )
    assert created.status_code == 201
    validator("DataExport").validate(created.json())
    listed = await client.get("/data-exports?expand=user", headers=tenant.headers)
    validator("DataExport").validate(listed.json()[0])
    user = await client.get(f"/users/{tenant.user.id}", headers=tenant.headers)
    validator("User").validate(user.json())
    invalid = await client.post("/data-exports", json={"nope": 1}, headers=tenant.headers)
    assert invalid.status_code == 422
    validator("ValidationProblem").validate(invalid.json())
    assert invalid.json()["requestId"] == invalid.headers["x-request-id"]
    for path, name in (("/", "Index"), ("/health/live", "Live"), ("/health/ready", "Readiness")):
        validator(name).validate((await client.get(path)).json())


async def test_the_document_is_served_without_credentials(harness: Harness) -> None:
    response = await harness.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(json.dumps(document()))
    assert openapi_document() is openapi_document()  # built once per process


async def test_the_index_links_to_the_docs(harness: Harness) -> None:
    response = await harness.client.get("/")
    links = {link["rel"]: link["href"] for link in response.json()["_links"]}
    assert links == {
        "graphql": "http://testserver/graphql",
        "dataExports": "http://testserver/data-exports",
        "docs": "http://testserver/docs",
        "openapi": "http://testserver/openapi.json",
        "ready": "http://testserver/health/ready",
    }
    for rel in ("docs", "openapi", "ready"):
        assert (await harness.client.get(links[rel])).status_code == 200, rel


# --- schemathesis against a real server --------------------------------------------------------


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw else default


async def _issue_key(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            user = await ensure_user(
                session, organization_id="acme", email="fuzz@example.com", first="F", last="Z"
            )
            key = await issue_api_key(
                session,
                user=user,
                permissions=frozenset({"read", "write"}),
                pepper=settings.api_key_pepper,
            )
            await session.commit()
            return key
    finally:
        await engine.dispose()


def test_schemathesis_finds_nothing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = _env_int("OPENAPI_FUZZ_CASES", DEFAULT_CASES)
    seed = _env_int("FUZZ_SEED", DEFAULT_SEED)
    phases = os.environ.get("OPENAPI_FUZZ_PHASES") or DEFAULT_PHASES
    count = sum(1 for _ in operations())
    # An operation with neither parameters nor body has one case to give a phase, and the
    # others stop short of their maximum now and then (a repeated case is not run again): the
    # operations with inputs make up the number, with a quarter to spare.
    varied = sum(1 for _, _, op in operations() if op.get("parameters") or op.get("requestBody"))
    per_operation = math.ceil(cases * 1.25 / varied) + 2
    key = asyncio.run(_issue_key(settings))
    config = tmp_path / "schemathesis.toml"
    # The organization routes at the key's own organization, so they get past the 403.
    config.write_text('[parameters]\n"path.organizationId" = "acme"\n')
    report = tmp_path / "report.json"
    with serve_asgi(create_app(settings)) as base_url:
        # The document as served, saved to a file: loaded from its URL, schemathesis would
        # leave out the operation that serves it.
        spec = tmp_path / "openapi.json"
        spec.write_bytes(httpx.get(f"{base_url}/openapi.json").content)
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--no-color"),
            *("--config-file", str(config), "run", str(spec), "--url", base_url),
            *("--header", f"REB-APIKEY: {key}"),
            *("--seed", str(seed), "--max-examples", str(per_operation)),
            *("--phases", phases, "--checks", ",".join(CHECKS), "--workers", "1"),
            *("--report", "json", "--report-json-path", str(report)),
            *("--request-timeout", "30", "--warnings", "off"),
        ]
        run = subprocess.run(  # in tmp_path: it keeps a cache folder where it runs
            command, capture_output=True, text=True, timeout=1800, check=False, cwd=tmp_path
        )
    print(run.stdout[-20_000:], run.stderr[-5000:])  # shown when the test fails
    assert report.exists(), "schemathesis wrote no report"
    result = json.loads(report.read_text())
    generated = result["test_cases"]["generated"]
    tested = result["operations"]["tested"]
    summary = (
        f"schemathesis: FUZZ_SEED={seed} phases={phases}: {generated} cases "
        f"(requested >= {cases}) over {tested}/{count} operations, "
        f"{len(result['failures'])} failures, {len(result['errors'])} errors"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert run.returncode == 0, summary
    assert result["failures"] == [], summary
    assert result["errors"] == [], summary
    assert result["stop_reason"] == "completed", summary
    assert tested == count, summary
    assert generated >= cases, summary
