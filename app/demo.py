"""Organizations, users, keys and demo data: what `seed-demo` and `create-api-key` do."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from app.auth import issue_api_key
from app.demo_data import generate, total_rows
from app.exports import service
from app.exports.validation import validate_export
from app.ids import new_id
from app.models import ApiKey, DataExport, Organization, User, utcnow

DEMO_ORGANIZATION = "demo"
DEMO_USERS = (
    ("ada@example.com", "Ada", "Lovelace", frozenset({"read", "write"})),
    ("grace@example.com", "Grace", "Hopper", frozenset({"read"})),
)
DEMO_EXPORTS = (
    {
        "name": "Last month's transactions",
        "resource": "transactions",
        "format": "csv",
        "dateRange": {
            "start": "first day of last month midnight",
            "end": "first day of this month midnight",
        },
        "arguments": {"filter": "result:approved", "sort": "-amount"},
    },
    {"name": "All customers", "resource": "customers", "format": "json"},
    {
        "name": "Unpaid invoices",
        "resource": "invoices",
        "format": "pdf",
        "arguments": {"filter": "status:unpaid,past-due"},
    },
    {
        "name": "Nightly transactions",
        "resource": "transactions",
        "format": "xml",
        "dateRange": {"start": "yesterday", "end": "today"},
        "recurring": {"instruction": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0;BYSECOND=0"},
    },
    {
        "name": "Subscriptions for the API",
        "resource": "subscriptions",
        "format": "json-api",
        "fields": ["id", "planId", "status", "quantity", "billingAddress/country"],
    },
)


def _advance(bar: tqdm[Any], rows: int) -> None:
    bar.update(rows)


async def ensure_user(
    session: AsyncSession, *, organization_id: str, email: str, first: str = "", last: str = ""
) -> User:
    """The organization and user, created when missing."""
    if await session.get(Organization, organization_id) is None:
        session.add(Organization(id=organization_id, name=organization_id, created_time=utcnow()))
        await session.flush()
    user = await session.scalar(
        select(User).where(User.organization_id == organization_id, User.email == email)
    )
    if user is None:
        user = User(
            id=new_id("usr"),
            organization_id=organization_id,
            email=email,
            first_name=first,
            last_name=last,
            created_time=utcnow(),
        )
        session.add(user)
        await session.flush()
    return user


def write_keys_file(path: Path, lines: list[str]) -> None:
    """Keys exist only as hashes in the database: keep the demo ones for later starts (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    path.chmod(0o600)


async def seed_demo(
    session: AsyncSession,
    *,
    organization_id: str,
    customers: int,
    transactions: int,
    pepper: str,
    keys_file: Path | None,
    show_progress: bool = True,
) -> list[str]:
    """Idempotent: users and exports are created once, data topped up; returns new key lines."""
    key_lines: list[str] = []
    users: list[User] = []
    for email, first, last, _ in DEMO_USERS:
        user = await ensure_user(
            session, organization_id=organization_id, email=email, first=first, last=last
        )
        users.append(user)
    await session.commit()
    for user, (email, _, _, permissions) in zip(users, DEMO_USERS, strict=True):
        if await session.scalar(select(ApiKey.id).where(ApiKey.user_id == user.id)) is None:
            secret = await issue_api_key(session, user=user, permissions=permissions, pepper=pepper)
            key_lines.append(f"{','.join(sorted(permissions))} key for {email}: {secret}")
    await session.commit()
    if key_lines and keys_file is not None:
        write_keys_file(keys_file, key_lines)

    anchor = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with tqdm(
        total=total_rows(customers, transactions),
        desc="demo data",
        unit="rows",
        disable=not show_progress,
        leave=False,
    ) as bar:
        await generate(
            session,
            organization_id=organization_id,
            customers=customers,
            transactions=transactions,
            anchor=anchor,
            progress=lambda n: _advance(bar, n),
        )

    has_exports = await session.scalar(
        select(DataExport.id).where(DataExport.organization_id == organization_id).limit(1)
    )
    if has_exports is None:
        now = utcnow()
        for body in DEMO_EXPORTS:
            await service.create_export(
                session,
                organization_id=organization_id,
                user_id=users[0].id,
                spec=validate_export(body, now=now),
            )
        await session.commit()
    return key_lines
