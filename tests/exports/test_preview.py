"""Export previews (REST `POST /data-exports/preview`, GraphQL `previewDataExport`) checked
against what they promise: the count, columns, first rows and bytes of the file a real run
writes (the real worker, the file read back with independent parsers); nothing stored and no
write counted; the create's validation, record limit and permission; one organization's rows
only; and a clear answer when the preview runs out of time.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from app.models import Transaction
from tests.conftest import Harness, Tenant, freeze_rate_limit_clock, set_limits
from tests.exports.conftest import create, fetch, links, local, run_worker, seed
from tests.graphql.conftest import count_exports, data

FIELDS = [
    "id",
    "amount",
    "currency",
    "billingAddress/country",
    "description",
    "result",
    "processedTime",
]
BODY: dict[str, Any] = {
    "name": "Preview me",
    "resource": "transactions",
    "fields": FIELDS,
    "arguments": {"filter": "currency:USD,EUR", "sort": "-amount"},
    # Absolute start, relative end: resolved the same by the preview and, a moment later, the run.
    "dateRange": {"start": "2025-12-01T00:00:00Z", "end": "today"},
}

PREVIEW = """query($input: CreateDataExportInput!) {
  previewDataExport(input: $input) {
    __typename
    ... on DataExportPreview {
      recordCount runTime period { start end field } columns rows contentType sample
    }
    ... on Error { message code }
    ... on ValidationError { invalidFields { field message } }
    ... on RecordLimitError { matchedRecords maxRecords invalidFields { field message } }
    ... on PreviewTimeoutError { timeoutSeconds }
  }
}"""
CREATE = """mutation($input: CreateDataExportInput!) {
  createDataExport(input: $input) {
    __typename
    ... on Error { message code }
    ... on ValidationError { invalidFields { field message } }
  }
}"""


@pytest.fixture
async def seeded(harness: Harness, tenant: Tenant) -> Tenant:
    await seed(harness, "acme", customers=100, transactions=1500)
    await harness.tenant("globex")
    await seed(harness, "globex", customers=100, transactions=700)  # must never show
    return tenant


async def preview(
    harness: Harness, tenant: Tenant, body: dict[str, Any], *, status: int = 200, path: str = ""
) -> dict[str, Any]:
    response = await harness.client.post(
        f"{path or '/data-exports'}/preview", headers=tenant.headers, json=body
    )
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


async def run_file(harness: Harness, tenant: Tenant, body: dict[str, Any]) -> tuple[int, bytes]:
    """The record count and the bytes of the file a real run of `body` writes."""
    created = await create(harness, tenant, body)
    await run_worker(harness)
    done = await fetch(harness, tenant, created["id"], expand="file")
    assert done["status"] == "completed", done
    response = await harness.client.get(local(links(done)["download"]), headers=tenant.headers)
    assert response.status_code == 200
    return done["recordCount"], response.content


def _text(value: Any) -> str | None:
    """A parsed JSON scalar as the preview's text of it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # Decimal("10.50") -> "10.50", as parse_float keeps it


def _path(record: dict[str, Any], path: str) -> Any:
    for part in path.split("/"):
        record = record[part]
    return record


def file_rows(fmt: str, content: bytes, fields: list[str]) -> list[list[str | None]]:
    """Every record of the file, one text per field, parsed without the app's code."""
    if fmt == "csv":
        header, *records = list(csv.reader(io.StringIO(content.decode(), newline="")))
        assert header == fields
        return [list(r) for r in records]
    if fmt == "json":
        objects = json.loads(content, parse_float=Decimal)
        return [[_text(_path(o, f)) for f in fields] for o in objects]
    if fmt == "xml":
        root = ET.fromstring(content)  # noqa: S314 - our own file
        return [[item.find(f).text for f in fields] for item in root]  # type: ignore[union-attr]
    raise AssertionError(fmt)


# --- the preview is the file ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
async def test_the_preview_is_what_the_run_writes(
    harness: Harness, seeded: Tenant, fmt: str
) -> None:
    body = {**BODY, "format": fmt}
    shown = await preview(harness, seeded, body)
    count, content = await run_file(harness, seeded, body)

    assert count > 20  # more than the preview shows: the sample is a prefix
    assert shown["recordCount"] == count
    assert shown["columns"] == FIELDS
    period = shown["period"]
    assert period["start"] == "2025-12-01T00:00:00Z"
    assert period["end"] == shown["runTime"][:10] + "T00:00:00Z"  # today, at the run
    assert period["field"] == "processedTime"  # the resource's default date field
    written = file_rows(fmt, content, FIELDS)
    times = [row[FIELDS.index("processedTime")] or "" for row in written]
    assert all(period["start"] <= t < period["end"] for t in times)  # ISO Z sorts as time
    assert len(shown["rows"]) == 20
    assert shown["rows"] == file_rows(fmt, content, FIELDS)[:20]
    assert content.startswith(shown["sample"].encode())
    assert shown["sample"].count("\n") >= 20


