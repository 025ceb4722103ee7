"""Deterministic, realistic billing data for demos, tests and benchmarks, inserted in bulk.

Row i of each table depends only on (organization, i, anchor) and the sizes of the tables it
refers to, so re-running tops a table up to the requested size instead of duplicating it.
The anchor is the generation's "now": nothing has happened after it (only a subscription's
next renewal lies ahead), an invoice's number carries the year it was issued in, and an
invoice is `past-due` exactly when its due date has passed unpaid.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Base, Customer, Invoice, InvoiceItem, Subscription, Transaction

CHUNK = 5000
HISTORY_DAYS = 400
INVOICE_TERMS = timedelta(days=30)
"""Net 30: an invoice is due this long after it is issued."""

FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Ken",
    "Margaret",
    "Linus",
    "Radia",
    "Donald",
    "Frances",
    "John",
    "Hedy",
    "Tim",
    "Katherine",
    "Dennis",
    "Zoë",
    "José",
    "Søren",
    "Anaïs",
    "Ольга",
    "美咲",
)
LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Torvalds",
    "Perlman",
    "Knuth",
    "Allen",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Ritchie",
    "O'Brien",
    "García",
    "Kierkegaard",
    "Nin",
    "Иванова",
    "佐藤",
)
PLACES = (
    ("US", "New York"),
    ("US", "Austin"),
    ("CA", "Montréal"),
    ("GB", "London"),
    ("DE", "Berlin"),
    ("FR", "Paris"),
    ("NL", "Amsterdam"),
    ("JP", "東京"),
    ("BR", "São Paulo"),
    ("AU", "Sydney"),
)
CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "GBP", "CAD")
GATEWAYS = ("Stripe", "Adyen", "Braintree", "PayPal", "Worldpay", "Authorize.net")
METHODS = ("payment-card", "payment-card", "payment-card", "ach", "paypal", "bank-transfer")
PLANS = ("basic-monthly", "pro-monthly", "pro-annual", "team-monthly", "enterprise-annual")
PRODUCTS = ("seat", "storage-100gb", "support-plus", "onboarding", "api-calls-1m")


def _rng(organization_id: str, table: str, chunk: int) -> random.Random:
    return random.Random(f"{organization_id}:{table}:{chunk}")


def _time(rng: random.Random, anchor: datetime, days: int = HISTORY_DAYS) -> datetime:
    return anchor - timedelta(seconds=rng.randrange(days * 86400))


def _later(rng: random.Random, start: datetime, most: timedelta, anchor: datetime) -> datetime:
    """A moment up to `most` after `start`, but never after the anchor."""
    span = min(most, anchor - start)
    return start + timedelta(seconds=rng.randrange(max(int(span.total_seconds()), 0) + 1))


def _customer(org: str, i: int, rng: random.Random, anchor: datetime) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    country, city = rng.choice(PLACES)
    created = _time(rng, anchor)
    return {
        "organization_id": org,
        "id": f"cus_{i:09d}",
        "email": f"{first}.{last}.{i}@example.com".lower().replace("'", ""),
        "first_name": first,
        "last_name": last,
        "primary_country": country,
        "primary_city": city,
        "lifetime_revenue_amount": rng.randrange(0, 2_000_000),
        "lifetime_revenue_currency": rng.choice(CURRENCIES),
        "is_edd_required": rng.random() < 0.05,
        "created_time": created,
        "updated_time": _later(rng, created, timedelta(hours=2000), anchor),
    }


def _transaction(
    org: str, i: int, rng: random.Random, anchor: datetime, customers: int
) -> dict[str, Any]:
    kind = rng.choices(
        ("sale", "authorize", "capture", "refund", "void", "credit"), weights=(70, 8, 8, 8, 3, 3)
    )[0]
    result = rng.choices(
        ("approved", "declined", "abandoned", "canceled", "unknown"), weights=(82, 12, 3, 2, 1)
    )[0]
    status = {
        "approved": "completed",
        "declined": "completed",
        "abandoned": "abandoned",
        "canceled": "canceled",
        "unknown": "pending",
    }[result]
    if kind == "void" and result == "approved":
        status = "voided"
    elif kind == "refund" and result == "approved":
        status = "refunded"
    first, last = rng.choice(FIRST), rng.choice(LAST)
    created = _time(rng, anchor)
    amount = int(rng.lognormvariate(8.0, 1.1)) + 100
    return {
        "organization_id": org,
        "id": f"txn_{i:010d}",
        "customer_id": f"cus_{rng.randrange(max(customers, 1)):09d}",
        "invoice_id": f"inv_{i // 2:010d}" if rng.random() < 0.6 else None,
        "type": kind,
        "status": status,
        "result": result,
        "amount": -amount if kind in ("refund", "credit") else amount,
        "currency": rng.choice(CURRENCIES),
        "gateway_name": rng.choice(GATEWAYS),
        "payment_method": rng.choice(METHODS),
        "billing_first_name": first,
        "billing_last_name": last,
        "billing_country": rng.choice(PLACES)[0],
        "description": rng.choice(
            (f"Order #{i}", f"Renewal of {rng.choice(PLANS)}", "Top-up", "=cmd|' /C calc'!A0", None)
        ),
        # Clamped rather than drawn below the anchor: the same draws as ever, so the rows
        # other tests pick by filter stay the rows they were (only the last hours move).
        "processed_time": min(created + timedelta(seconds=rng.randrange(1, 90)), anchor)
        if status != "pending"
        else None,
        "created_time": created,
        "updated_time": min(created + timedelta(minutes=rng.randrange(600)), anchor),
    }


def _subscription(
    org: str, i: int, rng: random.Random, anchor: datetime, customers: int
) -> dict[str, Any]:
    created = _time(rng, anchor)
    status = rng.choices(
        ("active", "pending", "paused", "canceled", "churned", "abandoned"),
        weights=(60, 5, 5, 15, 10, 5),
    )[0]
    ended = status in ("canceled", "churned")  # nothing left to renew
    canceled = _later(rng, created, timedelta(days=200), anchor) if ended else None
    return {
        "organization_id": org,
        "id": f"sub_{i:09d}",
        "customer_id": f"cus_{rng.randrange(max(customers, 1)):09d}",
        "plan_id": rng.choice(PLANS),
        "status": status,
        "quantity": rng.randrange(1, 25),
        "billing_country": rng.choice(PLACES)[0],
        "renewal_time": anchor + timedelta(days=rng.randrange(1, 365)) if not ended else None,
        "canceled_time": canceled,
        "created_time": created,
        "updated_time": max(canceled or created, _later(rng, created, timedelta(days=30), anchor)),
    }


def _invoice(
    org: str, i: int, rng: random.Random, anchor: datetime, customers: int
) -> dict[str, Any]:
    subtotal = rng.randrange(500, 500_000)
    tax = subtotal * rng.choice((0, 5, 8, 20)) // 100
    status = rng.choices(
        ("paid", "unpaid", "partially-paid", "past-due", "draft", "voided", "abandoned"),
        weights=(65, 12, 5, 8, 4, 4, 2),
    )[0]
    # Open invoices are recent (due within TERMS of the anchor), past-due ones older than that.
    if status in ("unpaid", "partially-paid"):
        created = _time(rng, anchor, INVOICE_TERMS.days)
    elif status == "past-due":
        created = _time(rng, anchor - INVOICE_TERMS - timedelta(days=3), HISTORY_DAYS - 33)
    else:
        created = _time(rng, anchor)
    amount = subtotal + tax
    due = {"paid": 0, "partially-paid": amount // 2, "voided": 0, "abandoned": 0}.get(
        status, amount
    )
    issued = None if status == "draft" else _later(rng, created, timedelta(hours=48), anchor)
    paid = _later(rng, issued, INVOICE_TERMS, anchor) if issued and status == "paid" else None
    return {
        "organization_id": org,
        "id": f"inv_{i:010d}",
        "customer_id": f"cus_{rng.randrange(max(customers, 1)):09d}",
        "subscription_id": f"sub_{rng.randrange(max(customers, 1)):09d}"
        if rng.random() < 0.7
        else None,
        "invoice_number": f"INV-{(issued or created).year}-{i:07d}",
        "status": status,
        "currency": rng.choice(CURRENCIES),
        "subtotal_amount": subtotal,
        "tax_amount": tax,
        "amount": amount,
        "amount_due": due,
        "issued_time": issued,
        "due_time": issued + INVOICE_TERMS if issued else None,
        "paid_time": paid,
        "created_time": created,
        "updated_time": _later(rng, paid or issued or created, timedelta(days=10), anchor),
    }


def _invoice_item(
    org: str, i: int, rng: random.Random, anchor: datetime, invoices: int
) -> dict[str, Any]:
    created = _time(rng, anchor)
    quantity = rng.randrange(1, 10)
    unit = rng.randrange(100, 50_000)
    kind = "credit" if rng.random() < 0.08 else "debit"
    product = rng.choice(PRODUCTS)
    return {
        "organization_id": org,
        "id": f"itm_{i:010d}",
        "invoice_id": f"inv_{rng.randrange(max(invoices, 1)):010d}",
        "type": kind,
        "description": f"{product} x {quantity}",
        "quantity": quantity,
        "unit_price": unit,
        "amount": (-1 if kind == "credit" else 1) * unit * quantity,
        "currency": rng.choice(CURRENCIES),
        "product_id": product,
        "issued_time": _later(rng, created, timedelta(hours=1), anchor),
        "created_time": created,
    }


async def _top_up(
    session: AsyncSession,
    model: type[Base],
    organization_id: str,
    target: int,
    make: Callable[[int, random.Random], dict[str, Any]],
    progress: Callable[[int], None],
) -> int:
    table = cast(Table, model.__table__)
    have = await session.scalar(
        select(func.count()).select_from(table).where(table.c.organization_id == organization_id)
    )
    start = have or 0
    for rows in _chunks(organization_id, table.name, start, target, make):
        await session.execute(insert(table), rows)
        await session.commit()
        progress(len(rows))
    return max(target - start, 0)


def _chunks(
    organization_id: str,
    table: str,
    start: int,
    target: int,
    make: Callable[[int, random.Random], dict[str, Any]],
) -> Iterator[list[dict[str, Any]]]:
    """Rows `start`..`target`-1 of a table, CHUNK at a time, each chunk drawing from its own
    seeded generator (so a partial chunk's missing rows are the ones it would have had)."""
    for chunk_start in range(start - start % CHUNK, target, CHUNK):
        rng = _rng(organization_id, table, chunk_start // CHUNK)
        rows = [make(i, rng) for i in range(chunk_start, min(chunk_start + CHUNK, target))]
        rows = rows[max(start - chunk_start, 0) :]  # rows of a partial chunk already exist
        if rows:
            yield rows


def _plan(customers: int, transactions: int) -> dict[str, int]:
    return {
        "customers": customers,
        "subscriptions": customers * 3 // 5,
        "invoices": transactions // 2,
        "invoiceItems": transactions,
        "transactions": transactions,
    }


def total_rows(customers: int, transactions: int) -> int:
    return sum(_plan(customers, transactions).values())


async def generate(
    session: AsyncSession,
    *,
    organization_id: str,
    customers: int,
    transactions: int,
    anchor: datetime,
    progress: Callable[[int], None] = lambda n: None,
    resources: Collection[str] | None = None,
) -> dict[str, int]:
    """Top every resource (or only those named in `resources`) up to its planned size;
    returns how many rows were added."""
    plan = _plan(customers, transactions)
    unknown = set(resources or ()) - set(plan)
    if unknown:
        raise ValueError(f"unknown resources: {', '.join(sorted(unknown))}")
    added: dict[str, int] = {}
    for name, (model, make) in _makers(organization_id, customers, transactions, anchor).items():
        if resources is not None and name not in resources:
            continue
        added[name] = await _top_up(session, model, organization_id, plan[name], make, progress)
    return added


Maker = Callable[[int, random.Random], dict[str, Any]]


def _makers(
    org: str, customers: int, transactions: int, anchor: datetime
) -> dict[str, tuple[type[Base], Maker]]:
    invoices = _plan(customers, transactions)["invoices"]
    return {
        "customers": (Customer, lambda i, r: _customer(org, i, r, anchor)),
        "subscriptions": (Subscription, lambda i, r: _subscription(org, i, r, anchor, customers)),
        "invoices": (Invoice, lambda i, r: _invoice(org, i, r, anchor, customers)),
        "invoiceItems": (InvoiceItem, lambda i, r: _invoice_item(org, i, r, anchor, invoices)),
        "transactions": (Transaction, lambda i, r: _transaction(org, i, r, anchor, customers)),
    }


def planned_rows(
    resource: str,
    *,
    organization_id: str,
    customers: int,
    transactions: int,
    anchor: datetime,
    start: int = 0,
) -> tuple[Table, Iterator[list[dict[str, Any]]]]:
    """The table of `resource` and the rows `generate` would insert into it from row `start`
    on, a chunk at a time: for loaders that insert them their own way (bench/export.py)."""
    model, make = _makers(organization_id, customers, transactions, anchor)[resource]
    target = _plan(customers, transactions)[resource]
    table = cast(Table, model.__table__)
    return table, _chunks(organization_id, table.name, start, target, make)
