"""The migrated database is exactly bbp_common.platform.db.tables (what `alembic check`
checks): a table, column, index or type added on one side only fails here."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bbp_common.platform.db.tables import metadata


def test_migrations_and_tables_agree(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []
