"""Helpers for the accounts tests (integration, e2e, benchmarks)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, insert, select, text, update

from bbp_common.platform.db.tables import audit_log, users


def unique(prefix: str = "") -> str:
    """A fresh digits-only consumer-id stem, so tests sharing the run's database never clash."""
    return prefix + str(uuid.uuid4().int)[:12]


def seed_accounts(
    conn: Connection,
    count: int,
    *,
    utilities: tuple[str, ...],
    prefix: str,
    group_id: int | None = None,
    group_every: int = 10,
) -> None:
    """Insert ``count`` accounts (≤ 1 000 000) in one ``INSERT … SELECT`` from a numbers table
    made of cross-joined digits (portable: no ``seq_1_to_N``, no recursive CTE depth limit).

    Consumer ids are ``prefix`` + 7 digits; labels are scattered (``n * 7919 mod count``) so
    label order differs from id order; every ``group_every``-th account joins ``group_id``.
    """
    digits = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))
    tables = ["a", "b", "c", "d", "e", "f"]
    number = " + ".join(f"{10**i}*{t}.d" for i, t in enumerate(tables))
    joins = " CROSS JOIN ".join(f"({digits}) {t}" for t in tables)
    quoted = ", ".join(f"'{u}'" for u in utilities)
    conn.execute(
        text(
            "INSERT INTO bill_accounts (utility_code, consumer_id, mobile, label, created_by) "
            f"SELECT ELT(1 + n % {len(utilities)}, {quoted}), "
            "CONCAT(:prefix, LPAD(n, 7, '0')), CONCAT('0171', LPAD(n, 7, '0')), "
            "CONCAT('Office ', LPAD((n * 7919) % :count, 7, '0')), 'seed' "
            f"FROM (SELECT {number} AS n FROM {joins}) numbers WHERE n < :count"
        ),
        {"prefix": prefix, "count": count},
    )
    if group_id is not None:
        conn.execute(
            text(
                "INSERT INTO bill_account_groups (bill_account_id, group_id) "
                "SELECT id, :group_id FROM bill_accounts "
                "WHERE consumer_id LIKE :pattern AND MOD(CAST(SUBSTRING(consumer_id, :start) "
                "AS UNSIGNED), :every) = 0"
            ),
            {
                "group_id": group_id,
                "pattern": prefix + "%",
                "start": len(prefix) + 1,
                "every": group_every,
            },
        )


def rows_read(conn: Connection) -> int:
    """Rows the session's handlers read since the last ``FLUSH STATUS`` (MySQL and MariaDB)."""
    status = dict(conn.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'")).all())
    return sum(
        int(v)
        for k, v in status.items()
        if k
        in (
            "Handler_read_first",
            "Handler_read_key",
            "Handler_read_last",
            "Handler_read_next",
            "Handler_read_prev",
            "Handler_read_rnd",
            "Handler_read_rnd_next",
        )
    )


def sign_in(client: FlaskClient, role: str, login_id: str | None = None) -> FlaskClient:
    """Register ``login_id`` with ``role`` and give ``client`` a signed-in session, as the
    sign-in views leave it (``user`` and ``auth`` times), without Mobiquity."""
    login_id = login_id or f"acc-{role}"
    engine = client.application.extensions["bbp.engine"]
    with engine.begin() as conn:
        updated = conn.execute(
            update(users).where(users.c.login_id == login_id).values(role=role, active=True)
        ).rowcount
        if not updated:
            conn.execute(
                insert(users).values(
                    login_id=login_id,
                    email=f"{login_id}@example.com",
                    role=role,
                    created_by="tests",
                )
            )
    now = time.time()
    with client.session_transaction() as session:
        session["user"] = {"login_id": login_id, "role": role, "language": "en"}
        session["auth"] = {"at": now, "seen": now}
    return client


def upload_refusals(engine: Engine, count: int = 1) -> list[dict[str, Any]]:
    """The audit details of the last ``count`` refused bulk uploads, the newest first."""
    with engine.connect() as conn:
        details = conn.execute(
            select(audit_log.c.details)
            .where(
                audit_log.c.action == "accounts.upload.validate", audit_log.c.outcome == "refused"
            )
            .order_by(audit_log.c.id.desc())
            .limit(count)
        ).scalars()
        return [json.loads(d) for d in details]
