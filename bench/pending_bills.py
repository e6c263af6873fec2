"""Benchmark: the pending-bills page, its server-side selection and the confirmation page with
50 000 pending bills (issue 17, item 5; goal: every page and tick p95 ≤ 200 ms, "select all
matching" of tens of thousands well under a few seconds).

Seeds, once, into a database of its own (BBP_BENCH_DATABASE_URL, default
bbp_bench_pending): 50 000 bill accounts over three billers (every 10th in one group), one
finished fetch request with an item and one bill for each (amount 100–999, a service charge
of 10.00 on every other bill), all fetched "now" (each run makes them fresh again). Then
times, through the signed-in app (Flask test client: the server's work, no network):

* ``GET /payments/pending`` — the first page (50, then 200 a page), a page from the middle,
  filtered by biller, group, amount range, a consumer id's beginning;
* ``POST /payments/selection`` — "select all matching" of every bill (50 000 ticked in one
  ``INSERT … SELECT``), of one biller (≈ 16 700), and an htmx tick answered with the sticky
  bar (count and total of 50 000 ticked bills);
* the pending page with 50 000 ticked (the bar's tally on every page);
* the reads alone (no app, no rendering): a page of 50, the bar's tally of 50 000 ticked;
* ``GET /payments/new?scope=selection`` — the confirmation of 16 700 selected bills (every
  check of paying them, the per-biller totals, the first page of the list).

Not run by CI::

    .venv/bin/python bench/pending_bills.py [--samples 30]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault(
    "BBP_BENCH_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/bbp_bench_pending"
)

from _accounts_setup import percentile, prepare, seed_fetch_request
from sqlalchemy import func, insert, select, text

from bbp_common.platform.db.tables import account_groups, bill_accounts, bulk_requests
from bbp_portal.cursor import Cursor
from tests.support.accounts import seed_accounts

COUNT = 50_000
PREFIX = "81"
MARK = "bench:pending-bills"
GOAL_MS = 200.0


def make_app():  # type: ignore[no-untyped-def]
    from bbp_portal import create_app
    from bbp_portal.audit_trail import SYSTEM
    from bbp_portal.billers.service import BillerInput, seed_billers
    from tests.support.portal import base_settings

    settings = base_settings(
        database_url=prepare(),
        redis_url=os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        log_level="WARNING",
        pay_max_bills=COUNT,
        approval_threshold="off",
        approval_daily_threshold="off",
        step_up=False,
    )
    app = create_app(settings, TESTING=True, WTF_CSRF_ENABLED=False)
    with app.extensions["bbp.engine"].begin() as conn:
        seed_billers(
            conn,
            SYSTEM,
            [
                BillerInput(code, code, "01700000000", 1, code, pays)
                for code, pays in (("DSCO", False), ("DESCO", True), ("JGDCL", False))
            ],
        )
    return app


def ensure_bills(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The fetch request's id and the group's; seeds everything when it is not there."""
    with engine.begin() as conn:
        found = conn.execute(
            select(bulk_requests.c.id).where(bulk_requests.c.selection == MARK)
        ).scalar()
        group_id = conn.execute(
            select(account_groups.c.id).where(account_groups.c.name == MARK)
        ).scalar()
        if found is not None:
            conn.execute(
                text("UPDATE bills SET fetched_at = UTC_TIMESTAMP(6) WHERE consumer_id LIKE :p"),
                {"p": PREFIX + "%"},
            )
            conn.execute(text("DELETE FROM bill_selections"))
            return int(found), int(group_id)
        print("seeding (once):", flush=True)
        started = time.perf_counter()
        group_id = conn.execute(insert(account_groups).values(name=MARK)).inserted_primary_key[0]
        seed_accounts(
            conn,
            COUNT,
            utilities=("DSCO", "DESCO", "JGDCL"),
            prefix=PREFIX,
            group_id=group_id,
            group_every=10,
        )
        request_id = seed_fetch_request(conn, state="finished", mark=MARK, items=COUNT)
        conn.execute(
            text(
                """
                INSERT INTO fetch_items (request_id, bill_account_id, utility_code, consumer_id,
                    mobile, state, outcome, attempts, dispatched_at, completed_at, bill_count,
                    bills_amount)
                SELECT :rid, a.id, a.utility_code, a.consumer_id, a.mobile, 'done', 'bills', 1,
                    UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), 1, 100 + a.id % 900
                FROM bill_accounts a WHERE a.consumer_id LIKE :prefix
                """
            ),
            {"rid": request_id, "prefix": PREFIX + "%"},
        )
        conn.execute(
            text(
                """
                INSERT INTO bills (fetch_item_id, bill_account_id, utility_code, consumer_id,
                    bill_number, due_date, amount, service_charge, detail, fetched_at)
                SELECT i.id, i.bill_account_id, i.utility_code, i.consumer_id,
                    CONCAT('B', i.id), DATE_ADD('2026-12-01', INTERVAL i.id % 60 DAY),
                    i.bills_amount, 10 * (i.id % 2), NULL, UTC_TIMESTAMP(6)
                FROM fetch_items i WHERE i.request_id = :rid
                """
            ),
            {"rid": request_id},
        )
        conn.execute(text("ANALYZE TABLE bill_accounts, fetch_items, bills"))
        print(f"  {COUNT:,} accounts, items, bills: {time.perf_counter() - started:.0f} s")
    return int(request_id), int(group_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30, help="requests timed per scenario")
    args = parser.parse_args()
    app = make_app()
    engine = app.extensions["bbp.engine"]
    _request_id, group_id = ensure_bills(engine)
    from tests.support.accounts import sign_in

    client = sign_in(app.test_client(), "admin", "bench-pending")
    with engine.connect() as conn:
        low, high = conn.execute(
            text("SELECT MIN(id), MAX(id) FROM bills WHERE consumer_id LIKE :p"),
            {"p": PREFIX + "%"},
        ).one()
        pending = conn.execute(
            select(func.count())
            .select_from(bill_accounts)
            .where(bill_accounts.c.consumer_id.like(PREFIX + "%"))
        ).scalar_one()
    middle = (low + high) // 2
    print(f"{pending:,} accounts with one pending bill each")

    def timed(method: str, url: str, **kw: object) -> float:
        started = time.perf_counter()
        answer = getattr(client, method)(url, **kw)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code in (200, 302), (url, answer.status_code)
        return elapsed

    timed("get", "/payments/pending")  # warm the first render
    results: dict[str, list[float]] = {}
    pages = {
        "baseline: the find-a-payment page (no bill read)": "/payments/search",
        "pending page, first 50": "/payments/pending",
        "pending page, first 200": "/payments/pending?size=200",
        "pending page, 50 from the middle": "/payments/pending?cursor="
        + Cursor("id", "asc", "after", (middle,)).encode(),
        "pending page, biller DESCO": "/payments/pending?utility=DESCO",
        "pending page, the group (every 10th)": f"/payments/pending?group_id={group_id}",
        "pending page, amount 500-510": "/payments/pending?amount_min=500&amount_max=510",
        "pending page, consumer id starts with 8100123": "/payments/pending?consumer=8100123",
    }
    for name, url in pages.items():
        results[name] = [timed("get", url) for _ in range(args.samples)]

    once: dict[str, float] = {}
    once["select all matching: every bill (50 000)"] = timed(
        "post", "/payments/selection", data={"action": "matching"}
    )
    results["htmx untick + tick, bar of 50 000 ticked"] = [
        timed(
            "post",
            "/payments/selection",
            data={"bill": str(low), **({"ticked": "1"} if i % 2 else {})},
            headers={"HX-Request": "true"},
        )
        for i in range(args.samples)
    ]
    results["pending page, first 50, with 50 000 ticked"] = [
        timed("get", "/payments/pending") for _ in range(args.samples)
    ]
    # The reads alone, without the app and the page's rendering.
    from datetime import timedelta

    from bbp_portal.payments import basket, pending

    def sql(run) -> float:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        run()
        return (time.perf_counter() - started) * 1000

    age = timedelta(hours=24)
    with engine.connect() as conn:
        results["SQL: the bar's tally of 50 000 ticked"] = [
            sql(lambda: basket.tally(conn, "bench-pending")) for _ in range(args.samples)
        ]
        for name, found in (
            ("SQL: a page of 50, no filter", pending.PendingFilter()),
            ("SQL: a page of 50, the group", pending.PendingFilter(group_id=group_id)),
            (
                "SQL: a page of 50, amount 500-510",
                pending.PendingFilter(amount_min=500, amount_max=510),
            ),
        ):
            results[name] = [
                sql(lambda f=found: pending.list_pending(conn, f, max_bill_age=age, limit=50))
                for _ in range(args.samples)
            ]
    timed("post", "/payments/selection", data={"action": "clear"})
    once["select all matching: biller DESCO"] = timed(
        "post", "/payments/selection", data={"action": "matching", "utility": "DESCO"}
    )
    confirm = [timed("get", "/payments/new?scope=selection") for _ in range(3)]
    once["confirmation of the DESCO selection (median of 3)"] = sorted(confirm)[1]
    timed("post", "/payments/selection", data={"action": "clear"})

    print(f"load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print(f"{'scenario':<55} {'p50 ms':>8} {'p95 ms':>8}")
    for name, values in results.items():
        p95 = percentile(values, 95)
        flag = "" if p95 <= GOAL_MS else "  (over the goal)"
        print(f"{name:<55} {percentile(values, 50):>8.1f} {p95:>8.1f}{flag}")
    for name, ms in once.items():
        print(f"{name:<55} {ms:>8.0f} ms once")


if __name__ == "__main__":
    main()
