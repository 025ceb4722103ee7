"""Every error status of spec §2-§3 as application/problem+json, the check order, and no writes
after any 4xx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.rest.routes import PREFIXES
from tests.conftest import RATE_LIMIT_CLOCK, Harness, Tenant, set_limits
from tests.exports.conftest import seed
from tests.rest.conftest import (
    assert_problem,
    body,
    insert_export,
    invalid_fields,
    set_status,
    snapshot,
)

# --- 401 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"REB-APIKEY": ""},
        {"REB-APIKEY": "not-a-real-key-but-long-enough-to-look-like-one-0123"},
        {"REB-APIKEY": "short"},
        {"REB-APIKEY": "x" * 5000},
        {"REB-APIKEY": "\u00e9\u00e8\u00ea-latin-1".encode("latin-1")},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Token abc"},
    ],
    ids=[
        "missing",
        "empty",
        "unknown",
        "short",
        "huge",
        "latin1",
        "basic",
        "bearer-empty",
        "bearer-garbage",
        "other-scheme",
    ],
)
async def test_401_for_missing_unknown_or_malformed_credentials(
    harness: Harness, tenant: Tenant, headers: dict[str, Any]
) -> None:
    export_id = await insert_export(harness, tenant)
    before = await snapshot(harness)
    client = harness.client
    responses = [
        await client.get("/data-exports", headers=headers),
        await client.get(f"/data-exports/{export_id}", headers=headers),
        await client.post("/data-exports", json=body(), headers=headers),
        await client.put(f"/data-exports/{export_id}", json=body(), headers=headers),
        await client.delete(f"/data-exports/{export_id}", headers=headers),
    ]
    for response in responses:
        assert_problem(response, 401)
        # Both ways to sign in, whichever one failed (RFC 9110 §11.6.1).
        assert response.headers["www-authenticate"] == (
            'REB-APIKEY realm="exports-gateway", Bearer realm="exports-gateway"'
        )
    assert await snapshot(harness) == before


async def test_a_key_differing_only_after_its_prefix_is_401(
    harness: Harness, tenant: Tenant
) -> None:
    forged = tenant.key[:8] + ("A" if tenant.key[8] != "A" else "B") + tenant.key[9:]
    assert_problem(await harness.client.get("/data-exports", headers={"REB-APIKEY": forged}), 401)
    truncated = tenant.key[:-1]
    response = await harness.client.get("/data-exports", headers={"REB-APIKEY": truncated})
    assert_problem(response, 401)


# --- 403 ------------------------------------------------------------------------------------


async def test_read_only_key_cannot_write(harness: Harness, tenant: Tenant) -> None:
    export_id = await insert_export(harness, tenant)
    before = await snapshot(harness)
    client, read = harness.client, tenant.read_headers
    assert (await client.get("/data-exports", headers=read)).status_code == 200
    assert (await client.get(f"/data-exports/{export_id}", headers=read)).status_code == 200
    assert_problem(await client.post("/data-exports", json=body(), headers=read), 403)
    assert_problem(await client.put(f"/data-exports/{export_id}", json=body(), headers=read), 403)
    assert_problem(await client.put("/data-exports/fresh", json=body(), headers=read), 403)
    assert_problem(await client.delete(f"/data-exports/{export_id}", headers=read), 403)
    assert await snapshot(harness) == before


# --- 404, 405 -------------------------------------------------------------------------------


async def test_unknown_id_and_unknown_route_are_404_problems(
    harness: Harness, tenant: Tenant
) -> None:
    client, headers = harness.client, tenant.headers
    assert_problem(await client.get("/data-exports/exp_missing", headers=headers), 404)
    assert_problem(await client.delete("/data-exports/exp_missing", headers=headers), 404)
    assert_problem(await client.get("/no/such/route", headers=headers), 404)
    assert_problem(await client.get("/no/such/route"), 404)
    assert_problem(await client.get("/data-exports/a/b", headers=headers), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/data-exports", {"GET", "POST"}),
        ("PUT", "/data-exports/", {"GET", "POST"}),
        ("PATCH", "/data-exports/x", {"GET", "PUT", "DELETE"}),
        ("POST", "/organizations/acme/data-exports/x", {"GET", "PUT", "DELETE"}),
        ("POST", "/users/x", {"GET"}),
    ],
)
async def test_405_has_an_allow_header(
    harness: Harness, tenant: Tenant, method: str, path: str, allowed: set[str]
) -> None:
    response = await harness.client.request(method, path, headers=tenant.headers)
    assert_problem(response, 405)
    allow = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


# --- 413 ------------------------------------------------------------------------------------


async def test_413_for_a_body_over_one_mebibyte(harness: Harness, tenant: Tenant) -> None:
    before = await snapshot(harness)
    padding = "x" * (1024 * 1024)
    big = '{"name": "big", "resource": "customers", "format": "csv", "pad": "' + padding + '"}'
    response = await harness.client.post(
        "/data-exports",
        content=big.encode(),
        headers={**tenant.headers, "content-type": "application/json"},
    )
    assert_problem(response, 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the stream is counted
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    streamed = await harness.client.put(
        "/data-exports/streamed", content=chunks(), headers=tenant.headers
    )
    assert_problem(streamed, 413)
    assert await snapshot(harness) == before
    # Just under the limit is parsed (and then rejected for its unknown member, not its size).
    near = '{"pad": "' + "x" * (1024 * 1024 - 20) + '"}'
    assert len(near) <= 1024 * 1024
    response = await harness.client.post("/data-exports", content=near, headers=tenant.headers)
    assert "pad" in invalid_fields(response)


# --- 422: bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"not json", b'{"name": }', b"[]", b"[1, 2]", b'"text"', b"42", b"null", b"true"],
)
async def test_malformed_or_non_object_json_is_422_naming_body(
    harness: Harness, tenant: Tenant, raw: bytes
) -> None:
    existing = await insert_export(harness, tenant)
    before = await snapshot(harness)
    headers = {**tenant.headers, "content-type": "application/json"}
    post = await harness.client.post("/data-exports", content=raw, headers=headers)
    assert invalid_fields(post) == ["body"]
    put = await harness.client.put(f"/data-exports/{existing}", content=raw, headers=headers)
    assert invalid_fields(put) == ["body"]
    assert await snapshot(harness) == before


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "n", "resource": "customers", "format": "csv", "x": NaN}', "body"),
        (b'{"name": "n", "resource": "customers", "format": "csv", "x": Infinity}', "body"),
        (b'{"name": "n", "resource": "customers", "format": "csv", "x": [-Infinity]}', "body"),
        (b'{"name": "n", "resource": "customers", "format": "csv", "name": "m"}', "name"),
        (b'{"name": "n", "resource": "customers", "format": "csv", "format": "csv"}', "format"),
        (
            b'{"name": "n", "resource": "customers", "format": "csv",'
            b' "dateRange": {"start": "yesterday", "end": "now", "start": "today"}}',
            "dateRange.start",
        ),
        (
            b'{"name": "n", "resource": "customers", "format": "csv",'
            b' "fields": ["id", {"a": 1, "a": 2}]}',
            "fields.1.a",
        ),
    ],
    ids=["nan", "infinity", "minus-infinity", "name", "format", "nested", "in-array"],
)
async def test_non_json_numbers_and_duplicate_members_are_422(
    harness: Harness, tenant: Tenant, raw: bytes, field: str
) -> None:
    """Python's parser takes both (the last duplicate silently winning); RFC 8259 JSON does not."""
    existing = await insert_export(harness, tenant)
    before = await snapshot(harness)
    headers = {**tenant.headers, "content-type": "application/json"}
    for response in (
        await harness.client.post("/data-exports", content=raw, headers=headers),
        await harness.client.put(f"/data-exports/{existing}", content=raw, headers=headers),
    ):
        assert invalid_fields(response) == [field]
        assert response.json()["detail"] == f"Invalid input: check {field}."
    assert await snapshot(harness) == before


