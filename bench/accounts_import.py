"""Benchmark: validate and import a 50 000-row CSV of bill accounts (goal ≤ 10 s).

Runs the whole path an admin takes — multipart POST /api/v1/uploads (parse, validate,
stage), then POST /api/v1/uploads/<id>/import — against a database of its own
(BBP_BENCH_DATABASE_URL, default bbp_bench_accounts on the local server). Not run by CI::

    .venv/bin/python bench/accounts_import.py [--rows 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
import uuid

from _accounts_setup import make_app, signed_in

GOAL_SECONDS = 10.0


def make_csv(rows: int, stem: str, group: str) -> bytes:
    lines = ["utility,consumer_id,mobile,label,groups"]
    utilities = ("DSCO", "DESCO", "JGDCL", "TTAS")
    for n in range(rows):
        lines.append(
            f"{utilities[n % 4]},{stem}{n:06d},017{n:08d},Office {n} Dhaka,"
            f"{group if n % 10 == 0 else ''}"
        )
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    app = make_app()
    client = signed_in(app)
    group = f"Bench {uuid.uuid4().hex[:6]}"
    client.post("/api/v1/groups", json={"name": group})
    totals = []
    for run in range(1, args.runs + 1):
        data = make_csv(args.rows, str(uuid.uuid4().int)[:8], group)
        started = time.perf_counter()
        answer = client.post(
            "/api/v1/uploads",
            data={"file": (io.BytesIO(data), "bench.csv")},
            content_type="multipart/form-data",
        )
        validated = time.perf_counter() - started
        summary = answer.json
        assert answer.status_code == 201 and summary["valid_rows"] == args.rows, summary
        answer = client.post(f"/api/v1/uploads/{summary['id']}/import")
        total = time.perf_counter() - started
        assert answer.json["imported_rows"] == args.rows, answer.json
        totals.append(total)
        print(
            f"run {run}: {args.rows:,} rows ({len(data) / 1e6:.1f} MB) validated in "
            f"{validated:.2f} s, imported in {total - validated:.2f} s, total {total:.2f} s"
        )
    median = statistics.median(totals)
    verdict = "meets" if max(totals) <= GOAL_SECONDS else "MISSES"
    load = os.getloadavg()[0]
    print(
        f"median {median:.2f} s, worst {max(totals):.2f} s — {verdict} the goal of "
        f"{GOAL_SECONDS:.0f} s (load average {load:.1f} on {os.cpu_count()} cores)"
    )
    app.extensions["bbp.engine"].dispose()


if __name__ == "__main__":
    main()
