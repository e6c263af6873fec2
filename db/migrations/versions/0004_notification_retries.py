"""Notification retries scheduled by the scheduler: the current command's id, the retries
scheduled so far and when the next one is due (a transient failure comes back later through
the outbox instead of being requeued at once).

Create Date: 2026-11-27 10:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0004_notification_retries"
down_revision = "0003_notifications"


def upgrade() -> None:
    op.add_column(
        "notifications",
        sa.Column("retries", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("notifications", sa.Column("command_id", sa.String(length=64), nullable=True))
    op.add_column("notifications", parts.moment("next_attempt_at"))


def downgrade() -> None:
    op.drop_column("notifications", "next_attempt_at")
    op.drop_column("notifications", "command_id")
    op.drop_column("notifications", "retries")