@pytest.mark.parametrize("fmt", ["csv", "json", "xml", "json-api"])
async def test_a_small_export_is_previewed_whole(
    harness: Harness, seeded: Tenant, fmt: str
) -> None:
    """All its records fit: the sample is the whole file, byte for byte."""
    body = {**BODY, "format": fmt, "arguments": {"filter": "currency:USD;result:declined"}}
    body["dateRange"] = {"start": "2026-02-20T00:00:00Z", "end": "2026-03-10T00:00:00Z"}
    shown = await preview(harness, seeded, body)
    count, content = await run_file(harness, seeded, body)
    assert 0 < count <= 20, count
    assert shown["recordCount"] == count == len(shown["rows"])
    assert shown["sample"].encode() == content
    if fmt != "json-api":
        assert shown["rows"] == file_rows(fmt, content, FIELDS)


async def test_a_bare_period_resolves_as_the_run_resolves_it(
    harness: Harness, seeded: Tenant
) -> None:
    """`2026-02` as start and as end is the whole month, in the preview as in the file."""
    body = {**BODY, "format": "csv", "dateRange": {"start": "2026-02", "end": "2026-02"}}
    shown = await preview(harness, seeded, body)
    period = {"start": "2026-02-01T00:00:00Z", "end": "2026-03-01T00:00:00Z"}
    assert shown["period"] == {**period, "field": "processedTime"}
    count, content = await run_file(harness, seeded, body)
    assert shown["recordCount"] == count > 20
    times = [row[FIELDS.index("processedTime")] or "" for row in file_rows("csv", content, FIELDS)]
    assert all(period["start"] <= t < period["end"] for t in times)


async def test_the_excel_dialect_is_previewed_with_its_byte_order_mark(
    harness: Harness, seeded: Tenant
) -> None:
    body = {**BODY, "format": "csv", "csvDialect": "excel"}
    shown = await preview(harness, seeded, body)
    _, content = await run_file(harness, seeded, body)
    assert content.startswith(b"\xef\xbb\xbf")
    assert content.startswith(shown["sample"].encode())
    assert shown["rows"] == file_rows("csv", content[3:], FIELDS)[:20]


async def test_an_empty_export_previews_the_empty_file(harness: Harness, seeded: Tenant) -> None:
    body = {**BODY, "format": "json", "dateRange": {"start": "2030-01-01", "end": "2031-01-01"}}
    shown = await preview(harness, seeded, body)
    count, content = await run_file(harness, seeded, body)
    assert count == shown["recordCount"] == 0
    assert shown["rows"] == []
    assert shown["sample"].encode() == content == b"[]\n"


async def test_pdf_has_rows_but_no_sample(harness: Harness, seeded: Tenant) -> None:
    shown = await preview(harness, seeded, {**BODY, "format": "pdf"})
    assert shown["sample"] is None
    assert shown["contentType"] == "application/pdf"
    assert len(shown["rows"]) == 20


async def test_only_the_callers_organization(harness: Harness, seeded: Tenant) -> None:
    body = {"name": "All", "resource": "transactions", "format": "csv", "fields": ["id"]}
    shown = await preview(harness, seeded, body)
    async with harness.session() as session:
        acme = set(
            await session.scalars(
                select(Transaction.id).where(Transaction.organization_id == "acme")
            )
        )
    assert shown["recordCount"] == len(acme) == 1500
    assert shown["period"] is None
    assert {row[0] for row in shown["rows"]} <= acme


async def test_a_recurring_export_resolves_at_its_first_run(
    harness: Harness, seeded: Tenant
) -> None:
    body = {
        **BODY,
        "format": "csv",
        "dateRange": {
            "start": "first day of last month midnight",
            "end": "first day of this month midnight",
        },
        "recurring": {"instruction": "FREQ=MONTHLY", "start": "2031-05-01T02:00:00Z"},
    }
    shown = await preview(harness, seeded, body)
    assert shown["runTime"] == "2031-05-01T02:00:00Z"
    assert shown["period"]["start"] == "2031-04-01T00:00:00Z"
    assert shown["period"]["end"] == "2031-05-01T00:00:00Z"
    assert shown["recordCount"] == 0


# --- nothing stored, no write counted ----------------------------------------------------------


