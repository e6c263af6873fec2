"""Database access shared by the services: engine, tables, transactions."""

from bbp_common.platform.db.engine import db_now, make_engine, ping, utcnow

__all__ = ["db_now", "make_engine", "ping", "utcnow"]
