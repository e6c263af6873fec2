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

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

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
TABLE = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
}


def _now() -> sa.TextClause:
    return sa.text("CURRENT_TIMESTAMP(6)")


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.Column("uploaded_at", mysql.DATETIME(fsp=6), server_default=_now(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=4), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("report_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("period_from", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("period_to", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "file_format IN ('csv','xlsx')", name=op.f("ck_reconciliations_file_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliations")),
        **TABLE,
    )
    op.create_index(
        op.f("ix_reconciliations_uploaded_at"), "reconciliations", ["uploaded_at"], unique=False
    )
    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=False),
        sa.Column("class", sa.String(length=24), nullable=False),
        sa.Column("reference_id", sa.String(length=64, collation="utf8mb4_bin"), nullable=True),
        sa.Column("payment_id", sa.BigInteger(), nullable=True),
        sa.Column("line_no", sa.Integer(), nullable=True),
        sa.Column("report_lines", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("report_status", sa.String(length=8), nullable=True),
        sa.Column("report_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("report_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("our_state", sa.String(length=12), nullable=True),
        sa.Column("our_amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=True),
        sa.CheckConstraint(
            "class IN ('" + "','".join(CLASSES) + "')",
            name=op.f("ck_reconciliation_items_class"),
        ),
        sa.CheckConstraint(
            "report_status IS NULL OR report_status IN ('paid','failed','pending')",
            name=op.f("ck_reconciliation_items_report_status"),
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('paid','not_paid')",
            name=op.f("ck_reconciliation_items_outcome"),
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_reconciliation_items_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliations.id"],
            name=op.f("fk_reconciliation_items_reconciliation_id_reconciliations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_items")),
        **TABLE,
    )
    op.create_index(
        op.f("ix_reconciliation_items_reconciliation_id_class_id"),
        "reconciliation_items",
        ["reconciliation_id", "class", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_reconciliation_items_payment_id"),
        "reconciliation_items",
        ["payment_id"],
        unique=False,
    )
    op.create_table(
        "double_payment_alarms",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("reconciliation_id", sa.BigInteger(), nullable=True),
        sa.Column("raised_at", mysql.DATETIME(fsp=6), server_default=_now(), nullable=False),
        sa.Column("cleared_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("cleared_by", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name=op.f("fk_double_payment_alarms_payment_id_payments"),
        ),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliations.id"],
            name=op.f("fk_double_payment_alarms_reconciliation_id_reconciliations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_double_payment_alarms")),
        **TABLE,
    )
    op.create_index(
        op.f("ix_double_payment_alarms_payment_id_cleared_at"),
        "double_payment_alarms",
        ["payment_id", "cleared_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_double_payment_alarms_cleared_at_id"),
        "double_payment_alarms",
        ["cleared_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("double_payment_alarms")
    op.drop_table("reconciliation_items")
    op.drop_table("reconciliations")
