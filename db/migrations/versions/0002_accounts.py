"""Accounts: keyset-pagination indexes on bill_accounts, the bulk-upload staging tables.

Each list order of bill accounts is a unique key and has its own index, with and without
the utility filter; uploads are staged (rows and per-cell errors) between validate and import.

Revision ID: 0002_accounts
Revises: 0001
Create Date: 2026-11-25 19:00:56.681536+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002_accounts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_uploads",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
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
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("finished_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.CheckConstraint(
            "file_format IN ('csv','xlsx')", name=op.f("ck_account_uploads_file_format")
        ),
        sa.CheckConstraint(
            "state IN ('validated','imported','discarded')", name=op.f("ck_account_uploads_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_uploads")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_account_uploads_created_by_id"),
        "account_uploads",
        ["created_by", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_account_uploads_expires_at"), "account_uploads", ["expires_at"], unique=False
    )
    op.create_table(
        "account_upload_errors",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("upload_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("column_letter", sa.String(length=3), server_default="", nullable=False),
        sa.Column("column_name", sa.String(length=32), server_default="", nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["account_uploads.id"],
            name=op.f("fk_account_upload_errors_upload_id_account_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_upload_errors")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_account_upload_errors_upload_id_line_id"),
        "account_upload_errors",
        ["upload_id", "line", "id"],
        unique=False,
    )
    op.create_table(
        "account_upload_rows",
        sa.Column("upload_id", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("utility_code", sa.String(length=16), server_default="", nullable=False),
        sa.Column("consumer_id", sa.String(length=64), server_default="", nullable=False),
        sa.Column("mobile", sa.String(length=15), server_default="", nullable=False),
        sa.Column("label", sa.String(length=120), server_default="", nullable=False),
        sa.Column("group_ids", sa.String(length=500), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["account_uploads.id"],
            name=op.f("fk_account_upload_rows_upload_id_account_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("upload_id", "line", name=op.f("pk_account_upload_rows")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.drop_index(op.f("ix_bill_accounts_consumer_id"), table_name="bill_accounts")
    op.drop_index(op.f("ix_bill_accounts_label"), table_name="bill_accounts")
    op.create_index(
        op.f("ix_bill_accounts_active_id"), "bill_accounts", ["active", "id"], unique=False
    )
    op.create_index(
        op.f("ix_bill_accounts_consumer_id_utility_code"),
        "bill_accounts",
        ["consumer_id", "utility_code"],
        unique=False,
    )
    op.create_index(
        op.f("ix_bill_accounts_label_id"), "bill_accounts", ["label", "id"], unique=False
    )
    op.create_index(
        op.f("ix_bill_accounts_utility_code_id"),
        "bill_accounts",
        ["utility_code", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_bill_accounts_utility_code_label_id"),
        "bill_accounts",
        ["utility_code", "label", "id"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; dropping those first would fail on MySQL (an index
    # a foreign key needs cannot be dropped on its own).
    op.drop_index(op.f("ix_bill_accounts_utility_code_label_id"), table_name="bill_accounts")
    op.drop_index(op.f("ix_bill_accounts_utility_code_id"), table_name="bill_accounts")
    op.drop_index(op.f("ix_bill_accounts_label_id"), table_name="bill_accounts")
    op.drop_index(op.f("ix_bill_accounts_consumer_id_utility_code"), table_name="bill_accounts")
    op.drop_index(op.f("ix_bill_accounts_active_id"), table_name="bill_accounts")
    op.create_index(op.f("ix_bill_accounts_label"), "bill_accounts", ["label"], unique=False)
    op.create_index(
        op.f("ix_bill_accounts_consumer_id"), "bill_accounts", ["consumer_id"], unique=False
    )
    op.drop_table("account_upload_rows")
    op.drop_table("account_upload_errors")
    op.drop_table("account_uploads")
