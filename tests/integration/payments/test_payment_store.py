"""The payment store against the real database: the defects issue 15 found, one test each.

Each test drives the real store, the real claim, the real scheduler handlers and the real
communicator handler in-process (a fake Mobiquity client, a list for a broker), so the path
that failed is the path under test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import Engine

from bbp_common.core.domain.payments import EnquiryOutcome, EnquiryPolicy, PaymentState, ReturnRule
from bbp_common.core.domain.requests import RequestState
from bbp_common.core.messages import ENQUIRY_NOT_SENT
from bbp_common.core.stores import PaymentStore, RequestStore, WalletBreaker
from bbp_common.core.stores.claims import ClaimRequest, ClaimResult, claim
from bbp_common.platform.db.clock import DbClock
from bbp_common.platform.db.engine import utcnow
from bbp_common.platform.db.tables import payment_events, payments
from bbp_common.platform.envelope import decode
from bbp_common.platform.messaging import build
from bbp_communicator.handlers import Communicator
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.payments.service import cancel_request
from bbp_portal.service_errors import Conflict
from bbp_scheduler.db import LeaderDb
from bbp_scheduler.lease import Lease
from bbp_scheduler.results import Results
from bbp_scheduler.settings import SchedulerSettings
from bbp_scheduler.sweeper import Sweeper
from mobiquity_client import Accepted, EnquiryNotFound, MobiquityUnavailable
from tests.support.payments import move, payment_rows, seed_bills

S = PaymentState
ADMIN = Actor("store-admin", "admin")
SUPER = Actor("store-super", "superadmin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))


def one_payment(engine: Engine, key: str, amount: str = "25.00") -> Any:
    ids = seed_bills(engine, [("DSCO", amount)])
    request_id = operations.create_payment(engine, ADMIN, ids, key=key, policy=POLICY).request_id
    (row,) = payment_rows(engine, request_id)
    return row


def dispatch(engine: Engine, payment_id: int, *, ttl: float = 30) -> int:
    """Mark it dispatched as the dispatcher does; returns the new attempt number."""
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test-dispatcher")
        (moved,) = store.dispatch({payment_id: store.now()}, ttl)
    return moved.attempt


def state(engine: Engine, payment_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one()


#: A pay result saying the billpay never left (the connection was refused).
NOT_SENT = {"outcome": "not_sent", "reason": "not sent (connect_refused)"}


def pay_command(row: Any, attempt: int) -> dict[str, Any]:
    """The body of the pay command of ``row``'s ``attempt`` (a pay result's first fields)."""
    return {
        "payment_id": row.id,
        "request_id": row.request_id,
        "attempt": attempt,
        "reference_id": row.reference_id,
    }


def claim_one(engine: Engine, payment_id: int, attempt: int, *, redelivered: bool = False) -> Any:
    """The communicator's claim of one attempt (send window 5 s, answer window 18 s) in a
    transaction of its own; returns what the claim found."""
    with engine.begin() as conn:
        (found,) = claim(
            PaymentStore(conn, actor="c"),
            WalletBreaker(conn, actor="c"),
            [ClaimRequest(payment_id, attempt, redelivered=redelivered)],
            send_window=5,
            answer_window=18,
        )
    return found


def scheduler(engine: Engine, database_url: str, name: str, **settings: Any) -> Results:
    values: dict[str, Any] = {
        "database_url": SecretStr(database_url),
        "amqp_url": SecretStr("amqp://guest:guest@127.0.0.1:1/%2F"),
        "enquiry_schedule": "1s,2s,3s",
        **settings,
    }
    config = SchedulerSettings(**values)
    lease_name = f"test-{name}"[:64]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT IGNORE INTO leases (name) VALUES (%s)", (lease_name,))
    lease = Lease(engine, name, 30, name=lease_name)
    assert lease.try_acquire()
    return Results(LeaderDb(engine, lease), config, registry=None)


@pytest.fixture()
def results(engine: Engine, database_url: str, request: pytest.FixtureRequest) -> Results:
    return scheduler(engine, database_url, request.node.name[:40])


def delivered(kind: str, body: dict[str, Any]) -> Any:
    """A message as a consumer receives it: built, encoded, decoded through its schema."""
    return decode(build(kind, body, version=1).to_json())


def apply(results: Results, *bodies: tuple[str, dict[str, Any]]) -> None:
    messages = [build(kind, body, version=1) for kind, body in bodies]
    results.db.write(lambda conn, _t: results.apply_all(conn, messages))


# --------------------------------------------------------------------------- defect 1


def test_a_cancelled_requests_payment_refused_by_an_open_breaker_is_cancelled(engine) -> None:
    """Defect 1: it went back to ``queued`` and stayed there for good, holding its bill."""
    row = one_payment(engine, "d1-breaker")
    attempt = dispatch(engine, row.id)
    cancel_request(engine, row.request_id, "store-admin")
    with engine.begin() as conn:
        WalletBreaker(conn, actor="test").open(cause="test", reference_id=None, details={})
    try:
        with engine.begin() as conn:
            store = PaymentStore(conn, actor="test-communicator")
            (found,) = claim(
                store,
                WalletBreaker(conn, actor="test"),
                [ClaimRequest(row.id, attempt)],
                send_window=5,
                answer_window=18,
            )
        assert found.result is ClaimResult.BREAKER_OPEN
        after = state(engine, row.id)
        assert after.state == "cancelled" and after.live_bill_key is None
    finally:
        with engine.begin() as conn:
            WalletBreaker(conn, actor="test").close(person="test", comment="")
            WalletBreaker(conn, actor="test").confirm(reference_id="test")


def test_a_cancelled_requests_lost_command_is_cancelled_by_the_sweeper(
    engine, database_url
) -> None:
    """Defect 1, the sweeper's path: a lost command of a cancelled request is not requeued."""
    row = one_payment(engine, "d1-sweep")
    dispatch(engine, row.id, ttl=-120)  # its claim deadline long passed: the command is lost
    cancel_request(engine, row.request_id, "store-admin")
    results = scheduler(engine, database_url, "d1-sweep", pay_requeue_grace=1)
    Sweeper(results.db, results.settings, results).sweep()
    after = state(engine, row.id)
    assert after.state == "cancelled" and after.live_bill_key is None


