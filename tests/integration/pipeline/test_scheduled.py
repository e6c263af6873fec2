"""Scheduled payments and "pay again" through the real pipeline (issue 18, items 3 and 4):
schedulers and a communicator as processes, the sandbox as Mobiquity, its ledger as the
witness that every bill is paid once — with a scheduler SIGKILLed around the start.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bbp_common.core.domain.schedules import Schedule
from bbp_common.platform.db.tables import bills, bulk_requests, request_events
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import again, operations
from tests.integration.pipeline.test_payments import FINAL, ledger, rows, wait_all_final
from tests.support.pipeline import Pipeline, seed_fetched_bills

MAKER = Actor("admin01", "admin")
CHECKER = Actor("admin02", "admin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))


def db_now(pipe: Pipeline) -> datetime:
    with pipe.engine.connect() as conn:
        return conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()  # type: ignore[no-any-return]


def scheduled(pipe: Pipeline, consumers: list[tuple[str, str]], seconds: float, key: str) -> int:
    seeded = seed_fetched_bills(pipe, consumers)
    bill_ids = [ids[0] for ids in seeded.values()]
    start = db_now(pipe) + timedelta(seconds=seconds)
    return operations.create_payment(
        pipe.engine, MAKER, bill_ids, key=key, policy=POLICY, schedule=Schedule(start)
    ).request_id


def start_events(pipe: Pipeline, request_id: int) -> list[Any]:
    with pipe.engine.connect() as conn:
        return conn.execute(
            sa.select(request_events.c.actor).where(
                request_events.c.request_id == request_id,
                request_events.c.from_state == "scheduled",
                request_events.c.to_state == "queued",
            )
        ).all()


def refetches(pipe: Pipeline, request_id: int) -> list[Any]:
    with pipe.engine.connect() as conn:
        return conn.execute(
            sa.select(bulk_requests).where(
                bulk_requests.c.source_request_id == request_id,
                bulk_requests.c.origin == "refetch",
            )
        ).all()


def billpays(pipe: Pipeline) -> list[str]:
    return [c["reference"] for c in pipe.sandbox.ledger()]


def test_a_standby_starts_it_once_when_the_active_scheduler_is_killed(pipeline: Pipeline) -> None:
    """The active scheduler is SIGKILLed before the start: the standby takes the lease and
    starts the request at its time. While the bills are being fetched again (slowly), that
    one is SIGKILLed too and a third finishes. The request started once, its bills were
    fetched again once, and Mobiquity saw each payment once."""
    consumers = [("DSCO", f"6410{i:03d}2") for i in range(6)]
    first = pipeline.start("scheduler", "scheduler-a")
    assert pipeline.leader().name == "scheduler-a"
    second = pipeline.start("scheduler", "scheduler-b")
    pipeline.start("communicator")
    request_id = scheduled(pipeline, consumers, 5, "failover")
    first.kill()  # SIGKILL, before the start: no clean release of the lease
    assert pipeline.request_state(request_id) == "scheduled"

    # Every fetch takes 1.5 s at Mobiquity (below the 2 s read timeout): the fetch at the
    # start is still going on when the standby that started it dies.
    pipeline.sandbox.add_fault(endpoint="fetch", fault="latency", latency_ms=1500)
    pipeline.wait_for(lambda: start_events(pipeline, request_id), 30, "the start")
    assert pipeline.leader().name == "scheduler-b"
    (started,) = start_events(pipeline, request_id)
    assert started.actor == "scheduler:scheduler-b"
    pipeline.wait_for(
        lambda: {r.hold for r in rows(pipeline, request_id)} == {"refetching"}, 20, "the refetch"
    )
    assert billpays(pipeline) == []  # nothing is paid before its bill is fetched again
    pipeline.start("scheduler", "scheduler-c")
    second.signal(signal.SIGKILL)
    second.process.wait(10)

    final = wait_all_final(pipeline, request_id, timeout=90)
    assert {r.state for r in final} == {"posted"}
    pipeline.wait_finished(request_id, 30)
    assert pipeline.leader().name == "scheduler-c"
    # Once: one start, one fetch of the bills again, one billpay per payment.
    assert len(start_events(pipeline, request_id)) == 1
    (refetch,) = refetches(pipeline, request_id)
    assert (refetch.total_items, refetch.state) == (6, "finished")
    sent = billpays(pipeline)
    assert sorted(sent) == sorted(r.reference_id for r in final)
    for payment in final:
        (entry,) = ledger(pipeline, payment.reference_id)
        assert Decimal(entry["amount"]) == payment.total
        # It was paid with the bill of the fetch at the start, not the one it was made from.
        with pipeline.engine.connect() as conn:
            bill = conn.execute(sa.select(bills).where(bills.c.id == payment.bill_id)).one()
        assert bill.fetch_item_id is not None
        assert bill.fetched_at >= payment.due_at


def test_a_changed_amount_waits_for_a_person_and_the_rest_is_paid_on_time(
    pipeline: Pipeline,
) -> None:
    consumers = [("DSCO", "64200012"), ("DESCO", "64200022"), ("JGDCL", "64200032")]
    seeded = seed_fetched_bills(pipeline, consumers)
    changed_bill = seeded[("DSCO", "64200012")][0]
    with pipeline.engine.begin() as conn:  # when we fetched it, it asked 50 BDT less
        conn.execute(
            sa.update(bills).where(bills.c.id == changed_bill).values(amount=bills.c.amount - 50)
        )
    start = db_now(pipeline) + timedelta(seconds=2)
    request_id = operations.create_payment(
        pipeline.engine,
        MAKER,
        [ids[0] for ids in seeded.values()],
        key="changed",
        policy=POLICY,
        schedule=Schedule(start),
    ).request_id
    pipeline.start("scheduler")
    pipeline.start("communicator")

    def settled() -> bool:
        found = {r.consumer_id: r for r in rows(pipeline, request_id)}
        return found["64200012"].hold == "changed" and all(
            r.state in FINAL for c, r in found.items() if c != "64200012"
        )

    pipeline.wait_for(settled, 60, "the others paid, the changed one held")
    found = {r.consumer_id: r for r in rows(pipeline, request_id)}
    held = found["64200012"]
    assert (held.state, held.previous_total + 50) == ("scheduled", held.total)
    assert ledger(pipeline, held.reference_id) == []  # nothing sent for it
    for consumer in ("64200022", "64200032"):
        assert found[consumer].state == "posted"
    time.sleep(2)  # it waits for a person: nothing moves by itself
    assert {r.consumer_id: r.state for r in rows(pipeline, request_id)}["64200012"] == "scheduled"
    assert pipeline.request_state(request_id) in ("queued", "running")

    operations.approve_changed(
        pipeline.engine, CHECKER, request_id, "the new tariff", policy=POLICY
    )
    final = wait_all_final(pipeline, request_id)
    paid = {r.consumer_id: r for r in final}["64200012"]
    assert paid.state == "posted" and paid.total == held.total
    (entry,) = ledger(pipeline, paid.reference_id)
    assert Decimal(entry["amount"]) == held.total
    assert len(refetches(pipeline, request_id)) == 2  # at the start, and after the approval
    pipeline.wait_finished(request_id, 30)


def test_pay_again_pays_a_refused_bill_with_a_new_reference_and_never_a_posted_one(
    pipeline: Pipeline,
) -> None:
    seeded = seed_fetched_bills(pipeline, [("DSCO", "99070012"), ("DESCO", "64300012")])
    first = operations.create_payment(
        pipeline.engine, MAKER, [ids[0] for ids in seeded.values()], key="first", policy=POLICY
    ).request_id
    pipeline.start("scheduler")
    pipeline.start("communicator")
    pipeline.wait_finished(first)
    before = {r.consumer_id: r for r in rows(pipeline, first)}
    assert (before["99070012"].state, before["99070012"].failure) == ("failed", "rejected")
    assert before["64300012"].state == "posted"

    fetch_id = operations.pay_again(pipeline.engine, CHECKER, first).request_id
    pipeline.wait_finished(fetch_id)
    with pipeline.engine.connect() as conn:
        bill_ids, gone = again.fetched_bills(conn, first, fetch_id)
    assert len(bill_ids) == 1 and gone == 0
    second = operations.create_payment(
        pipeline.engine, CHECKER, bill_ids, key="again", policy=POLICY, again=first
    ).request_id
    (retry,) = wait_all_final(pipeline, second)
    assert retry.bill_number == before["99070012"].bill_number
    assert retry.reference_id != before["99070012"].reference_id
    # Mobiquity saw the refused bill twice, each time with its own reference; the posted
    # one once.
    references = billpays(pipeline)
    assert sorted(references) == sorted(
        [before["99070012"].reference_id, before["64300012"].reference_id, retry.reference_id]
    )
