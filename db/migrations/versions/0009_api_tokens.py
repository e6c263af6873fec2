"""API tokens for machine clients (issue 18): ``api_tokens``, one row per token, belonging
to a registered user (removed with it), with the role it carries, its expiry, its last use
and its revocation. The secret is not stored: ``secret_sha256`` is its SHA-256, and
``public_id`` (the part of the token before the secret) finds the row.

Revision ID: 0009_api_tokens
Revises: 0008_enquiry_checks
Create Date: 2026-12-15 09:00:00.000000+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0009_api_tokens"
down_revision = "0008_enquiry_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=16, collation="utf8mb4_bin"), nullable=False),
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64, collation="utf8mb4_bin"), nullable=False),
        sa.Column(
            "created_at",
            mysql.DATETIME(fsp=6),
            server_default=sa.text("CURRENT_TIMESTAMP(6)"),
            nullable=False,
        ),
        sa.Column("expires_at", mysql.DATETIME(fsp=6), nullable=False),
        sa.Column("last_used_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("last_used_ip", sa.String(length=64), nullable=True),
        sa.Column("revoked_at", mysql.DATETIME(fsp=6), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_reason", sa.String(length=16), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin','superadmin','auditor')", name=op.f("ck_api_tokens_role")
        ),
        sa.CheckConstraint(
            "revoked_reason IN ('owner','superadmin','user_disabled')",
            name=op.f("ck_api_tokens_revoked_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["login_id"],
            ["users.login_id"],
            name=op.f("fk_api_tokens_login_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("public_id", name=op.f("uq_api_tokens_public_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_unicode_ci",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_api_tokens_login_id_id"), "api_tokens", ["login_id", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_api_tokens_login_id_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