def test_a_cancelled_requests_unpublished_command_is_cancelled(engine) -> None:
    """Defect 1, the dispatcher's revert after a failed publish."""
    row = one_payment(engine, "d1-revert")
    dispatch(engine, row.id)
    cancel_request(engine, row.request_id, "store-admin")
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test-dispatcher")
        locked = store.lock([row.id])[row.id]
        store.never_left([locked], "command not published", counted=False)
    assert state(engine, row.id).state == "cancelled"


# --------------------------------------------------------------------------- defect 2


class FakeClient:
    """The Mobiquity client as the communicator sees it, recording what it was asked."""

    def __init__(self, *, token: Callable[[], str] | None = None) -> None:
        self.token = token or (lambda: "token")
        self.paid: list[tuple[str, float | None]] = []
        self.enquired: list[str] = []
        self.monotonic_at_pay: list[float] = []

    def system_token(self) -> str:
        return self.token()

    def pay_bill(self, payment: Any, *, send_by: float | None = None) -> Any:
        self.paid.append((payment.reference, send_by))
        return Accepted(payment.reference, "ORD-1", "SUCCEEDED", None, "SR-1", 200, 0.01)

    def enquire_payment(self, reference: str) -> Any:
        self.enquired.append(reference)
        return EnquiryNotFound(reference, "Generic05")


def communicator(engine: Engine, client: FakeClient, skew: timedelta) -> tuple[Communicator, list]:
    reported: list[Any] = []
    publisher = SimpleNamespace(publish=lambda message, timeout=None: reported.append(message))
    clock = DbClock(engine, local=lambda: utcnow() + skew)
    clock.measure()
    handlers = Communicator(
        engine=engine,
        client=client,  # type: ignore[arg-type]
        publisher=publisher,  # type: ignore[arg-type]
        name="test-communicator",
        clock=clock,
        send_window=5,
        answer_window=18,
    )
    return handlers, reported


