"""A rolling update loses and duplicates nothing: SIGTERM each worker mid-stream.

A communicator told to stop stops consuming, finishes the payments in hand (or hands them
back untouched) and exits 0; a scheduler told to stop ends its term, releases the lease so
the standby takes over at once, and exits 0. With graceful stops, not one payment even
becomes ambiguous: every one is answered and posted, and sent exactly once.
"""

from __future__ import annotations

import time
from collections import Counter

import sqlalchemy as sa

from bbp_common.platform.db.tables import payments
from bbp_portal.payments.service import create_payment_request
from tests.support.pipeline import Pipeline, seed_fetched_bills


def test_sigterm_to_each_worker_mid_stream_loses_and_duplicates_nothing(pipeline: Pipeline) -> None:
    consumers = [("DSCO", f"63{i:05d}2") for i in range(240)]
    seeded = seed_fetched_bills(pipeline, consumers)
    created = create_payment_request(
        pipeline.engine, "admin01", [ids[0] for ids in seeded.values()]
    )
    with pipeline.engine.begin() as conn:
        conn.execute(sa.text("UPDATE wallet_breaker SET state = 'closed'"))
    pipeline.sandbox.configure(base_latency_ms=300)  # payments are in hand when SIGTERM comes
    pipeline.env_overrides.update(BBP_MOBIQUITY_RATE_LIMIT="40")
    first = pipeline.start("communicator", "communicator-a")
    pipeline.start("scheduler", "scheduler-a")
    pipeline.start("scheduler", "scheduler-b")

    def posted() -> int:
        with pipeline.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count()).where(
                    payments.c.request_id == created.request_id, payments.c.state == "posted"
                )
            ).scalar_one()

    pipeline.wait_for(lambda: posted() >= 40, 60, "payments under way")
    pipeline.start("communicator", "communicator-b")  # the rolling update's new replica
    started = time.monotonic()
    assert first.terminate(timeout=60) == 0
    assert time.monotonic() - started < 30  # the in-hand calls finished, then it left

    pipeline.wait_for(lambda: posted() >= 120, 60, "more payments")
    leader = pipeline.leader()
    assert leader.terminate(timeout=60) == 0
    successor = pipeline.leader(timeout=10)  # released, not waited out: taken over at once
    assert successor.name != leader.name

    pipeline.wait_finished(created.request_id, timeout=120)
    with pipeline.engine.connect() as conn:
        states = Counter(
            conn.execute(
                sa.select(payments.c.state).where(payments.c.request_id == created.request_id)
            ).scalars()
        )
    assert states == {"posted": 240}  # not one payment became ambiguous
    ledger = pipeline.sandbox.ledger()
    per_reference = Counter(entry["reference"] for entry in ledger)
    assert len(per_reference) == 240 and set(per_reference.values()) == {1}
