"""An export tells its own story: its latest error and its progress

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 18:00:00

`last_error_*` hold the latest attempt's error as a stable code and a fixed safe message (never
the exception's text); `rows_written` and `rows_total` hold a running export's progress.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS: tuple[tuple[str, Any], ...] = (
    ("last_error_code", sa.String(length=40)),
    ("last_error_message", sa.String(length=200)),
    ("last_error_time", sa.DateTime()),
    ("rows_written", sa.BigInteger()),
    ("rows_total", sa.BigInteger()),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("data_exports", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_exports") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