@pytest.mark.parametrize("skew_minutes", [5, -5])
def test_enquiry_expiry_is_judged_on_the_database_clock(engine, skew_minutes: int) -> None:
    """Defect 2: with the communicator's clock 5 minutes off, a live enquiry command was
    reported expired (ahead) or an expired one sent (behind). The database decides."""
    row = one_payment(engine, f"d2-{skew_minutes}")
    client = FakeClient()
    handlers, reported = communicator(engine, client, timedelta(minutes=skew_minutes))
    with engine.connect() as conn:
        db_now = conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar_one()
    live = {
        "payment_id": row.id,
        "reference_id": row.reference_id,
        "enquiry_number": 1,
        "expires_at": db_now + timedelta(seconds=60),
    }
    handlers.handle_enquiry(delivered("enquiry.command", live), False)
    assert client.enquired == [row.reference_id]
    assert reported[-1].envelope.body.get("reason") != ENQUIRY_NOT_SENT
    expired = {**live, "expires_at": db_now - timedelta(seconds=1)}
    handlers.handle_enquiry(delivered("enquiry.command", expired), False)
    assert client.enquired == [row.reference_id]  # not asked again
    assert reported[-1].envelope.body["reason"] == ENQUIRY_NOT_SENT


# --------------------------------------------------------------------------- defect 3


def test_no_token_means_no_claim_and_the_payment_goes_back(engine, results) -> None:
    """Defect 3: the token was fetched after the claim, so a claimed payment could wait
    a minute for it. Now the token comes first; without one nothing is claimed."""
    row = one_payment(engine, "d3-token")
    attempt = dispatch(engine, row.id)

    def no_token() -> str:
        raise MobiquityUnavailable("token: connection refused", kind="connect_refused")

    client = FakeClient(token=no_token)
    handlers, reported = communicator(engine, client, timedelta(0))
    body = pay_command(row, attempt)
    handlers.handle_pay(delivered("pay.command", body), False)
    assert client.paid == []
    assert state(engine, row.id).state == "dispatched"  # never claimed...
    (result,) = [m.envelope.body for m in reported]
    assert result["outcome"] == "unclaimed"
    apply(results, ("pay.result", result))
    after = state(engine, row.id)
    assert after.state == "queued" and after.returns == 1  # ...back, same reference
    assert after.reference_id == row.reference_id


def test_a_claimed_payment_is_never_sent_after_its_send_by_moment(engine, monkeypatch) -> None:
    """Defect 3: the send-by moment is measured from before the claim; the client refuses
    to send after it (the real client's check, not the fake's)."""
    from mobiquity_client import MobiquityClient, PayerWallet

    row = one_payment(engine, "d3-late")
    attempt = dispatch(engine, row.id)
    client = MobiquityClient(
        "http://127.0.0.1:9",
        "id",
        "secret",
        sender=PayerWallet(msisdn="01700000000", mpin="1234"),
        clock=lambda: 10.0,  # the claim started at 0.0 (below): 10 s later, past the window
    )
    monkeypatch.setattr(client, "system_token", lambda: "token")
    handlers, reported = communicator(engine, FakeClient(), timedelta(0))
    handlers.client = client
    handlers.monotonic = lambda: 0.0  # the claim started at 0.0 on its monotonic clock
    body = pay_command(row, attempt)
    handlers.handle_pay(delivered("pay.command", body), False)
    (result,) = [m.envelope.body for m in reported]
    assert result["outcome"] == "not_sent" and "send_by" in result["reason"]
    claimed = state(engine, row.id)
    assert claimed.send_by_at is not None and claimed.answer_by_at > claimed.send_by_at


# --------------------------------------------------------------------------- defect 5


def test_not_paid_is_refused_while_a_succeeded_answer_is_unacknowledged(engine) -> None:
    row = one_payment(engine, "d5")
    move(engine, row.id, S.DISPATCHED, S.SENDING, S.AMBIGUOUS, S.UNCLEARED)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test-scheduler")
        locked = store.lock([row.id])[row.id]
        store.keep_anomaly(locked, "enquiry.succeeded", '{"outcome": "succeeded"}')
    with pytest.raises(Conflict) as refused:
        operations.resolve(engine, SUPER, row.id, "not_paid", "checked the report")
    assert refused.value.code == "success_unacknowledged"
    assert state(engine, row.id).state == "uncleared"
    assert operations.resolve(engine, SUPER, row.id, "paid", "the report says paid") is S.SUCCEEDED


# --------------------------------------------------------------------------- defect 6


def test_a_stale_not_sent_of_an_older_attempt_changes_nothing(engine, results) -> None:
    """Attempts fence results: attempt 1 came back not sent and went back to the queue;
    attempt 2 is being sent; a duplicate of attempt 1's not-sent must not requeue it."""
    row = one_payment(engine, "d6-stale")
    first = dispatch(engine, row.id)
    claim_one(engine, row.id, first)
    body = {**pay_command(row, first), **NOT_SENT}
    apply(results, ("pay.result", body))
    assert state(engine, row.id).state == "queued"
    second = dispatch(engine, row.id)
    assert second == first + 1
    found = claim_one(engine, row.id, second)
    assert found.result is ClaimResult.CLAIMED
    apply(results, ("pay.result", body), ("pay.result", body))  # late and duplicated
    after = state(engine, row.id)
    assert after.state == "sending" and after.attempt == second and after.returns == 1


def test_a_redelivered_command_of_an_older_attempt_is_superseded_not_sender_died(engine) -> None:
    """A redelivery of attempt 1 while attempt 2 is being sent is not "its sender died"."""
    row = one_payment(engine, "d6-redelivered")
    first = dispatch(engine, row.id)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="c")
        store.never_left([store.lock([row.id])[row.id]], "command not published", counted=False)
    second = dispatch(engine, row.id)
    claim_one(engine, row.id, second)
    old = claim_one(engine, row.id, first, redelivered=True)
    assert old.result is ClaimResult.SUPERSEDED


def test_every_move_is_evented_with_the_reference_and_the_chain_is_continuous(engine) -> None:
    row = one_payment(engine, "d5-events")
    dispatch(engine, row.id)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="c", rule=ReturnRule(max_returns=0))
        store.never_left([store.lock([row.id])[row.id]], "command lost")
    with engine.connect() as conn:
        events = conn.execute(
            sa.select(payment_events)
            .where(payment_events.c.payment_id == row.id)
            .order_by(payment_events.c.id)
        ).all()
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, "queued"),
        ("queued", "dispatched"),
        ("dispatched", "unsent"),
    ]
    assert {e.reference_id for e in events} == {row.reference_id}
    after = state(engine, row.id)
    assert after.state == "unsent" and after.live_bill_key is None and after.failure is None


def test_the_enquiry_schedule_counts_each_delay_from_the_previous_answer(engine) -> None:
    """One bookkeeping for every path: ``delays[n]`` after the previous answer."""
    row = one_payment(engine, "enq-base")
    move(engine, row.id, S.DISPATCHED, S.SENDING)
    policy = EnquiryPolicy(delays=(60.0, 300.0))
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="s", policy=policy)
        ambiguous = store.to_ambiguous(store.lock([row.id])[row.id], "no answer")
        start: datetime = store.now()
    assert ambiguous.enquiry_due_at == start + timedelta(seconds=60)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="s", policy=policy)
        locked = store.lock([row.id])[row.id]
        store.enquiry_answered(locked, EnquiryOutcome.UNKNOWN, {})
        answered = store.now()
    after = state(engine, row.id)
    assert after.enquiry_count == 1
    assert after.enquiry_due_at == answered + timedelta(seconds=300)
    assert Decimal(after.total) == Decimal("25.00")


def test_a_late_not_sent_of_an_ambiguous_payment_sends_it_again(engine, results) -> None:
    """The sweeper gave up on a sender that was alive (a broker hiccup longer than the
    answer grace); its "not sent" for the current attempt then proves the billpay never
    left: the payment goes back to the queue with its reference id, and its request, which
    only waited for enquiries, runs again (found by the model check)."""
    row = one_payment(engine, "late-not-sent")
    attempt = dispatch(engine, row.id)
    claim_one(engine, row.id, attempt)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="sweeper")
        store.to_ambiguous(store.lock([row.id])[row.id], "no answer in time: its sender is gone")
        store.flush()
        requests = RequestStore(conn, actor="sweeper")
        requests.start([row.request_id])  # the dispatcher started it
        assert requests.settle(row.request_id) is RequestState.ENQUIRING
    body = {**pay_command(row, attempt), **NOT_SENT}
    apply(results, ("pay.result", body))
    after = state(engine, row.id)
    assert after.state == "queued" and after.returns == 1 and after.enquiry_due_at is None
    assert after.reference_id == row.reference_id
    with engine.connect() as conn:
        request = conn.exec_driver_sql(
            "SELECT state FROM bulk_requests WHERE id = %s", (row.request_id,)
        ).scalar_one()
        anomalies = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM payment_anomalies WHERE payment_id = %s", (row.id,)
        ).scalar_one()
    assert request == "running" and anomalies == 0
