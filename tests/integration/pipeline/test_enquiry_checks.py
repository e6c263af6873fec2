"""A person's "check now" and the breaker's notice through the real pipeline (issue 17).

A real scheduler and communicator, RabbitMQ, MariaDB and the Mobiquity sandbox, whose call
log and ledger witness what reached Mobiquity: "check now" is one more *enquiry*, sent by the
dispatcher (a ``dispatches`` row: through the pace), never a second billpay, and never one of
the N enquiries the schedule allows; on an uncleared payment its answer is recorded for the
person who resolves it, never applied. The wallet breaker, opened by the communicator and
again by the scheduler for the same wrong PIN, tells every superadmin once per opening.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import (
    audit_log,
    dispatches,
    notifications,
    payment_anomalies,
    payments,
    users,
)
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import checks, operations
from bbp_portal.payments.service import create_payment_request
from bbp_portal.service_errors import Conflict
from tests.support.pipeline import Pipeline, seed_fetched_bills

SUPER = Actor("checker", "superadmin")


def pay(pipe: Pipeline, consumer: str) -> Any:
    seeded = seed_fetched_bills(pipe, [("DSCO", consumer)])
    request_id = create_payment_request(pipe.engine, "admin01", seeded[("DSCO", consumer)][:1])
    return row(pipe, request_id=request_id.request_id)


def row(pipe: Pipeline, *, request_id: int | None = None, payment_id: int | None = None) -> Any:
    where = payments.c.request_id == request_id if request_id else payments.c.id == payment_id
    with pipe.engine.connect() as conn:
        return conn.execute(sa.select(payments).where(where)).one()


def enquiries_of(pipe: Pipeline, reference: str) -> list[dict[str, Any]]:
    return [c for c in pipe.sandbox.calls("enquiry") if c["reference"] == reference]


def enquiry_dispatches(pipe: Pipeline, payment_id: int) -> int:
    with pipe.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(dispatches)
                .where(dispatches.c.kind == "enquiry", dispatches.c.item_id == payment_id)
            ).scalar_one()
        )


def run(pipe: Pipeline, **env: str) -> None:
    pipe.start("scheduler", **env)
    pipe.start("communicator", **env)


def checked(pipe: Pipeline, payment_id: int, answers: int) -> Any:
    """Wait until the payment's check was answered ``answers`` times in all."""

    def answered() -> Any:
        found = row(pipe, payment_id=payment_id)
        done = found.check_outcome is not None and found.check_requested_at is None
        return found if done else None

    return pipe.wait_for(answered, 30, f"check {answers} of payment {payment_id} answered")


def test_check_now_is_one_more_enquiry_through_the_pace_and_never_counted(
    pipeline: Pipeline,
) -> None:
    payment = pay(pipeline, "99040021")  # billpay: HTTP 500 before processing
    run(pipeline, BBP_ENQUIRY_SCHEDULE="1h,2h")  # no scheduled enquiry during the test
    pipeline.wait_for(
        lambda: row(pipeline, payment_id=payment.id).state == "ambiguous", 30, "ambiguous"
    )
    ambiguous = row(pipeline, payment_id=payment.id)
    assert ambiguous.enquiry_count == 0 and ambiguous.enquiry_total == 2
    assert enquiries_of(pipeline, payment.reference_id) == []

    checks.check_now(pipeline.engine, SUPER, payment.id)
    first = checked(pipeline, payment.id, 1)
    assert first.check_outcome == "not_found"  # Mobiquity never had it
    assert first.state == "ambiguous" and first.enquiry_count == 0  # not one of the N
    assert first.enquiry_due_at == ambiguous.enquiry_due_at  # the schedule goes on as it was
    assert len(enquiries_of(pipeline, payment.reference_id)) == 1
    assert enquiry_dispatches(pipeline, payment.id) == 1  # the dispatcher sent it, paced

    checks.check_now(pipeline.engine, SUPER, payment.id)  # and again: still not counted
    second = checked(pipeline, payment.id, 2)
    assert second.enquiry_count == 0 and second.check_answered_at > first.check_answered_at
    assert len(enquiries_of(pipeline, payment.reference_id)) == 2
    # An enquiry, never a resend: one billpay reached Mobiquity, and it processed none.
    billpays = [c for c in pipeline.sandbox.calls("billpay") if c["consumer_id"] == "99040021"]
    assert len(billpays) == 1
    assert pipeline.sandbox.ledger(reference=payment.reference_id) == []
    with pipeline.engine.connect() as conn:
        asked = conn.execute(
            sa.select(audit_log.c.actor).where(
                audit_log.c.action == "payment.check_requested",
                audit_log.c.target_id == str(payment.id),
            )
        ).scalars()
        assert list(asked) == ["checker", "checker"]


