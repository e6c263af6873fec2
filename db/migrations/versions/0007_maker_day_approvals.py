"""Approvals on by default (issue 17): ``maker_days``, the per-maker, per-Asia/Dhaka-day row a
new payment request locks before its maker's day is summed against the daily approval limit;
``bulk_requests.approval_reason`` (why a payment request waits: request_limit, daily_limit,
step_up); an index on ``bulk_requests (created_by, created_at)`` for that sum.

Create Date: 2026-12-08 09:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0007_maker_day_approvals"
down_revision = "0006_payment_store"


def upgrade() -> None:
    op.add_column(
        "bulk_requests", sa.Column("approval_reason", sa.String(length=64), nullable=True)
    )
    parts.create_index("bulk_requests", "created_by", "created_at")
    parts.create_table(
        "maker_days",
        sa.Column("maker", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), server_default="0", nullable=False),
        parts.stamped(),
        parts.updated_at(),
        parts.primary_key("maker_days", "maker", "day"),
    )


def downgrade() -> None:
    op.drop_table("maker_days")
    parts.drop_index("bulk_requests", "created_by", "created_at")
    op.drop_column("bulk_requests", "approval_reason")
