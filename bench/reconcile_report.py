"""Benchmark: matching Mobiquity's transaction report (issue 18, item 1; goal ≤ 10 s for a
200 000-line CSV).

Seeds, once, a database of its own (``BBP_BENCH_DATABASE_URL``, default
``bbp_bench_reconcile``) with ``--payments`` payments in a spread of states (written with
plain SQL and foreign-key checks off: a benchmark's fixture, not the portal's way), writes a
report in the sandbox's layout (``sandbox.mobiquity.report.HEADERS``) naming them — most
paid with our amount, some with another amount, some failed, some lines missing, some lines
not ours — and times ``bbp_portal.reconcile.service.reconcile`` on it, read from disk as the
portal reads an upload: the whole path (reading, loading the lines, the set-based matching,
the alarms), and each part. Then the same for an XLSX report of ``--xlsx-lines`` lines.
Not run by CI::

    .venv/bin/python bench/reconcile_report.py [--lines 200000] [--xlsx-lines 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault(
    "BBP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/bbp_bench_reconcile"
)

import sqlalchemy as sa
from _accounts_setup import prepare
from _cpu import cpu_seconds, pids_of
from pydantic import SecretStr

from bbp_common.platform.db import make_engine
from bbp_common.platform.settings import DatabaseSettings
from bbp_portal.audit_trail import Actor
from bbp_portal.files.limits import REPORTS
from bbp_portal.reconcile import matching, service
from bbp_portal.reconcile.reading import ColumnMapping
from sandbox.mobiquity.report import HEADERS

WHO = Actor("bench", "admin")
#: Today (UTC): the seeded payments were sent today, so the missing lines are looked for.
PERIOD = service.Period(datetime.now(UTC).date(), datetime.now(UTC).date())
#: seq % 20 → state (most posted or succeeded, the rest spread over the other classes' states)
STATES = (
    "CASE seq % 20 WHEN 0 THEN 'failed' WHEN 1 THEN 'uncleared' WHEN 2 THEN 'ambiguous'"
    " WHEN 3 THEN 'unsent' WHEN 4 THEN 'succeeded' WHEN 5 THEN 'succeeded' ELSE 'posted' END"
)


def reference(n: int) -> str:
    return f"BR{n:012d}"


def total(n: int) -> str:
    return f"{100 + n % 900}.25"


def seed(engine: sa.Engine, count: int) -> None:
    with engine.begin() as conn:
        have = conn.execute(sa.text("SELECT COUNT(*) FROM payments")).scalar_one()
        if have >= count:
            return
        conn.execute(sa.text("SET SESSION foreign_key_checks = 0"))
        conn.execute(sa.text("DELETE FROM reconciliation_items"))
        conn.execute(sa.text("DELETE FROM double_payment_alarms"))
        conn.execute(sa.text("DELETE FROM payments"))
        for start in range(0, count, 50_000):
            end = min(count, start + 50_000)
            conn.execute(
                sa.text(
                    "INSERT INTO payments (request_id, bill_id, reference_id, bill_account_id,"
                    " utility_code, consumer_id, bill_number, amount, total, state, sending_at)"
                    f" SELECT 1, seq, CONCAT('BR', LPAD(seq, 12, '0')), 1, 'DSCO',"
                    f" CONCAT('C', seq), CONCAT('B', seq), 100 + seq % 900 + 0.25,"
                    f" 100 + seq % 900 + 0.25, {STATES}, UTC_TIMESTAMP(6)"
                    f" FROM seq_{start + 1}_to_{end}"
                )
            )


def lines(count: int, when: str) -> list[list[str]]:
    """The report's lines: for payment n, paid with our amount (1 in 50 with another), failed
    for failed ones' refusals, none for 1 in 100; plus 1 in 100 lines not ours."""
    rng = random.Random(18)
    out = []
    for n in range(1, count + 1):
        if n % 100 == 99:
            continue  # missing from the report
        status = "FAILED" if n % 20 == 0 and n % 40 else "SUCCEEDED"
        amount = total(n) if n % 50 else f"{100 + n % 900 + 1}.25"
        ref = reference(n) if n % 100 != 98 else f"ZZ{rng.randrange(10**12):012d}"
        row = dict.fromkeys(HEADERS, "")
        row.update(
            {
                "Transaction ID": f"{n:06d}-000001-144738",
                "Transaction Date": when,
                "Service Type": "BILLPAY",
                "Transaction Status": status,
                "Transaction Amount": amount,
                "Currency": "BDT",
                "Sender MSISDN": "01755555555",
                "Receiver MSISDN": "01788880001",
                "Biller Code": "DSCO",
                "Bill Account Number": f"C{n}",
                "Bill Number": f"B{n}",
                "External Reference ID": ref,
                "Remarks": ref,
            }
        )
        out.append([row[h] for h in HEADERS])
    return out


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(HEADERS)
        writer.writerows(rows)


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Transactions")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)


