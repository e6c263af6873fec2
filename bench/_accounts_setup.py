"""Shared set-up of the accounts benchmarks: a migrated database of their own, the app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/bbp_bench_accounts"


def database_url() -> str:
    """BBP_BENCH_DATABASE_URL, or a local database of the benchmarks' own (never dev's)."""
    return os.environ.get("BBP_BENCH_DATABASE_URL", DEFAULT_URL)


def prepare() -> str:
    """Create the database if needed and migrate it to head."""
    from alembic import command
    from alembic.config import Config

    url = make_url(database_url())
    server = sa.create_engine(url.set(database=""), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(
            sa.text(
                f"CREATE DATABASE IF NOT EXISTS `{url.database}` "
                "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )
        )
    server.dispose()
    cfg = Config(str(ROOT / "db" / "alembic.ini"))
    cfg.attributes["url"] = database_url()
    cfg.attributes["skip_logging"] = True
    command.upgrade(cfg, "head")
    return database_url()


def make_app():  # type: ignore[no-untyped-def]
    from bbp_portal import create_app
    from bbp_portal.audit_trail import SYSTEM
    from bbp_portal.billers.service import BillerInput, seed_billers
    from tests.support.portal import base_settings

    settings = base_settings(
        database_url=prepare(),
        redis_url=os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        log_level="WARNING",
    )
    app = create_app(settings, TESTING=True, WTF_CSRF_ENABLED=False)
    with app.extensions["bbp.engine"].begin() as conn:
        seed_billers(
            conn,
            SYSTEM,
            [
                BillerInput(code, code, "01700000000", 1, code)
                for code in ("DSCO", "DESCO", "JGDCL", "TTAS", "MILA", "MILB")
            ],
        )
    return app


def signed_in(app, role: str = "admin"):  # type: ignore[no-untyped-def]
    from tests.support.accounts import sign_in

    return sign_in(app.test_client(), role, f"bench-{role}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def seeded_accounts(conn: sa.Connection, prefix: str) -> int:
    """How many bill accounts a benchmark seeded (their consumer ids start with ``prefix``)."""
    from bbp_common.platform.db.tables import bill_accounts

    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(bill_accounts)
            .where(bill_accounts.c.consumer_id.like(prefix + "%"))
        ).scalar_one()
    )


def seed_fetch_request(conn: sa.Connection, *, state: str, mark: str, items: int) -> int:
    """A benchmark's fetch request (its ``selection`` is ``mark``, how a later run finds it),
    made by ``bench-admin``; returns its id. Its items are inserted by the caller."""
    from bbp_common.platform.db.tables import bulk_requests

    return int(
        conn.execute(
            sa.insert(bulk_requests).values(
                kind="fetch",
                state=state,
                created_by="bench-admin",
                selection=mark,
                total_items=items,
            )
        ).inserted_primary_key[0]
    )
