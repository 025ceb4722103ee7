"""Keyset cursors under churn: for every sort the collection accepts, in both directions, page
through `dataExportsConnection` in small pages while exports are created and deleted between
pages (the row the cursor came from included, and rows on both sides of it), and find every
row that existed throughout exactly once, in the order REST's offset listing gives them.

`-s` prints the totals (walks, pages, inserts, deletes)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import NotFound
from app.exports import keyset, service
from app.exports.formats.base import FORMATS
from app.exports.resources import EXPORT_QUERY_FIELDS, RESOURCES, query_fields
from app.exports.status import Status
from app.exports.validation import validate_export
from app.models import DataExport, Transaction, User
from tests.conftest import Harness, Tenant, add_user
from tests.graphql.conftest import data, errors, invalid_field_names, rest_body

CONNECTION = """query($first: Int, $after: String, $last: Int, $before: String, $sort: String,
                      $filter: String, $q: String) {
  dataExportsConnection(first: $first, after: $after, last: $last, before: $before,
                        sort: $sort, filter: $filter, q: $q) {
    totalCount
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"""

SORT_FIELDS = [f.dotted for f in EXPORT_QUERY_FIELDS]
SORTS: list[str | None] = [
    None,
    *[f"{sign}{name}" for name in SORT_FIELDS for sign in ("", "-")],
    "status,-name",
    "-resource,createdTime,format",
    "userId,-scheduledTime,name",
]
NAMES = ["alpha", "Alpha", "ALPHA", "beta", "Beta", "gamma", "Σίσυφος", "ΣΊΣΥΦΟΣ", "émile"]
BASE = datetime(2026, 1, 1, tzinfo=UTC)
TIMES = [BASE, BASE + timedelta(hours=1), BASE + timedelta(hours=1, microseconds=123456)]
COPIED = (
    "name",
    "resource",
    "format",
    "status",
    "user_id",
    "created_time",
    "updated_time",
    "scheduled_time",
)
ROWS = 15


@dataclass
class Churn:
    """Creates and deletes exports of one organization straight in the database."""

    harness: Harness
    organization_id: str
    users: list[User]
    rng: random.Random
    made: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def values(self) -> dict[str, Any]:
        """Few distinct values per column, so sorts tie often and the tie-break works."""
        pick = self.rng.choice
        return {
            "name": pick(NAMES),
            "resource": pick(list(RESOURCES)),
            "format": pick(list(FORMATS)),
            "status": pick([s.value for s in Status]),
            "user_id": pick(self.users).id,
            "created_time": pick(TIMES),
            "updated_time": pick(TIMES),
            "scheduled_time": pick(TIMES) + timedelta(days=1),
        }

    async def insert(self, values: dict[str, Any], export_id: str | None = None) -> str:
        self.made += 1
        # A random first letter: new rows land anywhere in an id sort, not always at one end.
        export_id = export_id or f"{self.rng.choice('bdnqtx')}{self.made:04d}"
        async with self.harness.session() as session:
            spec = validate_export(
                rest_body(name="x", resource="customers", format="json"), now=BASE
            )
            row = await service.create_export(
                session,
                organization_id=self.organization_id,
                user_id=values["user_id"],
                spec=spec,
                export_id=export_id,
                now=values["created_time"],
            )
            for name, value in values.items():
                setattr(row, name, value)
            await session.commit()
        self.counts["inserts"] += 1
        return export_id

    async def twins(self, export_id: str) -> list[str]:
        """Two copies of a row that differ only in id, one just below and one just above it:
        whatever the sort, one lands before the row and one after it."""
        if len(export_id) > 40:
            return []
        async with self.harness.session() as session:
            row = await session.scalar(
                select(DataExport).where(
                    DataExport.organization_id == self.organization_id,
                    DataExport.id == export_id,
                )
            )
        if row is None:
            return []
        values = {name: getattr(row, name) for name in COPIED}
        self.made += 1
        lower = f"{export_id[:-1]}-{self.made:02d}"  # "-" sorts below letters and digits
        upper = f"{export_id}-{self.made:02d}"  # a prefix sorts below its extensions
        return [await self.insert(values, lower), await self.insert(values, upper)]

    async def delete(self, export_id: str) -> bool:
        async with self.harness.session() as session:
            try:
                await service.delete_export(
                    session, organization_id=self.organization_id, export_id=export_id
                )
            except NotFound:  # already gone
                return False
            await session.commit()
        self.counts["deletes"] += 1
        return True

    async def trim(self, keep: int, spare: str) -> set[str]:
        """Delete random rows (not `spare`) down to `keep`: as many go as came, so a walk
        ends."""
        gone: set[str] = set()
        ids = [i for i in await self.ids() if i != spare]
        self.rng.shuffle(ids)
        while ids and len(ids) + 1 > keep:
            victim = ids.pop()
            if await self.delete(victim):
                gone.add(victim)
        return gone

    async def ids(self) -> list[str]:
        async with self.harness.session() as session:
            found = await session.scalars(
                select(DataExport.id).where(DataExport.organization_id == self.organization_id)
            )
            return list(found)


async def _rest_order(harness: Harness, tenant: Tenant, sort: str | None) -> list[str]:
    params = {"limit": 1000} | ({"sort": sort} if sort else {})
    response = await harness.client.get("/data-exports", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def _page(harness: Harness, tenant: Tenant, **variables: Any) -> dict[str, Any]:
    result = await data(harness.client, CONNECTION, tenant.headers, variables)
    page: dict[str, Any] = result["dataExportsConnection"]
    return page


async def walk(
    harness: Harness,
    tenant: Tenant,
    churn: Churn,
    *,
    sort: str | None,
    backward: bool,
    size: int,
    churn_page: Any,
) -> None:
    """Page through the whole collection, changing it between pages with `churn_page(cursor
    row id, page number)`; every row present throughout is seen once, in REST's order."""
    initial = set(await churn.ids())
    deleted: set[str] = set()
    seen: list[str] = []
    cursor: str | None = None
    for number in range(200):
        if backward:
            page = await _page(harness, tenant, last=size, before=cursor, sort=sort)
        else:
            page = await _page(harness, tenant, first=size, after=cursor, sort=sort)
        churn.counts["pages"] += 1
        ids = [edge["node"]["id"] for edge in page["edges"]]
        info = page["pageInfo"]
        assert len(ids) <= size
        if ids:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        behind = info["hasNextPage"] if backward else info["hasPreviousPage"]
        if cursor is None:  # nothing lies behind the first page
            assert behind is False
        elif set(seen) & set(await churn.ids()):  # a row seen before is still there
            assert behind is True
        seen = ids + seen if backward else seen + ids
        if not (info["hasPreviousPage"] if backward else info["hasNextPage"]):
            assert len(ids) <= size
            break
        assert len(ids) == size
        cursor = info["startCursor"] if backward else info["endCursor"]
        deleted |= await churn_page(ids[0] if backward else ids[-1], number)
    else:
        pytest.fail(f"no end after 200 pages (sort {sort}, backward {backward})")

    assert len(seen) == len(set(seen)), f"duplicates for sort {sort}: {seen}"
    stayed = initial - deleted
    expected = [i for i in await _rest_order(harness, tenant, sort) if i in stayed]
    assert [i for i in seen if i in stayed] == expected, f"sort {sort}, backward {backward}"
    assert set(expected) == stayed  # REST still lists every row that stayed


async def _setup(harness: Harness, tenant: Tenant, seed: int, rows: int) -> Churn:
    bob = await add_user(harness, tenant.organization_id, "bob@example.com")
    churn = Churn(harness, tenant.organization_id, [tenant.user, bob], random.Random(seed))
    for n in range(rows):
        await churn.insert(churn.values(), f"s{n:03d}")
    churn.counts["inserts"] = 0
    return churn


def _report(name: str, walks: int, churn: Churn) -> None:
    print(
        f"\n{name}: {walks} walks, {churn.counts['pages']} pages, "
        f"{churn.counts['inserts']} inserts, {churn.counts['deletes']} deletes between pages"
    )


async def test_every_sort_both_ways_under_inserts_and_deletes(
    harness: Harness, tenant: Tenant
) -> None:
    churn = await _setup(harness, tenant, seed=7, rows=ROWS)

    async def between_pages(cursor_id: str, number: int) -> set[str]:
        """Rows on both sides of the cursor and one anywhere; the cursor's own row on every
        other page, and random rows (seen or not yet) down to the starting size."""
        gone: set[str] = set()
        await churn.twins(cursor_id)
        await churn.insert(churn.values())
        if number % 2 == 0 and await churn.delete(cursor_id):
            gone.add(cursor_id)
        return gone | await churn.trim(ROWS, cursor_id)

    walks = 0
    for sort in SORTS:
        for backward in (False, True):
            await walk(
                harness,
                tenant,
                churn,
                sort=sort,
                backward=backward,
                size=3,
                churn_page=between_pages,
            )
            walks += 1
    _report("every sort", walks, churn)
    assert churn.counts["deletes"] >= walks
    assert churn.counts["inserts"] >= 2 * walks


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_walks(harness: Harness, tenant: Tenant, seed: int) -> None:
    """Seeded: random multi-field sorts, directions, page sizes and churn (short)."""
    churn = await _setup(harness, tenant, seed=seed, rows=ROWS)
    rng = churn.rng

    async def between_pages(cursor_id: str, number: int) -> set[str]:
        gone: set[str] = set()
        for _ in range(rng.randint(0, 2)):
            await churn.insert(churn.values())
        if rng.random() < 0.5:
            await churn.twins(cursor_id)
        if rng.random() < 0.4 and await churn.delete(cursor_id):
            gone.add(cursor_id)
        for _ in range(rng.randint(0, 2)):
            victim = rng.choice(await churn.ids())
            if await churn.delete(victim):
                gone.add(victim)
        return gone | await churn.trim(ROWS + 3, cursor_id)

    walks = 4
    for _ in range(walks):
        names = rng.sample(SORT_FIELDS, rng.randint(1, 3))
        sort = ",".join(rng.choice(["", "-"]) + name for name in names)
        await walk(
            harness,
            tenant,
            churn,
            sort=sort,
            backward=rng.random() < 0.5,
            size=rng.randint(1, 4),
            churn_page=between_pages,
        )
    _report(f"random (seed {seed})", walks, churn)


# --- the predicate on NULLs (no export sort column is nullable; the core's keys may be) -------


async def test_positions_step_over_nulls_both_ways(harness: Harness) -> None:
    """Nullable sort columns (transactions' invoiceId, processedTime, billing country): NULL is
    the largest value, and paging by positions forward and backward meets every row once."""
    fields = query_fields(RESOURCES["transactions"])
    rng = random.Random(5)
    async with harness.session() as session:
        for n in range(23):
            session.add(
                Transaction(
                    organization_id="acme",
                    id=f"t{n:02d}",
                    customer_id="c1",
                    invoice_id=rng.choice([None, "inv_1", "INV_1", "inv_2"]),
                    type="sale",
                    status="completed",
                    result="approved",
                    amount=rng.choice([100, 200]),
                    currency="USD",
                    gateway_name="test",
                    payment_method="card",
                    billing_country=rng.choice([None, "DE", "de", "FR"]),
                    processed_time=rng.choice([None, *TIMES]),
                    created_time=BASE,
                    updated_time=BASE,
                )
            )
        session.add(  # another organization's row never shows
            Transaction(
                organization_id="other", id="t00", customer_id="c", type="sale",
                status="completed", result="approved", amount=1, currency="USD",
                gateway_name="g", payment_method="card", created_time=BASE, updated_time=BASE,
            )
        )  # fmt: skip
        await session.commit()
    mine = Transaction.organization_id == "acme"
    for sort in ["invoiceId", "-invoiceId", "-processedTime,billingAddress.country",
                 "billingAddress.country,-amount,processedTime"]:  # fmt: skip
        chosen = [(fields[name.lstrip("-")], name.startswith("-")) for name in sort.split(",")]
        keys = [keyset.key_of(field, descending) for field, descending in chosen]
        keys.append(keyset.key_of(fields["id"], False, by_fold=False))
        async with harness.session() as session:
            everything = list(
                await session.scalars(
                    select(Transaction.id).where(mine).order_by(*keyset.order_by(keys))
                )
            )
            assert len(everything) == 23
            for reverse in (False, True):
                seen: list[str] = []
                values: list[Any] | None = None
                for _ in range(30):
                    stmt = select(Transaction).where(mine)
                    if values is not None:
                        stmt = stmt.where(keyset.after(keys, values, reverse=reverse))
                    stmt = stmt.order_by(*keyset.order_by(keys, reverse=reverse)).limit(4)
                    rows = list(await session.scalars(stmt))
                    if not rows:
                        break
                    seen += [row.id for row in rows]
                    position = keyset.position_of(rows[-1], keys, sort, "")
                    values = keyset.check_position(position, keys, sort, "", "after")
                expected = everything[::-1] if reverse else everything
                assert seen == expected, (sort, reverse)


# --- arguments and page info ----------------------------------------------------------------


async def test_page_info_is_right_in_both_directions(harness: Harness, tenant: Tenant) -> None:
    churn = await _setup(harness, tenant, seed=11, rows=7)
    order = await _rest_order(harness, tenant, "name")
    assert len(order) == 7

    def ids(page: dict[str, Any]) -> list[str]:
        return [edge["node"]["id"] for edge in page["edges"]]

    def flags(page: dict[str, Any]) -> tuple[bool, bool]:
        return page["pageInfo"]["hasPreviousPage"], page["pageInfo"]["hasNextPage"]

    one = await _page(harness, tenant, first=3, sort="name")
    assert (ids(one), flags(one), one["totalCount"]) == (order[:3], (False, True), 7)
    two = await _page(harness, tenant, first=3, after=one["pageInfo"]["endCursor"], sort="name")
    assert (ids(two), flags(two)) == (order[3:6], (True, True))
    end = await _page(harness, tenant, last=3, sort="name")
    assert (ids(end), flags(end)) == (order[4:], (True, False))
    back = await _page(harness, tenant, last=3, before=end["pageInfo"]["startCursor"], sort="name")
    assert (ids(back), flags(back)) == (order[1:4], (True, True))
    start = await _page(
        harness, tenant, last=3, before=back["pageInfo"]["startCursor"], sort="name"
    )
    assert (ids(start), flags(start)) == (order[:1], (False, True))
    everything = await _page(harness, tenant, last=10, sort="name")
    assert (ids(everything), flags(everything)) == (order, (False, False))
    between = await _page(
        harness,
        tenant,
        first=10,
        after=one["pageInfo"]["startCursor"],
        before=end["pageInfo"]["startCursor"],
        sort="name",
    )
    assert (ids(between), flags(between)) == (order[1:4], (True, True))
    none = await _page(harness, tenant, last=0, sort="name")
    assert (ids(none), flags(none)) == ([], (True, False))
    # The row a cursor came from is gone: the next page starts right after where it was.
    await churn.delete(order[2])
    after_gone = await _page(
        harness, tenant, first=2, after=one["pageInfo"]["endCursor"], sort="name"
    )
    assert (ids(after_gone), flags(after_gone)) == (order[3:5], (True, True))


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 2, "last": 2}, "last"),
        ({"last": -1}, "last"),
        ({"last": 1001}, "last"),
        ({"first": -1}, "first"),
        ({"first": 1001}, "first"),
        ({"after": "not a cursor"}, "after"),
        ({"before": "bm90IGEgY3Vyc29y"}, "before"),
        ({"after": "b2Zmc2V0OjM="}, "after"),  # "offset:3", this API's old cursors
        ({"last": 2, "before": "b2Zmc2V0OjM"}, "before"),
    ],
)
async def test_bad_arguments_are_named(
    harness: Harness, tenant: Tenant, variables: dict[str, Any], field: str
) -> None:
    (error,) = await errors(harness.client, CONNECTION, tenant.headers, variables)
    assert invalid_field_names(error) == [field]