INVALID_BODIES: list[tuple[dict[str, Any], str]] = [
    (body(unknown="x"), "unknown"),
    (body(name=None), "name"),
    (body(name=""), "name"),
    (body(name="   "), "name"),
    (body(name="n" * 51), "name"),
    (body(name=7), "name"),
    (body(resource=None), "resource"),
    (body(resource="planets"), "resource"),
    (body(resource="Transactions"), "resource"),
    (body(format=None), "format"),
    (body(format="docx"), "format"),
    (body(arguments="filter=x"), "arguments"),
    (body(arguments={"bogus": "1"}), "arguments.bogus"),
    (body(arguments={"filter": "planet:mars"}), "arguments.filter"),
    (body(arguments={"filter": "amount:lots"}), "arguments.filter"),
    (body(arguments={"filter": "nocolon"}), "arguments.filter"),
    (body(arguments={"sort": "-planet"}), "arguments.sort"),
    (body(arguments={"q": 5}), "arguments.q"),
    (body(dateRange="last month"), "dateRange"),
    (body(dateRange={"start": "whenever", "end": "now"}), "dateRange.start"),
    (body(dateRange={"start": "yesterday"}), "dateRange.end"),
    (body(dateRange={"start": "yesterday", "end": "now", "field": "amount"}), "dateRange.field"),
    (body(dateRange={"start": "yesterday", "end": "now", "zone": "UTC"}), "dateRange.zone"),
    (body(emailNotification="a@example.com"), "emailNotification"),
    (body(emailNotification=["ok@example.com", "not-an-email"]), "emailNotification.1"),
    (body(emailNotification=[3]), "emailNotification.0"),
    (body(fields=["planet"]), "fields.0"),
    (body(fields=["id", "id"]), "fields.1"),
    (body(fields="id"), "fields"),
    (body(fields=["id", 4]), "fields.1"),
    (body(recurring="daily"), "recurring"),
    (body(recurring={"instruction": "FREQ=SOMETIMES"}), "recurring.instruction"),
    (body(recurring={"start": "2090-01-01T00:00:00Z"}), "recurring.instruction"),
    (body(recurring={"instruction": "FREQ=DAILY", "start": "soon"}), "recurring.start"),
    (body(recurring={"instruction": "FREQ=DAILY", "every": 1}), "recurring.every"),
]


