"""The wallet breaker opens once per cause (found by the model check, tests/integration/model).

A billpay refused for the paying wallet's MPIN opens the breaker twice: at once from the
communicator that got the answer, and again — "harmlessly", since it is already open — from
the scheduler applying the result. Once a superadmin fixed the MPIN and closed the breaker,
that second opening is not harmless: a result applied late (a scheduler failing over, a
backlog) or applied again (a redelivery) opened the breaker anew for the old cause, stopped
every payment and reported a second opening.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from sqlalchemy import Engine

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.messages import PAY_RESULT
from bbp_common.core.stores import WalletBreaker
from bbp_common.core.stores.breaker import NAME
from bbp_common.platform.db.tables import audit_log, wallet_breaker
from bbp_common.platform.messaging import build
from bbp_portal.payments import operations
from bbp_scheduler.results import Results
from bbp_scheduler.settings import SchedulerSettings
from tests.integration.payments.conftest import ADMIN, SUPER
from tests.integration.payments.test_operations import POLICY
from tests.support.payments import move, payment_rows, seed_bills

S = PaymentState


def _state(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(wallet_breaker.c.state).where(wallet_breaker.c.name == NAME)
        ).scalar_one()


def _openings(engine, reference_id: str) -> int:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.details).where(audit_log.c.action == "wallet_breaker.opened")
        ).scalars()
        return sum(1 for details in rows if reference_id in details)


def _apply(engine, database_url: str, payment) -> None:
    """The scheduler applies the communicator's pay result, as its batch applier does."""
    settings = SchedulerSettings(
        database_url=SecretStr(database_url), amqp_url=SecretStr("amqp://unused/")
    )
    leader = SimpleNamespace(lease=SimpleNamespace(holder="scheduler-test"))
    results = Results(leader, settings, CollectorRegistry())  # type: ignore[arg-type]
    body = {
        "payment_id": payment.id,
        "request_id": payment.request_id,
        "attempt": payment.attempt,
        "reference_id": payment.reference_id,
        "outcome": "rejected",
        "error_code": "Authen01",
        "error_detail_code": "AUTH03",
        "error_message": "Invalid PIN",
        "http_status": 200,
    }
    with engine.begin() as conn:
        results.apply_all(conn, [build(PAY_RESULT.type, body, version=PAY_RESULT.version)])


def claimed_now(engine: Engine, amount: str, key: str) -> tuple[int, Any, Any]:
    """A payment request of one DSCO bill of ``amount``; its payment claimed (sending) now,
    by the database's clock. Returns the request's id, the payment's row and the moment."""
    ids = seed_bills(engine, [("DSCO", amount)])
    request_id = operations.create_payment(engine, ADMIN, ids, key=key, policy=POLICY).request_id
    payment = payment_rows(engine, request_id)[0]
    with engine.connect() as conn:
        claimed_at = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
    move(engine, payment.id, S.DISPATCHED, S.SENDING, sending_at=claimed_at)
    return request_id, payment, claimed_at


def refused_for_the_wallet(engine: Engine, payment: Any) -> None:
    """The communicator got Authen01/AUTH03 for ``payment``'s billpay: it opens the breaker."""
    with engine.begin() as conn:
        assert WalletBreaker(conn, actor="comm").open(
            cause="wallet authentication failed (Authen01/AUTH03)",
            reference_id=payment.reference_id,
            details={},
        )


def test_a_wallet_refusal_from_before_the_breaker_was_closed_does_not_open_it_again(
    engine, database_url
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(wallet_breaker).values(state="closed", closed_at=None))
    request_id, payment, _ = claimed_now(engine, "42.00", "wb1")
    refused_for_the_wallet(engine, payment)  # and the breaker opened at once
    # A superadmin fixed the MPIN and closed it before the scheduler applied that result.
    operations.close_wallet_breaker(engine, SUPER, "MPIN fixed")
    assert _state(engine) == "probing"

    _apply(engine, database_url, payment)  # late
    assert payment_rows(engine, request_id)[0].state == "failed"
    assert _state(engine) == "probing"
    _apply(engine, database_url, payment)  # and again: a redelivery
    assert _state(engine) == "probing"
    assert _openings(engine, payment.reference_id) == 1

    # A payment claimed after the close that is refused for the wallet opens it again.
    _, later, _ = claimed_now(engine, "43.00", "wb2")
    _apply(engine, database_url, later)
    assert _state(engine) == "open"
    assert _openings(engine, later.reference_id) == 1


def test_a_refusal_claimed_in_the_same_instant_as_the_close_does_not_open_it_again(
    engine, database_url
) -> None:
    """Found by a 20 000-step model run (seed 20261208): the model's database clock stands
    still within a step, so the claim and the close carry the same timestamp, and a strict
    ``sending_at < closed_at`` took the old billpay's refusal for a new one. A claim cannot
    follow the close within the same microsecond *and* have been refused for the old MPIN
    in a way that matters: counting it as "before" only delays a reopening to the next
    refusal, while counting it as "after" reopens the breaker for a cause already fixed."""
    with engine.begin() as conn:
        conn.execute(sa.update(wallet_breaker).values(state="closed", closed_at=None))
    _, payment, claimed_at = claimed_now(engine, "44.00", "wb3")
    refused_for_the_wallet(engine, payment)
    operations.close_wallet_breaker(engine, SUPER, "MPIN fixed")
    with engine.begin() as conn:  # the close in the claim's own microsecond
        conn.execute(sa.update(wallet_breaker).values(closed_at=claimed_at))

    _apply(engine, database_url, payment)
    assert _state(engine) == "probing"
    assert _openings(engine, payment.reference_id) == 1
