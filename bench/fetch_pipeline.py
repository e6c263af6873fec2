"""Benchmark: 10 000 accounts fetched through the whole pipeline (goal ≥ 0.95 of the ceiling
at a cap of 200/s).

portal API (``POST /api/v1/requests/fetch``, after-commit relay) → outbox → RabbitMQ →
scheduler (paced) → communicators → the Mobiquity sandbox with a fixed latency → results →
scheduler → MariaDB, every service a process of its own (``tests.support.pipeline``), on a
database and a vhost of the benchmark's own (dropped afterwards).

Printed for each run: the achieved rate and the ceiling ``min(rate cap, max in flight ÷
latency)``, and their ratio. The achieved rate is measured two ways from the database's own
timestamps: end to end (the request's ``created_at`` → ``finished_at``) and over the dispatch
window (first → last dispatch record of the request, the rate the pacer sustained). The
default runs are a cap of 200/s and no cap (``BBP_MOBIQUITY_RATE_LIMIT=0``: the ceiling is
then max in flight ÷ latency). Not run by CI::

    .venv/bin/python bench/fetch_pipeline.py [--accounts 10000] [--latency-ms 50]
        [--in-flight 32] [--caps 200,0] [--communicators 2]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bbp_common.platform.db.tables import bulk_requests, dispatches  # noqa: E402
from bbp_portal.app import create_app  # noqa: E402
from bench._cpu import cpu_seconds, pids_of, with_children  # noqa: E402
from sandbox.testing import run_sandbox  # noqa: E402
from tests.conftest import Servers  # noqa: E402
from tests.support.accounts import sign_in  # noqa: E402
from tests.support.pipeline import (  # noqa: E402
    Pipeline,
    create_database,
    drop_database,
    new_vhost,
)
from tests.support.portal import base_settings  # noqa: E402


def accounts(count: int) -> list[tuple[str, str]]:
    """Accounts the sandbox answers with bills or with none (no failure: retries would
    measure the retry policy, not the pipeline's rate)."""
    utilities = ("DSCO", "DESCO", "JGDCL")
    stems = {"DSCO": "1702", "DESCO": "2205", "JGDCL": "3265"}
    return [(utilities[n % 3], f"{stems[utilities[n % 3]]}{n:05d}") for n in range(count)]


def run_once(servers: Servers, sandbox, args: argparse.Namespace, cap: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    name = f"bbp_bench_pipe_{uuid.uuid4().hex[:8]}"
    url = create_database(servers.db_url(), name)
    try:
        with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp_url:
            pipe = Pipeline(
                url,
                amqp_url,
                sandbox,
                env_overrides={
                    "BBP_MOBIQUITY_RATE_LIMIT": f"{cap:g}",
                    "BBP_MOBIQUITY_MAX_IN_FLIGHT": str(args.in_flight),
                    "BBP_MOBIQUITY_READ_TIMEOUT": "10",
                    "BBP_FETCH_RESULT_TIMEOUT": "60",
                    "BBP_FETCH_COMMAND_TTL": "120",
                    "BBP_LOG_LEVEL": "WARNING",
                    "BBP_SCHEDULER_RESULT_WORKERS": str(args.result_workers),
                },
            )
            app = None
            try:
                pipe.seed_billers()
                pipe.add_accounts(accounts(args.accounts))
                pipe.start("scheduler")
                pipe.leader()
                for _ in range(args.communicators):
                    pipe.start("communicator")
                app = create_app(
                    base_settings(
                        database_url=url,
                        redis_url=os.environ.get("BBP_BENCH_REDIS_URL", "redis://127.0.0.1/15"),
                        amqp_url=amqp_url,
                        log_level="WARNING",
                    ),
                    TESTING=True,
                    WTF_CSRF_ENABLED=False,
                )
                client = sign_in(app.test_client(), "admin", "bench-admin")
                # One request of every account, or (--requests k) k requests of a share each,
                # created back to back (their tally rows are apart: see docs/benchmarks.md).
                if args.requests == 1:
                    bodies = [{"filter": {"q": ""}}]
                else:
                    with pipe.engine.connect() as conn:
                        ids = list(
                            conn.execute(
                                sa.text("SELECT id FROM bill_accounts ORDER BY id")
                            ).scalars()
                        )
                    share = -(-len(ids) // args.requests)
                    bodies = [{"ids": ids[i : i + share]} for i in range(0, len(ids), share)]
                components = {
                    "scheduler": [
                        p
                        for s in pipe.services
                        if s.kind == "scheduler"
                        for p in with_children(s.pid)
                    ],
                    "communicators": [
                        p
                        for s in pipe.services
                        if s.kind == "communicator"
                        for p in with_children(s.pid)
                    ],
                    "sandbox": with_children(sandbox.process.pid),
                    "mariadb (shared)": pids_of("mariadbd") + pids_of("mysqld"),
                    "rabbitmq (shared)": pids_of("beam.smp"),
                }
                cpu_before = {k: sum(cpu_seconds(p) for p in v) for k, v in components.items()}
                request_ids = []
                for body in bodies:
                    answer = client.post("/api/v1/requests/fetch", json=body)
                    assert answer.status_code == 201, answer.get_json()
                    request_ids.append(answer.get_json()["id"])
                for request_id in request_ids:
                    pipe.wait_finished(request_id, timeout=args.accounts / 10 + 120)
                with pipe.engine.connect() as conn:
                    created, finished = conn.execute(
                        sa.select(
                            sa.func.min(bulk_requests.c.created_at),
                            sa.func.max(bulk_requests.c.finished_at),
                        ).where(bulk_requests.c.id.in_(request_ids))
                    ).one()
                    first, last, sent = conn.execute(
                        sa.select(
                            sa.func.min(dispatches.c.dispatched_at),
                            sa.func.max(dispatches.c.dispatched_at),
                            sa.func.count(),
                        ).where(dispatches.c.request_id.in_(request_ids))
                    ).one()
                    times = list(
                        conn.execute(
                            sa.select(dispatches.c.dispatched_at)
                            .where(dispatches.c.request_id.in_(request_ids))
                            .order_by(dispatches.c.dispatched_at)
                        ).scalars()
                    )
                    peak = conn.execute(
                        sa.text(
                            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM dispatches "
                            "GROUP BY FLOOR(UNIX_TIMESTAMP(dispatched_at))) per_second"
                        )
                    ).scalar_one()
                cpu = {
                    k: sum(cpu_seconds(p) for p in v) - cpu_before[k] for k, v in components.items()
                }
                total = (finished - created).total_seconds()
                # Time the dispatcher left unused: gaps between consecutive slots beyond the
                # pace's interval (a stalled planner, a full in-flight window, a slow tick).
                interval = 1 / cap if cap else 0.0
                gaps = [(b - a).total_seconds() - interval for a, b in itertools.pairwise(times)]
                lost = sum(g for g in gaps if g > interval)
                window = (last - first).total_seconds()
                return {
                    "items": args.accounts,
                    "dispatches": sent,
                    "seconds": total,
                    "end_to_end": args.accounts / total,
                    "dispatch_rate": (sent - 1) / window if window else float("nan"),
                    "peak_second": peak,
                    "lost_seconds": lost,
                    "gaps_over_50ms": sum(1 for g in gaps if g > 0.05),
                    "start_seconds": (first - created).total_seconds(),
                    "tail_seconds": (finished - last).total_seconds(),
                    "cpu_ms_per_item": {k: 1000 * v / args.accounts for k, v in cpu.items()},
                }
            finally:
                if app is not None:
                    app.extensions["bbp.relay"].close()
                    app.extensions["bbp.engine"].dispose()
                pipe.stop_all()
                pipe.engine.dispose()
    finally:
        drop_database(servers.db_url(), name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50, help="the sandbox's fixed latency")
    parser.add_argument("--in-flight", type=int, default=32, help="BBP_MOBIQUITY_MAX_IN_FLIGHT")
    parser.add_argument("--caps", default="200,0", help="rate caps to run (0 = no cap)")
    parser.add_argument("--communicators", type=int, default=2)
    parser.add_argument(
        "--requests", type=int, default=1, help="split the accounts into this many requests"
    )
    parser.add_argument(
        "--result-workers", type=int, default=8, help="BBP_SCHEDULER_RESULT_WORKERS"
    )
    args = parser.parse_args()
    servers = Servers()
    servers.rabbitmqctl = servers.rabbitmqctl or shutil.which("rabbitmqctl") or ""
    if not servers.rabbitmqctl:
        raise SystemExit("needs rabbitmqctl (a vhost of the benchmark's own)")
    latency = args.latency_ms / 1000
    rows = []
    with run_sandbox() as sandbox:
        for cap in (float(c) for c in args.caps.split(",")):
            sandbox.reset()
            sandbox.configure(base_latency_ms=args.latency_ms)
            ceiling = min(cap or float("inf"), args.in_flight / latency)
            started = time.perf_counter()
            found = run_once(servers, sandbox, args, cap)
            found.update(cap=cap, ceiling=ceiling, wall=time.perf_counter() - started)
            rows.append(found)
            print(
                f"cap {cap:g}/s: {found['end_to_end']:.1f}/s end to end, "
                f"{found['dispatch_rate']:.1f}/s dispatched; ceiling {ceiling:.0f}/s",
                flush=True,
            )
    load = os.getloadavg()
    print(
        f"\n{args.accounts:,} accounts, sandbox latency {args.latency_ms} ms, max in flight "
        f"{args.in_flight}, {args.communicators} communicators, {args.requests} request(s), "
        f"{args.result_workers} result workers (load average {load[0]:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    print(
        f"{'cap /s':>7s} {'ceiling /s':>10s} {'seconds':>8s} {'end-to-end /s':>14s} "
        f"{'ratio':>6s} {'dispatch /s':>12s} {'ratio':>6s} {'peak 1-s':>9s}"
    )
    for r in rows:
        cap_text = f"{r['cap']:g}" if r["cap"] else "none"
        print(
            f"{cap_text:>7s} {r['ceiling']:10.0f} "
            f"{r['seconds']:8.1f} {r['end_to_end']:14.1f} {r['end_to_end'] / r['ceiling']:6.3f} "
            f"{r['dispatch_rate']:12.1f} {r['dispatch_rate'] / r['ceiling']:6.3f} "
            f"{r['peak_second']:9d}"
        )
    print("\nCPU time per item (ms; the whole pipeline shares the machine's cores):")
    for r in rows:
        cap_text = f"{r['cap']:g}/s" if r["cap"] else "no cap"
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_item"].items())
        print(f"  {cap_text}: {parts}; total {sum(r['cpu_ms_per_item'].values()):.1f}")
    print(
        "\nWhere the time went (s): before the first dispatch, slot time left unused, "
        "after the last:"
    )
    for r in rows:
        cap_text = f"{r['cap']:g}/s" if r["cap"] else "no cap"
        print(
            f"  {cap_text}: start {r['start_seconds']:.2f}, unused {r['lost_seconds']:.2f} "
            f"({r['gaps_over_50ms']} gaps over 50 ms), tail {r['tail_seconds']:.2f}"
        )
    capped = [r for r in rows if r["cap"] == 200]
    if capped:
        ratio = capped[0]["end_to_end"] / capped[0]["ceiling"]
        verdict = "meets" if ratio >= 0.95 else "MISSES"
        print(f"at a cap of 200/s: achieved ÷ ceiling = {ratio:.3f} — {verdict} the goal of 0.95")


if __name__ == "__main__":
    main()
