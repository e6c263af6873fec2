"""Every migration can be undone and done again: a rollback of a release is a downgrade.

Found missing: 0009 and 0012 dropped an index a foreign key needed before dropping its
table (MySQL error 1553), so `alembic downgrade` stopped half way.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.conftest import ROOT, RUN_ID, Servers, migrate, new_database


def test_every_migration_downgrades_to_nothing_and_upgrades_again(servers: Servers) -> None:
    name = f"bbp_down_{RUN_ID}"
    admin = sa.create_engine(servers.db_url(), isolation_level="AUTOCOMMIT")
    new_database(admin, name)
    url = servers.db_url(name)
    cfg = Config(str(ROOT / "db" / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["skip_logging"] = True
    engine = sa.create_engine(url)
    try:
        migrate(url)
        command.downgrade(cfg, "base")
        with engine.connect() as conn:
            left = (
                conn.execute(
                    sa.text(
                        "SELECT table_name FROM information_schema.tables"
                        " WHERE table_schema = DATABASE() AND table_name <> 'alembic_version'"
                    )
                )
                .scalars()
                .all()
            )
        assert left == []
        migrate(url)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()
