"""Benchmark: the request page and its progress endpoint with 1 000 000 fetch items
(goal p95 ≤ 200 ms).

Seeds, once, into a database of its own (BBP_BENCH_DATABASE_URL, default
bbp_bench_requests): 1 000 000 bill accounts, one running fetch request with an item for
each, results for 80 % of them (half with one or two bills, the rest no bill or failed; 5 %
dispatched, 10 % queued), ~750 000 bills, and the request's tallies — all with
``INSERT … SELECT`` over cross-joined digits (portable between MySQL 8 and MariaDB: no
``seq_1_to_N``, no recursive CTE). Then times, through the signed-in app (Flask test
client: the server's work, no network):

* ``GET /requests/{id}`` — the page: request, tallies, first page of 50 results and bills;
* ``GET /requests/{id}/live`` — what the page polls every 1.5 s (htmx): the same first page
  of 50 results as a fragment, with the progress and state;
* ``GET /api/v1/requests/{id}/progress`` — the progress alone (the API's);
* result pages followed with ``next`` from the middle, unfiltered and filtered (outcome,
  utility), the last page, a consumer-id search;
* the per-biller totals (loaded by the page's script, apart from the page) and the list.

Not run by CI::

    .venv/bin/python bench/request_page.py [--samples 50] [--export]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault(
    "BBP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/bbp_bench_requests"
)

from _accounts_setup import make_app, percentile, seed_fetch_request, seeded_accounts, signed_in
from sqlalchemy import select, text

from bbp_common.platform.db.tables import bulk_requests
from bbp_portal.cursor import Cursor
from tests.support.accounts import seed_accounts

MILLION = 1_000_000
PREFIX = "77"
MARK = "bench:million-items"
GOAL_MS = 200.0


def _timed(label: str, conn, sql: str, **params) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    conn.execute(text(sql), params)
    print(f"  {label}: {time.perf_counter() - started:.0f} s", flush=True)


def ensure_request(engine) -> int:  # type: ignore[no-untyped-def]
    """The id of the million-item request; seeds everything when it is not there."""
    with engine.begin() as conn:
        found = conn.execute(
            select(bulk_requests.c.id).where(bulk_requests.c.selection == MARK)
        ).scalar()
        if found is not None:
            return int(found)
        print("seeding (once):", flush=True)
        have = seeded_accounts(conn, PREFIX)
        if have < MILLION:
            started = time.perf_counter()
            seed_accounts(conn, MILLION, utilities=("DSCO", "DESCO", "JGDCL"), prefix=PREFIX)
            print(f"  1 000 000 accounts: {time.perf_counter() - started:.0f} s", flush=True)
        request_id = seed_fetch_request(conn, state="running", mark=MARK, items=MILLION)
    # Outcome by account id mod 20: 0–9 bills (one or two), 10–15 no bill, 16 failed,
    # 17 dispatched, 18–19 queued. Each statement in its own transaction.
    with engine.begin() as conn:
        _timed(
            "1 000 000 fetch items",
            conn,
            """
            INSERT INTO fetch_items (request_id, bill_account_id, utility_code, consumer_id,
                mobile, state, outcome, attempts, dispatched_at, completed_at, bill_count,
                bills_amount, error_code, error_message)
            SELECT :rid, a.id, a.utility_code, a.consumer_id, a.mobile,
                CASE WHEN a.id % 20 < 17 THEN 'done' WHEN a.id % 20 = 17 THEN 'dispatched'
                     ELSE 'queued' END,
                CASE WHEN a.id % 20 < 10 THEN 'bills' WHEN a.id % 20 < 16 THEN 'no_bills'
                     WHEN a.id % 20 = 16 THEN 'failed' END,
                CASE WHEN a.id % 20 < 18 THEN 1 ELSE 0 END,
                CASE WHEN a.id % 20 < 18 THEN UTC_TIMESTAMP(6) END,
                CASE WHEN a.id % 20 < 17 THEN UTC_TIMESTAMP(6) END,
                CASE WHEN a.id % 20 < 10 THEN 1 + a.id % 2 WHEN a.id % 20 < 16 THEN 0 END,
                CASE WHEN a.id % 20 < 10 THEN (100 + a.id % 900) * (1 + a.id % 2)
                     WHEN a.id % 20 < 16 THEN 0 END,
                CASE WHEN a.id % 20 = 16 THEN 'MBQ-500' END,
                CASE WHEN a.id % 20 = 16 THEN 'Mobiquity answered HTTP 500' END
            FROM bill_accounts a WHERE a.consumer_id LIKE :prefix
            """,
            rid=request_id,
            prefix=PREFIX + "%",
        )
    with engine.begin() as conn:
        _timed(
            "bills",
            conn,
            """
            INSERT INTO bills (fetch_item_id, bill_account_id, utility_code, consumer_id,
                bill_number, due_date, amount, service_charge, detail, fetched_at)
            SELECT i.id, i.bill_account_id, i.utility_code, i.consumer_id,
                CONCAT('B', i.id, '-', n.k), DATE_ADD('2026-12-01', INTERVAL i.id % 60 DAY),
                100 + i.bill_account_id % 900, 5 * (i.id % 2), NULL, i.completed_at
            FROM fetch_items i
            JOIN (SELECT 1 AS k UNION ALL SELECT 2) n ON n.k <= i.bill_count
            WHERE i.request_id = :rid AND i.outcome = 'bills'
            """,
            rid=request_id,
        )
    with engine.begin() as conn:
        _timed(
            "tallies",
            conn,
            """
            INSERT INTO request_tallies (request_id, bucket, item_count, amount)
            SELECT request_id,
                CASE WHEN state = 'queued' THEN 'queued' WHEN state = 'dispatched'
                     THEN 'in_flight' WHEN state = 'cancelled' THEN 'cancelled' ELSE outcome END,
                COUNT(*), COALESCE(SUM(bills_amount), 0)
            FROM fetch_items WHERE request_id = :rid
            GROUP BY 1, 2
            """,
            rid=request_id,
        )
        conn.execute(text("ANALYZE TABLE fetch_items, bills, request_tallies"))
    return int(request_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=50, help="requests timed per scenario")
    parser.add_argument("--export", action="store_true", help="also time the CSV export")
    args = parser.parse_args()
    app = make_app()
    engine = app.extensions["bbp.engine"]
    request_id = ensure_request(engine)
    client = signed_in(app, "auditor")
    with engine.connect() as conn:
        low, high = conn.execute(
            text("SELECT MIN(id), MAX(id) FROM fetch_items WHERE request_id = :r"),
            {"r": request_id},
        ).one()
    middle = (low + high) // 2

    def get(url: str, *, json: bool = True) -> tuple[float, object]:
        started = time.perf_counter()
        answer = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, (url, answer.status_code)
        return elapsed, answer.get_json() if json else None

    page = f"/requests/{request_id}"
    api = f"/api/v1/requests/{request_id}"
    get(page, json=False)  # warm the app's first render
    results: dict[str, list[float]] = {}
    for _ in range(args.samples):
        results.setdefault("request page (HTML, first 50 results)", []).append(
            get(page, json=False)[0]
        )
        results.setdefault("live fragment (HTML, polled by the page)", []).append(
            get(f"{page}/live", json=False)[0]
        )
        results.setdefault("progress (JSON)", []).append(get(f"{api}/progress")[0])
    follows = {
        "results, next from the middle": "",
        "results, next from the middle, outcome failed": "status=failed",
        "results, next from the middle, utility DESCO": "utility=DESCO",
    }
    for name, filters in follows.items():
        token = Cursor("id", "asc", "after", (middle,)).encode()
        for _ in range(args.samples):
            ms, body = get(f"{api}/items?limit=50&{filters}&cursor={token}")
            results.setdefault(name + " (API)", []).append(ms)
            token = body["page"]["next"]  # type: ignore[index]
    token = Cursor("id", "asc", "after", (middle,)).encode()
    results["request page, a page from the middle (HTML)"] = [
        get(f"{page}?cursor={token}", json=False)[0] for _ in range(args.samples)
    ]
    last = Cursor("id", "asc", "last").encode()
    results["request page, last page (HTML)"] = [
        get(f"{page}?cursor={last}", json=False)[0] for _ in range(10)
    ]
    results["request page, outcome failed (HTML)"] = [
        get(f"{page}?status=failed", json=False)[0] for _ in range(10)
    ]
    results["request page, consumer-id search (HTML)"] = [
        get(f"{page}?q={PREFIX}0{n:03d}123", json=False)[0] for n in range(10)
    ]
    results["request list (HTML)"] = [get("/requests", json=False)[0] for _ in range(10)]
    cold = [get(f"{api}/billers")[0]]
    app.extensions["bbp.biller_totals"] = type(app.extensions["bbp.biller_totals"])()
    cold.append(get(f"{api}/billers")[0])
    results["biller totals, computed (running request)"] = cold
    results["biller totals, cached (within 15 s)"] = [get(f"{api}/billers")[0] for _ in range(10)]
    if args.export:
        started = time.perf_counter()
        answer = client.get(f"{page}/export.csv")
        size = len(answer.get_data())
        seconds = time.perf_counter() - started
        print(f"CSV export: {size / 1e6:.0f} MB in {seconds:.1f} s")

    load = os.getloadavg()
    print(
        f"\n1 000 000 fetch items in one request, through the app (load average "
        f"{load[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"{'scenario':55s} {'n':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for name, values in results.items():
        print(
            f"{name:55s} {len(values):4d} {percentile(values, 50):8.1f} "
            f"{percentile(values, 95):8.1f} {max(values):8.1f}"
        )
    worst = max(
        percentile(results[name], 95)
        for name in (
            "request page (HTML, first 50 results)",
            "live fragment (HTML, polled by the page)",
            "progress (JSON)",
        )
    )
    verdict = "meets" if worst <= GOAL_MS else "MISSES"
    print(f"page and polls: worst p95 {worst:.1f} ms — {verdict} the goal of {GOAL_MS:.0f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
