"""The correlation id of the portal request that created a bulk request: the scheduler stamps
it on every command of the request, so one id follows the work portal → RabbitMQ → scheduler →
communicator → Mobiquity call log.

Create Date: 2026-11-25 23:15:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_request_correlation"
down_revision = "0004_notification_retries"


def upgrade() -> None:
    op.add_column("bulk_requests", sa.Column("correlation_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("bulk_requests", "correlation_id")