async def test_a_cursor_only_works_where_it_was_made(harness: Harness, tenant: Tenant) -> None:
    await _setup(harness, tenant, seed=3, rows=4)
    page = await _page(harness, tenant, first=2, sort="-name", filter="status:pending,queued")
    cursor = page["pageInfo"]["endCursor"]
    made = {"sort": "-name", "filter": "status:pending,queued"}
    assert (await _page(harness, tenant, first=2, after=cursor, **made))["edges"] is not None

    async def refused(argument: str, **variables: Any) -> str:
        (error,) = await errors(harness.client, CONNECTION, tenant.headers, variables)
        assert invalid_field_names(error) == [argument]
        message: str = error["extensions"]["invalidFields"][0]["message"]
        return message

    assert "sort" in await refused("after", first=2, after=cursor, filter=made["filter"])
    assert "sort" in await refused(
        "after", first=2, after=cursor, sort="name", filter=made["filter"]
    )
    assert "filter" in await refused("after", first=2, after=cursor, sort="-name")
    assert "filter" in await refused(
        "before", last=2, before=cursor, sort="-name", q="x", filter=made["filter"]
    )
    # One changed character anywhere: refused, never a page from elsewhere.
    for index in (0, len(cursor) // 2, len(cursor) - 1):
        changed = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
        assert "Not a cursor" in await refused("after", first=2, after=changed, **made)
