"""API tokens for machine clients (issue 18): ``api_tokens``, one row per token, belonging
to a registered user (removed with it), with the role it carries, its expiry, its last use
and its revocation. The secret is not stored: ``secret_sha256`` is its SHA-256, and
``public_id`` (the part of the token before the secret) finds the row.

Create Date: 2026-12-15 09:00:00.000000+00:00
"""

from __future__ import annotations

import migration_parts as parts
import sqlalchemy as sa
from alembic import op

revision = "0009_api_tokens"
down_revision = "0008_enquiry_checks"


def upgrade() -> None:
    parts.create_table(
        "api_tokens",
        parts.surrogate_id(),
        sa.Column("public_id", sa.String(length=16, collation="utf8mb4_bin"), nullable=False),
        sa.Column("login_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64, collation="utf8mb4_bin"), nullable=False),
        parts.stamped(),
        parts.moment("expires_at", nullable=False),
        parts.moment("last_used_at"),
        sa.Column("last_used_ip", sa.String(length=64), nullable=True),
        parts.moment("revoked_at"),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.Column("revoked_reason", sa.String(length=16), nullable=True),
        parts.check("api_tokens", "role", "role IN ('admin','superadmin','auditor')"),
        parts.check(
            "api_tokens",
            "revoked_reason",
            "revoked_reason IN ('owner','superadmin','user_disabled')",
        ),
        parts.references("api_tokens", "login_id", "users", "login_id", ondelete="CASCADE"),
        parts.primary_key("api_tokens"),
        parts.unique("api_tokens", "public_id"),
    )
    parts.create_index("api_tokens", "login_id", "id")


def downgrade() -> None:
    op.drop_table("api_tokens")  # its indexes go with it
