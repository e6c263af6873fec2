"""Benchmark: bulk payment through the whole pipeline (issue 7).

10 000 bills paid through the real scheduler and communicators (processes), RabbitMQ,
MariaDB and the sandbox answering with a fixed latency. Prints the achieved rate divided
by the limit ``min(rate cap, max in flight / latency)`` (goal ≥ 0.95 at a cap of 200/s)
and the duplicates found in the sandbox's ledger (goal: zero), then the ceiling with no cap.

    .venv/bin/python bench/payment_pipeline.py [--bills 10000] [--rate 200] [--latency-ms 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bbp_common.platform.db.tables import (  # noqa: E402
    bill_accounts,
    bills,
    bulk_requests,
    fetch_items,
    payments,
)
from bbp_portal.payments.service import create_payment_request  # noqa: E402
from bench._cpu import cpu_seconds, pids_of, with_children  # noqa: E402
from sandbox.mobiquity.bills import bills_for  # noqa: E402
from sandbox.mobiquity.catalogue import by_utility  # noqa: E402
from sandbox.testing import run_sandbox  # noqa: E402
from tests.conftest import Servers  # noqa: E402
from tests.support.pipeline import Pipeline, create_database, drop_database, new_vhost  # noqa: E402


def seed(pipe: Pipeline, n: int) -> list[int]:
    """n accounts with one pending bill each, stored as a finished fetch would (in bulk)."""
    consumers = [f"8{i:06d}1" for i in range(n)]  # last digit 1: exactly one bill each
    biller = by_utility("DSCO")
    with pipe.engine.begin() as conn:
        conn.execute(
            sa.insert(bill_accounts),
            [
                {"utility_code": "DSCO", "consumer_id": c, "mobile": "01711000000"}
                for c in consumers
            ],
        )
        accounts = dict(
            conn.execute(
                sa.select(bill_accounts.c.consumer_id, bill_accounts.c.id).where(
                    bill_accounts.c.consumer_id.in_(consumers)
                )
            ).all()
        )
        request_id = conn.execute(
            sa.insert(bulk_requests).values(kind="fetch", state="finished", created_by="bench")
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(fetch_items),
            [
                {
                    "request_id": request_id,
                    "bill_account_id": accounts[c],
                    "utility_code": "DSCO",
                    "consumer_id": c,
                    "mobile": "01711000000",
                    "state": "done",
                    "outcome": "bills",
                }
                for c in consumers
            ],
        )
        items = dict(
            conn.execute(
                sa.select(fetch_items.c.consumer_id, fetch_items.c.id).where(
                    fetch_items.c.request_id == request_id
                )
            ).all()
        )
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        rows = []
        for c in consumers:
            (bill,) = bills_for(biller, c)
            rows.append(
                {
                    "fetch_item_id": items[c],
                    "bill_account_id": accounts[c],
                    "utility_code": "DSCO",
                    "consumer_id": c,
                    "bill_number": bill.bill_number,
                    "due_date": bill.due_date,
                    "amount": bill.amount,
                    "service_charge": bill.service_charge,
                    "fetched_at": now,
                }
            )
        conn.execute(sa.insert(bills), rows)
        conn.execute(sa.text("UPDATE wallet_breaker SET state = 'closed'"))  # a proven wallet
        return list(
            conn.execute(
                sa.select(bills.c.id).where(bills.c.fetch_item_id.in_(items.values()))
            ).scalars()
        )


def run_once(servers: Servers, bills_n: int, rate: float, latency_ms: int, in_flight: int) -> dict:
    with run_sandbox() as sandbox:
        sandbox.configure(base_latency_ms=latency_ms)
        name = f"bbp_bench_pay_{uuid.uuid4().hex[:8]}"
        url = create_database(servers.db_url(), name)
        try:
            with new_vhost(servers.rabbitmqctl, servers.amqp_user, servers.amqp_url) as amqp:
                pipe = Pipeline(url, amqp, sandbox)
                try:
                    result = measure(pipe, bills_n, rate, in_flight)
                finally:
                    pipe.stop_all()
                    pipe.engine.dispose()
                return result
        finally:
            drop_database(servers.db_url(), name)


def measure(pipe: Pipeline, bills_n: int, rate: float, in_flight: int) -> dict:
    pipe.seed_billers()
    bill_ids = seed(pipe, bills_n)
    pipe.env_overrides.update(
        BBP_MOBIQUITY_RATE_LIMIT=str(rate),
        BBP_MOBIQUITY_MAX_IN_FLIGHT=str(in_flight),
        BBP_LOG_LEVEL="WARNING",
        BBP_PAY_COMMAND_TTL="60",
        BBP_SWEEP_INTERVAL="2",
    )
    pipe.start("scheduler")
    workers = str(max(32, in_flight))
    pipe.start("communicator", BBP_COMMUNICATOR_PAY_WORKERS=workers)
    pipe.start("communicator", BBP_COMMUNICATOR_PAY_WORKERS=workers)
    components = {
        "scheduler": [
            p for s in pipe.services if s.kind == "scheduler" for p in with_children(s.pid)
        ],
        "communicators": [
            p for s in pipe.services if s.kind == "communicator" for p in with_children(s.pid)
        ],
        "sandbox (stands in for Mobiquity)": with_children(pipe.sandbox.process.pid),
        "mariadb (shared)": pids_of("mariadbd") + pids_of("mysqld"),
        "rabbitmq (shared)": pids_of("beam.smp"),
    }
    cpu_before = {k: sum(cpu_seconds(p) for p in v) for k, v in components.items()}
    created = create_payment_request(pipe.engine, "bench", bill_ids)
    started = time.monotonic()
    pipe.wait_finished(created.request_id, timeout=bills_n / max(rate or 1000, 1) * 4 + 120)
    wall = time.monotonic() - started
    cpu_ms = {
        k: (sum(cpu_seconds(p) for p in v) - cpu_before[k]) * 1000 / bills_n
        for k, v in components.items()
    }
    with pipe.engine.connect() as conn:
        first, last = conn.execute(
            sa.select(
                sa.func.min(payments.c.dispatched_at),
                sa.func.max(payments.c.answered_at),
            ).where(payments.c.request_id == created.request_id)
        ).one()
        states = Counter(
            conn.execute(
                sa.select(payments.c.state).where(payments.c.request_id == created.request_id)
            ).scalars()
        )
    ledger = pipe.sandbox.ledger()
    per_ref = Counter(entry["reference"] for entry in ledger)
    span = (last - first).total_seconds()
    return {
        "achieved": bills_n / span,
        "span": span,
        "wall": wall,
        "states": dict(states),
        "duplicates": sum(1 for count in per_ref.values() if count > 1),
        "ledger": len(ledger),
        "cpu_ms": cpu_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bills", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--max-in-flight", type=int, default=64)
    parser.add_argument("--no-ceiling", action="store_true", help="skip the run without a cap")
    args = parser.parse_args()
    servers = Servers()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    limit = min(args.rate, args.max_in_flight / (args.latency_ms / 1000))
    result = run_once(servers, args.bills, args.rate, args.latency_ms, args.max_in_flight)
    print(
        f"payments: {args.bills} bills, cap {args.rate:g}/s, max in flight {args.max_in_flight}, "
        f"latency {args.latency_ms} ms → limit {limit:g}/s\n"
        f"  achieved {result['achieved']:.1f}/s over {result['span']:.1f} s "
        f"(wall {result['wall']:.1f} s) → achieved ÷ limit = {result['achieved'] / limit:.3f}\n"
        f"  states {result['states']}; ledger {result['ledger']} calls; "
        f"references paid more than once: {result['duplicates']}"
    )
    print(
        "  CPU per payment: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in result["cpu_ms"].items())
        + f" — total {sum(result['cpu_ms'].values()):.1f} ms"
    )
    if not args.no_ceiling:
        ceiling = run_once(servers, args.bills, 0, args.latency_ms, args.max_in_flight)
        print(
            f"  ceiling with no cap: {ceiling['achieved']:.1f}/s "
            f"(max in flight {args.max_in_flight} ÷ latency = "
            f"{args.max_in_flight / (args.latency_ms / 1000):g}/s); "
            f"duplicates {ceiling['duplicates']}"
        )


if __name__ == "__main__":
    main()
