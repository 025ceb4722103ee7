"""Every format end to end: seeded data → REST export → worker → file, read back with
independent parsers and compared with rows selected straight from the database (spec §4 to §7).

The expected rows are computed here, from whole tables, with plain Python filtering, sorting and
rendering; nothing from the app's query or source modules is used for them.
"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest.mock import patch

import pytest
from pypdf import PdfReader
from sqlalchemy import select

import app.exports.worker as worker_module
from app.models import Base, Customer, Invoice, Transaction
from tests.conftest import Harness, Tenant
from tests.exports.conftest import (
    ANCHOR,
    create,
    fetch,
    links,
    local,
    run_worker,
    seed,
    set_export,
)

# The moment the export counts as running (set as its scheduledTime), and what the relative
# phrases below mean then, worked out by hand.
RUN_AT = ANCHOR - timedelta(days=5) + timedelta(hours=3, minutes=30)  # 2026-03-05T15:30:00Z
LAST_MONTH_START = datetime(2026, 2, 1, tzinfo=RUN_AT.tzinfo)  # first day of last month midnight
YESTERDAY = datetime(2026, 3, 4, tzinfo=RUN_AT.tzinfo)  # yesterday

TXN_FIELDS = [
    "id",
    "amount",
    "currency",
    "billingAddress/country",
    "description",
    "billingAddress/firstName",
    "result",
    "processedTime",
]
TXN_COLUMNS = {
    "id": "id",
    "amount": "amount",
    "currency": "currency",
    "billingAddress/country": "billing_country",
    "billingAddress/firstName": "billing_first_name",
    "billingAddress/lastName": "billing_last_name",
    "description": "description",
    "gatewayName": "gateway_name",
    "result": "result",
    "processedTime": "processed_time",
}
MONEY = {"amount", "lifetimeRevenue/amount", "subtotalAmount", "taxAmount", "amountDue"}


def money(cents: int) -> str:
    return f"{Decimal(cents) / 100:.2f}"


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def rendered(path: str, value: Any) -> str | None:
    """The text of a value in csv/xml/pdf, as spec §1 and §7 describe it."""
    if value is None:
        return None
    if path in MONEY:
        return money(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return when(value)
    return str(value)


def csv_cell(path: str, value: Any) -> str:
    text = rendered(path, value)
    if text is None:
        return ""
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def json_scalar(path: str, value: Any) -> Any:
    if value is None or (isinstance(value, bool | int) and path not in MONEY):
        return value
    if path in MONEY:
        return Decimal(money(value))
    if isinstance(value, datetime):
        return when(value)
    return value


def nested(paths: Sequence[str], row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        *groups, leaf = path.split("/")
        level = out
        for group in groups:
            level = level.setdefault(group, {})
        level[leaf] = json_scalar(path, row[path])
    return out


async def table_rows(
    harness: Harness, model: type[Base], columns: dict[str, str]
) -> list[dict[str, Any]]:
    """Every row of the table as {api path: database value}, organization included."""
    async with harness.session() as session:
        objects = list(await session.scalars(select(model)))
    rows = []
    for obj in objects:
        row = {path: getattr(obj, column) for path, column in columns.items()}
        row["_org"] = obj.organization_id  # type: ignore[attr-defined]
        rows.append(row)
    return rows


def fold(text: str) -> str:
    return text.casefold()


def expected_transactions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """filter result:approved;amount:10..500, q REN, processedTime in [last month, yesterday),
    sort -amount (then id)."""
    needle = "ren"
    text_paths = (
        "description",
        "gatewayName",
        "billingAddress/firstName",
        "billingAddress/lastName",
    )
    chosen = [
        r
        for r in rows
        if r["_org"] == "acme"
        and fold(r["result"]) == "approved"
        and 1000 <= r["amount"] <= 50000
        and any(needle in fold(r[p] or "") for p in text_paths)
        and r["processedTime"] is not None
        and LAST_MONTH_START <= r["processedTime"] < YESTERDAY
    ]
    return sorted(chosen, key=lambda r: (-r["amount"], r["id"]))


TXN_BODY = {
    "resource": "transactions",
    "fields": TXN_FIELDS,
    "arguments": {"filter": "result:approved;amount:10..500", "sort": "-amount", "q": "REN"},
    "dateRange": {"start": "first day of last month midnight", "end": "yesterday"},
}


@pytest.fixture
async def seeded(harness: Harness) -> None:
    await seed(harness, "acme")
    await seed(harness, "globex")  # another tenant with rows of the very same ids


async def run_export(
    harness: Harness, tenant: Tenant, body: dict[str, Any], run_at: datetime = RUN_AT
) -> tuple[dict[str, Any], bytes]:
    created = await create(harness, tenant, body)
    await set_export(harness, created["id"], scheduled_time=run_at)
    # A one-off evaluates relative dates when it runs (spec §5): run it "at" run_at.
    with patch.object(worker_module, "utcnow", lambda: run_at):
        await run_worker(harness)
    done = await fetch(harness, tenant, created["id"], expand="file")
    assert done["status"] == "completed", done
    response = await harness.client.get(local(links(done)["download"]), headers=tenant.headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == done["_embedded"]["file"]["contentType"]
    return done, response.content


def parse_csv(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline="")))


def check_csv(data: bytes, fields: list[str], expected: list[dict[str, Any]]) -> None:
    header, *records = parse_csv(data)
    assert header == fields
    assert records == [[csv_cell(p, r[p]) for p in fields] for r in expected]


def check_json(data: bytes, fields: list[str], expected: list[dict[str, Any]]) -> None:
    parsed = json.loads(data, parse_float=Decimal)
    assert parsed == [nested(fields, r) for r in expected]
    moneys = [p for p in fields if p in MONEY]
    if moneys and expected:  # two decimals in the very text, not just the value
        key = moneys[0].split("/")[-1]
        found = re.findall(rf'"{key}":(-?[0-9.]+)', data.decode())
        assert found == [money(r[moneys[0]]) for r in expected]


def check_json_api(
    data: bytes, fields: list[str], expected: list[dict[str, Any]], resource: str
) -> None:
    parsed = json.loads(data, parse_float=Decimal)
    attributes = [p for p in fields if p != "id"]
    assert parsed == {
        "data": [
            {"type": resource, "id": r["id"], "attributes": nested(attributes, r)} for r in expected
        ]
    }


def check_xml(
    data: bytes, fields: list[str], expected: list[dict[str, Any]], root: str, item: str
) -> None:
    tree = ET.fromstring(data)  # noqa: S314 - our own file
    assert tree.tag == root
    assert [child.tag for child in tree] == [item] * len(expected)
    got = [
        [(child.find(p).text if child.find(p) is not None else "MISSING") for p in fields]
        for child in tree
    ]  # type: ignore[union-attr]
    assert got == [[rendered(p, r[p]) or None for p in fields] for r in expected]


def check_pdf(
    data: bytes, title: str, expected: list[dict[str, Any]], *, header: str = "Currency"
) -> None:
    reader = PdfReader(io.BytesIO(data))
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)
    assert title in pages[0]
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height  # landscape
    for page in pages:
        assert header in page  # the header row repeats on every page
    assert re.findall(r"txn_\d{10}", text) == [r["id"] for r in expected]
    body = re.sub(r"Total amount: .*", "", text)  # the first page's totals are not rows
    amounts = re.findall(r"-?\d+\.\d{2}\b", body)
    assert amounts == [money(r["amount"]) for r in expected]


Checker = Callable[[bytes, list[dict[str, Any]]], None]
CHECKS: dict[str, Checker] = {
    "csv": lambda data, rows: check_csv(data, TXN_FIELDS, rows),
    "json": lambda data, rows: check_json(data, TXN_FIELDS, rows),
    "json-api": lambda data, rows: check_json_api(data, TXN_FIELDS, rows, "transactions"),
    "xml": lambda data, rows: check_xml(data, TXN_FIELDS, rows, "transactions", "transaction"),
    "pdf": lambda data, rows: check_pdf(data, "Approved renewals", rows),
}


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("fmt", list(CHECKS))
async def test_transactions_in_every_format_match_the_database(
    harness: Harness, tenant: Tenant, fmt: str
) -> None:
    expected = expected_transactions(await table_rows(harness, Transaction, TXN_COLUMNS))
    assert len(expected) >= 10  # a filter that matched nothing would prove little
    assert any(r["description"] is None for r in expected) or any(
        r["billingAddress/firstName"] == "Søren" for r in expected
    )
    done, data = await run_export(
        harness, tenant, {"name": "Approved renewals", "format": fmt, **TXN_BODY}
    )
    assert done["recordCount"] == len(expected)
    extension = {"json-api": "json"}.get(fmt, fmt)
    assert done["_embedded"]["file"]["name"].endswith(f".{extension}")
    CHECKS[fmt](data, expected)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("fmt", ["csv", "pdf"])
async def test_every_row_of_the_tenant_and_no_other(
    harness: Harness, tenant: Tenant, fmt: str
) -> None:
    """No arguments: exactly this organization's rows in id order (the other tenant has rows
    with the very same ids); in csv, formula-looking text is neutralised and negative money
    stays a plain number; the pdf repeats its header on each of its many pages."""
    fields = ["id", "amount", "description", "billingAddress/lastName", "processedTime"]
    rows = await table_rows(harness, Transaction, TXN_COLUMNS)
    mine = sorted((r for r in rows if r["_org"] == "acme"), key=lambda r: r["id"])
    assert len(mine) == 1500
    assert len(rows) == 3000
    body = {"name": "Everything", "resource": "transactions", "format": fmt, "fields": fields}
    done, data = await run_export(harness, tenant, body)
    assert done["recordCount"] == 1500
    if fmt == "pdf":
        assert len(PdfReader(io.BytesIO(data)).pages) > 5
        check_pdf(data, "Everything", mine, header="Billing address last name")
        return
    check_csv(data, fields, mine)
    records = parse_csv(data)[1:]
    assert any(row[2].startswith("'=") for row in records)
    assert any(row[1].startswith("-") for row in records)


CUSTOMER_COLUMNS = {
    "id": "id",
    "email": "email",
    "lastName": "last_name",
    "primaryAddress/country": "primary_country",
    "primaryAddress/city": "primary_city",
    "lifetimeRevenue/amount": "lifetime_revenue_amount",
    "lifetimeRevenue/currency": "lifetime_revenue_currency",
    "isEddRequired": "is_edd_required",
    "createdTime": "created_time",
}


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("fmt", ["json", "xml", "csv"])
async def test_customers_nested_money_booleans_and_text_sort(
    harness: Harness, tenant: Tenant, fmt: str
) -> None:
    fields = list(CUSTOMER_COLUMNS)
    rows = await table_rows(harness, Customer, CUSTOMER_COLUMNS)
    start = RUN_AT - timedelta(days=200)
    expected = sorted(
        (
            r
            for r in rows
            if r["_org"] == "acme"
            and r["primaryAddress/country"] in ("US", "CA", "JP")
            and start <= r["createdTime"] < RUN_AT
        ),
        key=lambda r: (fold(r["lastName"]), r["lastName"], r["id"]),
    )
    assert len(expected) >= 10
    done, data = await run_export(
        harness,
        tenant,
        {
            "name": "Customers",
            "resource": "customers",
            "format": fmt,
            "fields": fields,
            "arguments": {"filter": "primaryAddress.country:us,CA,jp", "sort": "lastName"},
            "dateRange": {"start": "200 days ago", "end": "now"},
        },
    )
    assert done["recordCount"] == len(expected)
    if fmt == "json":
        check_json(data, fields, expected)
    elif fmt == "xml":
        check_xml(data, fields, expected, "customers", "customer")
    else:
        check_csv(data, fields, expected)


INVOICE_COLUMNS = {
    "id": "id",
    "invoiceNumber": "invoice_number",
    "status": "status",
    "subtotalAmount": "subtotal_amount",
    "taxAmount": "tax_amount",
    "amountDue": "amount_due",
    "paidTime": "paid_time",
    "dueTime": "due_time",
}


@pytest.mark.usefixtures("seeded")
async def test_invoices_xml_with_nulls_and_a_chosen_date_field(
    harness: Harness, tenant: Tenant
) -> None:
    fields = list(INVOICE_COLUMNS)
    rows = await table_rows(harness, Invoice, INVOICE_COLUMNS)
    low, high = (
        datetime(2025, 6, 1, tzinfo=RUN_AT.tzinfo),
        datetime(2025, 9, 1, tzinfo=RUN_AT.tzinfo),
    )
    expected = sorted(
        (
            r
            for r in rows
            if r["_org"] == "acme"
            and r["status"] != "paid"
            and r["dueTime"] is not None
            and low <= r["dueTime"] < high
        ),
        key=lambda r: (-r["amountDue"], r["id"]),
    )
    assert len(expected) >= 5
    assert all(r["paidTime"] is None for r in expected)
    done, data = await run_export(
        harness,
        tenant,
        {
            "name": "Open invoices",
            "resource": "invoices",
            "format": "xml",
            "fields": fields,
            "arguments": {"filter": "status:!paid", "sort": "-amountDue"},
            "dateRange": {"start": "2025-06-01", "end": "2025-09-01T00:00:00Z", "field": "dueTime"},
        },
    )
    assert done["recordCount"] == len(expected)
    check_xml(data, fields, expected, "invoices", "invoice")
    assert b"<paidTime/>" in data
