"""Payment operations through the real pipeline: a person's pause, cancel and resolution
against a running scheduler and communicator, witnessed by the sandbox's ledger.

The portal's operations are called as the pages call them (``bbp_portal.payments.operations``
with the pipeline's engine); the after-commit relay is left out, so the scheduler learns of
each change from its own outbox relay and its re-read of the request.
"""

from __future__ import annotations

import time
from datetime import timedelta

from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.requests.service import cancel_request
from tests.integration.pipeline.test_payments import FINAL, rows, wait_all_final
from tests.support.pipeline import Pipeline, seed_fetched_bills

ADMIN = Actor("admin01", "admin")
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
