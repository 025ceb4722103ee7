"""Spec §4 through the REST list: limit/offset, default order, sort, filter and q."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Harness, Tenant
from tests.rest.conftest import insert_export, insert_many, invalid_fields, set_status

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


async def ids(harness: Harness, tenant: Tenant, query: str) -> list[str]:
    response = await harness.client.get(f"/data-exports?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def names(harness: Harness, tenant: Tenant, query: str) -> list[str]:
    response = await harness.client.get(f"/data-exports?{query}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()]


@pytest.fixture
async def five(harness: Harness, tenant: Tenant) -> list[str]:
    """Five exports created on days 0..4 (so newest first is the reverse)."""
    created = []
    for n, (name, resource, fmt) in enumerate(
        [
            ("alpha", "transactions", "csv"),
            ("Bravo", "customers", "json"),
            ("charlie", "invoices", "xml"),
            ("Delta", "transactions", "pdf"),
            ("echo", "customers", "csv"),
        ]
    ):
        created.append(
            await insert_export(
                harness, tenant, now=day(n), name=name, resource=resource, format=fmt
            )
        )
    return created


async def test_limit_offset_and_headers(harness: Harness, tenant: Tenant, five: list[str]) -> None:
    newest_first = list(reversed(five))
    assert await ids(harness, tenant, "") == newest_first
    response = await harness.client.get("/data-exports?limit=2&offset=1", headers=tenant.headers)
    assert [e["id"] for e in response.json()] == newest_first[1:3]
    assert response.headers["pagination-total"] == "5"
    assert response.headers["pagination-limit"] == "2"
    assert response.headers["pagination-offset"] == "1"

    empty = await harness.client.get("/data-exports?limit=0", headers=tenant.headers)
    assert empty.json() == []
    assert empty.headers["pagination-total"] == "5"
    assert empty.headers["pagination-limit"] == "0"

    past = await harness.client.get("/data-exports?offset=10", headers=tenant.headers)
    assert past.json() == []
    assert past.headers["pagination-total"] == "5"
    assert past.headers["pagination-offset"] == "10"

    huge = await harness.client.get(
        "/data-exports?offset=100000000000000000000", headers=tenant.headers
    )
    assert huge.json() == []
    assert huge.headers["pagination-offset"] == "100000000000000000000"
    assert await ids(harness, tenant, "limit=1000") == newest_first
    assert await ids(harness, tenant, "limit=&offset=") == newest_first
    assert await ids(harness, tenant, "offset=4") == newest_first[4:]


async def test_default_limit_is_100(harness: Harness, tenant: Tenant) -> None:
    rows = [(tenant.user.id, T0 + timedelta(seconds=n)) for n in range(101)]
    created = await insert_many(harness, tenant, rows)
    response = await harness.client.get("/data-exports", headers=tenant.headers)
    assert len(response.json()) == 100
    assert response.headers["pagination-total"] == "101"
    assert response.headers["pagination-limit"] == "100"
    assert response.json()[0]["id"] == created[-1]
    last = await harness.client.get("/data-exports?offset=100", headers=tenant.headers)
    assert [e["id"] for e in last.json()] == [created[0]]


async def test_default_order_is_stable_newest_first_then_id(
    harness: Harness, tenant: Tenant
) -> None:
    # Same createdTime for several: the id breaks the tie, identically on every page.
    chosen = ["b-2", "a-1", "c-3", "e-5", "d-4"]
    for export_id in chosen:
        await insert_export(harness, tenant, now=T0, export_id=export_id)
    newest = await insert_export(harness, tenant, now=day(1), export_id="z-newest")
    oldest = await insert_export(harness, tenant, now=day(-1), export_id="0-oldest")
    full = await ids(harness, tenant, "")
    assert full[0] == newest
    assert full[-1] == oldest
    tied = full[1:-1]
    assert sorted(tied) == sorted(chosen)
    assert tied in (sorted(chosen), sorted(chosen, reverse=True))
    paged = []
    for offset in range(0, 7, 2):
        paged += await ids(harness, tenant, f"limit=2&offset={offset}")
    assert paged == full
    assert await ids(harness, tenant, "") == full


async def test_sort_by_one_and_several_keys(
    harness: Harness, tenant: Tenant, five: list[str]
) -> None:
    assert await names(harness, tenant, "sort=name") == [
        "alpha",
        "Bravo",
        "charlie",
        "Delta",
        "echo",
    ]
    assert await names(harness, tenant, "sort=-name") == [
        "echo",
        "Delta",
        "charlie",
        "Bravo",
        "alpha",
    ]
    assert await ids(harness, tenant, "sort=createdTime") == five
    assert await ids(harness, tenant, "sort=-createdTime") == list(reversed(five))
    assert await names(harness, tenant, "sort=resource,-createdTime") == [
        "echo",
        "Bravo",
        "charlie",
        "Delta",
        "alpha",
    ]
    assert await names(harness, tenant, "sort=format,name") == [
        "alpha",
        "echo",
        "Bravo",
        "Delta",
        "charlie",
    ]
    assert await names(harness, tenant, "sort=-format,-name") == [
        "charlie",
        "Delta",
        "Bravo",
        "echo",
        "alpha",
    ]
    response = await harness.client.get(
        "/data-exports?sort=name&limit=2&offset=1", headers=tenant.headers
    )
    assert [e["name"] for e in response.json()] == ["Bravo", "charlie"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("sort=planet", "sort"),
        ("sort=-amount", "sort"),
        ("sort=name,name", "sort"),
        ("sort=,", "sort"),
        ("filter=planet:earth", "filter"),
        ("filter=amount:1", "filter"),
        ("filter=name", "filter"),
        ("filter=name:", "filter"),
        ("filter=createdTime:yesterday", "filter"),
        ("filter=createdTime:2026-13-45T00:00:00Z", "filter"),
        ("filter=createdTime:2026-01-01..nope", "filter"),
        ("filter=createdTime:..", "filter"),
        ("filter=name:a;;format:csv", "filter"),
    ],
)
async def test_bad_sort_and_filter_are_422(
    harness: Harness, tenant: Tenant, five: list[str], query: str, field: str
) -> None:
    response = await harness.client.get(f"/data-exports?{query}", headers=tenant.headers)
    assert invalid_fields(response) == [field]


async def test_filter_and_or_and_case(harness: Harness, tenant: Tenant, five: list[str]) -> None:
    assert await names(harness, tenant, "filter=resource:customers&sort=name") == [
        "Bravo",
        "echo",
    ]
    assert await names(harness, tenant, "filter=resource:customers;format:csv") == ["echo"]
    assert await names(harness, tenant, "filter=format:csv,xml&sort=name") == [
        "alpha",
        "charlie",
        "echo",
    ]
    assert await names(harness, tenant, "filter=name:BRAVO") == ["Bravo"]
    assert await names(harness, tenant, "filter=name:bra") == []  # exact, not partial
    assert await names(harness, tenant, "filter=format:CSV;resource:TRANSACTIONS") == ["alpha"]
    assert await ids(harness, tenant, f"filter=id:{five[2]}") == [five[2]]
    assert await ids(harness, tenant, f"filter=userId:{tenant.user.id}&sort=createdTime") == five
    listed = await harness.client.get("/data-exports?filter=format:csv", headers=tenant.headers)
    assert listed.headers["pagination-total"] == "2"


async def test_filter_negation_both_styles(
    harness: Harness, tenant: Tenant, five: list[str]
) -> None:
    await set_status(harness, five[0], "failed")
    await set_status(harness, five[1], "completed")
    assert await names(harness, tenant, "filter=status:!failed&sort=name") == [
        "Bravo",
        "charlie",
        "Delta",
        "echo",
    ]
    assert await names(harness, tenant, "filter=status:failed,completed&sort=name") == [
        "alpha",
        "Bravo",
    ]
    expected = ["charlie", "Delta", "echo"]
    assert await names(harness, tenant, "filter=status:!failed,!completed&sort=name") == expected
    assert await names(harness, tenant, "filter=status:!failed,completed&sort=name") == expected
    assert await names(harness, tenant, "filter=format:!csv;resource:!invoices&sort=name") == [
        "Bravo",
        "Delta",
    ]


async def test_created_time_ranges(harness: Harness, tenant: Tenant, five: list[str]) -> None:
    # Days 0..4 are 2026-01-01..2026-01-05 at midnight; ranges are inclusive at both ends.
    assert (
        await ids(harness, tenant, "filter=createdTime:2026-01-02T00:00:00Z..&sort=createdTime")
        == five[1:]
    )
    assert (
        await ids(harness, tenant, "filter=createdTime:..2026-01-02T00:00:00Z&sort=createdTime")
        == five[:2]
    )
    assert (
        await ids(
            harness,
            tenant,
            "filter=createdTime:2026-01-02T00:00:00Z..2026-01-04T00:00:00Z&sort=createdTime",
        )
        == five[1:4]
    )
    assert await ids(
        harness, tenant, "filter=createdTime:2026-01-02T00:00:01Z..2026-01-03T23:59:59Z"
    ) == [five[2]]
    # A bare date is midnight UTC; an offset is honoured.
    assert await ids(harness, tenant, "filter=createdTime:2026-01-05") == [five[4]]
    assert await ids(harness, tenant, "filter=createdTime:2026-01-03T02:00:00%2B02:00") == [five[2]]
    # Two ranges ORed, and a range ANDed with another term.
    assert await ids(
        harness,
        tenant,
        "filter=createdTime:..2026-01-01T00:00:00Z,2026-01-05T00:00:00Z..&sort=createdTime",
    ) == [five[0], five[4]]
    assert await ids(
        harness, tenant, "filter=createdTime:2026-01-02T00:00:00Z..;resource:customers"
    ) == [five[4], five[1]]
    assert await ids(harness, tenant, "filter=createdTime:!2026-01-02T00:00:00Z..") == [five[0]]


async def test_q_is_a_case_insensitive_partial_match_with_literal_wildcards(
    harness: Harness, tenant: Tenant
) -> None:
    for name in ["100% done", "100 done", "snake_case", "snakeXcase", "Back\\slash", "UPPER"]:
        await insert_export(harness, tenant, name=name)
    assert await names(harness, tenant, "q=%25") == ["100% done"]
    assert await names(harness, tenant, "q=_") == ["snake_case"]
    assert await names(harness, tenant, "q=e_c") == ["snake_case"]
    assert await names(harness, tenant, "q=%5C") == ["Back\\slash"]
    assert await names(harness, tenant, "q=upp") == ["UPPER"]
    assert await names(harness, tenant, "q=DONE&sort=name") == ["100 done", "100% done"]
    assert await names(harness, tenant, "q=%20%20DONE%20&sort=name") == ["100 done", "100% done"]
    assert await names(harness, tenant, "q=nothing-like-this") == []
    counted = await harness.client.get("/data-exports?q=snake&limit=1", headers=tenant.headers)
    assert counted.headers["pagination-total"] == "2"
    assert len(counted.json()) == 1
    # q combines with filter (AND).
    assert await names(harness, tenant, "q=snake&filter=name:snakexcase") == ["snakeXcase"]


async def test_unicode_case_folding(harness: Harness, tenant: Tenant) -> None:
    for name in ["\u00c9cole", "\u00e9cole", "ZEBRA", "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2"]:
        await insert_export(harness, tenant, name=name)
    assert sorted(await names(harness, tenant, "filter=name:\u00c9COLE")) == [
        "\u00c9cole",
        "\u00e9cole",
    ]
    assert await names(harness, tenant, "q=\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c3") == [
        "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2"
    ]
    assert await names(harness, tenant, "sort=name") == [
        "ZEBRA",
        "\u00c9cole",
        "\u00e9cole",
        "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2",
    ]


async def test_collections_never_show_other_organizations(
    harness: Harness, tenant: Tenant, other: Tenant
) -> None:
    mine = await insert_export(harness, tenant, name="shared name")
    await insert_export(harness, other, name="shared name")
    assert await ids(harness, tenant, "q=shared") == [mine]
    assert await ids(harness, tenant, "filter=name:shared name") == [mine]
    assert await ids(harness, tenant, f"filter=userId:{other.user.id}") == []
