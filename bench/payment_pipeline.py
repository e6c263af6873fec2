"""Benchmark: bulk payment through the whole pipeline (issues 7 and 16).

Bills paid through the real scheduler and communicators (processes), RabbitMQ, MariaDB and
the sandbox answering with a fixed latency (one sandbox for the whole run, reset before each
run), each run on a database and a vhost of its own: ``n`` accounts with one pending bill each
stored as a finished fetch would, the wallet already proven (breaker closed), one payment
request of them all.

Printed for each run: payments/s (first dispatch → last answer, the database's clock), the
limit ``min(max in flight ÷ latency, cap)`` and the ratio (goal ≥ 0.97 at a cap of 200/s),
the busiest one-second window of our dispatch records and of the sandbox's own call times
(never above the cap), the unused slot time, the references paid more than once in the
sandbox's ledger (goal: zero), CPU ms per payment by component (goal ≤ 5 ms, the sandbox
excluded) and the 1-minute load average at both ends; then the run with no cap (the
ceiling), medians over ``--rounds`` interleaved rounds, and — with ``--tree PATH`` — the same
for another checkout with its own ``.venv`` (e.g. the code before a change), interleaved::

    .venv/bin/python bench/payment_pipeline.py [--bills 10000] [--rate 200] [--latency-ms 50]
        [--max-in-flight 64] [--no-ceiling] [--rounds 1] [--tree /work/wt/before]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._report import (  # noqa: E402
    Run,
    checkout,
    make_run,
    print_goals,
    print_ratios,
    print_runs,
    print_summary,
    progress,
    run_checkout,
    sandbox_spec,
)
from sandbox.testing import run_sandbox  # noqa: E402
from tests.conftest import Servers  # noqa: E402

#: Issue 16's goal: CPU ms per payment, the whole pipeline, the sandbox excluded.
CPU_GOAL_MS = 5.0
PACED = ("fetch", "billpay", "enquiry")


def env_for(args: argparse.Namespace, cap: float) -> dict[str, str]:
    return {
        "BBP_MOBIQUITY_RATE_LIMIT": f"{cap:g}",
        "BBP_MOBIQUITY_MAX_IN_FLIGHT": str(args.max_in_flight),
        "BBP_LOG_LEVEL": "WARNING",
        "BBP_PAY_COMMAND_TTL": "60",
        "BBP_SWEEP_INTERVAL": "2",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bills", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the run without a cap")
    parser.add_argument("--communicators", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds of every side")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="PATH",
        help="also run the pipeline of this checkout (its own .venv); repeatable",
    )
    args = parser.parse_args()
    servers = Servers()
    servers.rabbitmqctl = servers.rabbitmqctl or shutil.which("rabbitmqctl") or ""
    if not servers.rabbitmqctl:
        raise SystemExit("needs rabbitmqctl (a vhost of the benchmark's own)")
    caps = [args.rate] if args.no_ceiling else [args.rate, 0.0]
    latency = args.latency_ms / 1000
    checkouts = [checkout(ROOT), *(checkout(t) for t in args.tree)]
    load = os.getloadavg()[0]
    print(
        f"payments: {args.bills:,} bills, sandbox latency {args.latency_ms} ms, max in flight "
        f"{args.max_in_flight}, caps {', '.join(f'{c:g}/s' if c else 'none' for c in caps)}, "
        f"{args.rounds} round(s), {args.communicators} communicators\n"
        f"checkouts: {', '.join(f'{s.label} ({s.tree})' for s in checkouts)}\n"
        f"machine: {os.cpu_count()} cores, shared with other sessions' work; 1-minute load "
        f"average {load:.1f} at the start",
        flush=True,
    )
    runs: list[Run] = []
    with run_sandbox() as sandbox:
        for round_ in range(1, args.rounds + 1):
            for cap in caps:
                limit = min(cap or float("inf"), args.max_in_flight / latency)
                for side in checkouts:
                    sandbox.reset()
                    sandbox.configure(base_latency_ms=args.latency_ms)
                    spec = {
                        "kind": "payments",
                        "items": args.bills,
                        "cap": cap,
                        "in_flight": args.max_in_flight,
                        "communicators": args.communicators,
                        "env": env_for(args, cap),
                        "sandbox": sandbox_spec(sandbox),
                    }
                    found = run_checkout(side, spec, timeout=args.bills / 5 + 600)
                    calls = [c["ts"] for c in sandbox.calls() if c["endpoint"] in PACED]
                    paid = Counter(entry["reference"] for entry in sandbox.ledger())
                    run = make_run(
                        round_,
                        cap,
                        side,
                        found,
                        calls,
                        args.bills,
                        limit,
                        duplicates=sum(1 for n in paid.values() if n > 1),
                    )
                    runs.append(run)
                    progress(run)
                    print(
                        f"  states {found['states']}; ledger {sum(paid.values())} billpays; "
                        f"references paid more than once: {run.extra['duplicates']}",
                        flush=True,
                    )
    print(
        f"\n{args.bills:,} bills, latency {args.latency_ms} ms, max in flight "
        f"{args.max_in_flight}; 1-minute load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} shared cores"
    )
    print_runs(runs, extra_column=("duplicates", "duplicates"))
    print_summary(runs)
    print_ratios(runs)
    print_goals(runs, CPU_GOAL_MS, "payment")
    duplicates = sum(r.extra["duplicates"] for r in runs)
    print(f"references paid more than once, all runs: {duplicates} (goal: zero)")


if __name__ == "__main__":
    main()
