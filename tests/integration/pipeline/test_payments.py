"""Bulk payment through the real pipeline: every money rule, witnessed by the sandbox's ledger.

Each test checks our database *and* the ledger of billpay calls the sandbox received: a
payment is sent at most once, its outcome is classified and never guessed, and a payment
without an answer is only enquired.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pika
import pytest
import sqlalchemy as sa

from bbp_common.core.domain.payments import FINAL_STATES
from bbp_common.core.domain.payments import PaymentState as S
from bbp_common.core.messages import ENQUIRY_NOT_SENT, ENQUIRY_RESULT, PAY_COMMAND, PAY_RESULT
from bbp_common.core.stores import WalletBreaker
from bbp_common.platform.db.tables import (
    billers,
    bills,
    bulk_requests,
    dispatches,
    payment_anomalies,
    payment_events,
    payments,
)
from bbp_common.platform.messaging import EXCHANGE, Outgoing, Publisher, build, setup_topology
from bbp_portal.payments.service import BillsUnavailable, create_payment_request
from tests.support.payments import make_uncleared, move
from tests.support.pipeline import Pipeline, seed_fetched_bills

FINAL = {state.value for state in FINAL_STATES}


def rows(pipe: Pipeline, request_id: int) -> list[Any]:
    with pipe.engine.connect() as conn:
        return conn.execute(
            sa.select(payments).where(payments.c.request_id == request_id).order_by(payments.c.id)
        ).all()


def by_consumer(pipe: Pipeline, request_id: int) -> dict[str, Any]:
    return {row.consumer_id: row for row in rows(pipe, request_id)}


def wait_all_final(pipe: Pipeline, request_id: int, timeout: float = 60) -> list[Any]:
    pipe.wait_for(
        lambda: all(r.state in FINAL for r in rows(pipe, request_id)),
        timeout,
        f"payments of request {request_id} to stop ({[r.state for r in rows(pipe, request_id)]})",
    )
    return rows(pipe, request_id)


def ledger(pipe: Pipeline, reference: str) -> list[dict[str, Any]]:
    return pipe.sandbox.ledger(reference=reference)


def pay(pipe: Pipeline, consumers: list[tuple[str, str]], **kwargs: Any) -> int:
    """Seed the consumers' bills and create one request paying the first bill of each."""
    seeded = seed_fetched_bills(pipe, consumers)
    bill_ids = [ids[0] for ids in seeded.values()]
    return create_payment_request(pipe.engine, "admin01", bill_ids, **kwargs).request_id


def run(pipe: Pipeline, **env: str) -> None:
    pipe.start("scheduler", **env)
    pipe.start("communicator", **env)


def publisher(pipe: Pipeline) -> Publisher:
    setup_topology(pipe.amqp_url, delivery_limit=5)
    pub = Publisher(pipe.amqp_url, confirm_timeout=10).start()
    assert pub.wait_ready(10)
    return pub


def mark_dispatched(pipe: Pipeline, payment_id: int, *, deadline_in: float) -> dict[str, Any]:
    """What the scheduler does before a pay command leaves (for hand-made commands)."""
    with pipe.engine.begin() as conn:
        conn.execute(
            sa.update(payments)
            .where(payments.c.id == payment_id)
            .values(
                state="dispatched",
                attempt=1,
                dispatched_at=sa.func.utc_timestamp(6),
                deadline_at=sa.func.date_add(
                    sa.func.utc_timestamp(6),
                    sa.text(f"INTERVAL {int(deadline_in * 1e6)} MICROSECOND"),
                ),
            )
        )
        row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one()
    return {
        "payment_id": row.id,
        "request_id": row.request_id,
        "attempt": 1,
        "reference_id": row.reference_id,
    }


def pay_command(body: dict[str, Any]) -> Outgoing:
    return Outgoing(EXCHANGE, PAY_COMMAND.routing_key, build(PAY_COMMAND.type, body, version=1))


# --------------------------------------------------------------------------- outcomes


