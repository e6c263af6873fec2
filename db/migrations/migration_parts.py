"""The spellings every migration's tables share, written once: the table options (utf8mb4,
InnoDB), the surrogate ``id``, the creation and update timestamps, and the names the
naming convention gives keys, indexes and checks (``pk_<table>``, ``ix_<table>_<columns>``,
``fk_<table>_<column>_<target>``, ``ck_<table>_<what>``).

Migrations are history: what a revision emits must never change once it has run anywhere.
So this module holds only spellings whose DDL is fixed — a new need is a new function, never
a changed one. Replacing the hand-written spellings in 0001..0010 with these changed no byte
of the schema (``mysqldump --no-data`` of a database migrated before and after, and the
``alembic upgrade --sql`` text, compared equal).

Importable as ``migration_parts``: ``db/alembic.ini`` puts this folder on ``sys.path``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

#: Every table: utf8mb4 with the Unicode collation, InnoDB (transactions, foreign keys).
TABLE_OPTIONS = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_unicode_ci",
    "mysql_engine": "InnoDB",
}

#: A moment in microseconds (every timestamp column of ours).
MOMENT = mysql.DATETIME(fsp=6)

#: Money: DECIMAL(14,2).
MONEY = sa.Numeric(precision=14, scale=2)


def create_table(name: str, *parts: Any) -> None:
    """``op.create_table`` with the options every table of ours has."""
    op.create_table(name, *parts, **TABLE_OPTIONS)


def surrogate_id(type_: type[sa.types.TypeEngine[int]] = sa.BigInteger) -> sa.Column[Any]:
    """The auto-increment ``id`` a table's primary key is made of."""
    return sa.Column("id", type_(), autoincrement=True, nullable=False)


def stamped(name: str = "created_at") -> sa.Column[Any]:
    """A moment the database fills in when the row is inserted."""
    return sa.Column(name, MOMENT, server_default=sa.text("CURRENT_TIMESTAMP(6)"), nullable=False)


def updated_at() -> sa.Column[Any]:
    """The moment the database sets on every change of the row."""
    return sa.Column(
        "updated_at",
        MOMENT,
        server_default=sa.text("CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)"),
        nullable=False,
    )


def moment(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    """A moment column the application fills in."""
    return sa.Column(name, MOMENT, nullable=nullable)


def primary_key(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    """The table's primary key (``id`` unless said), named ``pk_<table>``."""
    return sa.PrimaryKeyConstraint(*(columns or ("id",)), name=op.f(f"pk_{table}"))


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    """A unique key named ``uq_<table>_<columns>``."""
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def check(table: str, what: str, condition: str) -> sa.CheckConstraint:
    """A CHECK named ``ck_<table>_<what>``."""
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{what}"))


def references(
    table: str, column: str, target: str, target_column: str = "id", **options: str
) -> sa.ForeignKeyConstraint:
    """A foreign key named ``fk_<table>_<column>_<target>`` (``options``: ``ondelete``)."""
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.{target_column}"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        **options,
    )


def create_index(table: str, *columns: str) -> None:
    """A plain (not unique) index named ``ix_<table>_<columns>``."""
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns), unique=False)


def drop_index(table: str, *columns: str) -> None:
    """Drops the index :func:`create_index` made on these columns."""
    op.drop_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table_name=table)


def replace_check(table: str, name: str, condition: str) -> None:
    """Replaces a CHECK constraint (a CHECK cannot be altered in place)."""
    # DROP CONSTRAINT: the one spelling both MariaDB and MySQL 8 (≥ 8.0.19) accept.
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    op.create_check_constraint(op.f(name), table, condition)