async def test_nothing_is_stored_and_no_write_is_counted(
    harness: Harness, seeded: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_rate_limit_clock(monkeypatch)
    first = await harness.client.post(
        "/data-exports", headers=seeded.headers, json={**BODY, "format": "csv"}
    )
    assert first.status_code == 201
    before = int(first.headers["X-RateLimit-Remaining"])
    for fmt in ("csv", "json", "pdf"):
        response = await harness.client.post(
            "/data-exports/preview", headers=seeded.headers, json={**BODY, "format": fmt}
        )
        assert response.status_code == 200
        assert "X-RateLimit-Remaining" not in response.headers
    assert await count_exports(harness, "acme") == 1
    second = await harness.client.post(
        "/data-exports", headers=seeded.headers, json={**BODY, "format": "csv"}
    )
    assert int(second.headers["X-RateLimit-Remaining"]) == before - 1


async def test_previews_go_on_when_writes_are_used_up(
    harness: Harness, seeded: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze_rate_limit_clock(monkeypatch)
    set_limits(harness, monkeypatch, rate_limit_writes=1)
    await create(harness, seeded, {**BODY, "format": "csv"})
    refused = await harness.client.post(
        "/data-exports", headers=seeded.headers, json={**BODY, "format": "csv"}
    )
    assert refused.status_code == 429
    await preview(harness, seeded, {**BODY, "format": "csv"})


# --- the create's validation ------------------------------------------------------------------

INVALID = [
    {},
    {"name": "", "resource": "nope", "format": "doc"},
    {**BODY, "format": "csv", "fields": ["id", "nope"]},
    {**BODY, "format": "csv", "arguments": {"filter": "amount:"}},
    {**BODY, "format": "csv", "dateRange": {"start": "someday", "end": "today"}},
    {**BODY, "format": "csv", "recurring": {"instruction": "FREQ=SOMETIMES"}},
    {**BODY, "format": "csv", "emailNotification": ["not-an-email"]},
]


@pytest.mark.parametrize("body", INVALID)
async def test_invalid_bodies_get_the_creates_422(
    harness: Harness, seeded: Tenant, body: dict[str, Any]
) -> None:
    previewed = await preview(harness, seeded, body, status=422)
    created = await create(harness, seeded, body, status=422)
    assert previewed["invalidFields"] == created["invalidFields"]
    assert previewed["detail"] == created["detail"]
    assert await count_exports(harness) == 0


async def test_malformed_bodies_are_refused_like_a_create(harness: Harness, seeded: Tenant) -> None:
    for content in (b"[1, 2]", b"{not json"):
        answers = [
            await harness.client.post(
                path,
                headers={**seeded.headers, "Content-Type": "application/json"},
                content=content,
            )
            for path in ("/data-exports/preview", "/data-exports")
        ]
        assert answers[0].status_code == answers[1].status_code == 422
        assert answers[0].json()["invalidFields"] == answers[1].json()["invalidFields"]


async def test_the_record_limit_is_the_creates(
    harness: Harness, seeded: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_limits(harness, monkeypatch, export_max_records=100)
    body = {**BODY, "format": "csv"}
    previewed = await preview(harness, seeded, body, status=422)
    created = await create(harness, seeded, body, status=422)
    assert previewed["type"] == created["type"] == "data-export-limit-exceeded"
    assert previewed["matchedRecords"] == created["matchedRecords"] > 100
    assert previewed["maxRecords"] == 100
    assert previewed["invalidFields"] == created["invalidFields"]


async def test_it_needs_write(harness: Harness, seeded: Tenant) -> None:
    body = {**BODY, "format": "csv"}
    read_only = await harness.client.post(
        "/data-exports/preview", headers=seeded.read_headers, json=body
    )
    assert read_only.status_code == 403
    anonymous = await harness.client.post("/data-exports/preview", json=body)
    assert anonymous.status_code == 401
    other = await harness.client.post(
        "/organizations/globex/data-exports/preview", headers=seeded.headers, json=body
    )
    assert other.status_code == 403


# --- routes -----------------------------------------------------------------------------------


async def test_every_prefix_previews(harness: Harness, seeded: Tenant) -> None:
    body = {**BODY, "format": "csv"}
    expected = await preview(harness, seeded, body)
    for path in (
        "/experimental/data-exports",
        "/organizations/acme/data-exports",
        "/organizations/acme/experimental/data-exports",
        "/experimental/organizations/acme/data-exports",
    ):
        shown = await preview(harness, seeded, body, path=path)
        assert shown["rows"] == expected["rows"]
    slash = await harness.client.post("/data-exports/preview/", headers=seeded.headers, json=body)
    assert slash.status_code == 200


async def test_an_export_named_preview_is_still_reachable(harness: Harness, seeded: Tenant) -> None:
    """Only POST is the preview: GET, PUT and DELETE still mean the export with id `preview`."""
    missing = await harness.client.get("/data-exports/preview", headers=seeded.headers)
    assert missing.status_code == 404
    put = await harness.client.put(
        "/data-exports/preview", headers=seeded.headers, json={**BODY, "format": "csv"}
    )
    assert put.status_code == 201, put.text
    got = await harness.client.get("/data-exports/preview", headers=seeded.headers)
    assert got.status_code == 200
    assert got.json()["id"] == "preview"
    deleted = await harness.client.delete("/data-exports/preview", headers=seeded.headers)
    assert deleted.status_code == 204


# --- bounded in time --------------------------------------------------------------------------


async def test_a_preview_out_of_time_is_a_504_and_the_app_goes_on(
    harness: Harness, seeded: Tenant
) -> None:
    core = harness.app.state.core
    tiny = replace(core, limits=replace(core.limits, preview_seconds=0.000_001))
    harness.app.state.core = tiny
    body = {**BODY, "format": "csv"}
    response = await harness.client.post("/data-exports/preview", headers=seeded.headers, json=body)
    assert response.status_code == 504, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["type"] == "timeout"
    assert problem["timeoutSeconds"] == 0.000_001
    assert "narrow dateRange" in problem["detail"]
    result = (await data(harness.client, PREVIEW, seeded.headers, {"input": _gql(body)}))[
        "previewDataExport"
    ]
    assert result["__typename"] == "PreviewTimeoutError"
    assert result["code"] == "TIMEOUT"
    # Bad input is still a 422, found before any time is spent.
    await preview(harness, seeded, {**body, "fields": ["nope"]}, status=422)

    # Cut off wherever it happens to be (checking out, counting, reading): either answer.
    for seconds in (0.001, 0.002, 0.004, 0.008, 0.016):
        harness.app.state.core = replace(core, limits=replace(core.limits, preview_seconds=seconds))
        cut = await harness.client.post("/data-exports/preview", headers=seeded.headers, json=body)
        assert cut.status_code in (200, 504), cut.text
    harness.app.state.core = core  # the connections are still good
    for _ in range(3):
        await preview(harness, seeded, body)
    await create(harness, seeded, body)


# --- GraphQL ----------------------------------------------------------------------------------


def _gql(body: dict[str, Any]) -> dict[str, Any]:
    """The REST body as CreateDataExportInput variables."""
    out = {k: v for k, v in body.items() if k not in ("dateRange", "emailNotification")}
    out["resource"] = body["resource"].upper()
    out["format"] = body["format"].upper().replace("-", "_")
    if "dateRange" in body:
        out["dateRange"] = body["dateRange"]
    if "emailNotification" in body:
        out["emailNotification"] = body["emailNotification"]
    return out


async def test_graphql_previews_the_same(harness: Harness, seeded: Tenant) -> None:
    body = {**BODY, "format": "json"}
    rest = await preview(harness, seeded, body)
    result = (await data(harness.client, PREVIEW, seeded.headers, {"input": _gql(body)}))[
        "previewDataExport"
    ]
    assert result.pop("__typename") == "DataExportPreview"
    assert result == rest
    assert await count_exports(harness) == 0


@pytest.mark.parametrize("body", INVALID[2:])
async def test_graphql_validation_is_the_creates(
    harness: Harness, seeded: Tenant, body: dict[str, Any]
) -> None:
    variables = {"input": _gql(body)}
    shown = (await data(harness.client, PREVIEW, seeded.headers, variables))["previewDataExport"]
    created = (await data(harness.client, CREATE, seeded.headers, variables))["createDataExport"]
    assert shown["__typename"] == created["__typename"] == "ValidationError"
    assert shown["invalidFields"] == created["invalidFields"]
    assert await count_exports(harness) == 0


async def test_graphql_needs_write_and_keeps_the_record_limit(
    harness: Harness, seeded: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    variables = {"input": _gql({**BODY, "format": "csv"})}
    denied = (await data(harness.client, PREVIEW, seeded.read_headers, variables))[
        "previewDataExport"
    ]
    assert denied["__typename"] == "ForbiddenError"
    set_limits(harness, monkeypatch, export_max_records=100)
    limited = (await data(harness.client, PREVIEW, seeded.headers, variables))["previewDataExport"]
    assert limited["__typename"] == "RecordLimitError"
    assert limited["maxRecords"] == 100 < limited["matchedRecords"]
