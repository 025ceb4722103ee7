"""CSV for Excel: an export's CSV dialect

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 20:00:00

`csv_dialect` is `excel` (the file starts with a UTF-8 byte-order mark) or null, the plain
RFC 4180 file every existing export keeps producing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("data_exports", sa.Column("csv_dialect", sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_exports") as batch:
        batch.drop_column("csv_dialect")