@pytest.mark.parametrize(("payload", "field"), INVALID_BODIES, ids=[f for _, f in INVALID_BODIES])
async def test_each_invalid_field_is_named_with_its_dotted_path(
    harness: Harness, tenant: Tenant, payload: dict[str, Any], field: str
) -> None:
    existing = await insert_export(harness, tenant, name="Untouched")
    before = await snapshot(harness)
    post = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert field in invalid_fields(post)
    put = await harness.client.put(
        f"/data-exports/{existing}", json=payload, headers=tenant.headers
    )
    assert field in invalid_fields(put)
    put_new = await harness.client.put(
        "/data-exports/brand-new", json=payload, headers=tenant.headers
    )
    assert field in invalid_fields(put_new)
    assert await snapshot(harness) == before
    unchanged = await harness.client.get(f"/data-exports/{existing}", headers=tenant.headers)
    assert unchanged.json()["name"] == "Untouched"


async def test_every_problem_is_reported_at_once(harness: Harness, tenant: Tenant) -> None:
    payload = {
        "name": "",
        "resource": "transactions",
        "format": "doc",
        "emailNotification": ["a@example.com", "b@", "c@example.com", "nope"],
        "fields": ["id", "bogus"],
        "dateRange": {"start": "garbage", "end": "also garbage"},
        "arguments": {"filter": "planet:x"},
        "recurring": {"instruction": "FREQ=MINUTELY"},
        "extra": True,
    }
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    assert set(invalid_fields(response)) >= {
        "name",
        "format",
        "emailNotification.1",
        "emailNotification.3",
        "fields.1",
        "dateRange.start",
        "dateRange.end",
        "arguments.filter",
        "recurring.instruction",
        "extra",
    }


async def test_one_entry_per_field_even_when_a_value_breaks_several_rules(
    harness: Harness, tenant: Tenant
) -> None:
    payload = body(name="a\x00b", format="docx")  # NUL: unstorable and a control character
    response = await harness.client.post("/data-exports", json=payload, headers=tenant.headers)
    problem = assert_problem(response, 422)
    assert [f["field"] for f in problem["invalidFields"]] == ["name", "format"]
    assert "NUL" in problem["invalidFields"][0]["message"]
    assert problem["detail"] == "Invalid input: check name, format."


async def test_the_record_limit_problem_names_a_field(
    harness: Harness, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(harness, customers=3, transactions=5, resources=("transactions",))
    set_limits(harness, monkeypatch, export_max_records=2)
    before = await snapshot(harness)
    payload = body()
    for response in (
        await harness.client.post("/data-exports", json=payload, headers=tenant.headers),
        await harness.client.put("/data-exports/big", json=payload, headers=tenant.headers),
    ):
        assert invalid_fields(response) == ["dateRange"]
        problem = response.json()
        assert problem["type"] == "data-export-limit-exceeded"
        assert (problem["matchedRecords"], problem["maxRecords"]) == (5, 2)
        assert "arguments.filter" in problem["invalidFields"][0]["message"]
    assert await snapshot(harness) == before


# --- 422: path and query --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_id",
    ["a" * 51, "has space", "semi;colon", "caf\u00e9", "%2E%2E", "%2E", "a%2Fb", "quote'"],
    ids=["long", "space", "semicolon", "unicode", "dotdot", "dot", "slash", "quote"],
)
async def test_a_path_id_breaking_the_pattern_is_422_naming_id(
    harness: Harness, tenant: Tenant, bad_id: str
) -> None:
    before = await snapshot(harness)
    client, headers = harness.client, tenant.headers
    for response in (
        await client.get(f"/data-exports/{bad_id}", headers=headers),
        await client.put(f"/data-exports/{bad_id}", json=body(), headers=headers),
        await client.delete(f"/data-exports/{bad_id}", headers=headers),
        await client.get(f"/users/{bad_id}", headers=headers),
        await client.get(f"/files/{bad_id}/download", headers=headers),
    ):
        assert invalid_fields(response) == ["id"]
    assert await snapshot(harness) == before


