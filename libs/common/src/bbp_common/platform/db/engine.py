"""SQLAlchemy engine for MySQL 8 / MariaDB ≥ 10.6 through PyMySQL.

Every connection runs in UTC and READ COMMITTED: the queue-like tables (outbox, items,
payments) are claimed with ``FOR UPDATE SKIP LOCKED``, where READ COMMITTED avoids gap locks
between concurrent claimers. Times are read from the database's clock
(``UTC_TIMESTAMP(6)``) wherever two processes must agree on them (deadlines, leases).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from bbp_common.platform.settings import DatabaseSettings


def make_engine(
    settings: DatabaseSettings, *, lock_wait_timeout: int | None = None, **kwargs: object
) -> Engine:
    """The process's engine: pre-ping, pool sizes from settings, UTC, utf8mb4.

    ``lock_wait_timeout`` (seconds) shortens InnoDB's 50 s lock wait for processes that
    would rather retry than wait.
    """
    url = make_url(settings.database_url.get_secret_value())
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    options: dict[str, object] = {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": int(settings.db_pool_recycle),
        "pool_timeout": settings.db_pool_timeout,
        "isolation_level": "READ COMMITTED",
        "connect_args": {
            "init_command": "SET time_zone = '+00:00'"
            + (
                f", innodb_lock_wait_timeout = {int(lock_wait_timeout)}"
                if lock_wait_timeout
                else ""
            )
        },
    }
    options.update(kwargs)
    return create_engine(url, **options)


def utcnow() -> datetime:
    """Naive UTC now, the form every DATETIME(6) column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def db_now(conn: Connection) -> datetime:
    """The database's clock, the one every process agrees on."""
    now: datetime = conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    return now


def ping(engine: Engine) -> None:
    """Raise if the database does not answer (readiness checks)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
