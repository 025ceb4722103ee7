"""A PDF export end to end (REST → worker → file) over the demo data: the page header holds
the period the relative `dateRange` resolved to at run time, and the first page's count and
totals per currency equal SQL's own COUNT and SUM over the same rows."""

from __future__ import annotations

import io
import re
from datetime import datetime
from decimal import Decimal

import pypdfium2 as pdfium
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.models import Customer
from tests.conftest import Harness, Tenant
from tests.exports.test_worker_formats import RUN_AT, run_export, seeded  # noqa: F401

LAST_MONTH = datetime(2026, 2, 1, tzinfo=RUN_AT.tzinfo)
THIS_MONTH = datetime(2026, 3, 1, tzinfo=RUN_AT.tzinfo)
BODY = {
    "name": "Customers of February",
    "resource": "customers",
    "format": "pdf",
    "fields": [
        "id",
        "firstName",
        "lastName",
        "primaryAddress/city",
        "lifetimeRevenue/amount",
        "lifetimeRevenue/currency",
        "createdTime",
    ],
    "arguments": {"filter": "isEddRequired:false", "sort": "lastName"},
    "dateRange": {"start": "last month", "end": "start of this month"},
}


@pytest.mark.usefixtures("seeded")
async def test_pdf_header_count_and_totals_match_sql(harness: Harness, tenant: Tenant) -> None:
    in_range = (
        Customer.organization_id == "acme",
        Customer.is_edd_required.is_(False),
        Customer.created_time >= LAST_MONTH,
        Customer.created_time < THIS_MONTH,
    )
    async with harness.session() as session:
        sums = {
            currency: Decimal(cents).scaleb(-2)
            for currency, cents in await session.execute(
                select(
                    Customer.lifetime_revenue_currency,
                    func.sum(Customer.lifetime_revenue_amount),
                )
                .where(*in_range)
                .group_by(Customer.lifetime_revenue_currency)
            )
        }
        count = await session.scalar(select(func.count()).where(*in_range)) or 0
        names = list(
            await session.execute(select(Customer.first_name, Customer.last_name).where(*in_range))
        )
    assert count >= 5
    assert len(sums) >= 2

    done, data = await run_export(harness, tenant, BODY)
    assert done["recordCount"] == count
    reader = PdfReader(io.BytesIO(data))
    texts = [page.extract_text().replace("\x00", "") for page in reader.pages]
    for number, text in enumerate(texts, start=1):
        assert "Customers of February" in text
        assert "Resource: customers" in text
        assert "Period: 2026-02-01 00:00 UTC to 2026-03-01 00:00 UTC, by created time" in text
        assert "Filter: isEddRequired:false" in text
        assert "Sort: lastName" in text
        assert "Generated: 2026-03-05 15:30 UTC" in text  # the run's clock (patched)
        assert f"page {number} of {len(texts)}" in text
        assert "Lifetime revenue amount" in text
        assert "lifetimeRevenue" not in text
    assert f"Records: {count:,}" in texts[0]
    line = re.search(r"Total lifetime revenue amount: (.*)", texts[0])
    assert line is not None
    found = {c: Decimal(a) for c, a in re.findall(r"([A-Z]{3}) (-?\d+\.\d\d)", line[1])}
    assert found == sums
    layer = "\n".join(texts)
    for first, last in names:
        assert first in layer
        assert last in layer

    document = pdfium.PdfDocument(data)
    try:
        image = document[0].render(scale=2).to_pil().convert("L")
    finally:
        document.close()
    width, height = image.size
    assert sum(image.crop((0, 0, width, height // 6)).histogram()[:160]) > 2000
