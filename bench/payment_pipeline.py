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
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _report as report  # noqa: E402
from sandbox.testing import run_sandbox  # noqa: E402

#: Issue 16's goal: CPU ms per payment, the whole pipeline, the sandbox excluded.
CPU_GOAL_MS = 5.0


def env_for(args: argparse.Namespace, cap: float) -> dict[str, str]:
    return {
        "BBP_MOBIQUITY_RATE_LIMIT": f"{cap:g}",
        "BBP_MOBIQUITY_MAX_IN_FLIGHT": str(args.max_in_flight),
        "BBP_LOG_LEVEL": "WARNING",
        "BBP_PAY_COMMAND_TTL": "60",
        "BBP_SWEEP_INTERVAL": "2",
        **report.settings_from(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    report.pipeline_options(parser)
    parser.add_argument("--bills", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the run without a cap")
    args = parser.parse_args()
    report.servers_with_vhosts()
    caps = [args.rate] if args.no_ceiling else [args.rate, 0.0]
    latency = args.latency_ms / 1000
    checkouts = [report.checkout(ROOT), *(report.checkout(t) for t in args.tree)]
    load = report.print_start(
        f"payments: {args.bills:,} bills, sandbox latency {args.latency_ms} ms, max in flight "
        f"{args.max_in_flight}",
        caps,
        args,
        checkouts,
    )
    runs: list[report.Run] = []
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
                        "sandbox": report.sandbox_spec(sandbox),
                    }
                    found = report.run_checkout(side, spec, timeout=args.bills / 5 + 600)
                    calls = report.paced_calls(sandbox)
                    paid = Counter(entry["reference"] for entry in sandbox.ledger())
                    run = report.make_run(
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
                    report.progress(run)
                    print(
                        f"  states {found['states']}; ledger {sum(paid.values())} billpays; "
                        f"references paid more than once: {run.extra['duplicates']}",
                        flush=True,
                    )
    report.print_end(
        f"{args.bills:,} bills, latency {args.latency_ms} ms, max in flight {args.max_in_flight}",
        load,
    )
    report.print_runs(runs, extra_column=("duplicates", "duplicates"))
    report.print_summary(runs)
    report.print_ratios(runs)
    report.print_goals(runs, CPU_GOAL_MS, "payment")
    duplicates = sum(r.extra["duplicates"] for r in runs)
    print(f"references paid more than once, all runs: {duplicates} (goal: zero)")


if __name__ == "__main__":
    main()
