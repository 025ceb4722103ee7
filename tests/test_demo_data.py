"""The deterministic data generator behind demos, tests and the benchmark."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app import demo_data
from app.models import Base, Customer, Invoice, InvoiceItem, Subscription, Transaction
from tests.conftest import Harness
from tests.exports.conftest import ANCHOR

MODELS: dict[str, type[Base]] = {
    "customers": Customer,
    "subscriptions": Subscription,
    "invoices": Invoice,
    "invoiceItems": InvoiceItem,
    "transactions": Transaction,
}


async def snapshot(harness: Harness, organization_id: str) -> dict[str, list[tuple[Any, ...]]]:
    result: dict[str, list[tuple[Any, ...]]] = {}
    async with harness.session() as session:
        for name, model in MODELS.items():
            table = model.__table__
            rows = await session.execute(
                select(table).where(table.c.organization_id == organization_id).order_by(table.c.id)
            )
            result[name] = [tuple(row) for row in rows]
    return result


async def wipe(harness: Harness, organization_id: str) -> None:
    async with harness.session() as session:
        for model in MODELS.values():
            table = model.__table__
            await session.execute(delete(table).where(table.c.organization_id == organization_id))
        await session.commit()


async def gen(harness: Harness, organization_id: str = "acme", **kwargs: Any) -> dict[str, int]:
    kwargs.setdefault("customers", 40)
    kwargs.setdefault("transactions", 300)
    kwargs.setdefault("anchor", ANCHOR)
    async with harness.session() as session:
        return await demo_data.generate(session, organization_id=organization_id, **kwargs)


async def test_same_organization_and_anchor_give_the_same_rows(harness: Harness) -> None:
    added = await gen(harness)
    assert added == {
        "customers": 40,
        "subscriptions": 24,
        "invoices": 150,
        "invoiceItems": 300,
        "transactions": 300,
    }
    first = await snapshot(harness, "acme")
    assert {name: len(rows) for name, rows in first.items()} == added
    await wipe(harness, "acme")
    await gen(harness)
    assert await snapshot(harness, "acme") == first

    await gen(harness, "globex")
    other = await snapshot(harness, "globex")
    assert [r[1] for r in other["transactions"]] == [r[1] for r in first["transactions"]]  # ids
    assert [r[2:] for r in other["transactions"]] != [r[2:] for r in first["transactions"]]

    await wipe(harness, "acme")
    await gen(harness, anchor=ANCHOR + timedelta(days=1))
    shifted = await snapshot(harness, "acme")
    assert shifted != first
    assert len(shifted["transactions"]) == 300


async def test_running_again_tops_up_without_duplicates(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_data, "CHUNK", 64)  # so top-ups start and end mid-chunk
    await gen(harness, customers=30, transactions=150)
    assert await gen(harness, customers=30, transactions=150) == dict.fromkeys(MODELS, 0)
    added = await gen(harness, customers=70, transactions=333)
    assert added == {
        "customers": 40,
        "subscriptions": 24,
        "invoices": 91,
        "invoiceItems": 183,
        "transactions": 183,
    }
    topped = await snapshot(harness, "acme")
    ids = [row[1] for row in topped["transactions"]]
    assert ids == [f"txn_{i:010d}" for i in range(333)]
    assert len({row[1] for row in topped["customers"]}) == 70

    # With the same sizes of the tables it refers to, a row depends only on (organization, i):
    # topping a table up gives the very rows generating it at once would.
    await wipe(harness, "acme")
    for size in (10, 64, 65, 200, 333):
        await gen(harness, customers=70, transactions=size, resources=("transactions",))
    await gen(harness, customers=70, transactions=0, resources=("customers",))
    stepwise = await snapshot(harness, "acme")
    await wipe(harness, "acme")
    await gen(harness, customers=70, transactions=333, resources=("transactions", "customers"))
    assert await snapshot(harness, "acme") == stepwise


async def test_only_the_named_resources(harness: Harness) -> None:
    added = await gen(harness, transactions=500, resources=("transactions",))
    assert added == {"transactions": 500}
    counts = {name: len(rows) for name, rows in (await snapshot(harness, "acme")).items()}
    assert counts == {**dict.fromkeys(MODELS, 0), "transactions": 500}
    with pytest.raises(ValueError, match="unknown resources"):
        await gen(harness, resources=("payments",))


async def test_rows_are_plausible(harness: Harness) -> None:
    await gen(harness, customers=50, transactions=2000)
    async with harness.session() as session:
        txns = list(await session.scalars(select(Transaction)))
        customers = list(await session.scalars(select(Customer)))
    earliest = ANCHOR - timedelta(days=demo_data.HISTORY_DAYS)
    for t in txns:
        assert t.type in {"sale", "authorize", "capture", "refund", "void", "credit"}
        assert t.result in {"approved", "declined", "abandoned", "canceled", "unknown"}
        assert (t.amount < 0) == (t.type in {"refund", "credit"})
        assert (t.processed_time is None) == (t.status == "pending")
        assert earliest <= t.created_time <= ANCHOR
        assert t.updated_time >= t.created_time
        assert t.customer_id < "cus_000000050"
    assert {t.result for t in txns} >= {"approved", "declined"}
    assert any(t.description and t.description.startswith("=") for t in txns)
    assert any(not c.email.isascii() or not c.last_name.isascii() for c in customers)
    assert len({c.email for c in customers}) == 50


async def test_ten_thousand_transactions_quickly(harness: Harness) -> None:
    began = time.perf_counter()
    added = await gen(harness, customers=200, transactions=10_000)
    elapsed = time.perf_counter() - began
    assert added["transactions"] == 10_000
    assert sum(added.values()) == demo_data.total_rows(200, 10_000)
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Transaction)) == 10_000
    assert elapsed < 15, f"10k transactions (and their invoices) took {elapsed:.1f}s"


async def test_rows_are_coherent_for_finance(harness: Harness) -> None:
    """Nothing happens after the anchor (the generation's now), an invoice number carries the
    year it was issued in, and `past-due` means due and unpaid: due in the past, while open
    invoices fall due after the anchor."""
    await gen(harness, customers=200, transactions=3000)
    async with harness.session() as session:
        invoices = list(await session.scalars(select(Invoice)))
        items = list(await session.scalars(select(InvoiceItem)))
        txns = list(await session.scalars(select(Transaction)))
        subs = list(await session.scalars(select(Subscription)))
        customers = list(await session.scalars(select(Customer)))
    statuses = {i.status for i in invoices}
    assert {"paid", "unpaid", "past-due", "draft"} <= statuses
    assert len({i.invoice_number[4:8] for i in invoices}) >= 2  # 400 days span two years
    for inv in invoices:
        issued = inv.issued_time or inv.created_time
        assert inv.invoice_number.startswith(f"INV-{issued.year}-"), inv.invoice_number
        assert (inv.issued_time is None) == (inv.status == "draft")
        if inv.status == "past-due":
            assert inv.due_time is not None
            assert inv.due_time < ANCHOR
        if inv.status in ("unpaid", "partially-paid"):
            assert inv.due_time is not None
            assert inv.due_time >= ANCHOR
        if inv.issued_time is not None:
            assert inv.due_time == inv.issued_time + demo_data.INVOICE_TERMS
            assert inv.created_time <= inv.issued_time
        assert (inv.paid_time is not None) == (inv.status == "paid")
        if inv.paid_time is not None:
            assert inv.issued_time is not None
            assert inv.issued_time <= inv.paid_time
        for moment in (inv.created_time, inv.updated_time, inv.issued_time, inv.paid_time):
            assert moment is None or moment <= ANCHOR, inv.id
        assert inv.created_time <= inv.updated_time
    for item in items:
        assert item.issued_time is not None
        assert item.created_time <= item.issued_time <= ANCHOR
    for t in txns:
        assert t.created_time <= t.updated_time <= ANCHOR
        assert t.processed_time is None or t.created_time <= t.processed_time <= ANCHOR
    for s in subs:
        assert s.created_time <= s.updated_time <= ANCHOR
        ended = s.status in ("canceled", "churned")
        assert (s.canceled_time is not None) == ended
        assert s.canceled_time is None or s.created_time <= s.canceled_time <= ANCHOR
        assert (s.renewal_time is None) == ended  # the one time ahead: the next renewal
        assert s.renewal_time is None or s.renewal_time > ANCHOR
    for c in customers:
        assert c.created_time <= c.updated_time <= ANCHOR
