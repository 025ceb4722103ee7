"""Request bodies on every REST write (data exports and webhooks): malformed JSON is a 422 naming
`body` with the parser's message and position, a body declared as anything but JSON a 415, and
neither stores anything. Also the rate-limit window's reset header on every write."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.models import DataExport, Webhook
from tests.conftest import RATE_LIMIT_CLOCK, Harness, Tenant
from tests.rest.conftest import assert_problem, body, insert_export, invalid_fields, snapshot

PUBLIC = "https://93.184.215.14/hooks/exports"

Write = Callable[[bytes, dict[str, str]], Awaitable[httpx.Response]]


async def _writes(harness: Harness, tenant: Tenant) -> dict[str, Write]:
    """One sender per REST route that reads a body: POST and PUT of an export, POST and PATCH
    of a webhook; each against an existing object where it needs one."""
    client = harness.client
    export_id = await insert_export(harness, tenant)
    created = await client.post("/webhooks", json={"url": PUBLIC}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    webhook_id = created.json()["id"]

    def send(method: str, path: str) -> Write:
        async def write(raw: bytes, headers: dict[str, str]) -> httpx.Response:
            return await client.request(
                method, path, content=raw, headers={**tenant.headers, **headers}
            )

        return write

    return {
        "POST /data-exports": send("POST", "/data-exports"),
        "PUT /data-exports/{id}": send("PUT", f"/data-exports/{export_id}"),
        "POST /webhooks": send("POST", "/webhooks"),
        "PATCH /webhooks/{id}": send("PATCH", f"/webhooks/{webhook_id}"),
    }


async def _state(harness: Harness) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Row counts plus every export's and webhook's changeable columns: a refused PUT or PATCH
    must not touch the object either."""
    async with harness.session() as session:
        exports = (await session.execute(select(DataExport.id, DataExport.name))).all()
        webhooks = (await session.execute(select(Webhook.id, Webhook.url, Webhook.status))).all()
        count = await session.scalar(select(func.count()).select_from(Webhook))
    rows = sorted(tuple(r) for r in [*exports, *webhooks])
    return {**await snapshot(harness), "webhooks": int(count or 0)}, rows


JSON = {"content-type": "application/json"}
NONE: dict[str, str] = {}


@pytest.mark.parametrize("declared", [JSON, NONE], ids=["application/json", "no-content-type"])
@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'{"name": "n",}',
            "Malformed JSON: Expecting property name enclosed in double quotes "
            "at line 1, column 14 (character 13).",
        ),
        (
            b'{"name": "n", "url": "x"',
            "Malformed JSON: Expecting ',' delimiter at line 1, column 25 (character 24).",
        ),
        (
            b'{\n  "name": "n",\n  "format": [1, 2,]\n}',
            "Malformed JSON: Expecting value at line 3, column 19 (character 35).",
        ),
        (
            b"name=n&format=csv",
            "Malformed JSON: Expecting value at line 1, column 1 (character 0).",
        ),
        (b'{"name": "\xff"}', "Not UTF-8 text (RFC 8259 §8.1): undecodable byte at position 10."),
        (b"", "The body is empty; send a JSON object."),
        (b"  \n", "The body is empty; send a JSON object."),
        (b"[]", "Must be a JSON object."),
    ],
    ids=[
        "trailing-comma",
        "truncated",
        "multiline",
        "form-as-json",
        "not-utf8",
        "empty",
        "blank",
        "array",
    ],
)
async def test_malformed_json_is_422_naming_body_with_where(
    harness: Harness, tenant: Tenant, declared: dict[str, str], raw: bytes, message: str
) -> None:
    writes = await _writes(harness, tenant)
    before = await _state(harness)
    for route, write in writes.items():
        response = await write(raw, declared)
        assert invalid_fields(response) == ["body"], route
        assert response.json()["invalidFields"][0]["message"] == message, route
        # The body was read after the write was counted (spec §3: 429 before 422 body).
        assert "x-ratelimit-remaining" in response.headers, route
    assert await _state(harness) == before


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/x-www-form-urlencoded", b"name=n&resource=customers&format=csv"),
        ("text/plain", b'{"name": "n", "resource": "customers", "format": "csv"}'),
        ("text/plain; charset=utf-8", b'{"name": "n"}'),
        ("multipart/form-data; boundary=x", b"--x\r\n\r\n{}\r\n--x--\r\n"),
        ("application/xml", b"<dataExport/>"),
        ("application/jsonp", b'{"name": "n"}'),
        ("application/json; charset=iso-8859-1", b'{"name": "n"}'),
        ("", b'{"name": "n"}'),
    ],
    ids=["form", "text", "text-utf8", "multipart", "xml", "jsonp", "latin1", "empty-header"],
)
async def test_a_body_declared_as_something_else_is_415(
    harness: Harness, tenant: Tenant, content_type: str, raw: bytes
) -> None:
    writes = await _writes(harness, tenant)
    before = await _state(harness)
    for route, write in writes.items():
        response = await write(raw, {"content-type": content_type})
        problem = assert_problem(response, 415)
        assert problem["type"] == "unsupported-media-type", route
        assert ("application/json" in problem["detail"]) or ("utf-8" in problem["detail"])
        assert "invalidFields" not in problem
    assert await _state(harness) == before


