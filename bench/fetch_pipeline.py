"""Benchmark: accounts fetched through the whole pipeline, side by side with a Celery worker
doing the same job (issue 16), and optionally other checkouts of ours in the same run.

portal API (``POST /api/v1/requests/fetch``, after-commit relay) → outbox → RabbitMQ →
scheduler (paced) → communicators → the Mobiquity sandbox with a fixed latency → results →
scheduler → MariaDB, every service a process of its own (``tests.support.pipeline``), on a
database and a vhost of the run's own (dropped afterwards). One sandbox serves every run.

The Celery peer (``_peer.py``): one task per account, POST fetch-bill to the same sandbox,
one UPDATE of the account's row; its thread pool sized to T·L (T the cap, L the latency; with
no cap, our in-flight maximum C), and — at a cap — once more with Celery's own
``rate_limit`` (the only Celery set-up that enforces a cap). It does less than our pipeline
(no pacing, no confirms, one hop); the output says so.

Runs are interleaved — for each round, for each cap: each checkout, then the peer — so the
load of a shared machine hits every side alike; CPU ms per item is the figure to compare
across runs. ``--tree PATH`` (repeatable) adds a checkout with its own ``.venv`` (e.g. a
detached worktree of the code before a change): its services, migrations and portal run
with its own Python (``_side.py``). Printed for each run: items/s end to end (the request's
``created_at`` → ``finished_at``; for the peer: publishing starts → the last row's
``completed_at``), the limit ``min(C ÷ L, T)`` and the ratio, the busiest one-second window of
our dispatch records and of the sandbox's own call times, the unused slot time, CPU ms per
item by component and the 1-minute load average at both ends; then medians over the rounds,
the ratios pipeline ÷ peer (and other checkouts ÷ the first) within each round, and the goals
of issue 16. Not run by CI::

    .venv/bin/python bench/fetch_pipeline.py [--accounts 10000] [--latency-ms 50]
        [--in-flight 32] [--caps 200,0] [--communicators 2] [--requests 1]
        [--result-workers 8] [--rounds 1] [--peer/--no-peer] [--tree /work/wt/before]

The peer needs Celery: ``.venv/bin/pip install -c constraints.txt -r bench/requirements.txt``
(``make bench`` does it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import _report as report  # noqa: E402
from bench._peer import celery_missing, label, run_peer  # noqa: E402
from sandbox.testing import run_sandbox  # noqa: E402

#: Issue 16's goal: CPU ms per fetched account, the whole pipeline, the sandbox excluded.
CPU_GOAL_MS = 4.0


def env_for(args: argparse.Namespace, cap: float) -> dict[str, str]:
    return {
        "BBP_MOBIQUITY_RATE_LIMIT": f"{cap:g}",
        "BBP_MOBIQUITY_MAX_IN_FLIGHT": str(args.in_flight),
        "BBP_MOBIQUITY_READ_TIMEOUT": "10",
        "BBP_FETCH_RESULT_TIMEOUT": "60",
        "BBP_FETCH_COMMAND_TTL": "120",
        "BBP_LOG_LEVEL": "WARNING",
        "BBP_SCHEDULER_RESULT_WORKERS": str(args.result_workers),
        **report.settings_from(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    report.pipeline_options(parser)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=32, help="BBP_MOBIQUITY_MAX_IN_FLIGHT")
    parser.add_argument("--caps", default="200,0", help="rate caps to run (0 = no cap)")
    parser.add_argument(
        "--requests", type=int, default=1, help="split the accounts into this many requests"
    )
    parser.add_argument(
        "--result-workers", type=int, default=8, help="BBP_SCHEDULER_RESULT_WORKERS"
    )
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the Celery peer in the same run (default: yes)",
    )
    parser.add_argument(
        "--peer-budget",
        type=float,
        default=60,
        metavar="SECONDS",
        help="cut a peer run short after this long and measure what it did by then "
        "(Celery's rate_limit releases about one task a second here; default 60)",
    )
    args = parser.parse_args()
    servers = report.servers_with_vhosts()
    if args.peer and (why := celery_missing()):
        raise SystemExit(why)
    caps = [float(c) for c in args.caps.split(",")]
    latency = args.latency_ms / 1000
    checkouts = [report.checkout(ROOT), *(report.checkout(t) for t in args.tree)]
    load = report.print_start(
        f"fetch: {args.accounts:,} accounts, sandbox latency {args.latency_ms} ms, max in flight "
        f"{args.in_flight}",
        caps,
        args,
        checkouts,
        f", {args.requests} request(s), {args.result_workers} result workers",
    )
    if args.peer:
        print(report.PEER_NOTE, flush=True)
    runs: list[report.Run] = []
    with run_sandbox() as sandbox:
        for round_ in range(1, args.rounds + 1):
            for cap in caps:
                limit = min(cap or float("inf"), args.in_flight / latency)
                sides = list(checkouts)
                if args.peer:
                    modes = ("pool", "rate_limit") if cap else ("pool",)
                    sides += [
                        report.Side(label(m, cap, args.latency_ms, args.in_flight), mode=m)
                        for m in modes
                    ]
                for side in sides:
                    sandbox.reset()
                    sandbox.configure(base_latency_ms=args.latency_ms)
                    if side.peer:
                        found = run_peer(
                            servers,
                            sandbox,
                            items=args.accounts,
                            cap=cap,
                            latency_ms=args.latency_ms,
                            in_flight=args.in_flight,
                            mode=side.mode or "pool",
                            budget=args.peer_budget,
                        )
                    else:
                        spec = {
                            "kind": "fetch",
                            "items": args.accounts,
                            "cap": cap,
                            "in_flight": args.in_flight,
                            "communicators": args.communicators,
                            "requests": args.requests,
                            "env": env_for(args, cap),
                            "sandbox": report.sandbox_spec(sandbox),
                        }
                        found = report.run_checkout(side, spec, timeout=args.accounts / 10 + 600)
                    calls = report.paced_calls(sandbox)
                    run = report.make_run(round_, cap, side, found, calls, args.accounts, limit)
                    runs.append(run)
                    report.progress(run)
    report.print_end(
        f"{args.accounts:,} accounts, latency {args.latency_ms} ms, max in flight {args.in_flight}",
        load,
    )
    report.print_runs(runs)
    report.print_summary(runs)
    report.print_ratios(runs)
    report.print_goals(runs, CPU_GOAL_MS, "item")
    if args.peer:
        print("\n" + report.PEER_NOTE)


if __name__ == "__main__":
    main()
