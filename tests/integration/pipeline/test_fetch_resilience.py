"""Pacing, fairness and crash recovery of the fetch pipeline, with real processes."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from typing import Any

import pika
import sqlalchemy as sa

from bbp_common.platform.db.tables import dispatches, fetch_items
from bbp_portal.requests.service import create_fetch_request
from bbp_scheduler.pacing import max_in_any_window
from tests.support.pipeline import Pipeline, Service


def accounts(prefix: str, n: int, utility: str = "DSCO") -> list[tuple[str, str]]:
    # Last digits 2..9 and 0/1: every consumer id has 0 to 3 bills; none is a magic fault id.
    return [(utility, f"{prefix}{i:05d}") for i in range(n)]


def items_in(pipe: Pipeline, request_id: int, state: str) -> int:
    """How many of the fetch request's items are in ``state``."""
    with pipe.engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).where(
                fetch_items.c.request_id == request_id, fetch_items.c.state == state
            )
        ).scalar_one()


def done_count(pipe: Pipeline, request_id: int) -> int:
    return items_in(pipe, request_id, "done")


def lease_token(pipe: Pipeline) -> int:
    with pipe.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT fencing_token FROM leases WHERE name='scheduler'")
        ).scalar_one()


def test_dispatches_never_exceed_the_cap_in_any_second(pipeline: Pipeline) -> None:
    pipeline.env_overrides.update(BBP_MOBIQUITY_RATE_LIMIT="40", BBP_MOBIQUITY_MAX_IN_FLIGHT="64")
    pipeline.sandbox.configure(base_latency_ms=20)
    ids = pipeline.add_accounts(accounts("4100", 300))
    pipeline.start("scheduler")
    pipeline.start("communicator", BBP_COMMUNICATOR_FETCH_WORKERS="64")
    pipeline.start("communicator", BBP_COMMUNICATOR_FETCH_WORKERS="64")
    created = create_fetch_request(pipeline.engine, "admin01", ids)
    pipeline.wait_finished(created.request_id, timeout=60)

    with pipeline.engine.connect() as conn:
        recorded = conn.execute(sa.select(dispatches.c.dispatched_at)).scalars().all()
    assert len(recorded) >= 300
    assert max_in_any_window(recorded) <= 40  # the scheduler's own records: exactly the cap
    seen = [datetime.fromtimestamp(c["ts"], UTC) for c in pipeline.sandbox.calls("fetch")]
    assert len(seen) >= 300
    # What Mobiquity sees: the cap plus a small jitter allowance. Commands leave at or after
    # their slots, one interval apart, but a communicator starved of CPU for a moment (this
    # machine runs everything on two cores) makes the calls that queued meanwhile together.
    # 15 % covers that; a pacing fault (a burst, a doubled rate) would be far beyond it.
    assert max_in_any_window(seen) <= 40 * 1.15


def dispatched_count(pipe: Pipeline, request_id: int) -> int:
    return items_in(pipe, request_id, "dispatched")


