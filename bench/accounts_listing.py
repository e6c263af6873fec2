"""Benchmark: pages of 1 000 000 bill accounts (goal p95 ≤ 100 ms per page).

Seeds 1 000 000 accounts once (utilities MILA/MILB, every tenth in one group) into a
database of its own (BBP_BENCH_DATABASE_URL, default bbp_bench_accounts), then times
GET /api/v1/accounts through the app (query, groups, JSON): the first and the last page of
every sort order, and pages reached by following ``next`` from the middle of filtered lists
(a utility, a group, a group sorted by label, a utility sorted by consumer id descending).
Not run by CI::

    .venv/bin/python bench/accounts_listing.py [--pages 50]
"""

from __future__ import annotations

import argparse
import os
import time

from _accounts_setup import make_app, percentile, seeded_accounts, signed_in
from sqlalchemy import insert, select, text

from bbp_common.platform.db.tables import account_groups, bill_accounts
from bbp_portal.cursor import Cursor
from tests.support.accounts import seed_accounts

MILLION = 1_000_000
PREFIX = "55"
GROUP = "Bench: every tenth"
GOAL_MS = 100.0


def ensure_million(engine) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(group id, id of the middle account); seeds only when the accounts are not there."""
    with engine.begin() as conn:
        group_id = conn.execute(
            select(account_groups.c.id).where(account_groups.c.name == GROUP)
        ).scalar()
        have = seeded_accounts(conn, PREFIX)
        if have < MILLION:
            if group_id is None:
                group_id = conn.execute(
                    insert(account_groups).values(name=GROUP)
                ).inserted_primary_key[0]
            started = time.perf_counter()
            seed_accounts(
                conn, MILLION, utilities=("MILA", "MILB"), prefix=PREFIX, group_id=group_id
            )
            print(f"seeded {MILLION:,} accounts in {time.perf_counter() - started:.0f} s")
            conn.execute(text("ANALYZE TABLE bill_accounts, bill_account_groups"))
        mid = conn.execute(
            select(bill_accounts.c.id).where(bill_accounts.c.consumer_id == f"{PREFIX}0500000")
        ).scalar_one()
    return group_id, mid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=50, help="pages followed per scenario")
    args = parser.parse_args()
    app = make_app()
    client = signed_in(app, "auditor")
    group, mid = ensure_million(app.extensions["bbp.engine"])

    def get(query: str) -> tuple[float, dict]:
        started = time.perf_counter()
        answer = client.get("/api/v1/accounts?limit=50&" + query)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.json
        return elapsed, answer.json

    results: dict[str, list[float]] = {}
    for sort in ("id", "consumer_id", "label", "utility"):
        for _ in range(5):
            ms, first = get(f"sort={sort}")
            results.setdefault("first page (4 sorts)", []).append(ms)
            ms, _ = get(f"cursor={first['page']['last']}")
            results.setdefault("last page (4 sorts)", []).append(ms)

    scenarios = {
        "next from middle, utility": ("utility=MILA", Cursor("id", "asc", "after", (mid,))),
        "next from middle, group": (f"group_id={group}", Cursor("id", "asc", "after", (mid,))),
        "next from middle, group by label": (
            f"group_id={group}",
            Cursor("label", "asc", "after", ("Office 0500000", mid)),
        ),
        "next from middle, utility by consumer id desc": (
            "utility=MILB",
            Cursor("consumer_id", "desc", "after", (f"{PREFIX}0500001", "MILB")),
        ),
        "prev from middle, group by label": (
            f"group_id={group}",
            Cursor("label", "asc", "before", ("Office 0500000", mid)),
        ),
    }
    for name, (filters, cursor) in scenarios.items():
        token: str | None = cursor.encode()
        follow = "prev" if cursor.direction == "before" else "next"
        for _ in range(args.pages):
            ms, page = get(f"{filters}&cursor={token}")
            results.setdefault(name, []).append(ms)
            token = page["page"][follow]
            assert token, name
    ms, _ = get("q=550500")
    results["search by consumer-id prefix (first page)"] = [get("q=550500")[0] for _ in range(5)]
    results["search by label prefix (first page)"] = [get("q=Office 05")[0] for _ in range(5)]

    load = os.getloadavg()
    print(
        f"\n1 000 000 accounts, pages of 50, via GET /api/v1/accounts (load average "
        f"{load[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"{'scenario':50s} {'pages':>5s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    worst = 0.0
    for name, values in results.items():
        p95 = percentile(values, 95)
        worst = max(worst, p95) if "search" not in name else worst
        print(
            f"{name:50s} {len(values):5d} {percentile(values, 50):8.1f} {p95:8.1f} "
            f"{max(values):8.1f}"
        )
    verdict = "meets" if worst <= GOAL_MS else "MISSES"
    print(
        f"worst p95 of the paging scenarios {worst:.1f} ms — {verdict} the goal of {GOAL_MS:.0f} ms"
    )
    app.extensions["bbp.engine"].dispose()


if __name__ == "__main__":
    main()
