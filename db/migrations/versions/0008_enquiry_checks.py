"""Enquiries a person can see and ask for (issue 17): ``enquiry_total`` (how many enquiries
the scheduler's schedule holds, written with each enquiry's bookkeeping, so the portal shows
"2 of 5" without reading the scheduler's setting); "check now" — one extra enquiry a
superadmin asks for, not counted among them (``check_requested_at/by``; ``check_resume_at``
keeps the regular enquiry's due time it displaced) and its answer (``check_outcome``,
``check_answered_at``: on an uncleared payment it is only recorded, for the person who
resolves it).

Create Date: 2026-12-07 08:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0008_enquiry_checks"
down_revision = "0007_maker_day_approvals"

COLUMNS = (
    ("enquiry_total", sa.SmallInteger()),
    ("check_requested_at", parts.MOMENT),
    ("check_requested_by", sa.String(length=64)),
    ("check_resume_at", parts.MOMENT),
    ("check_outcome", sa.String(length=16)),
    ("check_answered_at", parts.MOMENT),
)


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("payments", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _type in reversed(COLUMNS):
        op.drop_column("payments", name)
