"""Notifications: one row per e-mail or SMS (with its delivery state), and which payments a
notification already reported (uncleared ones batched per request; the payment-submitted SMS).

Create Date: 2026-11-25 19:47:05.388979+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_notifications"
down_revision = "0002_accounts"


def upgrade() -> None:
    parts.create_table(
        "notifications",
        parts.surrogate_id(),
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
        parts.stamped(),
        parts.moment("sent_at"),
        sa.Column("resent_by", sa.String(length=64), nullable=True),
        parts.moment("resent_at"),
        parts.updated_at(),
        parts.check("notifications", "channel", "channel IN ('email','sms')"),
        parts.check("notifications", "language", "language IN ('en','bn')"),
        parts.check("notifications", "state", "state IN ('pending','sent','failed','dead')"),
        parts.primary_key("notifications"),
        parts.unique("notifications", "notification_id"),
    )
    parts.create_index("notifications", "request_id")
    parts.create_index("notifications", "state", "id")
    parts.create_table(
        "notified_payments",
        sa.Column("payment_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("notification_id", sa.String(length=36), nullable=True),
        parts.stamped(),
        parts.references("notified_payments", "payment_id", "payments"),
        parts.primary_key("notified_payments", "payment_id", "purpose"),
    )


def downgrade() -> None:
    op.drop_table("notified_payments")
    parts.drop_index("notifications", "state", "id")
    parts.drop_index("notifications", "request_id")
    op.drop_table("notifications")