def queue_depth(pipe: Pipeline, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(pipe.amqp_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def test_a_communicator_outage_leaves_a_backlog_of_at_most_the_in_flight_maximum(
    pipeline: Pipeline,
) -> None:
    pipeline.env_overrides.update(BBP_MOBIQUITY_MAX_IN_FLIGHT="12")
    ids = pipeline.add_accounts(accounts("4200", 120))
    pipeline.start("scheduler")
    created = create_fetch_request(pipeline.engine, "admin01", ids)
    # Commands travel several to a message (batches): count the items dispatched, and that
    # the messages holding them wait in the queue.
    pipeline.wait_for(lambda: dispatched_count(pipeline, created.request_id) >= 12, 20, "a backlog")
    waiting = queue_depth(pipeline, "communicator.fetch")
    time.sleep(2)  # the scheduler keeps looking: it must not add more
    assert dispatched_count(pipeline, created.request_id) == 12
    assert waiting >= 1 and queue_depth(pipeline, "communicator.fetch") == waiting
    pipeline.start("communicator")
    pipeline.wait_finished(created.request_id, timeout=60)
    assert done_count(pipeline, created.request_id) == 120


def test_a_communicator_killed_mid_request_loses_no_item(pipeline: Pipeline) -> None:
    pipeline.sandbox.configure(base_latency_ms=100)
    ids = pipeline.add_accounts(accounts("4300", 400))
    pipeline.start("scheduler")
    victim = pipeline.start("communicator")
    pipeline.start("communicator")
    created = create_fetch_request(pipeline.engine, "admin01", ids)
    pipeline.wait_for(lambda: done_count(pipeline, created.request_id) >= 100, 30, "progress")
    victim.kill()
    pipeline.wait_finished(created.request_id, timeout=90)
    assert done_count(pipeline, created.request_id) == 400
    with pipeline.engine.connect() as conn:
        failed = conn.execute(
            sa.select(sa.func.count()).where(
                fetch_items.c.request_id == created.request_id, fetch_items.c.outcome == "failed"
            )
        ).scalar_one()
    assert failed == 0


def under_way_with_a_standby(pipeline: Pipeline, prefix: str, count: int) -> tuple[Service, Any]:
    """Two schedulers (a leader, a standby) and a communicator; a fetch of ``count`` accounts
    (``prefix``…), each answered in 50 ms, is under way: 50 are done. Returns the leader and
    the request."""
    pipeline.sandbox.configure(base_latency_ms=50)
    ids = pipeline.add_accounts(accounts(prefix, count))
    pipeline.start("scheduler", "scheduler-a")
    pipeline.start("scheduler", "scheduler-b")
    pipeline.start("communicator")
    leader = pipeline.leader()
    created = create_fetch_request(pipeline.engine, "admin01", ids)
    pipeline.wait_for(lambda: done_count(pipeline, created.request_id) >= 50, 30, "progress")
    return leader, created


def test_the_standby_replaces_a_killed_leader_within_15_seconds(pipeline: Pipeline) -> None:
    leader, created = under_way_with_a_standby(pipeline, "4400", 500)
    token = lease_token(pipeline)
    leader.kill()
    killed_at = time.monotonic()
    successor = pipeline.wait_for(
        lambda: lease_token(pipeline) > token and pipeline.leader(timeout=1), 20, "a new leader"
    )
    assert successor.name != leader.name
    assert time.monotonic() - killed_at < 15
    pipeline.wait_finished(created.request_id, timeout=90)
    assert done_count(pipeline, created.request_id) == 500


def test_a_leader_frozen_past_its_lease_writes_nothing_when_it_wakes(pipeline: Pipeline) -> None:
    leader, created = under_way_with_a_standby(pipeline, "4500", 600)
    old_token = lease_token(pipeline)
    leader.signal(signal.SIGSTOP)
    try:
        pipeline.wait_for(lambda: lease_token(pipeline) > old_token, 20, "the standby to take over")
        with pipeline.engine.connect() as conn:
            before = conn.execute(
                sa.select(sa.func.count()).where(dispatches.c.fencing_token == old_token)
            ).scalar_one()
    finally:
        leader.signal(signal.SIGCONT)
    time.sleep(4)  # the old leader runs again: every write it tries must fail its lease check
    with pipeline.engine.connect() as conn:
        after = conn.execute(
            sa.select(sa.func.count()).where(dispatches.c.fencing_token == old_token)
        ).scalar_one()
    assert after == before
    assert leader.alive()
    pipeline.wait_finished(created.request_id, timeout=90)
    assert done_count(pipeline, created.request_id) == 600
    woke = [
        line
        for line in leader.log_lines()
        if line.get("event") in ("lease_lost", "term_lost_lease")
    ]
    assert woke, "the frozen leader should notice it lost the lease"


def test_a_small_request_started_after_a_large_one_finishes_long_before_it(
    pipeline: Pipeline,
) -> None:
    pipeline.env_overrides.update(BBP_MOBIQUITY_RATE_LIMIT="100")
    big = pipeline.add_accounts(accounts("4600", 1500))
    small = pipeline.add_accounts(accounts("4700", 10, utility="DESCO"))
    pipeline.start("scheduler")
    pipeline.start("communicator")
    large = create_fetch_request(pipeline.engine, "admin01", big)
    pipeline.wait_for(lambda: done_count(pipeline, large.request_id) >= 100, 30, "progress")
    at_start = done_count(pipeline, large.request_id)
    little = create_fetch_request(pipeline.engine, "admin02", small)
    pipeline.wait_finished(little.request_id, timeout=60)
    # Round-robin: the small request's 10 accounts took turns with the large one's, so
    # it finished after only a few dozen more of the large request's accounts.
    assert pipeline.request_state(large.request_id) == "running"
    assert done_count(pipeline, large.request_id) - at_start < 200