async def test_the_415_detail_says_what_to_send(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports", data={"name": "n", "resource": "customers"}, headers=tenant.headers
    )
    problem = assert_problem(response, 415)
    assert problem["detail"] == (
        "Send the body as JSON with Content-Type: application/json. "
        "This body was declared as 'application/x-www-form-urlencoded'."
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        'Application/JSON; Charset="UTF-8"',
        "application/merge-patch+json",
        "application/vnd.api+json",
    ],
)
async def test_json_media_types_are_read(
    harness: Harness, tenant: Tenant, content_type: str
) -> None:
    client, headers = harness.client, {**tenant.headers, "content-type": content_type}
    raw = b'{"name": "n", "resource": "customers", "format": "csv"}'
    created = await client.post("/data-exports", content=raw, headers=headers)
    assert created.status_code == 201, created.text
    hook = await client.post(
        "/webhooks", content=b'{"url": "%s"}' % PUBLIC.encode(), headers=headers
    )
    assert hook.status_code == 201, hook.text
    patched = await client.patch(
        f"/webhooks/{hook.json()['id']}", content=b'{"status": "inactive"}', headers=headers
    )
    assert (patched.status_code, patched.json()["status"]) == (200, "inactive")


async def test_415_keeps_the_check_order(limited: Harness) -> None:
    """401 and 403 come before it; it sits with the body checks, after 404 and 429 (a refused
    body still counts against the write budget, as a malformed one does)."""
    tenant = await limited.tenant("acme")
    client = limited.client
    form = {"content-type": "application/x-www-form-urlencoded"}
    raw = b"name=n"
    assert_problem(await client.post("/data-exports", content=raw, headers=form), 401)
    read_only = {**tenant.read_headers, **form}
    assert_problem(await client.post("/data-exports", content=raw, headers=read_only), 403)
    write = {**tenant.headers, **form}
    assert_problem(await client.put("/data-exports/missing", content=raw, headers=write), 415)
    assert_problem(await client.put(f"/data-exports/{'x' * 51}", content=raw, headers=write), 422)
    remaining = []
    for _ in range(2):
        response = await client.post("/data-exports", content=raw, headers=write)
        assert_problem(response, 415)
        remaining.append(response.headers["x-ratelimit-remaining"])
    assert remaining == ["1", "0"]  # the PUT above was the first write of three
    assert_problem(await client.post("/data-exports", content=raw, headers=write), 429)


# --- X-RateLimit-Reset ---------------------------------------------------------------------


async def test_every_write_answers_when_the_window_resets(limited: Harness) -> None:
    """The `limited` harness counts 3 writes per 3600 s window on a frozen clock: the reset is
    that window's end, and the 429's retry epoch is the same second."""
    tenant = await limited.tenant("acme")
    client, headers = limited.client, tenant.headers
    window_end = int(RATE_LIMIT_CLOCK) - int(RATE_LIMIT_CLOCK) % 3600 + 3600
    created = await client.post("/data-exports", json=body(), headers=headers)
    put = await client.put(f"/data-exports/{created.json()['id']}", json=body(), headers=headers)
    deleted = await client.delete(f"/data-exports/{created.json()['id']}", headers=headers)
    for response in (created, put, deleted):
        assert response.status_code in (200, 201, 204), response.text
        assert int(response.headers["x-ratelimit-reset"]) == window_end
    refused = await client.post("/data-exports", json=body(), headers=headers)
    assert_problem(refused, 429)
    assert int(refused.headers["x-ratelimit-retry-after"]) == window_end


async def test_the_reset_is_a_near_future_epoch_on_webhook_writes_too(
    harness: Harness, tenant: Tenant
) -> None:
    client, headers = harness.client, tenant.headers
    window = harness.settings.rate_limit_window_seconds
    before = int(time.time())
    created = await client.post("/webhooks", json={"url": PUBLIC}, headers=headers)
    hook = created.json()["id"]
    patched = await client.patch(f"/webhooks/{hook}", json={"status": "inactive"}, headers=headers)
    refused = await client.patch(f"/webhooks/{hook}", json={"status": "x"}, headers=headers)
    deleted = await client.delete(f"/webhooks/{hook}", headers=headers)
    export = await client.post("/data-exports", json=body(), headers=headers)
    after = int(time.time())
    resets = set()
    for response in (created, patched, refused, deleted, export):
        reset = int(response.headers["x-ratelimit-reset"])
        assert before < reset <= after + window, response.text
        assert reset % window == 0  # windows are aligned to the epoch
        resets.add(reset)
    assert len(resets) <= 2  # one window, or two if the writes straddled a boundary
