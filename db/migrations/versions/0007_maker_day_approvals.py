"""Approvals on by default (issue 17): ``maker_days``, the per-maker, per-Asia/Dhaka-day row a
new payment request locks before its maker's day is summed against the daily approval limit;
``bulk_requests.approval_reason`` (why a payment request waits: request_limit, daily_limit,
step_up); an index on ``bulk_requests (created_by, created_at)`` for that sum.

Revision ID: 0007_maker_day_approvals
Revises: 0006_payment_store
Create Date: 2026-12-08 09:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007_maker_day_approvals"
down_revision = "0006_payment_store"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "bulk_requests", sa.Column("approval_reason", sa.String(length=64), nullable=True)
    )
    op.create_index(
        op.f("ix_bulk_requests_created_by_created_at"),
        "bulk_requests",
        ["created_by", "created_at"],
        unique=False,
    )
    op.create_table(
        "maker_days",
        sa.Column("maker", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("maker", "day", name=op.f("pk_maker_days")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("maker_days")
    op.drop_index(op.f("ix_bulk_requests_created_by_created_at"), table_name="bulk_requests")
    op.drop_column("bulk_requests", "approval_reason")
