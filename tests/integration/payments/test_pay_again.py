"""Pay again what failed (issue 18, item 4), on the real database: which bills a finished
payment request offers — one payment in every state a payment can end in — the fetch that
fetches them again, the new request made from that fetch through the usual confirmation,
with new reference ids, and the check that request passes in its own transaction.

The same path through real processes and the sandbox is in
``tests/integration/pipeline/test_scheduled.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.domain.requests import RequestState
from bbp_common.core.stores import AlarmStore, RequestStore
from bbp_common.platform.db.tables import bulk_requests, fetch_items
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import again, operations
from bbp_portal.service_errors import Conflict, Refused
from tests.integration.payments.test_scheduling import answer_fetch, starter  # noqa: F401
from tests.support.payments import move, payment_rows, request_state, seed_bills

S = PaymentState
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
D, SE, A, U = S.DISPATCHED, S.SENDING, S.AMBIGUOUS, S.UNCLEARED

#: Each way a payment can end, how it got there, and whether "pay again" offers its bill.
ENDINGS: dict[str, tuple[tuple[PaymentState, ...], dict[str, Any], bool]] = {
    "rejected": ((D, SE, S.FAILED), {"failure": "rejected"}, True),
    "enquiry_failed": ((D, SE, A, S.FAILED), {"failure": "enquiry"}, True),
    "unsent": ((D, S.UNSENT), {}, True),
    "posted": ((D, SE, S.POSTED), {}, False),
    "succeeded": ((D, SE, A, S.SUCCEEDED), {}, False),
    "ambiguous": ((D, SE, A), {}, False),
    "uncleared": ((D, SE, A, U), {}, False),
    "not_found_believed": ((D, SE, A, S.FAILED), {"failure": "not_found"}, False),
    "failed_by_a_person": ((D, SE, A, U, S.FAILED), {"failure": "person"}, False),
    "cancelled": ((S.CANCELLED,), {}, False),
    "under_alarm": ((D, SE, S.FAILED), {"failure": "rejected"}, False),
    "paid_again_since": ((D, SE, S.FAILED), {"failure": "rejected"}, False),
}


def maker() -> Actor:
    return Actor(f"pa-{uuid.uuid4().hex[:10]}", "admin")


@pytest.fixture()
def alarms(engine: Engine) -> Iterator[Any]:
    """Raises and clears double-payment alarms through their store, as the reconciliation
    and a superadmin do (``bbp_common.core.stores.alarms``)."""

    def raise_on(payment_id: int) -> None:
        with engine.begin() as conn:
            assert AlarmStore(conn).raise_on(payment_id)

    def clear(payment_id: int) -> None:
        with engine.begin() as conn:
            assert AlarmStore(conn).clear_payment(payment_id, person="sa", comment="checked")

    yield type("Alarms", (), {"raise_on": staticmethod(raise_on), "clear": staticmethod(clear)})


def finish(engine: Engine, request_id: int) -> None:
    """The request as the scheduler leaves it once nothing more moves (a fixture: a request
    with an ambiguous payment would really wait as ``enquiring``)."""
    with engine.begin() as conn:
        store = RequestStore(conn, actor="test")
        store.lock(request_id)
        store.move(request_id, RequestState.RUNNING, "test")
        store.move(request_id, RequestState.FINISHED, "test")


def ended_request(engine: Engine, alarms: Any) -> tuple[int, dict[str, Any]]:
    """A finished payment request with one payment ending each way (``ENDINGS``)."""
    ids = seed_bills(engine, [("DSCO", f"{100 + i}.00") for i in range(len(ENDINGS))])
    made = maker()
    request_id = operations.create_payment(
        engine, made, ids, key=f"pa-{uuid.uuid4().hex}", policy=POLICY
    ).request_id
    by_bill = {r.bill_id: r for r in payment_rows(engine, request_id)}
    payments = {}
    for (name, (path, values, _offered)), bill_id in zip(ENDINGS.items(), ids, strict=True):
        payment = by_bill[bill_id]
        move(engine, payment.id, *path, **values)
        payments[name] = payment
    alarms.raise_on(payments["under_alarm"].id)
    # Its bill was paid again meanwhile, by another request (it holds the live-bill key).
    operations.create_payment(
        engine,
        made,
        [payments["paid_again_since"].bill_id],
        key=f"pa2-{uuid.uuid4()}",
        policy=POLICY,
    )
    finish(engine, request_id)
    return request_id, payments


def test_pay_again_offers_only_bills_mobiquity_refused_or_never_sent(engine, alarms) -> None:
    request_id, payments = ended_request(engine, alarms)
    with engine.connect() as conn:
        found = again.offer(conn, request_id)
    offered = {p.id for p in found.payments}
    expected = {payments[name].id for name, (_p, _v, yes) in ENDINGS.items() if yes}
    assert offered == expected
    # Every other ending is left out, each for its own reason.
    assert sum(found.left_out.values()) == len(ENDINGS) - len(expected)
    reasons = " / ".join(found.left_out)
    for word in (
        "posted",
        "paid",
        "may be paid",
        "uncleared",
        "'not found' was believed",
        "a person judged",
        "cancelled",
        again.UNDER_ALARM,
        again.IN_LIVE_PAYMENT,
    ):
        assert word in reasons, word


def test_an_unfinished_request_offers_nothing(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "10.00")])
    request_id = operations.create_payment(
        engine, maker(), ids, key=f"pa-{uuid.uuid4()}", policy=POLICY
    ).request_id
    with pytest.raises(Conflict) as refused:
        operations.pay_again(engine, maker(), request_id)
    assert refused.value.code == "not_finished"


def test_pay_again_fetches_again_then_pays_with_new_reference_ids(
    engine,
    alarms,
    starter,  # noqa: F811
) -> None:
    request_id, payments = ended_request(engine, alarms)
    person = maker()
    created = operations.pay_again(engine, person, request_id)
    with engine.connect() as conn:
        fetch = conn.execute(
            sa.select(bulk_requests).where(bulk_requests.c.id == created.request_id)
        ).one()
        accounts = (
            conn.execute(
                sa.select(fetch_items.c.bill_account_id).where(fetch_items.c.request_id == fetch.id)
            )
            .scalars()
            .all()
        )
    assert (fetch.kind, fetch.state, fetch.origin, fetch.source_request_id) == (
        "fetch",
        "queued",
        "pay_again",
        request_id,
    )
    offered = [payments[n] for n in ("rejected", "enquiry_failed", "unsent")]
    assert sorted(accounts) == sorted(p.bill_account_id for p in offered)

    # The fetch answers: two bills are still pending, one was paid elsewhere meanwhile.
    answer_fetch(
        engine,
        starter.results,
        fetch.id,
        {
            offered[0].bill_account_id: [(offered[0].bill_number, "100.00", "10.00")],
            offered[1].bill_account_id: [(offered[1].bill_number, "101.00", "10.00")],
            offered[2].bill_account_id: "none",
        },
    )
    starter.settle()
    assert request_state(engine, fetch.id).state == "finished"
    with engine.connect() as conn:
        bill_ids, gone = again.fetched_bills(conn, request_id, fetch.id)
    assert len(bill_ids) == 2 and gone == 1

    new = operations.create_payment(
        engine, person, bill_ids, key=f"pa-new-{uuid.uuid4()}", policy=POLICY, again=request_id
    )
    rows = payment_rows(engine, new.request_id)
    assert {r.bill_number for r in rows} == {offered[0].bill_number, offered[1].bill_number}
    assert not {r.reference_id for r in rows} & {p.reference_id for p in offered}
    made = request_state(engine, new.request_id)
    assert (made.origin, made.source_request_id, made.state) == ("pay_again", request_id, "queued")
    # Once paid again, the bills are offered no more.
    with engine.connect() as conn:
        assert again.offer(conn, request_id).count == 1  # the unsent one, still free


def test_the_new_request_refuses_a_bill_pay_again_does_not_offer(engine, alarms) -> None:
    """Creating the new request checks again, in its transaction: a bill of another ending
    of the same request (here, a fresh bill of the posted one's account), or one under an
    alarm raised after the fetch, is refused; clearing the alarm lets it through."""
    request_id, payments = ended_request(engine, alarms)
    person = maker()
    posted = payments["posted"]
    fresh_posted = seed_bills(engine, [("DSCO", "5.00")], consumer_ids=[posted.consumer_id])
    with pytest.raises(Refused) as refused:
        operations.create_payment(
            engine, person, fresh_posted, key=f"x-{uuid.uuid4()}", policy=POLICY, again=request_id
        )
    assert refused.value.code == "bills_unavailable"
    assert "no longer offered" in next(iter(refused.value.details.values()))

    rejected = payments["rejected"]
    # A fresh fetch of its account found its bill again (same bill number).
    fresh = seed_bills(
        engine, [("DSCO", str(rejected.amount))], consumer_ids=[rejected.consumer_id]
    )
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE bills SET bill_number = :n WHERE id = :b"),
            {"n": rejected.bill_number, "b": fresh[0]},
        )
    alarms.raise_on(rejected.id)  # the reconciliation saw it paid after all
    with pytest.raises(Refused):
        operations.create_payment(
            engine, person, fresh, key=f"y-{uuid.uuid4()}", policy=POLICY, again=request_id
        )
    alarms.clear(rejected.id)
    made = operations.create_payment(
        engine, person, fresh, key=f"z-{uuid.uuid4()}", policy=POLICY, again=request_id
    )
    (payment,) = payment_rows(engine, made.request_id)
    assert payment.reference_id != rejected.reference_id
    assert payment.total == Decimal(rejected.amount)


def test_the_pages_lead_from_the_finished_request_to_the_confirmation(
    engine,
    alarms,
    starter,  # noqa: F811
    client_as,
) -> None:
    request_id, payments = ended_request(engine, alarms)
    admin = client_as("admin")
    page = admin.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'id="pay-again-form"' in page
    answer = admin.post(f"/requests/{request_id}/pay-again")
    assert answer.status_code == 302
    fetch_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    fetch_page = admin.get(f"/requests/{fetch_id}").get_data(as_text=True)
    assert 'id="pay-again-next"' in fetch_page and 'id="pay-again-confirm"' not in fetch_page
    offered = [payments[n] for n in ("rejected", "enquiry_failed", "unsent")]
    answer_fetch(
        engine,
        starter.results,
        fetch_id,
        {p.bill_account_id: [(p.bill_number, str(p.amount), "0")] for p in offered},
    )
    starter.settle()
    fetch_page = admin.get(f"/requests/{fetch_id}").get_data(as_text=True)
    assert f"/payments/new?again={request_id}&amp;request={fetch_id}" in fetch_page
    confirm = admin.get("/payments/new", query_string={"again": request_id, "request": fetch_id})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'id="confirm-again"' in text
    assert '<dd class="col-sm-8 fs-5" id="confirm-count">3</dd>' in text
    assert f'name="again" value="{request_id}"' in text
