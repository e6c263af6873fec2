"""Matching a report to our payments: set-based, in one transaction.

The report's lines go into a temporary table (``reconcile_report_lines``, private to this
connection; clustered by reference id, ``''`` for none, so grouping reads it in order and the
"missing" check finds a reference by its key) in chunks of multi-row INSERTs; then three
statements class every reference id:

1. the lines grouped by reference id, joined to ``payments`` by ``reference_id`` (unique
   index), each group given its class by one ``CASE`` — a reference id may be on several
   lines (one paid and any number of refusals): the group says ``paid`` if any line is
   paid, else ``pending`` if any is neither paid nor failed, else ``failed``. Every class
   but ``matched`` is written as an item; ``matched`` (most of a report, nothing to do) is
   only counted — writing 160 000 rows that need no one's look was most of the time
   (``docs/decisions.md``);
2. the lines without a reference id: each one ``not_ours``;
3. our ``posted``/``succeeded`` payments sent within the report's window that no line names:
   ``missing_from_report`` (listed for a person; the payment never moves).

Then one statement raises the double-payment alarms (``AlarmStore.raise_from``). Per-line
queries would cost a round trip each: 200 000 lines took minutes that way; this takes seconds
(``bench/reconcile_report.py``, ``docs/benchmarks.md``).

The classes (``RECONCILIATION_CLASSES``), for a reference id of ours in state S whose lines say R:

* ``double_payment_alarm``: S failed, unsent or cancelled and R paid or pending;
* ``definitive_for_open``: S ambiguous or uncleared and R paid or failed (``outcome``
  ``paid``/``not_paid``: the hint a person resolving it sees; never applied here);
* ``pending_in_report``: S ambiguous or uncleared and R pending (nothing definitive yet);
* ``failed_in_report``: S posted or succeeded and R failed (a person looks; nothing moves);
* ``amount_differs``: R paid with another amount than our total;
* ``matched``: everything else (succeeded/posted and paid or pending, failed and failed, …).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection

from bbp_common.core.stores.alarms import AlarmStore
from bbp_portal.reconcile.reading import Line

TEMP = "reconcile_report_lines"
#: Lines per multi-row INSERT (PyMySQL rewrites executemany into one statement per chunk).
CHUNK = 5_000

_CREATE = (
    f"CREATE TEMPORARY TABLE {TEMP} ("
    " line_no INT NOT NULL,"
    " reference_id VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,"
    " transaction_id VARCHAR(64) NULL,"
    " status VARCHAR(8) NOT NULL,"
    " amount DECIMAL(14,2) NULL,"
    " at DATETIME(6) NULL,"
    " PRIMARY KEY (reference_id, line_no)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
)
_INSERT = f"INSERT INTO {TEMP} VALUES (%s, %s, %s, %s, %s, %s)"
_ITEM_COLUMNS = (
    "reconciliation_id, class, reference_id, payment_id, line_no, report_lines,"
    " transaction_id, report_status, report_amount, report_at, our_state, our_amount, outcome"
)
_OPEN = "('ambiguous','uncleared')"
_CLASSIFY = f"""
INSERT INTO reconciliation_items ({_ITEM_COLUMNS})
SELECT * FROM (
SELECT %s AS reconciliation_id,
  CASE
    WHEN p.id IS NULL THEN 'not_ours'
    WHEN p.state IN ('failed','unsent','cancelled') AND g.rs IN ('paid','pending')
      THEN 'double_payment_alarm'
    WHEN p.state IN {_OPEN} AND g.rs IN ('paid','failed') THEN 'definitive_for_open'
    WHEN p.state IN {_OPEN} THEN 'pending_in_report'
    WHEN p.state IN ('posted','succeeded') AND g.rs = 'failed' THEN 'failed_in_report'
    WHEN g.rs = 'paid' AND g.amount <> p.total THEN 'amount_differs'
    ELSE 'matched'
  END AS class,
  g.reference_id, p.id AS payment_id, g.line_no, g.n, g.transaction_id, g.rs, g.amount, g.at,
  p.state, p.total,
  CASE WHEN p.state IN {_OPEN} THEN
    CASE g.rs WHEN 'paid' THEN 'paid' WHEN 'failed' THEN 'not_paid' END
  END AS outcome
FROM (
  SELECT reference_id, MIN(line_no) AS line_no, COUNT(*) AS n,
    CASE WHEN SUM(status = 'paid') > 0 THEN 'paid'
         WHEN SUM(status = 'pending') > 0 THEN 'pending' ELSE 'failed' END AS rs,
    COALESCE(MAX(CASE WHEN status = 'paid' THEN amount END), MAX(amount)) AS amount,
    COALESCE(MAX(CASE WHEN status = 'paid' THEN transaction_id END), MAX(transaction_id))
      AS transaction_id,
    COALESCE(MAX(CASE WHEN status = 'paid' THEN at END), MAX(at)) AS at
  FROM {TEMP} WHERE reference_id <> '' GROUP BY reference_id
) g LEFT JOIN payments p ON p.reference_id = g.reference_id
) c WHERE c.class <> 'matched'
"""
_GROUPS = f"SELECT COUNT(DISTINCT reference_id) FROM {TEMP} WHERE reference_id <> ''"
_UNREFERENCED = f"""
INSERT INTO reconciliation_items ({_ITEM_COLUMNS})
SELECT %s, 'not_ours', NULL, NULL, line_no, 1, transaction_id, status, amount, at, NULL, NULL,
  NULL
