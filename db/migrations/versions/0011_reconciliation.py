"""Reconciliation with Mobiquity's transaction report (issue 18, item 1).

* ``reconciliations``: one uploaded report, its column mapping, window and counts per class;
* ``reconciliation_items``: one reference id of a reconciliation in its class;
* ``double_payment_alarms``: a payment of ours that failed or was never sent which the report
  shows paid; "pay again" refuses its bill until a superadmin clears the alarm.

Revision ID: 0011_reconciliation
Revises: 0010_scheduled_payments
Create Date: 2026-12-06 10:30:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0011_reconciliation"
down_revision = "0010_scheduled_payments"
branch_labels = None
depends_on = None

CLASSES = (
    "matched",
    "amount_differs",
    "not_ours",
    "missing_from_report",
    "double_payment_alarm",
    "definitive_for_open",
    "failed_in_report",
    "pending_in_report",
)

def upgrade() -> None:
    parts.create_table(
        "reconciliations",
        parts.surrogate_id(),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        parts.stamped("uploaded_at"),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=4), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("report_lines", sa.Integer(), server_default="0", nullable=False),
        parts.moment("period_from"),
        parts.moment("period_to"),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), server_default="0", nullable=False),
        parts.check("reconciliations", "file_format", "file_format IN ('csv','xlsx')"),
        parts.primary_key("reconciliations"),
    )
    parts.create_index("reconciliations", "uploaded_at")
    parts.create_table(
        "reconciliation_items",
        parts.surrogate_id(),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=False),
        sa.Column("class", sa.String(length=24), nullable=False),
        sa.Column("reference_id", sa.String(length=64, collation="utf8mb4_bin"), nullable=True),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("report_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("report_status", sa.String(length=8), nullable=True),
        sa.Column("report_amount", parts.MONEY, nullable=True),
        parts.moment("report_at"),
        sa.Column("our_state", sa.String(length=12), nullable=True),
        sa.Column("our_amount", parts.MONEY, nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        parts.check("reconciliation_items", "class", "class IN ('" + "','".join(CLASSES) + "')"),
        parts.check(
            "reconciliation_items",
            "report_status",
            "report_status IS NULL OR report_status IN ('paid','failed','pending')",
        ),
        parts.check(
            "reconciliation_items", "outcome", "outcome IS NULL OR outcome IN ('paid','not_paid')"
        ),
        parts.references("reconciliation_items", "payment_id", "payments"),
        parts.references("reconciliation_items", "reconciliation_id", "reconciliations"),
        parts.primary_key("reconciliation_items"),
    )
    parts.create_index("reconciliation_items", "reconciliation_id", "class", "id")
    parts.create_index("reconciliation_items", "payment_id")
    parts.create_table(
        "double_payment_alarms",
        parts.surrogate_id(),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=True),
        parts.stamped("raised_at"),
        parts.moment("cleared_at"),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        parts.references("double_payment_alarms", "payment_id", "payments"),
        parts.references("double_payment_alarms", "reconciliation_id", "reconciliations"),
        parts.primary_key("double_payment_alarms"),
    )
    parts.create_index("double_payment_alarms", "payment_id", "cleared_at")
    parts.create_index("double_payment_alarms", "cleared_at", "id")


def downgrade() -> None:
    op.drop_table("double_payment_alarms")
    op.drop_table("reconciliation_items")
    op.drop_table("reconciliations")
