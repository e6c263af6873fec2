"""One door per state table: only the stores write payments, requests, fetch items, their
events, the wallet breaker and the makers' days (and only ``tallies`` writes the tallies,
for the stores).

A static scan of every module of the libraries and services, for SQLAlchemy constructs and
SQL text that write one of these tables. A new writer anywhere else fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [ROOT / "libs", ROOT / "services"]

#: Table → the modules (relative to the repository) allowed to write it.
DOORS = {
    "payments": {"libs/common/src/bbp_common/core/stores/payments.py"},
    "payment_events": {"libs/common/src/bbp_common/core/stores/payments.py"},
    "bulk_requests": {"libs/common/src/bbp_common/core/stores/requests.py"},
    "request_events": {"libs/common/src/bbp_common/core/stores/requests.py"},
    "fetch_items": {"libs/common/src/bbp_common/core/stores/fetch_items.py"},
    "wallet_breaker": {"libs/common/src/bbp_common/core/stores/breaker.py"},
    "maker_days": {"libs/common/src/bbp_common/core/stores/maker_days.py"},
    "request_tallies": {"libs/common/src/bbp_common/core/tallies.py"},
    "double_payment_alarms": {"libs/common/src/bbp_common/core/stores/alarms.py"},
}


def writers(text: str, table: str) -> list[str]:
    """Every place in ``text`` that writes ``table`` (SQLAlchemy or SQL text)."""
    patterns = [
        rf"\b(?:update|insert|delete)\(\s*{table}\b",
        rf"\b{table}\.(?:update|insert|delete)\(",
        rf"(?i:\bUPDATE\s+{table}\b)",
        rf"(?i:\bINSERT\s+(?:IGNORE\s+)?INTO\s+{table}\b)",
        rf"(?i:\bREPLACE\s+INTO\s+{table}\b)",
        rf"(?i:\bDELETE\s+FROM\s+{table}\b)",
        rf"\b(?:update_by_id)\([^)]*[\"']{table}[\"']",
    ]
    found = []
    for pattern in patterns:
        found += [m.group(0) for m in re.finditer(pattern, text)]
    return found


def test_the_scan_sees_each_way_of_writing_a_table() -> None:
    """The scan itself: if it missed these, the real test below could not fail."""
    for code in (
        "conn.execute(update(payments).values(state='x'))",
        "conn.execute(insert(payments).values(state='x'))",
        "payments.update().where(...)",
        'conn.exec_driver_sql("UPDATE payments SET state = %s")',
        'conn.exec_driver_sql("insert into payments (id) values (1)")',
        'update_by_id(conn, "payments", rows)',
    ):
        assert writers(code, "payments"), code
    assert not writers("select(payments.c.id)", "payments")
    assert not writers('"SELECT id FROM payments WHERE state = %s"', "payments")
    assert not writers("update(payment_anomalies)", "payments")


@pytest.mark.parametrize("table", sorted(DOORS))
def test_only_its_store_writes_a_state_table(table: str) -> None:
    offenders = []
    for source in SOURCES:
        for path in source.rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/tests/" in relative or relative in DOORS[table]:
                continue
            found = writers(path.read_text(encoding="utf-8"), table)
            if found:
                offenders.append(f"{relative}: {found}")
    assert offenders == [], f"{table} is written outside its store: " + "; ".join(offenders)
