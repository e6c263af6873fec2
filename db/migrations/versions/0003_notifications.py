"""Notifications: one row per e-mail or SMS (with its delivery state), and which payments a
notification already reported (uncleared ones batched per request; the payment-submitted SMS).

Revision ID: 0003_notifications
Revises: 0002_accounts
Create Date: 2026-11-25 19:47:05.388979+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_notifications"
down_revision = "0002_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=2), server_default="en", nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("params", mysql.MEDIUMTEXT(), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(length=8), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("sent_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("resent_by", sa.String(length=64), nullable=True),
        sa.Column("resent_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column(
            "updated_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.CheckConstraint("channel IN ('email','sms')", name=op.f("ck_notifications_channel")),
        sa.CheckConstraint("language IN ('en','bn')", name=op.f("ck_notifications_language")),
        sa.CheckConstraint(
            "state IN ('pending','sent','failed','dead')", name=op.f("ck_notifications_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_notifications_notification_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_notifications_request_id"), "notifications", ["request_id"], unique=False
    )
    op.create_index(
        op.f("ix_notifications_state_id"), "notifications", ["state", "id"], unique=False
    )
    op.create_table(
        "notified_payments",
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("notification_id", sa.String(length=36), nullable=True),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_notified_payments_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("payment_id", "purpose", name=op.f("pk_notified_payments")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("notified_payments")
    op.drop_index(op.f("ix_notifications_state_id"), table_name="notifications")
    op.drop_index(op.f("ix_notifications_request_id"), table_name="notifications")
    op.drop_table("notifications")
