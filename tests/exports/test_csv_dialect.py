"""CSV for Excel (issue 11): `csvDialect: excel` puts a UTF-8 byte-order mark before the very
bytes the default writes; the default stays the plain RFC 4180 file, byte for byte.

The end-to-end tests go through REST, the real worker and the download route, with customers
whose names are Cyrillic, Greek and CJK inserted next to the seeded ones.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.exports.formats import make_writer
from app.exports.formats.csv_writer import UTF8_BOM
from app.exports.resources import RESOURCES
from app.models import Customer
from tests.conftest import Harness, Tenant
from tests.exports.conftest import create, fetch, links, local, run_worker
from tests.graphql.conftest import data
from tests.rest.conftest import body, invalid_fields

CUSTOMERS = RESOURCES["customers"]
FIELDS = ["id", "firstName", "lastName", "lifetimeRevenue/amount", "createdTime"]
RECORDS: list[dict[str, object]] = [
    {
        "id": "cus_1",
        "firstName": "Ольга",
        "lastName": "Иванова",
        "lifetimeRevenue/amount": Decimal("1234.5"),
        "createdTime": datetime(2026, 2, 1, 9, 30, tzinfo=UTC),
    },
    {
        "id": "cus_2",
        "firstName": "美咲",
        "lastName": "佐藤",
        "lifetimeRevenue/amount": Decimal("-3"),
        "createdTime": datetime(2026, 2, 2, tzinfo=UTC),
    },
    {
        "id": "cus_3",
        "firstName": "Νίκος",
        "lastName": 'Παπαδόπουλος, "Jr"',
        "lifetimeRevenue/amount": None,
        "createdTime": datetime(2026, 2, 3, tzinfo=UTC),
    },
    {
        "id": "cus_4",
        "firstName": "=SUM(A1)",
        "lastName": "line\nbreak",
        "lifetimeRevenue/amount": Decimal("0"),
        "createdTime": datetime(2026, 2, 4, tzinfo=UTC),
    },
]
# The default file, written out by hand: what every csv export has always produced.
PINNED = (
    "id,firstName,lastName,lifetimeRevenue/amount,createdTime\r\n"
    "cus_1,Ольга,Иванова,1234.50,2026-02-01T09:30:00Z\r\n"
    "cus_2,美咲,佐藤,-3.00,2026-02-02T00:00:00Z\r\n"
    'cus_3,Νίκος,"Παπαδόπουλος, ""Jr""",,2026-02-03T00:00:00Z\r\n'
    'cus_4,\'=SUM(A1),"line\nbreak",0.00,2026-02-04T00:00:00Z\r\n'
).encode()


def written(dialect: Any = None) -> bytes:
    fields = [f for p in FIELDS if (f := CUSTOMERS.field(p)) is not None]
    writer = make_writer("csv", fields=fields, resource="customers", title="t", csv_dialect=dialect)
    return writer.header() + writer.rows(RECORDS[:2]) + writer.rows(RECORDS[2:]) + writer.footer()


def test_the_default_csv_bytes_are_pinned() -> None:
    assert written() == PINNED
    assert written("rfc4180") == PINNED
    assert not written().startswith(UTF8_BOM)


def test_the_excel_dialect_is_the_default_bytes_after_a_bom() -> None:
    excel = written("excel")
    assert UTF8_BOM == b"\xef\xbb\xbf"
    assert excel == UTF8_BOM + PINNED
    assert excel.count(UTF8_BOM) == 1  # once, before the header, not before every batch
    rows = list(csv.reader(io.StringIO(excel.decode("utf-8-sig"), newline="")))
    assert rows[0][0] == "id"  # no BOM left glued to the first header cell
    assert [r[1:3] for r in rows[1:4]] == [
        ["Ольга", "Иванова"],
        ["美咲", "佐藤"],
        ["Νίκος", 'Παπαδόπουλος, "Jr"'],
    ]


def test_an_unknown_dialect_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="dialect"):
        written("tsv")


# --- end to end ------------------------------------------------------------------------------

NAMES = [("Ольга", "Иванова"), ("美咲", "佐藤"), ("Νίκος", "Παπαδόπουλος")]


async def add_customers(harness: Harness) -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    async with harness.session() as session:
        for index, (first, last) in enumerate(NAMES):
            session.add(
                Customer(
                    organization_id="acme",
                    id=f"cus_i18n_{index}",
                    email=f"i18n{index}@example.com",
                    first_name=first,
                    last_name=last,
                    primary_country=None,
                    primary_city=None,
                    lifetime_revenue_amount=100 * index,
                    lifetime_revenue_currency="EUR",
                    is_edd_required=False,
                    created_time=at,
                    updated_time=at,
                )
            )
        await session.commit()


async def export_file(
    harness: Harness, tenant: Tenant, **extra: Any
) -> tuple[dict[str, Any], bytes]:
    created = await create(
        harness,
        tenant,
        {
            "name": "People",
            "resource": "customers",
            "format": "csv",
            "fields": ["id", "firstName", "lastName"],
            **extra,
        },
    )
    await run_worker(harness)
    done = await fetch(harness, tenant, created["id"], expand="file")
    assert done["status"] == "completed", done
    response = await harness.client.get(local(links(done)["download"]), headers=tenant.headers)
    assert response.status_code == 200
    return done, response.content


