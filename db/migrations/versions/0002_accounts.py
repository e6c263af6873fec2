"""Accounts: keyset-pagination indexes on bill_accounts, the bulk-upload staging tables.

Each list order of bill accounts is a unique key and has its own index, with and without
the utility filter; uploads are staged (rows and per-cell errors) between validate and import.

Create Date: 2026-11-25 19:00:56.681536+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0002_accounts"
down_revision = "0001"


def upgrade() -> None:
    parts.create_table(
        "account_uploads",
        parts.surrogate_id(),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("file_format", sa.String(length=4), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="validated", nullable=False),
        sa.Column("total_rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("valid_rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_rows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("imported_rows", sa.Integer(), nullable=True),
        parts.stamped(),
        parts.moment("expires_at", nullable=False),
        parts.moment("finished_at"),
        parts.check("account_uploads", "file_format", "file_format IN ('csv','xlsx')"),
        parts.check("account_uploads", "state", "state IN ('validated','imported','discarded')"),
        parts.primary_key("account_uploads"),
    )
    parts.create_index("account_uploads", "created_by", "id")
    parts.create_index("account_uploads", "expires_at")
    parts.create_table(
        "account_upload_errors",
        parts.surrogate_id(),
        sa.Column("upload_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("column_letter", sa.String(length=3), server_default="", nullable=False),
        sa.Column("column_name", sa.String(length=32), server_default="", nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), server_default="", nullable=False),
        parts.references(
            "account_upload_errors", "upload_id", "account_uploads", ondelete="CASCADE"
        ),
        parts.primary_key("account_upload_errors"),
    )
    parts.create_index("account_upload_errors", "upload_id", "line", "id")
    parts.create_table(
        "account_upload_rows",
        sa.Column("upload_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), server_default="", nullable=False),
        sa.Column("consumer_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("mobile", sa.String(length=15), server_default="", nullable=False),
        sa.Column("label", sa.String(length=120), server_default="", nullable=False),
        sa.Column("group_ids", sa.String(length=500), server_default="", nullable=False),
        parts.references("account_upload_rows", "upload_id", "account_uploads", ondelete="CASCADE"),
        parts.primary_key("account_upload_rows", "upload_id", "line"),
    )
    parts.drop_index("bill_accounts", "consumer_id")
    parts.drop_index("bill_accounts", "label")
    parts.create_index("bill_accounts", "active", "id")
    parts.create_index("bill_accounts", "consumer_id", "utility_code")
    parts.create_index("bill_accounts", "label", "id")
    parts.create_index("bill_accounts", "utility_code", "id")
    parts.create_index("bill_accounts", "utility_code", "label", "id")


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping those first would fail on MySQL (an index
    # a foreign key needs cannot be dropped on its own).
    parts.drop_index("bill_accounts", "utility_code", "label", "id")
    parts.drop_index("bill_accounts", "utility_code", "id")
    parts.drop_index("bill_accounts", "label", "id")
    parts.drop_index("bill_accounts", "consumer_id", "utility_code")
    parts.drop_index("bill_accounts", "active", "id")
    parts.create_index("bill_accounts", "label")
    parts.create_index("bill_accounts", "consumer_id")
    op.drop_table("account_upload_rows")
    op.drop_table("account_upload_errors")
    op.drop_table("account_uploads")