FROM {TEMP} WHERE reference_id = ''
"""
_MISSING = f"""
INSERT INTO reconciliation_items ({_ITEM_COLUMNS})
SELECT %s, 'missing_from_report', p.reference_id, p.id, NULL, 0, p.order_id, NULL, NULL, NULL,
  p.state, p.total, NULL
FROM payments p
WHERE p.state IN ('posted','succeeded')
  AND COALESCE(p.sending_at, p.dispatched_at, p.created_at) >= %s
  AND COALESCE(p.sending_at, p.dispatched_at, p.created_at) < %s
  AND NOT EXISTS (SELECT 1 FROM {TEMP} l WHERE l.reference_id = p.reference_id)
"""
_COUNTS = (
    "SELECT class, COUNT(*) FROM reconciliation_items WHERE reconciliation_id = %s GROUP BY class"
)


def load_lines(conn: Connection, lines: Iterable[Line]) -> int:
    """The report's lines into the temporary table (made anew); how many."""
    conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {TEMP}")
    conn.exec_driver_sql(_CREATE)
    batch: list[Line] = []
    count = 0
    for line in lines:
        batch.append(line)
        if len(batch) >= CHUNK:
            conn.exec_driver_sql(_INSERT, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(_INSERT, batch)
        count += len(batch)
    return count


def classify(
    conn: Connection, reconciliation_id: int, window: tuple[datetime, datetime] | None
) -> tuple[dict[str, int], int]:
    """Class every reference id of the loaded lines, and our payments missing from them
    (only within ``window``, UTC, when given); raise the alarms. Returns (counts per class,
    alarms raised) and drops the temporary table."""
    try:
        listed = int(conn.exec_driver_sql(_CLASSIFY, (reconciliation_id,)).rowcount)
        matched = int(conn.exec_driver_sql(_GROUPS).scalar_one()) - listed
        conn.exec_driver_sql(_UNREFERENCED, (reconciliation_id,))
        if window is not None:
            conn.exec_driver_sql(_MISSING, (reconciliation_id, window[0], window[1]))
    finally:
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {TEMP}")
    raised = AlarmStore(conn).raise_from(reconciliation_id)
    counts = {str(c): int(n) for c, n in conn.exec_driver_sql(_COUNTS, (reconciliation_id,))}
    counts["matched"] = matched
    return counts, raised


__all__ = ["CHUNK", "TEMP", "classify", "load_lines"]