def test_accepted_payments_are_posted_with_mobiquitys_ids_and_sent_once(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "61000002"), ("DESCO", "61000003"), ("JGDCL", "61000005")])
    run(pipeline)
    final = wait_all_final(pipeline, request_id)
    with pipeline.engine.connect() as conn:
        billed = {
            r.id: r
            for r in conn.execute(
                sa.select(
                    bills.c.id,
                    bills.c.amount,
                    bills.c.service_charge,
                    billers.c.pays_service_charge,
                ).select_from(bills.join(billers, billers.c.utility_code == bills.c.utility_code))
            )
        }
    for payment in final:
        assert payment.state == "posted"
        assert payment.order_id and payment.service_request_id
        assert payment.live_bill_key is not None  # posted keeps the bill taken
        calls = ledger(pipeline, payment.reference_id)
        assert len(calls) == 1
        call = calls[0]
        assert call["outcome"] == "accepted"
        assert call["order_id"] == payment.order_id
        assert call["bill_number"] == payment.bill_number
        assert call["consumer_id"] == payment.consumer_id
        # The amount is ours, from the database: the bill's amount (+ service charge where
        # the biller says so), exactly.
        bill = billed[payment.bill_id]
        expected = bill.amount + (bill.service_charge if bill.pays_service_charge else Decimal("0"))
        assert Decimal(call["amount"]) == expected == payment.total
    assert pipeline.request_state(request_id) == "finished"
    assert pipeline.tallies(request_id)["posted"][0] == 3


def test_a_failed_answer_fails_the_payment_with_its_codes_and_frees_the_bill(
    pipeline: Pipeline,
) -> None:
    request_id = pay(pipeline, [("DSCO", "99070002")])
    run(pipeline)
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "failed"
    assert payment.error_code == "TXN01"
    assert payment.error_message
    assert payment.live_bill_key is None
    (call,) = ledger(pipeline, payment.reference_id)
    assert call["outcome"] == "rejected"
    # Freed: the same bill can be paid again, with a new reference id.
    again = create_payment_request(pipeline.engine, "admin01", [payment.bill_id]).request_id
    (second,) = rows(pipeline, again)
    assert second.reference_id != payment.reference_id


def test_http_401_is_rejected_not_retried(pipeline: Pipeline) -> None:
    warm = pay(pipeline, [("DSCO", "61100002")])
    run(pipeline)
    assert wait_all_final(pipeline, warm)[0].state == "posted"  # the communicator holds a token
    pipeline.sandbox.add_fault(endpoint="billpay", fault="token_expired")  # … no longer valid
    request_id = pay(pipeline, [("DSCO", "61100003")])
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "failed"
    billpay_calls = [
        c for c in pipeline.sandbox.calls("billpay") if c["reference"] == payment.reference_id
    ]
    assert len(billpay_calls) == 1  # refused, and never sent again
    assert billpay_calls[0]["status"] == 401
    assert ledger(pipeline, payment.reference_id) == []  # refused, not processed


@pytest.mark.parametrize(
    "bearer",
    [
        pytest.param("true", id="no-token-before-the-claim"),
        pytest.param("false", id="connection-refused-after-the-claim"),
    ],
)
def test_a_payment_that_never_left_goes_back_with_its_reference_then_ends_unsent(
    pipeline: Pipeline, bearer: str
) -> None:
    """Our own trouble never fails a payment (issue 15, defect 6). With the system token
    required, the token cannot be had, so the dispatch is made unclaimable and reported;
    without it, the claim is made and the billpay's connection is refused: NotSent. Either
    way nothing reaches Mobiquity, the payment goes back to the queue with the same reference
    id and a new attempt, ``BBP_PAY_MAX_RETURNS`` times, then ends ``unsent`` (bill freed)."""
    request_id = pay(pipeline, [("DSCO", "61200002")])
    pipeline.start("scheduler", BBP_PAY_MAX_RETURNS="2")
    # Nothing listens on port 9: the connection is refused before any byte leaves.
    pipeline.start(
        "communicator",
        BBP_MOBIQUITY_BASE_URL="http://127.0.0.1:9",
        BBP_MOBIQUITY_BEARER_ON_BILL_CALLS=bearer,
    )
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "unsent"
    assert payment.returns == 3 and payment.attempt == 3
    assert payment.live_bill_key is None
    assert payment.failure is None
    assert pipeline.sandbox.calls("billpay") == []
    with pipeline.engine.connect() as conn:
        events = conn.execute(
            sa.select(payment_events.c.reference_id, payment_events.c.to_state)
            .where(payment_events.c.payment_id == payment.id)
            .order_by(payment_events.c.id)
        ).all()
    assert {e.reference_id for e in events} == {payment.reference_id}
    moves = [e.to_state for e in events]
    assert moves[0] == "queued" and moves[-1] == "unsent"
    assert moves.count("queued") == 3  # created, then back twice with the same reference
    assert "failed" not in moves