def test_check_now_settles_an_ambiguous_payment_by_mobiquitys_answer(pipeline: Pipeline) -> None:
    payment = pay(pipeline, "99020022")  # processed, but the answer never came back
    run(pipeline, BBP_ENQUIRY_SCHEDULE="1h,2h")
    pipeline.wait_for(
        lambda: row(pipeline, payment_id=payment.id).state == "ambiguous", 30, "ambiguous"
    )
    checks.check_now(pipeline.engine, SUPER, payment.id)
    pipeline.wait_for(
        lambda: row(pipeline, payment_id=payment.id).state == "succeeded", 30, "settled"
    )
    settled = row(pipeline, payment_id=payment.id)
    assert settled.enquiry_count == 0 and settled.check_outcome == "succeeded"
    assert len(pipeline.sandbox.ledger(reference=payment.reference_id)) == 1  # paid once


def test_check_now_on_an_uncleared_payment_is_recorded_for_a_person_never_applied(
    pipeline: Pipeline,
) -> None:
    payment = pay(pipeline, "99020023")  # processed (paid!), the answer lost
    # Its one scheduled enquiry fails too: it ends uncleared although Mobiquity has it.
    pipeline.sandbox.add_fault(
        endpoint="enquiry",
        fault="error_500_before_process",
        reference=payment.reference_id,
        times=1,
    )
    run(pipeline, BBP_ENQUIRY_SCHEDULE="1s")
    pipeline.wait_for(
        lambda: row(pipeline, payment_id=payment.id).state == "uncleared", 40, "uncleared"
    )
    checks.check_now(pipeline.engine, SUPER, payment.id)
    found = checked(pipeline, payment.id, 1)
    assert found.state == "uncleared" and found.check_outcome == "succeeded"
    assert found.enquiry_count == 1
    with pipeline.engine.connect() as conn:
        (anomaly,) = conn.execute(
            sa.select(payment_anomalies).where(payment_anomalies.c.payment_id == payment.id)
        ).all()
    assert anomaly.result_kind == "enquiry.succeeded"
    # Mobiquity says it was paid: "not paid" (which would free the bill) waits for a person
    # to acknowledge that answer.
    with pytest.raises(Conflict) as refused:
        operations.resolve(pipeline.engine, SUPER, payment.id, "not_paid", "not in the report")
    assert refused.value.code == "success_unacknowledged"
    assert row(pipeline, payment_id=payment.id).state == "uncleared"
    assert len(pipeline.sandbox.ledger(reference=payment.reference_id)) == 1


def test_the_breaker_opening_tells_each_superadmin_once_per_opening(pipeline: Pipeline) -> None:
    with pipeline.engine.begin() as conn:
        conn.execute(
            sa.insert(users),
            [
                {
                    "login_id": login,
                    "email": f"{login}@bbp.example",
                    "mobile": mobile,
                    "role": role,
                    "active": active,
                }
                for login, mobile, role, active in (
                    ("boss1", "01711000001", "superadmin", True),
                    ("boss2", "01811000002", "superadmin", True),
                    ("gone", "01911000003", "superadmin", False),
                    ("admin01", "01611000004", "admin", True),
                )
            ],
        )
    seeded = seed_fetched_bills(pipeline, [("DSCO", "99080031"), ("DSCO", "99080042")])
    bill_ids = [ids[0] for ids in seeded.values()]
    create_payment_request(pipeline.engine, "admin01", bill_ids)
    run(pipeline)

    def told() -> list[tuple[str, str]]:
        with pipeline.engine.connect() as conn:
            rows = conn.execute(
                sa.select(notifications.c.params, notifications.c.channel).where(
                    notifications.c.kind == "wallet_breaker_opened"
                )
            ).all()
        return sorted((json.loads(r.params)["login_id"], r.channel) for r in rows)

    def failed() -> int:
        with pipeline.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(payments)
                    .where(payments.c.state == "failed")
                ).scalar_one()
            )

    once = [("boss1", "email"), ("boss1", "sms"), ("boss2", "email"), ("boss2", "sms")]
    # The first wrong PIN: the communicator opens the breaker, then the scheduler applies the
    # same result (and opens it again, harmlessly).
    pipeline.wait_for(lambda: failed() == 1, 30, "the first wrong PIN's result applied")
    assert told() == once
    operations.close_wallet_breaker(pipeline.engine, SUPER, "MPIN fixed")
    # The probe is the second wrong PIN: a new opening, told once more.
    pipeline.wait_for(lambda: failed() == 2, 30, "the second wrong PIN's result applied")
    assert told() == sorted(once * 2)
    assert len(pipeline.sandbox.calls("billpay")) == 2