OWN_PREFIXES = [p.replace("{organizationId}", "acme") for p in PREFIXES]
ENCODED_SLASH_PATHS = [
    *[p + "/a%2Fb" for p in OWN_PREFIXES],
    *[p + "/a%2fb/" for p in OWN_PREFIXES],
    "/data-exports/a%2F",
    "/data-exports/%2Fa",
    "/data-exports/a%2Fb%2Fc",
    "/users/a%2Fb",
    "/users/a%2Fb/",
]


@pytest.mark.parametrize("path", ENCODED_SLASH_PATHS)
async def test_an_encoded_slash_in_an_id_is_422_naming_id_after_401(
    harness: Harness, tenant: Tenant, path: str
) -> None:
    response = await harness.client.get(path, headers=tenant.headers)
    assert invalid_fields(response) == ["id"]
    assert_problem(await harness.client.get(path), 401)


@pytest.mark.parametrize(
    "path",
    ["/data-exports/a/b", "/data-exports/a%2Fb/c", "/users/a/b", "/files/a/b/download"],
)
async def test_a_literal_slash_in_an_id_is_still_no_route(
    harness: Harness, tenant: Tenant, path: str
) -> None:
    assert_problem(await harness.client.get(path, headers=tenant.headers), 404)


async def test_a_fifty_character_id_is_fine(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.put(
        "/data-exports/" + "a" * 50, json=body(), headers=tenant.headers
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=-1", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=1_0", "limit"),
        ("limit=%205", "limit"),
        ("limit=%D9%A3", "limit"),
        ("limit=1e2", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
        ("expand=users", "expand"),
        ("expand=user,owner", "expand"),
        ("sort=planet", "sort"),
        ("filter=planet:mars", "filter"),
    ],
)
async def test_bad_query_parameters_are_422_naming_them(
    harness: Harness, tenant: Tenant, query: str, field: str
) -> None:
    response = await harness.client.get(f"/data-exports?{query}", headers=tenant.headers)
    assert field in invalid_fields(response)


async def test_unknown_expand_is_422_on_every_route(harness: Harness, tenant: Tenant) -> None:
    export_id = await insert_export(harness, tenant)
    before = await snapshot(harness)
    client, headers = harness.client, tenant.headers
    for response in (
        await client.get(f"/data-exports/{export_id}?expand=nope", headers=headers),
        await client.post("/data-exports?expand=nope", json=body(), headers=headers),
        await client.put(f"/data-exports/{export_id}?expand=nope", json=body(), headers=headers),
        await client.delete(f"/data-exports/{export_id}?expand=nope", headers=headers),
        await client.get("/data-exports?expand=user,nope", headers=headers),
    ):
        assert invalid_fields(response) == ["expand"]
    assert await snapshot(harness) == before


# --- 429 ------------------------------------------------------------------------------------


async def test_429_after_the_write_limit(limited: Harness) -> None:
    tenant = await limited.tenant("acme")
    client, headers = limited.client, tenant.headers
    first = await client.post("/data-exports", json=body(), headers=headers)
    assert first.status_code == 201
    assert first.headers["x-ratelimit-limit"] == "3"
    assert first.headers["x-ratelimit-remaining"] == "2"
    export_id = first.json()["id"]
    put = await client.put(f"/data-exports/{export_id}", json=body(name="B"), headers=headers)
    assert put.status_code == 200
    assert put.headers["x-ratelimit-limit"] == "3"
    assert put.headers["x-ratelimit-remaining"] == "1"
    delete = await client.delete(f"/data-exports/{export_id}", headers=headers)
    assert delete.status_code == 204
    assert delete.headers["x-ratelimit-limit"] == "3"
    assert delete.headers["x-ratelimit-remaining"] == "0"
    # Reads are not counted.
    for _ in range(3):
        assert (await client.get("/data-exports", headers=headers)).status_code == 200

    before = await snapshot(limited)
    fourth = await client.post("/data-exports", json=body(), headers=headers)
    now = RATE_LIMIT_CLOCK  # the `limited` harness's rate-limit clock
    assert_problem(fourth, 429)
    retry_at = int(fourth.headers["x-ratelimit-retry-after"])
    retry_after = int(fourth.headers["retry-after"])
    assert 0 < retry_after <= 3600
    assert now < retry_at <= now + 3600 + 1
    assert abs((retry_at - now) - retry_after) <= 2
    assert fourth.headers["x-ratelimit-limit"] == "3"
    assert fourth.headers["x-ratelimit-remaining"] == "0"
    assert_problem(await client.put("/data-exports/p", json=body(), headers=headers), 429)
    assert await snapshot(limited) == before

    # The limit is per organization.
    other = await limited.tenant("globex", "bob@example.com")
    response = await client.post("/data-exports", json=body(), headers=other.headers)
    assert response.status_code == 201