async def test_an_excel_export_opens_with_a_bom_crlf_and_every_script_intact(
    harness: Harness, tenant: Tenant
) -> None:
    await add_customers(harness)
    plain_export, plain = await export_file(harness, tenant)
    excel_export, excel = await export_file(harness, tenant, csvDialect="excel")
    assert plain_export["csvDialect"] == "rfc4180"
    assert excel_export["csvDialect"] == "excel"

    assert not plain.startswith(UTF8_BOM)
    assert excel.startswith(UTF8_BOM)
    assert excel == UTF8_BOM + plain  # the same rows, byte for byte, after the mark
    lines = excel.split(b"\r\n")
    assert lines[-1] == b""  # every line ends in CRLF, the last one too
    assert all(b"\n" not in line for line in lines)  # and no bare LF anywhere
    rows = list(csv.reader(io.StringIO(excel.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["id", "firstName", "lastName"]
    assert [(r[1], r[2]) for r in rows if r[0].startswith("cus_i18n_")] == NAMES
    assert excel_export["_embedded"]["file"]["contentType"] == "text/csv; charset=utf-8"


# --- the member: validation and round trips --------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"csvDialect": "tsv"}, "Must be one of rfc4180, excel"),
        ({"csvDialect": "EXCEL"}, "Must be one of rfc4180, excel"),
        ({"csvDialect": 1}, "Must be one of rfc4180, excel"),
        ({"csvDialect": {"bom": True}}, "Must be one of rfc4180, excel"),
        ({"csvDialect": "excel", "format": "json"}, "Only for format csv"),
        ({"csvDialect": "rfc4180", "format": "xml"}, "Only for format csv"),
    ],
)
async def test_a_bad_csv_dialect_is_a_422_naming_it(
    harness: Harness, tenant: Tenant, extra: dict[str, Any], message: str
) -> None:
    response = await harness.client.post(
        "/data-exports", json=body(**extra), headers=tenant.headers
    )
    assert invalid_fields(response) == ["csvDialect"]
    assert message in response.json()["invalidFields"][0]["message"]


async def test_csv_dialect_is_not_an_argument(harness: Harness, tenant: Tenant) -> None:
    response = await harness.client.post(
        "/data-exports", json=body(arguments={"csvDialect": "excel"}), headers=tenant.headers
    )
    assert invalid_fields(response) == ["arguments.csvDialect"]


async def test_csv_dialect_round_trips_through_rest(harness: Harness, tenant: Tenant) -> None:
    created = await create(harness, tenant, body(csvDialect="excel"))
    assert created["csvDialect"] == "excel"
    url = f"/data-exports/{created['id']}"
    assert (await fetch(harness, tenant, created["id"]))["csvDialect"] == "excel"

    # A PUT of what GET gave keeps it; a PUT is a full replacement, so leaving it out resets it.
    got = await fetch(harness, tenant, created["id"])
    kept = await harness.client.put(url, json=got, headers=tenant.headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["csvDialect"] == "excel"
    reset = await harness.client.put(url, json=body(), headers=tenant.headers)
    assert reset.json()["csvDialect"] == "rfc4180"
    # Null means the default too; another format shows null.
    nulled = await harness.client.put(url, json=body(csvDialect=None), headers=tenant.headers)
    assert nulled.json()["csvDialect"] == "rfc4180"
    other = await harness.client.put(url, json=body(format="json"), headers=tenant.headers)
    assert other.json()["csvDialect"] is None


CREATE = """mutation($input: CreateDataExportInput!) {
  createDataExport(input: $input) {
    __typename
    ... on DataExport { id format csvDialect }
    ... on ValidationError { invalidFields { field message } }
  }
}"""
UPDATE = """mutation($id: ID!, $input: UpdateDataExportInput!) {
  updateDataExport(id: $id, input: $input) {
    __typename
    ... on DataExport { id format csvDialect }
    ... on ValidationError { invalidFields { field message } }
  }
}"""


async def test_csv_dialect_round_trips_through_graphql(harness: Harness, tenant: Tenant) -> None:
    base = {"name": "People", "resource": "CUSTOMERS", "format": "CSV"}
    made = (
        await data(
            harness.client, CREATE, tenant.headers, {"input": {**base, "csvDialect": "EXCEL"}}
        )
    )["createDataExport"]
    assert made["csvDialect"] == "EXCEL"
    row = await fetch(harness, tenant, made["id"])
    assert row["csvDialect"] == "excel"  # REST sees what GraphQL stored

    async def update(changes: dict[str, Any]) -> dict[str, Any]:
        result = await data(
            harness.client, UPDATE, tenant.headers, {"id": made["id"], "input": changes}
        )
        found: dict[str, Any] = result["updateDataExport"]
        return found

    assert (await update({"name": "Renamed"}))["csvDialect"] == "EXCEL"  # untouched: kept
    assert (await update({"csvDialect": None}))["csvDialect"] == "RFC4180"
    assert (await update({"csvDialect": "EXCEL"}))["csvDialect"] == "EXCEL"
    # Leaving csv drops the dialect (it means nothing for JSON) instead of refusing the update.
    assert (await update({"format": "JSON"}))["csvDialect"] is None
    refused = await update({"csvDialect": "EXCEL"})
    assert refused["__typename"] == "ValidationError"
    assert [f["field"] for f in refused["invalidFields"]] == ["csvDialect"]

    wrong = (
        await data(
            harness.client,
            CREATE,
            tenant.headers,
            {"input": {**base, "format": "XML", "csvDialect": "EXCEL"}},
        )
    )["createDataExport"]
    assert wrong["__typename"] == "ValidationError"
    assert [f["field"] for f in wrong["invalidFields"]] == ["csvDialect"]
