"""The crash test: 2 000 payments while everything that can die, dies.

During one 2 000-bill payment request the communicator and the scheduler are each killed
with SIGKILL at random moments (at least five times each, a replacement started each time),
RabbitMQ closes every connection once, and the sandbox drops 5 % of billpay answers after
processing them. Afterwards every payment must be in a state where the machine stops, the
ledger must hold at most one billpay call per reference id and per bill, and our states
must agree with the ledger — amounts included, every ledger entry one payment of ours — and
every payment's events must tell its whole path with its reference id. Nothing that never
left may be failed. The counts are printed.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bbp_common.core.domain.payments import FINAL_STATES
from bbp_common.platform.db.tables import payment_events, payments
from bbp_portal.payments.service import create_payment_request
from tests.conftest import Servers
from tests.support.pipeline import Pipeline, seed_fetched_bills

FINAL = {state.value for state in FINAL_STATES}
BILLS = 2000


def close_all_connections(servers: Servers, amqp_url: str) -> None:
    vhost = amqp_url.rsplit("/", 1)[1]
    subprocess.run(
        [servers.rabbitmqctl, "close_all_connections", "-p", vhost, "crash test"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_two_thousand_payments_through_kills_and_lost_answers(
    pipeline: Pipeline, servers: Servers
) -> None:
    consumers = [("DSCO", f"7{i:06d}{1 + i % 9}") for i in range(BILLS)]  # every one has a bill
    seeded = seed_fetched_bills(pipeline, consumers)
    created = create_payment_request(
        pipeline.engine, "admin01", [ids[0] for ids in seeded.values()]
    )
    assert created.items == BILLS
    with pipeline.engine.begin() as conn:  # this deployment's wallet is known to be good
        conn.execute(sa.text("UPDATE wallet_breaker SET state = 'closed'"))
    pipeline.sandbox.configure(base_latency_ms=30)
    pipeline.sandbox.add_fault(endpoint="billpay", fault="drop_after_process", probability=0.05)
    env = {
        "BBP_MOBIQUITY_RATE_LIMIT": "80",
        "BBP_MOBIQUITY_MAX_IN_FLIGHT": "32",
        "BBP_AUTO_PAUSE_AFTER": "0",
    }
    pipeline.env_overrides.update(env)
    pipeline.start("scheduler", "scheduler-a")
    pipeline.start("scheduler", "scheduler-b")
    pipeline.start("communicator", "communicator-a")
    pipeline.start("communicator", "communicator-b")

    kills: Counter[str] = Counter()
    stop = threading.Event()
    rng = random.Random(20261125)

    def chaos() -> None:
        generation = 0
        closed = False
        while not stop.is_set() and (kills["scheduler"] < 5 or kills["communicator"] < 5):
            stop.wait(rng.uniform(1.0, 2.5))
            kind = "scheduler" if kills["scheduler"] <= kills["communicator"] else "communicator"
            alive = [s for s in pipeline.services if s.kind == kind and s.alive()]
            if kind == "scheduler" and kills["scheduler"] % 2 == 0:
                victim = pipeline.leader(timeout=15)  # the active one, most of the time
            else:
                victim = rng.choice(alive)
            victim.kill()
            kills[kind] += 1
            generation += 1
            pipeline.start(kind, f"{kind}-{generation}")
            if not closed and sum(kills.values()) == 4:
                close_all_connections(servers, pipeline.amqp_url)
                closed = True

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    chaos_thread.start()
    chaos_thread.join(timeout=240)
    stop.set()
    assert kills["scheduler"] >= 5 and kills["communicator"] >= 5

    def states() -> Counter[str]:
        with pipeline.engine.connect() as conn:
            return Counter(
                conn.execute(
                    sa.select(payments.c.state).where(payments.c.request_id == created.request_id)
                ).scalars()
            )

    pipeline.wait_for(lambda: set(states()) <= FINAL, 240, f"every payment to stop ({states()})")

    with pipeline.engine.connect() as conn:
        ours = conn.execute(
            sa.select(payments).where(payments.c.request_id == created.request_id)
        ).all()
        events = conn.execute(
            sa.select(
                payment_events.c.payment_id,
                payment_events.c.reference_id,
                payment_events.c.from_state,
                payment_events.c.to_state,
            )
            .where(payment_events.c.payment_id.in_([p.id for p in ours]))
            .order_by(payment_events.c.id)
        ).all()
    ledger: list[dict[str, Any]] = pipeline.sandbox.ledger()
    per_reference = Counter(entry["reference"] for entry in ledger)
    per_bill = Counter((entry["consumer_id"], entry["bill_number"]) for entry in ledger)
    by_reference = {entry["reference"]: entry for entry in ledger}
    final_states = Counter(p.state for p in ours)
    dropped = sum(1 for entry in ledger if entry["answered"] == "dropped")

    print(
        f"\ncrash test: {BILLS} payments; kills {dict(kills)}; RabbitMQ connections closed once;"
        f" answers dropped after processing: {dropped}\n"
        f"  final states: {dict(final_states)}\n"
        f"  ledger: {len(ledger)} billpay calls for {len(per_reference)} references;"
        f" most per reference: {max(per_reference.values(), default=0)};"
        f" most per bill: {max(per_bill.values(), default=0)}"
    )

    assert set(final_states) <= FINAL
    assert max(per_reference.values(), default=0) <= 1, "a payment was sent twice"
    assert max(per_bill.values(), default=0) <= 1, "a bill was paid twice"
    # Every ledger entry is one payment of ours, in a state where it may have been sent.
    by_ours = {p.reference_id: p for p in ours}
    for entry in ledger:
        mine = by_ours.get(entry["reference"])
        assert mine is not None, f"Mobiquity has a billpay we do not know: {entry}"
        assert mine.state in ("posted", "succeeded", "failed", "uncleared"), (mine, entry)
    for p in ours:
        entry = by_reference.get(p.reference_id)
        if p.state in ("posted", "succeeded"):
            assert entry is not None and entry["outcome"] == "accepted", p
            assert Decimal(entry["amount"]) == p.total, (p, entry)  # the amount we hold
        if p.state == "failed":
            # Only Mobiquity's answer fails a payment: our crashes never do.
            assert entry is not None and entry["outcome"] == "rejected", p
            assert p.failure in ("rejected", "enquiry"), p
        if p.state in ("unsent", "cancelled"):
            assert entry is None, p
    # What we hold as paid equals Mobiquity's ledger (uncleared apart: a person decides).
    paid = sum((p.total for p in ours if p.state in ("posted", "succeeded")), Decimal("0"))
    accepted = sum(
        (
            Decimal(e["amount"])
            for e in ledger
            if e["outcome"] == "accepted" and by_ours[e["reference"]].state != "uncleared"
        ),
        Decimal("0"),
    )
    assert paid == accepted
    # Every change is evented with its reference id; each chain is continuous and ends where
    # the payment stands.
    chains: dict[int, list[Any]] = {}
    for event in events:
        chains.setdefault(event.payment_id, []).append(event)
    for p in ours:
        chain = chains[p.id]
        assert chain[0].from_state is None and chain[-1].to_state == p.state, p
        assert {e.reference_id for e in chain} == {p.reference_id}
        for before, after in itertools.pairwise(chain):
            assert after.from_state == before.to_state, (p, before, after)
    assert final_states["posted"] + final_states["succeeded"] >= BILLS * 0.8