def test_no_answer_after_processing_is_enquired_and_cleared_never_resent(
    pipeline: Pipeline,
) -> None:
    request_id = pay(pipeline, [("DSCO", "99020002"), ("DESCO", "99030003"), ("JGDCL", "99050005")])
    run(pipeline)
    final = wait_all_final(pipeline, request_id)
    for payment in final:
        assert payment.state == "succeeded", payment
        assert payment.enquiry_count >= 1
        assert len(ledger(pipeline, payment.reference_id)) == 1  # enquired, never resent
        with pipeline.engine.connect() as conn:
            path = (
                conn.execute(
                    sa.select(payment_events.c.to_state)
                    .where(payment_events.c.payment_id == payment.id)
                    .order_by(payment_events.c.id)
                )
                .scalars()
                .all()
            )
        assert path == ["queued", "dispatched", "sending", "ambiguous", "succeeded"]


def test_not_found_is_no_answer_by_default_and_ends_uncleared(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99040002")])  # HTTP 500 before processing
    run(pipeline)
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "uncleared"
    assert payment.enquiry_count == 3  # the schedule 1s,2s,3s: three enquiries
    assert payment.live_bill_key is not None  # uncleared keeps the bill: a person decides
    assert ledger(pipeline, payment.reference_id) == []
    enquiries = [
        c for c in pipeline.sandbox.calls("enquiry") if c["reference"] == payment.reference_id
    ]
    assert len(enquiries) == 3
    assert pipeline.request_state(request_id) == "finished"


def test_not_found_is_believed_only_when_configured_and_after_the_grace(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99040003")])
    # The grace counts from the claim's answer deadline: send window 0.5 s + connect 1 s +
    # read 1 s = 2.5 s after the claim, + 0.25 s. Enquiry 1 (1 s after the 500) is inside
    # it; enquiry 2 (2 s after that) is past it.
    run(
        pipeline,
        BBP_ENQUIRY_BELIEVE_NOT_FOUND="true",
        BBP_ENQUIRY_NOT_FOUND_GRACE="0.25",
        BBP_PAY_SEND_WINDOW="0.5",
        BBP_MOBIQUITY_READ_TIMEOUT="1",
    )
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "failed" and payment.failure == "not_found"
    assert "not found" in payment.reason
    assert payment.enquiry_count >= 2
    assert ledger(pipeline, payment.reference_id) == []


def test_an_enquiry_that_never_answers_counts_as_no_answer(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99090002")])
    pipeline.sandbox.add_fault(
        endpoint="billpay", fault="drop_after_process", consumer_id="99090002"
    )
    run(pipeline, BBP_ENQUIRY_RESULT_TIMEOUT="2", BBP_MOBIQUITY_READ_TIMEOUT="1")
    (payment,) = wait_all_final(pipeline, request_id, timeout=90)
    assert payment.state == "uncleared"
    assert len(ledger(pipeline, payment.reference_id)) == 1


def test_an_enquiry_saying_pending_posts_the_payment(pipeline: Pipeline) -> None:
    pipeline.sandbox.configure(fulfilment_delay_seconds=600)
    request_id = pay(pipeline, [("DSCO", "99020007")])
    run(pipeline)
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "posted"
    assert payment.order_status in ("PENDING", "INPROGRESS")
    assert len(ledger(pipeline, payment.reference_id)) == 1


def test_an_enquiry_saying_failed_fails_the_payment(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99070008")])  # rejected at Mobiquity …
    pipeline.sandbox.add_fault(
        endpoint="billpay", fault="drop_after_process", consumer_id="99070008"
    )
    run(pipeline)  # … but we never heard it
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "failed"
    assert payment.enquiry_count == 1
    (call,) = ledger(pipeline, payment.reference_id)
    assert call["outcome"] == "rejected"


# --------------------------------------------------------------------------- the claim


def test_a_command_published_twice_without_the_redelivered_flag_is_sent_once(
    pipeline: Pipeline,
) -> None:
    request_id = pay(pipeline, [("DSCO", "62000002")])
    (payment,) = rows(pipeline, request_id)
    body = mark_dispatched(pipeline, payment.id, deadline_in=30)
    pub = publisher(pipeline)
    try:
        pub.publish_batch([pay_command(body), pay_command(body)])  # two messages, same payment
    finally:
        pub.close()
    run(pipeline)
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "posted"
    assert len(ledger(pipeline, payment.reference_id)) == 1
    assert (
        len(
            [c for c in pipeline.sandbox.calls("billpay") if c["reference"] == payment.reference_id]
        )
        == 1
    )


def test_a_redelivered_command_that_was_never_claimed_is_sent_once(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "62100002")])
    (payment,) = rows(pipeline, request_id)
    body = mark_dispatched(pipeline, payment.id, deadline_in=30)
    pub = publisher(pipeline)
    try:
        pub.publish(pay_command(body))
    finally:
        pub.close()
    # A consumer takes the command and dies without acknowledging it: RabbitMQ redelivers it.
    connection = pika.BlockingConnection(pika.URLParameters(pipeline.amqp_url))
    channel = connection.channel()
    method, _props, _body = channel.basic_get("communicator.pay", auto_ack=False)
    assert method is not None and not method.redelivered
    connection.close()
    run(pipeline)
    (payment,) = wait_all_final(pipeline, request_id)
    assert payment.state == "posted"
    assert len(ledger(pipeline, payment.reference_id)) == 1


def test_an_expired_command_is_never_sent_and_its_payment_goes_back_with_its_reference(
    pipeline: Pipeline,
) -> None:
    """A command found past its claim deadline is never sent; the payment provably never
    left, so it goes back to the queue and is paid by the next dispatch (attempt 2) with the
    same reference id — once (issue 15, defect 6)."""
    request_id = pay(pipeline, [("DSCO", "62200002")])
    (payment,) = rows(pipeline, request_id)
    body = mark_dispatched(pipeline, payment.id, deadline_in=-1)  # its deadline passed
    pub = publisher(pipeline)
    try:
        pub.publish(pay_command(body))
    finally:
        pub.close()
    pipeline.start("communicator")
    time.sleep(2)
    assert pipeline.sandbox.calls("billpay") == []
    assert rows(pipeline, request_id)[0].state == "dispatched"  # the scheduler decides
    pipeline.start("scheduler")
    (paid,) = wait_all_final(pipeline, request_id)
    assert paid.state == "posted" and paid.attempt == 2 and paid.returns == 1
    assert paid.reference_id == payment.reference_id
    assert len(ledger(pipeline, payment.reference_id)) == 1


def test_a_sender_killed_mid_call_leaves_the_payment_to_enquiries(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99060002")])  # processed, then answered after 4 s
    pipeline.start("scheduler")
    victim = pipeline.start("communicator", BBP_MOBIQUITY_READ_TIMEOUT="10")
    pipeline.wait_for(
        lambda: len(pipeline.sandbox.ledger(consumer_id="99060002")) == 1, 20, "the call"
    )
    victim.kill()  # mid-call: the payment is `sending`, the command unacknowledged
    pipeline.start("communicator")
    (payment,) = wait_all_final(pipeline, request_id, timeout=60)
    assert payment.state == "succeeded"
    assert len(ledger(pipeline, payment.reference_id)) == 1
    with pipeline.engine.connect() as conn:
        causes = (
            conn.execute(
                sa.select(payment_events.c.cause).where(
                    payment_events.c.payment_id == payment.id,
                    payment_events.c.to_state == "ambiguous",
                )
            )
            .scalars()
            .all()
        )
    assert causes and ("sender" in causes[0])


# --------------------------------------------------------------------------- stop before harm


def breaker(pipe: Pipeline) -> str:
    with pipe.engine.connect() as conn:
        return conn.execute(sa.text("SELECT state FROM wallet_breaker")).scalar_one()


def test_a_wrong_mpin_costs_one_attempt_however_many_payments_wait(pipeline: Pipeline) -> None:
    assert breaker(pipeline) == "probing"  # a new deployment has not proved its wallet yet
    request_id = pay(pipeline, [("DSCO", f"6230{i:03d}2") for i in range(30)])
    pipeline.sandbox.add_fault(endpoint="billpay", fault="wrong_mpin")
    pipeline.start("communicator", BBP_COMMUNICATOR_PAY_WORKERS="64")
    pipeline.start("scheduler", BBP_MOBIQUITY_MAX_IN_FLIGHT="64")
    pipeline.wait_for(lambda: breaker(pipeline) == "open", 30, "the breaker to open")
    time.sleep(2)
    # "Remaining attempts: 3": one wrong MPIN was sent, never a second one.
    assert len(pipeline.sandbox.calls("billpay")) == 1
    states = [r.state for r in rows(pipeline, request_id)]
    assert states.count("failed") == 1 and states.count("queued") == 29

    # A superadmin fixes the MPIN and closes the breaker: one probe, then full speed.
    pipeline.sandbox.clear_faults()
    with pipeline.engine.begin() as conn:
        assert WalletBreaker(conn, actor="test").close(person="superadmin", comment="test")
    assert breaker(pipeline) == "probing"
    final = wait_all_final(pipeline, request_id)
    assert sorted(r.state for r in final).count("posted") == 29
    assert breaker(pipeline) == "closed"


def test_a_wallet_authentication_failure_opens_the_breaker_for_every_request(
    pipeline: Pipeline,
) -> None:
    warm = pay(pipeline, [("DSCO", "62290002")])
    pipeline.start("communicator")
    pipeline.start("scheduler", BBP_MOBIQUITY_RATE_LIMIT="5")
    assert wait_all_final(pipeline, warm)[0].state == "posted"
    assert breaker(pipeline) == "closed"
    first = pay(pipeline, [("DSCO", "99080002")])
    (bad,) = wait_all_final(pipeline, first)
    assert bad.state == "failed" and bad.error_code == "Authen01"
    assert breaker(pipeline) == "open"
    others = pay(pipeline, [("DSCO", f"6230000{d}") for d in (2, 3, 4, 5)])
    time.sleep(3)
    # No claim succeeds for any request until a person closes the breaker.
    assert len(pipeline.sandbox.calls("billpay")) == 2
    assert all(r.state == "queued" for r in rows(pipeline, others))
    with pipeline.engine.begin() as conn:
        assert WalletBreaker(conn, actor="test").close(person="superadmin", comment="test")
    final = wait_all_final(pipeline, others)
    assert {r.state for r in final} == {"posted"}


def test_a_request_whose_last_payments_fail_alike_pauses_itself(pipeline: Pipeline) -> None:
    consumers = [("DSCO", f"9907{i:03d}2") for i in range(10)]  # all refused alike (TXN01)
    request_id = pay(pipeline, consumers)
    run(
        pipeline,
        BBP_AUTO_PAUSE_AFTER="3",
        BBP_MOBIQUITY_RATE_LIMIT="4",
        BBP_MOBIQUITY_MAX_IN_FLIGHT="1",
    )
    pipeline.wait_for(lambda: pipeline.request_state(request_id) == "paused", 60, "the auto-pause")
    with pipeline.engine.connect() as conn:
        reason = conn.execute(
            sa.select(bulk_requests.c.paused_reason).where(bulk_requests.c.id == request_id)
        ).scalar_one()
    assert "TXN01" in reason
    time.sleep(2)
    states = [r.state for r in rows(pipeline, request_id)]
    assert states.count("failed") == 3  # dispatch stopped at the third alike failure
    assert states.count("queued") == 7
    assert len(pipeline.sandbox.calls("billpay")) == 3


def test_a_result_that_disagrees_with_the_final_state_is_kept_for_a_person(
    pipeline: Pipeline,
) -> None:
    request_id = pay(pipeline, [("DSCO", "62500002")])
    (payment,) = rows(pipeline, request_id)
    move(pipeline.engine, payment.id, S.DISPATCHED, S.SENDING, S.FAILED, attempt=1)
    body = {
        "payment_id": payment.id,
        "request_id": request_id,
        "attempt": 1,
        "reference_id": payment.reference_id,
    }
    pipeline.start("scheduler")
    late = build(PAY_RESULT.type, {**body, "outcome": "accepted", "order_id": "1-2-3"}, version=1)
    pub = publisher(pipeline)
    try:
        pub.publish(Outgoing(EXCHANGE, PAY_RESULT.routing_key, late))
    finally:
        pub.close()

    def anomalies() -> list[Any]:
        with pipeline.engine.connect() as conn:
            return conn.execute(sa.select(payment_anomalies)).all()

    (anomaly,) = pipeline.wait_for(anomalies, 20, "the anomaly")
    assert anomaly.reference_id == payment.reference_id
    assert anomaly.state_at_receipt == "failed"
    assert json.loads(anomaly.result)["order_id"] == "1-2-3"
    assert rows(pipeline, request_id)[0].state == "failed"  # kept, not applied


def enquiring(pipe: Pipeline, payment_id: int, *, enquiries_done: int) -> None:
    """Ambiguous, ``enquiries_done`` enquiries counted, the next one out now."""
    move(
        pipe.engine,
        payment_id,
        S.DISPATCHED,
        S.SENDING,
        S.AMBIGUOUS,
        enquiry_count=enquiries_done,
        enquiry_sent_at=datetime.utcnow(),
    )


def _publish_enquiry_result(pipe: Pipeline, payment: Any, number: int, outcome: str) -> None:
    _publish_enquiry_body(
        pipe,
        {
            "payment_id": payment.id,
            "reference_id": payment.reference_id,
            "enquiry_number": number,
            "outcome": outcome,
            "order_id": "9-9-9",
        },
    )


def _publish_enquiry_body(pipe: Pipeline, body: dict[str, Any]) -> None:
    """An ``enquiry.result`` as a communicator would publish it."""
    pub = publisher(pipe)
    try:
        message = build(ENQUIRY_RESULT.type, body, version=1)
        pub.publish(Outgoing(EXCHANGE, ENQUIRY_RESULT.routing_key, message))
    finally:
        pub.close()


def test_a_definitive_enquiry_answer_for_an_uncleared_payment_reaches_a_person(
    pipeline: Pipeline,
) -> None:
    """Uncleared waits for a person: Mobiquity's late "succeeded" must be in front of them
    (kept as an anomaly), not dropped — or "not paid" could pay the bill a second time."""
    request_id = pay(pipeline, [("DSCO", "62500003")])
    (payment,) = rows(pipeline, request_id)
    make_uncleared(pipeline.engine, payment.id)
    pipeline.start("scheduler")
    _publish_enquiry_result(pipeline, payment, 5, "succeeded")

    def anomalies() -> list[Any]:
        with pipeline.engine.connect() as conn:
            return conn.execute(
                sa.select(payment_anomalies).where(payment_anomalies.c.payment_id == payment.id)
            ).all()

    (anomaly,) = pipeline.wait_for(anomalies, 20, "the anomaly")
    assert anomaly.state_at_receipt == "uncleared"
    assert json.loads(anomaly.result)["outcome"] == "succeeded"
    assert rows(pipeline, request_id)[0].state == "uncleared"  # a person decides


def test_a_late_but_definitive_enquiry_answer_settles_an_ambiguous_payment(
    pipeline: Pipeline,
) -> None:
    """The answer to enquiry 1 arrives after enquiry 2 left: it is Mobiquity's word all the
    same, and settles the payment rather than being dropped as late."""
    request_id = pay(pipeline, [("DSCO", "62500004")])
    (payment,) = rows(pipeline, request_id)
    enquiring(pipeline, payment.id, enquiries_done=1)
    pipeline.start("scheduler", BBP_ENQUIRY_SCHEDULE="1h,2h")
    _publish_enquiry_result(pipeline, payment, 1, "succeeded")
    pipeline.wait_for(lambda: rows(pipeline, request_id)[0].state == "succeeded", 20, "settled")
    (settled,) = rows(pipeline, request_id)
    assert settled.order_id == "9-9-9" and settled.enquiry_sent_at is None


def test_a_bill_that_went_stale_while_queued_is_cancelled_not_paid(pipeline: Pipeline) -> None:
    """Fresh when the request was made, stale when its turn came (paused for days, an open
    breaker): the dispatcher cancels the payment instead of sending it, and frees the bill."""
    request_id = pay(pipeline, [("DSCO", "62500005"), ("DSCO", "62500006")])
    stale, fresh = rows(pipeline, request_id)
    with pipeline.engine.begin() as conn:
        conn.execute(
            sa.update(bills)
            .where(bills.c.id == stale.bill_id)
            .values(
                fetched_at=sa.func.date_sub(sa.func.utc_timestamp(6), sa.text("INTERVAL 2 DAY"))
            )
        )
    run(pipeline)
    final = {r.id: r for r in wait_all_final(pipeline, request_id)}
    assert final[stale.id].state == "cancelled" and final[stale.id].live_bill_key is None
    assert "fetch it again" in final[stale.id].reason
    assert final[fresh.id].state in ("posted", "succeeded")
    assert ledger(pipeline, stale.reference_id) == []  # never sent
    assert len(ledger(pipeline, fresh.reference_id)) == 1


def test_a_command_already_dispatched_when_the_breaker_opens_is_not_sent(
    pipeline: Pipeline,
) -> None:
    """The claim itself checks the breaker: a pay command that left before the breaker opened
    goes back to queued instead of reaching Mobiquity (the dispatcher's check is not enough)."""
    request_id = pay(pipeline, [("DSCO", "62500007")])
    (payment,) = rows(pipeline, request_id)
    body = mark_dispatched(pipeline, payment.id, deadline_in=60)
    with pipeline.engine.begin() as conn:
        WalletBreaker(conn, actor="test").open(
            cause="test: wrong MPIN", reference_id=None, details={}
        )
    pub = publisher(pipeline)
    try:
        pub.publish(pay_command(body))
    finally:
        pub.close()
    pipeline.start("communicator")  # alone: nothing re-dispatches it
    pipeline.wait_for(lambda: rows(pipeline, request_id)[0].state == "queued", 30, "the refusal")
    assert ledger(pipeline, payment.reference_id) == []
    assert pipeline.sandbox.calls("billpay") == []


def test_an_enquiry_that_expired_unsent_does_not_count(pipeline: Pipeline) -> None:
    """An enquiry command that waited too long in a backlog was never put to Mobiquity: it is
    asked again, and not counted among the enquiries that lead to uncleared."""
    request_id = pay(pipeline, [("DSCO", "62500008")])
    (payment,) = rows(pipeline, request_id)
    enquiring(pipeline, payment.id, enquiries_done=0)
    pipeline.start("scheduler", BBP_ENQUIRY_SCHEDULE="1h")
    body = {
        "payment_id": payment.id,
        "reference_id": payment.reference_id,
        "enquiry_number": 1,
        "outcome": "unknown",
        "reason": ENQUIRY_NOT_SENT,
    }
    _publish_enquiry_body(pipeline, body)

    def enquiry_dispatches() -> int:
        with pipeline.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(dispatches)
                .where(dispatches.c.kind == "enquiry", dispatches.c.item_id == payment.id)
            ).scalar_one()

    pipeline.wait_for(lambda: enquiry_dispatches() >= 1, 20, "the enquiry asked again")
    (again,) = rows(pipeline, request_id)
    assert again.state == "ambiguous" and again.enquiry_count == 0  # not counted


def test_enquiries_go_on_while_the_request_is_paused(pipeline: Pipeline) -> None:
    request_id = pay(pipeline, [("DSCO", "99020009")])  # processed, then no answer
    run(pipeline, BBP_ENQUIRY_SCHEDULE="3s,6s")
    pipeline.wait_for(lambda: rows(pipeline, request_id)[0].state == "ambiguous", 30, "ambiguity")
    with pipeline.engine.begin() as conn:
        conn.execute(
            sa.update(bulk_requests).where(bulk_requests.c.id == request_id).values(state="paused")
        )
    # Paused: no payment of it is dispatched any more, but the money that may have moved is
    # still enquired.
    pipeline.wait_for(lambda: rows(pipeline, request_id)[0].state == "succeeded", 30, "the enquiry")
    (payment,) = rows(pipeline, request_id)
    assert len(ledger(pipeline, payment.reference_id)) == 1


# --------------------------------------------------------------------------- dispatch order


def seed_with_due_dates(
    pipe: Pipeline, due: dict[tuple[str, str], date | None]
) -> dict[tuple[str, str], int]:
    """Seed one bill per account and give each the due date asked for; returns bill ids."""
    seeded = seed_fetched_bills(pipe, list(due))
    bill_ids = {account: ids[0] for account, ids in seeded.items()}
    with pipe.engine.begin() as conn:
        for account, due_date in due.items():
            conn.execute(
                sa.update(bills).where(bills.c.id == bill_ids[account]).values(due_date=due_date)
            )
    return bill_ids


def test_payments_are_dispatched_oldest_due_date_first_undated_last(pipeline: Pipeline) -> None:
    """Caught breaches (checked by breaking the code): undated bills ordered first, payments
    created in bill-id order, and the dispatcher ignoring ``dispatch_order``."""
    # Bills are seeded (so numbered) in an order that is neither due-date order nor its
    # reverse, the undated one first: dispatching by bill id, payment id, created order or
    # "nulls first" would each show up as a different order of billpay calls.
    due = {
        ("DSCO", "63300011"): None,
        ("DSCO", "63300023"): date(2024, 5, 20),
        ("DSCO", "63300033"): date(2024, 3, 1),
        ("DSCO", "63300043"): date(2024, 6, 1),
        ("DSCO", "63300053"): date(2024, 4, 15),
    }
    bill_ids = seed_with_due_dates(pipeline, due)
    request_id = create_payment_request(
        pipeline.engine, "admin01", list(bill_ids.values())
    ).request_id
    # One payment in flight at a time: Mobiquity receives them strictly in dispatch order.
    run(pipeline, BBP_MOBIQUITY_MAX_IN_FLIGHT="1", BBP_MOBIQUITY_RATE_LIMIT="10")
    final = wait_all_final(pipeline, request_id, timeout=30)
    assert {r.state for r in final} == {"posted"}
    consumer_of = {r.reference_id: r.consumer_id for r in final}
    sent = [consumer_of[c["reference"]] for c in pipeline.sandbox.calls("billpay")]
    assert sent == ["63300033", "63300053", "63300023", "63300043", "63300011"]


# --------------------------------------------------------------------------- creating


def test_a_bill_can_be_in_one_live_payment_only(pipeline: Pipeline) -> None:
    seeded = seed_fetched_bills(pipeline, [("DSCO", "62700002")])
    bill_id = seeded[("DSCO", "62700002")][0]
    create_payment_request(pipeline.engine, "admin01", [bill_id])
    with pytest.raises(BillsUnavailable) as refused:
        create_payment_request(pipeline.engine, "admin02", [bill_id])
    assert "already in live payment" in refused.value.problems[bill_id]
    # The database itself refuses a second live payment of the bill, whatever the code does.
    with pipeline.engine.begin() as conn:
        live = conn.execute(sa.select(payments).where(payments.c.bill_id == bill_id)).one()
        copy = {c: getattr(live, c) for c in live._fields if c not in ("id", "reference_id")}
        with pytest.raises(sa.exc.IntegrityError):
            conn.execute(sa.insert(payments).values(**copy, reference_id="X" * 20))


def test_the_same_confirmation_creates_one_request(pipeline: Pipeline) -> None:
    seeded = seed_fetched_bills(pipeline, [("DSCO", "62800002")])
    bill_ids = seeded[("DSCO", "62800002")]
    first = create_payment_request(pipeline.engine, "admin01", bill_ids, idempotency_key="k-1")
    second = create_payment_request(pipeline.engine, "admin01", bill_ids, idempotency_key="k-1")
    assert second.request_id == first.request_id and second.existing
