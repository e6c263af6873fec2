"""Payment operations through the real pipeline: a person's pause, cancel and resolution
against a running scheduler and communicator, witnessed by the sandbox's ledger.

The portal's operations are called as the pages call them (``bbp_portal.payments.operations``
with the pipeline's engine); the after-commit relay is left out, so the scheduler learns of
each change from its own outbox relay and its re-read of the request.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal

from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.payments.service import cancel_request
from tests.integration.pipeline.test_payments import (
    FINAL,
    ledger,
    rows,
    run,
    seed_with_due_dates,
    wait_all_final,
)
from tests.support.pipeline import Pipeline, seed_fetched_bills

ADMIN = Actor("admin01", "admin")
CHECKER = Actor("admin02", "admin")
SUPER = Actor("superadmin", "superadmin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))


def create(pipe: Pipeline, consumers: list[tuple[str, str]], key: str) -> int:
    seeded = seed_fetched_bills(pipe, consumers)
    bill_ids = [ids[0] for ids in seeded.values()]
    return operations.create_payment(
        pipe.engine, ADMIN, bill_ids, key=key, policy=POLICY
    ).request_id


def billpay_references(pipe: Pipeline) -> list[str]:
    return [c["reference"] for c in pipe.sandbox.calls("billpay")]


def test_after_pause_no_further_payment_is_dispatched(pipeline: Pipeline) -> None:
    request_id = create(pipeline, [("DSCO", f"6310{i:03d}2") for i in range(12)], "pause")
    pipeline.start("scheduler", BBP_MOBIQUITY_RATE_LIMIT="3", BBP_MOBIQUITY_MAX_IN_FLIGHT="1")
    pipeline.start("communicator")
    pipeline.wait_for(
        lambda: sum(r.state in FINAL for r in rows(pipeline, request_id)) >= 2, 30, "two paid"
    )
    operations.pause(pipeline.engine, ADMIN, request_id, "checking something")
    # Everything not queued now was dispatched before the pause committed.
    started = {r.id for r in rows(pipeline, request_id) if r.state != "queued"}
    assert 2 <= len(started) < 12
    time.sleep(3)  # > 9 dispatch slots at 3/s: a leak would show
    now = rows(pipeline, request_id)
    assert {r.id for r in now if r.state != "queued"} == started
    # … and what was in flight finished: sent once each, nothing else reached Mobiquity
    pipeline.wait_for(
        lambda: all(r.state in FINAL for r in rows(pipeline, request_id) if r.id in started),
        20,
        "in-flight payments to finish",
    )
    sent = billpay_references(pipeline)
    assert sorted(sent) == sorted(r.reference_id for r in now if r.id in started)
    assert pipeline.request_state(request_id) == "paused"

    operations.resume(pipeline.engine, ADMIN, request_id)
    final = wait_all_final(pipeline, request_id)
    assert {r.state for r in final} == {"posted"}
    assert sorted(billpay_references(pipeline)) == sorted(r.reference_id for r in final)
    pipeline.wait_finished(request_id, 30)


def test_cancel_leaves_in_flight_payments_to_finish(pipeline: Pipeline) -> None:
    # Every billpay takes 1.5 s at Mobiquity (under the 2 s read timeout): payments spend
    # long enough in flight to be caught there by the cancel.
    pipeline.sandbox.add_fault(endpoint="billpay", fault="latency", latency_ms=1500)
    request_id = create(pipeline, [("DESCO", f"6320{i:03d}3") for i in range(8)], "cancel")
    pipeline.start("scheduler", BBP_MOBIQUITY_RATE_LIMIT="4", BBP_MOBIQUITY_MAX_IN_FLIGHT="2")
    pipeline.start("communicator")
    pipeline.wait_for(
        lambda: any(r.state == "sending" for r in rows(pipeline, request_id)), 30, "a send"
    )
    cancelled = cancel_request(pipeline.engine, request_id, ADMIN.login_id)
    at_cancel = {r.id: r.state for r in rows(pipeline, request_id)}
    in_flight = {i for i, s in at_cancel.items() if s in ("dispatched", "sending")}
    assert in_flight and cancelled == sum(s == "cancelled" for s in at_cancel.values())
    assert cancelled >= 1
    final = wait_all_final(pipeline, request_id, timeout=60)
    for payment in final:
        if payment.id in in_flight or at_cancel[payment.id] == "posted":
            assert payment.state == "posted", payment  # finished, not cut off
        else:
            assert payment.state == "cancelled" and payment.live_bill_key is None
    # Mobiquity saw exactly the payments that were not cancelled, each once.
    assert sorted(billpay_references(pipeline)) == sorted(
        r.reference_id for r in final if r.state != "cancelled"
    )
    assert pipeline.request_state(request_id) == "cancelled"


def test_resolving_not_paid_lets_the_bill_be_paid_again_with_a_new_reference(
    pipeline: Pipeline,
) -> None:
    request_id = create(pipeline, [("DSCO", "99040012")], "uncleared")  # HTTP 500, then nothing
    pipeline.start("scheduler")
    pipeline.start("communicator")
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "uncleared"
    assert pipeline.sandbox.ledger(reference=payment.reference_id) == []  # never processed
    operations.resolve(
        pipeline.engine, SUPER, payment.id, "not_paid", "not in the Mobiquity report"
    )
    # The bill is free again. (The sandbox's 9904 rule fails this consumer's every billpay
    # before processing, so the new payment ends uncleared too: what matters is that it is
    # a new payment with a new reference id, and that billpay received it once.)
    again = operations.create_payment(
        pipeline.engine, ADMIN, [payment.bill_id], key="again", policy=POLICY
    ).request_id
    (second,) = rows(pipeline, again)
    assert second.bill_id == payment.bill_id
    assert second.reference_id != payment.reference_id
    pipeline.wait_for(
        lambda: second.reference_id in billpay_references(pipeline), 30, "the second billpay"
    )
    references = billpay_references(pipeline)
    assert references.count(payment.reference_id) == 1  # the first was sent once, never again
    assert references.count(second.reference_id) == 1


def test_nothing_of_a_request_awaiting_approval_is_dispatched_before_approval(
    pipeline: Pipeline,
) -> None:
    """Caught breaches (checked by breaking the code): the portal storing the request as
    ``queued`` despite the threshold, and the dispatcher taking ``awaiting_approval`` requests
    for runnable — either way its billpays reach the sandbox during the wait."""
    # Every bill is over 100 BDT: a threshold of 1 BDT sends the request to a checker.
    maker_checker = operations.PayPolicy(
        max_bill_age=timedelta(hours=24), approval_threshold=Decimal("1")
    )
    seeded = seed_fetched_bills(pipeline, [("DSCO", f"6340{i:03d}3") for i in range(4)])
    created = operations.create_payment(
        pipeline.engine,
        ADMIN,
        [ids[0] for ids in seeded.values()],
        key="needs-approval",
        policy=maker_checker,
    )
    assert created.awaiting_approval
    waiting = created.request_id
    references = {r.reference_id for r in rows(pipeline, waiting)}
    # A request under no threshold, created at the same time, witnesses that the scheduler
    # and the communicator were dispatching and paying all along.
    control = create(pipeline, [("DESCO", "63410003")], "no-approval")
    run(pipeline)
    (paid,) = wait_all_final(pipeline, control, timeout=30)
    assert paid.state == "posted"
    time.sleep(3)  # many dispatch rounds and relay polls: a leak would have been sent by now
    assert not references & set(billpay_references(pipeline))
    assert {r.state for r in rows(pipeline, waiting)} == {"queued"}
    assert pipeline.request_state(waiting) == "awaiting_approval"

    operations.approve(
        pipeline.engine, CHECKER, waiting, "checked", max_bill_age=maker_checker.max_bill_age
    )
    final = wait_all_final(pipeline, waiting, timeout=30)
    assert {r.state for r in final} == {"posted"}
    sent = billpay_references(pipeline)
    assert all(sent.count(reference) == 1 for reference in references)
    assert sorted(sent) == sorted(references | {paid.reference_id})
    pipeline.wait_finished(waiting, 30)


def test_enquiries_go_on_while_the_request_is_cancelled(pipeline: Pipeline) -> None:
    """Caught breaches (checked by breaking the code): the dispatcher skipping the enquiries of
    a cancelled request (the ambiguous payment never settles), and a cancel that leaves the
    queued payments to be dispatched (they reach Mobiquity)."""
    # The ambiguous payment's bill is due first, so it is dispatched first; each billpay
    # takes 1 s and one payment is in flight at a time, so when it turns ambiguous the
    # others are (nearly all) still queued.
    ambiguous = ("DSCO", "99020009")  # processed, then the connection drops: no answer
    due = {ambiguous: date(2024, 1, 1)}
    due |= {("DSCO", f"6350{i:03d}3"): date(2024, 2, 1 + i) for i in range(5)}
    bill_ids = seed_with_due_dates(pipeline, due)
    request_id = operations.create_payment(
        pipeline.engine, ADMIN, list(bill_ids.values()), key="cancel-ambiguous", policy=POLICY
    ).request_id
    pipeline.sandbox.add_fault(endpoint="billpay", fault="latency", latency_ms=1000)
    run(
        pipeline,
        BBP_ENQUIRY_SCHEDULE="3s,6s",
        BBP_MOBIQUITY_MAX_IN_FLIGHT="1",
        BBP_MOBIQUITY_RATE_LIMIT="5",
    )
    first = next(r for r in rows(pipeline, request_id) if r.consumer_id == ambiguous[1])
    pipeline.wait_for(
        lambda: (
            next(r for r in rows(pipeline, request_id) if r.id == first.id).state == "ambiguous"
        ),
        30,
        "ambiguity",
    )
    cancelled = cancel_request(pipeline.engine, request_id, ADMIN.login_id)
    calls_at_cancel = max(c["seq"] for c in pipeline.sandbox.calls())
    at_cancel = {r.id: r.state for r in rows(pipeline, request_id)}
    assert at_cancel[first.id] == "ambiguous"  # not yet enquired: the first enquiry is at 3 s
    queued = {i for i, s in at_cancel.items() if s == "cancelled"}
    assert cancelled == len(queued) >= 3

    final = {r.id: r for r in wait_all_final(pipeline, request_id, timeout=30)}
    # The ambiguous payment was enquired after the cancel, and settled by the answer.
    assert final[first.id].state == "succeeded"
    assert any(
        c["reference"] == first.reference_id and c["seq"] > calls_at_cancel
        for c in pipeline.sandbox.calls("enquiry")
    )
    # The queued ones were cancelled, their bills freed, and never sent.
    for payment_id in queued:
        assert final[payment_id].state == "cancelled" and final[payment_id].live_bill_key is None
    # Nothing was paid twice: Mobiquity got one billpay for each payment not cancelled.
    sent = billpay_references(pipeline)
    assert sorted(sent) == sorted(r.reference_id for r in final.values() if r.id not in queued)
    for payment in final.values():
        assert len(ledger(pipeline, payment.reference_id)) == (0 if payment.id in queued else 1)
    assert pipeline.request_state(request_id) == "cancelled"