def db_cpu() -> float:
    """MariaDB's CPU seconds so far (every client's: an upper bound of ours)."""
    return sum(cpu_seconds(pid) for pid in pids_of("mariadbd") + pids_of("mysqld"))


def timed(
    engine: sa.Engine, path: Path, name: str, period: service.Period
) -> tuple[float, dict[str, float], dict]:
    """One reconciliation of the file; (seconds, parts, result)."""
    parts: dict[str, float] = {}
    load, classify = matching.load_lines, matching.classify

    def load_timed(conn, rows):  # type: ignore[no-untyped-def]
        t0, c0, d0 = time.perf_counter(), time.process_time(), db_cpu()
        n = load(conn, rows)
        parts["read + load"] = time.perf_counter() - t0
        parts["our CPU"] = time.process_time() - c0
        parts["DB CPU ≤"] = db_cpu() - d0
        return n

    def classify_timed(*a):  # type: ignore[no-untyped-def]
        t0, d0 = time.perf_counter(), db_cpu()
        found = classify(*a)
        parts["match + alarms"] = time.perf_counter() - t0
        parts["DB CPU ≤ "] = db_cpu() - d0
        return found

    matching.load_lines, matching.classify = load_timed, classify_timed
    try:
        with path.open("rb") as stream:
            t0 = time.perf_counter()
            done = service.reconcile(
                engine, WHO, stream, name, mapping=ColumnMapping(), limits=REPORTS, period=period
            )
            elapsed = time.perf_counter() - t0
    finally:
        matching.load_lines, matching.classify = load, classify
    return elapsed, parts, done


def run(engine: sa.Engine, path: Path, name: str, rounds: int, period: service.Period) -> None:
    figures = []
    for _ in range(rounds):
        elapsed, parts, done = timed(engine, path, name, period)
        figures.append(elapsed)
        detail = ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
        detail += f"; load {os.getloadavg()[0]:.1f}"
        print(f"  {name}: {elapsed:.2f} s ({detail}); {done['lines']:,} lines → {done['counts']}")
    print(
        f"{name} ({path.stat().st_size / 1e6:.1f} MB): median {statistics.median(figures):.2f} s,"
        f" best {min(figures):.2f} s over {rounds} rounds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--xlsx-lines", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    url = prepare()
    engine = make_engine(DatabaseSettings(database_url=SecretStr(url)))
    t0 = time.perf_counter()
    seed(engine, args.lines)
    with engine.begin() as conn:  # "sent" today, whenever the payments were seeded
        conn.execute(sa.text("UPDATE payments SET sending_at = UTC_TIMESTAMP(6)"))
    print(f"seeded {args.lines:,} payments in {time.perf_counter() - t0:.1f} s (once)")
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    rows = lines(args.lines, when)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.csv"
        write_csv(report, rows)
        print(f"load average before: {os.getloadavg()}")
        run(engine, report, "report.csv", args.rounds, PERIOD)
        book = Path(tmp) / "report.xlsx"
        write_xlsx(book, rows[: args.xlsx_lines])
        # its lines name a tenth of the payments: the window is the report's own (one second,
        # before the payments were "sent"), so the other nine tenths are not missing
        run(engine, book, "report.xlsx", args.rounds, service.Period())
        print(f"load average after: {os.getloadavg()}")
    engine.dispose()


if __name__ == "__main__":
    main()