# --- check order (spec §3: 401, 403, 422 path, 404, 429, 422 body, 409) --------------------


async def test_check_order(limited: Harness) -> None:
    tenant = await limited.tenant("acme")
    other = await limited.tenant("globex", "bob@example.com")
    client, write, read = limited.client, tenant.headers, tenant.read_headers
    long_id = "x" * 51
    bad: dict[str, Any] = {"name": "", "bogus": 1}

    # 401 beats everything.
    r = await client.put(f"/organizations/globex/data-exports/{long_id}", json=bad)
    assert_problem(r, 401)
    r = await client.post("/organizations/globex/data-exports", content=b"{", headers={})
    assert_problem(r, 401)
    # 403 beats 422 (path and body) and 404.
    r = await client.put(f"/data-exports/{long_id}", json=bad, headers=read)
    assert_problem(r, 403)
    r = await client.get(f"/organizations/globex/data-exports/{long_id}", headers=write)
    assert_problem(r, 403)
    r = await client.delete("/organizations/globex/data-exports/missing", headers=write)
    assert_problem(r, 403)
    # 422 (path) beats 404 and 422 (body).
    r = await client.get(f"/data-exports/{long_id}", headers=write)
    assert invalid_fields(r) == ["id"]
    r = await client.put(f"/data-exports/{long_id}", json=bad, headers=write)
    assert invalid_fields(r) == ["id"]

    # Spend the budget on three writes, leaving a queued export behind.
    queued_id = (await client.post("/data-exports", json=body(), headers=write)).json()["id"]
    await set_status(limited, queued_id, "queued")
    r = await client.put(f"/data-exports/{queued_id}", json=bad, headers=write)
    assert {"name", "bogus"} <= set(invalid_fields(r))  # 422 (body) beats 409
    r = await client.put(f"/data-exports/{queued_id}", json=body(), headers=write)
    assert_problem(r, 409)  # the third write
    theirs = await insert_export(limited, other)

    # Now over the limit: 404 beats 429, 429 beats 422 (body) and 409.
    r = await client.delete("/data-exports/missing", headers=write)
    assert_problem(r, 404)
    r = await client.delete(f"/data-exports/{theirs}", headers=write)
    assert_problem(r, 404)
    r = await client.post("/data-exports", content=b"{", headers=write)
    assert_problem(r, 429)
    r = await client.put(f"/data-exports/{queued_id}", json=bad, headers=write)
    assert_problem(r, 429)
    r = await client.put(f"/data-exports/{queued_id}", json=body(), headers=write)
    assert_problem(r, 429)
    r = await client.delete(f"/data-exports/{queued_id}", headers=write)
    assert_problem(r, 429)
    # ... and 401/403/422 (path) still come first.
    assert_problem(await client.post("/data-exports", json=body()), 401)
    assert_problem(await client.post("/data-exports", json=body(), headers=read), 403)
    assert invalid_fields(await client.delete(f"/data-exports/{long_id}", headers=write)) == ["id"]


async def test_a_rejected_write_still_counts_and_reports_its_budget(limited: Harness) -> None:
    tenant = await limited.tenant("acme")
    client, headers = limited.client, tenant.headers
    rejected = await client.post("/data-exports", json=body(format="docx"), headers=headers)
    assert invalid_fields(rejected) == ["format"]
    assert rejected.headers["x-ratelimit-limit"] == "3"
    assert rejected.headers["x-ratelimit-remaining"] == "2"
    accepted = await client.post("/data-exports", json=body(), headers=headers)
    assert accepted.headers["x-ratelimit-remaining"] == "1"
