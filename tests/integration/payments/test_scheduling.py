"""Scheduled payment requests (issue 18, item 3) on the real database, in one process: the
portal's operations as the pages call them, and the scheduler's starter (``Starter``, run by
the sweeper under a real lease) and result applier applying fetch results as the
communicator would send them. The same path through real processes, the sandbox and a
scheduler killed mid-way is ``tests/integration/pipeline/test_scheduled.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.domain.schedules import Schedule
from bbp_common.core.stores import FetchItemStore
from bbp_common.platform.db.tables import (
    bills,
    bulk_requests,
    fetch_items,
    notifications,
    payment_events,
    request_events,
    users,
)
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.payments.attention import attention
from bbp_portal.payments.service import cancel_request
from bbp_portal.service_errors import Conflict, Forbidden, ValidationFailed
from bbp_scheduler.results import Results
from bbp_scheduler.sweeper import Sweeper
from tests.integration.payments.test_payment_store import apply, scheduler
from tests.support.payments import outbox_messages, payment_rows, request_state, seed_bills

S = PaymentState
DAY = timedelta(hours=24)
CHECKER = Actor("sched-checker", "admin")


def maker() -> Actor:
    return Actor(f"sc-{uuid.uuid4().hex[:10]}", "admin")


def policy(per_request: str | None = None, *, step_up: bool = False) -> operations.PayPolicy:
    return operations.PayPolicy(
        max_bill_age=DAY,
        approval_threshold=Decimal(per_request) if per_request else None,
        step_up=step_up,
    )


def db_now(engine: Engine) -> datetime:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()  # type: ignore[no-any-return]


def schedule_soon(engine: Engine, seconds: float = 1.5, days: int | None = None) -> Schedule:
    return Schedule(db_now(engine) + timedelta(seconds=seconds), days)


def wait_until(engine: Engine, moment: datetime) -> None:
    while db_now(engine) < moment:
        time.sleep(0.1)


class Starter:
    """The scheduler's starter steps, each in its own lease-checked transaction (as the
    sweeper runs them)."""

    def __init__(self, results: Results) -> None:
        self.results = results
        self.sweeper = Sweeper(results.db, results.settings, results)

    def start(self) -> int:
        return self.sweeper._write(self.sweeper.starter.start_requests)

    def refetch(self) -> int:
        return self.sweeper._write(self.sweeper.starter.refetch_due)

    def compare(self) -> int:
        return self.sweeper._write(self.sweeper.starter.compare_refetched)

    def settle(self) -> int:
        return self.sweeper._write(self.sweeper._settle_requests)


@pytest.fixture()
def starter(engine: Engine, database_url: str, request: pytest.FixtureRequest) -> Starter:
    return Starter(scheduler(engine, database_url, "sched-" + request.node.name[:34]))


def events(engine: Engine, request_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(request_events.c.from_state, request_events.c.to_state)
            .where(request_events.c.request_id == request_id)
            .order_by(request_events.c.id)
        ).all()


def refetch_of(engine: Engine, request_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(bulk_requests).where(bulk_requests.c.source_request_id == request_id)
        ).all()


def answer_fetch(engine: Engine, results: Results, fetch_id: int, answers: dict[int, Any]) -> None:
    """Dispatch the fetch request's items and apply a result per account, as the
    communicator would send it: ``answers[bill_account_id]`` is a list of bills
    (``(bill_number, amount, service_charge)``), ``"none"`` or ``"failed"``."""
    with engine.begin() as conn:
        items = conn.execute(
            sa.select(fetch_items.c.id, fetch_items.c.bill_account_id).where(
                fetch_items.c.request_id == fetch_id
            )
        ).all()
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        store = FetchItemStore(conn)
        store.dispatch({item.id: now for item in items}, 60)
    bodies = []
    for item in items:
        answer = answers[item.bill_account_id]
        body: dict[str, Any] = {"item_id": item.id, "request_id": fetch_id, "attempt": 1}
        if answer == "failed":
            body.update(outcome="failed", error_code="E", error_message="no answer")
        elif answer == "none":
            body.update(outcome="no_bills", bills=[])
        else:
            body.update(
                outcome="bills",
                bills=[
                    {"bill_number": n, "amount": a, "service_charge": c, "due_date": None}
                    for n, a, c in answer
                ],
            )
        bodies.append(("fetch.result", body))
    apply(results, *bodies)


def the_bill(engine: Engine, bill_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(bills).where(bills.c.id == bill_id)).one()


# --------------------------------------------------------------------------- before the start


@dataclass(frozen=True)
class Changed:
    request_id: int
    maker: Actor
    bill: Any
    fetch: Any


def changed_at_its_start(
    engine: Engine,
    starter: Starter,
    utility: str,
    key: str,
    found: tuple[str, str],
    checked: operations.PayPolicy | None = None,
) -> Changed:
    """One bill of 80.00 scheduled a moment ahead by a new maker (with a step-up when the
    policy ``checked`` asks one); at its start it is fetched again and found at ``found``
    (amount, service charge), and compared."""
    ids = seed_bills(engine, [(utility, "80.00")])
    (bill,) = [the_bill(engine, i) for i in ids]
    schedule = schedule_soon(engine)
    made = maker()
    request_id = operations.create_payment(
        engine,
        made,
        ids,
        key=key,
        policy=checked or policy(),
        schedule=schedule,
        stepped_up=checked is not None,
    ).request_id
    wait_until(engine, schedule.start_at)
    starter.start()
    starter.refetch()
    (fetch,) = refetch_of(engine, request_id)
    answer = {bill.bill_account_id: [(bill.bill_number, *found)]}
    answer_fetch(engine, starter.results, fetch.id, answer)
    starter.compare()
    return Changed(request_id, made, bill, fetch)


def test_a_scheduled_request_waits_and_nothing_of_it_can_be_dispatched(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "120.00"), ("JGDCL", "80.00")])
    start = db_now(engine) + timedelta(hours=5)
    created = operations.create_payment(
        engine, maker(), ids, key="sch-wait", policy=policy(), schedule=Schedule(start)
    )
    assert created.start_at == start and not created.awaiting_approval
    found = request_state(engine, created.request_id)
    assert (found.state, found.start_at, found.days_before_due) == ("scheduled", start, None)
    rows = payment_rows(engine, created.request_id)
    assert {(r.state, r.hold, r.due_at) for r in rows} == {("scheduled", "due", start)}
    # No message: the scheduler looks for due requests itself; nothing tells it to dispatch.
    assert outbox_messages(engine, "request.submitted", created.request_id) == []

    # Listed as scheduled with its start time (Dhaka), on the list and on its page.
    admin = client_as("admin")
    listed = admin.get("/requests?state=scheduled").get_data(as_text=True)
    assert f'data-id="{created.request_id}"' in listed
    assert f'data-start="{start.isoformat()}"' in listed
    page = admin.get(f"/requests/{created.request_id}").get_data(as_text=True)
    local = (start + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M")
    assert 'id="schedule-start"' in page and local in page
    assert 'data-state="scheduled"' in page


def test_a_start_that_is_not_ahead_is_refused(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "120.00")])
    with pytest.raises(ValidationFailed) as refused:
        operations.create_payment(
            engine,
            maker(),
            ids,
            key="sch-past",
            policy=policy(),
            schedule=Schedule(db_now(engine) - timedelta(minutes=1)),
        )
    assert refused.value.code == "start_past"
    with engine.connect() as conn:  # nothing written: the bill is still free
        assert (
            conn.execute(
                sa.text("SELECT COUNT(*) FROM payments WHERE bill_id = :b"), {"b": ids[0]}
            ).scalar()
            == 0
        )


def test_cancel_before_the_start_frees_the_bills_and_nothing_starts(engine, starter) -> None:
    ids = seed_bills(engine, [("DSCO", "120.00"), ("JGDCL", "80.00")])
    schedule = schedule_soon(engine)
    made = maker()
    request_id = operations.create_payment(
        engine, made, ids, key="sch-cancel", policy=policy(), schedule=schedule
    ).request_id
    assert cancel_request(engine, request_id, made.login_id) == 2
    rows = payment_rows(engine, request_id)
    assert {(r.state, r.hold, r.live_bill_key) for r in rows} == {("cancelled", None, None)}
    wait_until(engine, schedule.start_at)
    starter.start()
    starter.refetch()
    assert request_state(engine, request_id).state == "cancelled"
    assert refetch_of(engine, request_id) == []  # no fetch: it never started
    # The bills may be paid again.
    again = operations.create_payment(engine, made, ids, key="sch-cancel-2", policy=policy())
    assert len(payment_rows(engine, again.request_id)) == 2


def test_approval_before_the_start_skips_the_bill_age_check(engine, starter, client_as) -> None:
    """Approving a scheduled request leaves it scheduled: the fetch at its start renews its
    bills, so bills that aged while it waited are no reason to refuse (an unscheduled request
    is refused then: ``bills_stale``)."""
    checked = policy("100")
    scheduled_ids = seed_bills(engine, [("DSCO", "150.00")])
    plain_ids = seed_bills(engine, [("DSCO", "150.00")])
    schedule = Schedule(db_now(engine) + timedelta(hours=30))
    made = maker()
    scheduled = operations.create_payment(
        engine, made, scheduled_ids, key="sch-appr", policy=checked, schedule=schedule
    )
    plain = operations.create_payment(engine, made, plain_ids, key="sch-appr-p", policy=checked)
    assert scheduled.awaiting_approval and plain.awaiting_approval
    assert request_state(engine, scheduled.request_id).state == "awaiting_approval"
    with engine.begin() as conn:  # both waited a day and more: their bills went stale
        conn.execute(
            sa.update(bills)
            .where(bills.c.id.in_(scheduled_ids + plain_ids))
            .values(fetched_at=sa.func.utc_timestamp(6) - sa.text("INTERVAL 26 HOUR"))
        )
    # Its approver reads that approving schedules it, and for when (Dhaka time).
    page = client_as("admin", CHECKER.login_id).get(f"/requests/{scheduled.request_id}/approve")
    shown = page.get_data(as_text=True)
    assert f'id="approve-effect" data-start="{schedule.start_at.isoformat()}"' in shown
    assert (schedule.start_at + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M") in shown
    with pytest.raises(Forbidden):  # the maker never approves
        operations.approve(engine, made, scheduled.request_id, "mine", max_bill_age=DAY)
    with pytest.raises(Conflict) as stale:
        operations.approve(engine, CHECKER, plain.request_id, "ok", max_bill_age=DAY)
    assert stale.value.code == "bills_stale"
    operations.approve(engine, CHECKER, scheduled.request_id, "ok, at its time", max_bill_age=DAY)
    found = request_state(engine, scheduled.request_id)
    assert (found.state, found.approved_by) == ("scheduled", CHECKER.login_id)
    assert [tuple(e) for e in events(engine, scheduled.request_id)] == [
        (None, "awaiting_approval"),
        ("awaiting_approval", "scheduled"),
    ]
    assert {r.state for r in payment_rows(engine, scheduled.request_id)} == {"scheduled"}
    starter.start()  # not yet its time
    assert request_state(engine, scheduled.request_id).state == "scheduled"


# --------------------------------------------------------------------------- at the start


def test_at_its_time_it_starts_once_and_each_bill_is_fetched_again_first(engine, starter) -> None:
    """Four bills, four answers of the fetch at the start: the same amount (it goes, with the
    new bill), another amount (it waits for a person), no longer listed and not fetched at
    all (both cancelled, their bills free)."""
    amounts = ["120.00", "80.00", "60.00", "45.00"]
    ids = seed_bills(engine, [("DSCO", a) for a in amounts])
    old = [the_bill(engine, i) for i in ids]
    schedule = schedule_soon(engine)
    made = maker()
    request_id = operations.create_payment(
        engine, made, ids, key="sch-start", policy=policy(), schedule=schedule
    ).request_id
    starter.start()  # not yet its time
    assert request_state(engine, request_id).state == "scheduled"

    wait_until(engine, schedule.start_at)
    starter.start()
    assert request_state(engine, request_id).state == "queued"
    starter.start()  # a second run (another replica, a retry) moves nothing
    assert [tuple(e) for e in events(engine, request_id)] == [
        (None, "scheduled"),
        ("scheduled", "queued"),
    ]
    # Nothing is queued for the dispatcher yet: each bill is fetched again first.
    assert {r.state for r in payment_rows(engine, request_id)} == {"scheduled"}
    assert starter.refetch() == 4
    assert starter.refetch() == 0  # once
    (fetch,) = refetch_of(engine, request_id)
    assert (fetch.kind, fetch.state, fetch.origin, fetch.created_by, fetch.total_items) == (
        "fetch",
        "queued",
        "refetch",
        made.login_id,
        4,
    )
    rows = payment_rows(engine, request_id)
    assert {(r.state, r.hold, r.refetch_request_id) for r in rows} == {
        ("scheduled", "refetching", fetch.id)
    }
    assert starter.compare() == 0  # no answer yet

    same, changed, gone, unfetched = old
    answer_fetch(
        engine,
        starter.results,
        fetch.id,
        {
            same.bill_account_id: [(same.bill_number, "120.00", "10.00")],
            changed.bill_account_id: [(changed.bill_number, "95.50", "10.00")],
            gone.bill_account_id: [("ANOTHER-BILL", "60.00", "10.00")],
            unfetched.bill_account_id: "failed",
        },
    )
    assert starter.compare() == 4
    with engine.begin() as conn:  # its maker, who would be told of a fetch of theirs
        conn.execute(
            sa.insert(users).values(login_id=made.login_id, email=f"{made.login_id}@bbp.example")
        )
    starter.settle()
    assert request_state(engine, fetch.id).state == "finished"
    with engine.connect() as conn:  # … but not of this one: it is part of the payment request
        told = conn.execute(
            sa.select(notifications.c.kind).where(notifications.c.request_id == fetch.id)
        ).all()
    assert told == []
    by_bill = {r.bill_number: r for r in payment_rows(engine, request_id)}
    went = by_bill[same.bill_number]
    assert (went.state, went.hold) == ("queued", None)
    assert went.bill_id != same.id  # the new bill: its freshness counts from this fetch
    assert the_bill(engine, went.bill_id).fetched_at > same.fetched_at
    held = by_bill[changed.bill_number]
    assert (held.state, held.hold, held.amount, held.total, held.previous_total) == (
        "scheduled",
        "changed",
        Decimal("95.50"),
        Decimal("95.50"),
        Decimal("80.00"),
    )
    assert "80.00 → 95.50" in held.reason
    for bill in (gone, unfetched):
        stopped = by_bill[bill.bill_number]
        assert (stopped.state, stopped.hold, stopped.live_bill_key) == ("cancelled", None, None)
    assert "no longer pending" in by_bill[gone.bill_number].reason
    assert "could not be fetched again" in by_bill[unfetched.bill_number].reason
    # The tallies and the request's total follow the new amount.
    found = request_state(engine, request_id)
    assert found.total_amount == Decimal("120.00") + Decimal("95.50") + Decimal("60.00") + Decimal(
        "45.00"
    )
    with engine.connect() as conn:
        from bbp_common.core import tallies

        counts = tallies.read(conn, request_id)
    assert counts["scheduled"] == (1, Decimal("95.50"))
    assert counts["queued"] == (1, Decimal("120.00"))
    # Every move of every payment is in its events.
    with engine.connect() as conn:
        moved = conn.execute(
            sa.select(payment_events.c.from_state, payment_events.c.to_state).where(
                payment_events.c.payment_id == went.id
            )
        ).all()
    assert [tuple(m) for m in moved] == [
        (None, "scheduled"),
        ("scheduled", "scheduled"),  # fetched again
        ("scheduled", "queued"),
    ]


def test_a_changed_amount_waits_for_another_admin_and_is_fetched_again(engine, starter) -> None:
    checked = policy("100000", step_up=True)
    changed = changed_at_its_start(engine, starter, "DSCO", "sch-chg", ("99.00", "10.00"), checked)
    request_id, made, bill, fetch = changed.request_id, changed.maker, changed.bill, changed.fetch
    (held,) = payment_rows(engine, request_id)
    assert held.hold == "changed"
    starter.settle()
    assert request_state(engine, request_id).state == "queued"  # it waits, it is not done
    # Someone must look at it: on needs-attention, was and now.
    with engine.connect() as conn:
        listed = {c.request_id: c for c in attention(conn).changed}
    assert (listed[request_id].n, listed[request_id].was, listed[request_id].now) == (
        1,
        Decimal("80.00"),
        Decimal("99.00"),
    )

    with pytest.raises(Forbidden) as no_step_up:
        operations.approve_changed(engine, CHECKER, request_id, "fine", policy=checked)
    assert no_step_up.value.code == "step_up_required"
    with pytest.raises(Forbidden) as maker_refused:
        operations.approve_changed(
            engine, made, request_id, "mine", policy=checked, stepped_up=True
        )
    assert maker_refused.value.code == "maker_cannot_approve"
    with pytest.raises(ValidationFailed):
        operations.approve_changed(
            engine, CHECKER, request_id, " ", policy=checked, stepped_up=True
        )
    assert (
        operations.approve_changed(
            engine, CHECKER, request_id, "new tariff", policy=checked, stepped_up=True
        )
        == 1
    )
    (approved,) = payment_rows(engine, request_id)
    assert (approved.state, approved.hold, approved.total) == ("scheduled", "due", Decimal("99.00"))
    with engine.connect() as conn:
        assert request_id not in {c.request_id for c in attention(conn).changed}
    with pytest.raises(Conflict):  # nothing waits for a person any more
        operations.approve_changed(
            engine, CHECKER, request_id, "x", policy=checked, stepped_up=True
        )

    # It is fetched once more; the approved amount holds now: it goes.
    starter.refetch()
    second = [f for f in refetch_of(engine, request_id) if f.id != fetch.id]
    assert len(second) == 1
    answer_fetch(
        engine,
        starter.results,
        second[0].id,
        {bill.bill_account_id: [(bill.bill_number, "99.00", "10.00")]},
    )
    starter.compare()
    (gone,) = payment_rows(engine, request_id)
    assert (gone.state, gone.hold, gone.total) == ("queued", None, Decimal("99.00"))


def test_where_maker_checker_is_off_the_maker_approves_a_changed_amount(engine, starter) -> None:
    changed = changed_at_its_start(engine, starter, "JGDCL", "sch-own", ("70.00", "0"))
    assert (
        operations.approve_changed(engine, changed.maker, changed.request_id, "ok", policy=policy())
        == 1
    )


def test_cancelling_changed_payments_frees_their_bills_and_the_request_finishes(
    engine, starter
) -> None:
    changed = changed_at_its_start(engine, starter, "DSCO", "sch-cx", ("81.00", "0"))
    request_id, made = changed.request_id, changed.maker
    assert operations.cancel_changed(engine, made, request_id, "too much") == 1
    (cancelled,) = payment_rows(engine, request_id)
    assert (cancelled.state, cancelled.hold, cancelled.live_bill_key) == ("cancelled", None, None)
    with engine.begin() as conn:  # its maker, to be told it finished
        conn.execute(
            sa.insert(users).values(login_id=made.login_id, email=f"{made.login_id}@bbp.example")
        )
    starter.settle()
    assert request_state(engine, request_id).state == "finished"
    # The finished e-mail lists what happened: no line for the emptied "scheduled" tally.
    with engine.connect() as conn:
        (params,) = conn.execute(
            sa.select(notifications.c.params).where(
                notifications.c.request_id == request_id,
                notifications.c.kind == "request_finished",
                notifications.c.channel == "email",
            )
        ).scalars()
    assert [o["outcome"] for o in json.loads(params)["outcomes"]] == ["cancelled"]


def test_each_payment_goes_days_before_its_due_date(engine, starter) -> None:
    """``days_before_due``: a bill due far ahead waits for its own day (not fetched at the
    start); a bill without a due date goes at the start."""
    now = db_now(engine)
    far = (now + timedelta(days=20)).date()
    ids = seed_bills(engine, [("DSCO", "50.00")], due=far) + seed_bills(engine, [("DSCO", "40.00")])
    with engine.begin() as conn:  # the second has no due date
        conn.execute(sa.update(bills).where(bills.c.id == ids[1]).values(due_date=None))
    schedule = schedule_soon(engine, days=3)
    request_id = operations.create_payment(
        engine, maker(), ids, key="sch-days", policy=policy(), schedule=schedule
    ).request_id
    rows = {r.bill_id: r for r in payment_rows(engine, request_id)}
    assert rows[ids[1]].due_at == schedule.start_at
    assert rows[ids[0]].due_at == schedule.due_at(far) > now + timedelta(days=16)
    assert request_state(engine, request_id).days_before_due == 3
    assert request_state(engine, request_id).start_at == schedule.start_at
    # The one due first goes first.
    assert rows[ids[1]].dispatch_order < rows[ids[0]].dispatch_order
    wait_until(engine, schedule.start_at)
    starter.start()
    assert starter.refetch() == 1
    rows = {r.bill_id: r for r in payment_rows(engine, request_id)}
    assert rows[ids[1]].hold == "refetching" and rows[ids[0]].hold == "due"


# --------------------------------------------------------------------------- the pages, the API


def _field(page: str, name: str) -> str:
    import re

    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return found.group(1)


def test_the_confirmation_page_schedules_and_keeps_the_choice_in_its_form(
    engine, client_as
) -> None:
    ids = seed_bills(engine, [("DSCO", "120.00"), ("JGDCL", "80.00")])
    admin = client_as("admin", f"sc-page-{uuid.uuid4().hex[:8]}")
    start_utc = db_now(engine).replace(microsecond=0, second=0) + timedelta(days=2)
    local = (start_utc + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    page = admin.get(
        "/payments/new",
        query_string={
            "scope": "ids",
            "ids": ",".join(map(str, ids)),
            "when": "before_due",
            "start_at": local,
            "days_before": "3",
        },
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="schedule-summary"' in text and "Schedule 2 bills" in text
    assert local.replace("T", " ") in text
    # The confirm button's form carries the choice (and the step-up comes back to it).
    button = text[text.index('action="/payments"') :]
    form = {
        name: _field(button, name)
        for name in ("idempotency_key", "scope", "ids", "selection", "confirm_url", "when")
    }
    assert form["when"] == "before_due" and "days_before=3" in form["confirm_url"]
    form.update(start_at=_field(button, "start_at"), days_before=_field(button, "days_before"))
    answer = admin.post("/payments", data=form)
    assert answer.status_code == 302
    request_id = int(answer.headers["Location"].rsplit("/", 1)[1])
    found = request_state(engine, request_id)
    assert (found.state, found.days_before_due) == ("scheduled", 3)
    # seed_bills' due dates are years ahead: 3 days before each, at the start's time of day.
    assert found.start_at == Schedule(start_utc, 3).due_at(the_bill(engine, ids[0]).due_date)

    # A time that names nothing is refused, and nothing is written.
    refused = admin.get(
        "/payments/new",
        query_string={"scope": "ids", "ids": str(ids[0]), "when": "at", "start_at": "tomorrow"},
    )
    assert refused.status_code == 400
    assert "is not a day and time" in refused.get_data(as_text=True)


def test_the_api_schedules_a_payment_request(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "120.00")])
    start = db_now(engine).replace(microsecond=0) + timedelta(hours=3)
    api = client_as("admin", f"sc-api-{uuid.uuid4().hex[:8]}")
    answer = api.post(
        "/api/v1/requests/payment",
        json={
            "bill_ids": ids,
            "idempotency_key": f"api-{uuid.uuid4()}",
            "start_at": (start + timedelta(hours=6)).isoformat() + "+06:00",
        },
    )
    assert answer.status_code == 201, answer.get_json()
    made = answer.get_json()["request"]
    assert made["state"] == "scheduled"
    assert made["start_at"].startswith(start.isoformat())
    bad = api.post(
        "/api/v1/requests/payment",
        json={"bill_ids": ids, "idempotency_key": f"api-{uuid.uuid4()}", "days_before_due": 3},
    )
    assert bad.status_code == 422


def test_the_request_page_offers_a_person_the_changed_amounts(engine, starter, client_as) -> None:
    key = f"sch-pg-{uuid.uuid4()}"
    request_id = changed_at_its_start(engine, starter, "DSCO", key, ("88.00", "0")).request_id
    other = client_as("admin")
    page = other.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'id="changed-amounts"' in page and 'id="approve-changed-form"' in page
    assert "80.00" in page and "88.00" in page
    answer = other.post(f"/requests/{request_id}/changed/cancel", data={"comment": "no"})
    assert answer.status_code == 302
    (cancelled,) = payment_rows(engine, request_id)
    assert cancelled.state == "cancelled"
