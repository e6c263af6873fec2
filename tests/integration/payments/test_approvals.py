"""Maker-checker on by default (issue 17): the per-request and per-maker-per-day limits, what
the day counts, two requests made at once, a request made without a step-up, and the
confirm steps of resolving and closing the breaker.

On the real database, through ``operations`` (the pages and the API call the same functions;
the step-up pages themselves are in ``test_step_up.py``, against the sandbox). Each test has
makers of its own: the run's database is shared and a maker's day is summed across it.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection

from bbp_common.core.domain.approvals import day_bounds
from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.stores import MakerDays, WalletBreaker
from bbp_common.platform.db.tables import bulk_requests, maker_days
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations, service
from bbp_portal.service_errors import Forbidden
from bbp_portal.settings import PortalSettings
from tests.integration.payments.conftest import CHECKER, _app
from tests.support.accounts import sign_in
from tests.support.payments import (
    make_uncleared,
    move,
    outbox_messages,
    payment_rows,
    request_state,
    seed_bills,
)
from tests.support.portal import base_settings

S = PaymentState
DAY = timedelta(hours=24)


def maker() -> Actor:
    return Actor(f"mk-{uuid.uuid4().hex[:10]}", "admin")


def policy(
    per_request: str | None = None, daily: str | None = None, step_up: bool = False
) -> operations.PayPolicy:
    return operations.PayPolicy(
        max_bill_age=DAY,
        approval_threshold=Decimal(per_request) if per_request else None,
        daily_threshold=Decimal(daily) if daily else None,
        step_up=step_up,
    )


def create(engine, who: Actor, amounts: list[str], p: operations.PayPolicy, **kw):
    ids = seed_bills(engine, [("DSCO", a) for a in amounts])  # DSCO: no service charge
    return operations.create_payment(engine, who, ids, key=uuid.uuid4().hex, policy=p, **kw)


def counted(engine, who: Actor) -> Decimal:
    with engine.connect() as conn:
        return MakerDays(conn).today(who.login_id).counted


# --------------------------------------------------------------------------- the defaults


def test_approvals_and_step_up_are_on_by_default() -> None:
    settings = base_settings()
    assert settings.approval_threshold == Decimal("100000")
    assert settings.approval_daily_threshold == Decimal("200000")
    assert settings.step_up is True and settings.step_up_ttl == 300
    p = operations.PayPolicy.from_settings(settings)
    assert (p.limits.per_request, p.limits.per_maker_day, p.step_up) == (
        Decimal("100000"),
        Decimal("200000"),
        True,
    )
    off = PortalSettings(
        **{
            **base_settings().model_dump(),
            "approval_threshold": "off",
            "approval_daily_threshold": "",
        }
    )
    assert off.approval_threshold is None and off.approval_daily_threshold is None


# --------------------------------------------------------------------------- the limits


def test_above_the_per_request_limit_it_waits_at_it_it_does_not(engine) -> None:
    who = maker()
    at = create(engine, who, ["600.00", "400.00"], policy(per_request="1000"))
    above = create(engine, who, ["600.00", "400.01"], policy(per_request="1000"))
    assert (at.awaiting_approval, at.approval_reasons) == (False, ())
    assert (above.awaiting_approval, above.approval_reasons) == (True, ("request_limit",))
    row = request_state(engine, above.request_id)
    assert (row.state, row.approval_reason) == ("awaiting_approval", "request_limit")
    assert outbox_messages(engine, "request.submitted", above.request_id) == []
    assert len(outbox_messages(engine, "request.submitted", at.request_id)) == 1


def test_splitting_a_batch_does_not_dodge_the_daily_limit(engine) -> None:
    """Two requests each under the per-request limit whose sum crosses the daily one: the
    second waits — and so does every later one of that day, however small."""
    who, other = maker(), maker()
    p = policy(per_request="1000", daily="1500")
    first = create(engine, who, ["900.00"], p)
    second = create(engine, who, ["700.00"], p)
    later = create(engine, who, ["1.00"], p)
    elsewhere = create(engine, other, ["900.00"], p)  # another maker has a day of their own
    assert not first.awaiting_approval and not elsewhere.awaiting_approval
    assert second.approval_reasons == ("daily_limit",) and later.approval_reasons == (
        "daily_limit",
    )
    assert request_state(engine, second.request_id).state == "awaiting_approval"
    assert counted(engine, who) == Decimal("1601.00")  # waiting requests count too
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(maker_days.c.maker, maker_days.c.requests).where(
                maker_days.c.maker.in_([who.login_id, other.login_id])
            )
        ).all()
    assert sorted(rows) == sorted([(who.login_id, 3), (other.login_id, 1)])


def test_what_the_day_counts(engine) -> None:
    """Counted: what was sent or still may be. Not counted: a request rejected or cancelled
    before sending, the unsent rest of one cancelled midway, a payment that never left."""
    who = maker()
    p = policy(daily="2000")
    # 1. Partly sent, then cancelled: one posted, one failed (sent: Mobiquity refused it),
    #    one still queued when the request was cancelled.
    partly = create(engine, who, ["300.00", "400.00", "500.00"], p)
    posted, failed, _queued = payment_rows(engine, partly.request_id)
    move(engine, posted.id, S.DISPATCHED, S.SENDING, S.POSTED)
    move(engine, failed.id, S.DISPATCHED, S.SENDING, S.FAILED, reason="billpay rejected")
    service.cancel_request(engine, partly.request_id, who.login_id)
    assert payment_rows(engine, partly.request_id)[2].state == "cancelled"
    # 2. Never left: its tries used up.
    never = create(engine, who, ["200.00"], p)
    (lost,) = payment_rows(engine, never.request_id)
    move(engine, lost.id, S.DISPATCHED, S.UNSENT, reason="tries used up")
    # 3. Rejected before anything was sent (it waited for the step-up its maker did not make).
    rejected = create(engine, who, ["250.00"], policy(daily="2000", step_up=True))
    assert rejected.approval_reasons == ("step_up",)
    operations.reject(engine, CHECKER, rejected.request_id, "not ours")
    # 4. Cancelled while waiting.
    withdrawn = create(engine, who, ["150.00"], policy(daily="2000", step_up=True))
    service.cancel_request(engine, withdrawn.request_id, who.login_id)
    assert counted(engine, who) == Decimal("700.00")
    # So 1 300.00 more is exactly the limit (not above it) and goes; one paisa more waits.
    assert not create(engine, who, ["1300.00"], p).awaiting_approval
    assert create(engine, who, ["0.01"], p).approval_reasons == ("daily_limit",)


def test_the_day_is_the_day_in_dhaka(engine) -> None:
    """A request made before midnight in Dhaka (18:00 UTC) counts for the day before."""
    who = maker()
    p = policy(daily="1000")
    earlier = create(engine, who, ["900.00"], p)
    today = MakerDays(engine.connect()).today(who.login_id).day
    start, _end = day_bounds(today)
    with engine.begin() as conn:  # as if it had been made a microsecond before the day began
        conn.execute(
            sa.update(bulk_requests)
            .where(bulk_requests.c.id == earlier.request_id)
            .values(created_at=start - timedelta(microseconds=1))
        )
    assert counted(engine, who) == Decimal("0")
    assert not create(engine, who, ["900.00"], p).awaiting_approval
    assert create(engine, who, ["100.01"], p).awaiting_approval


def _two_at_once(engine, who: Actor, p: operations.PayPolicy) -> tuple[list, float]:
    """Two requests of the same maker, the second started while the first is inside its
    creating transaction (it holds there for 0.8 s before committing)."""
    first_ids = seed_bills(engine, [("DSCO", "900.00")])
    second_ids = seed_bills(engine, [("DSCO", "900.00")])
    inside = threading.Event()
    results: dict[str, object] = {}

    def hold(conn: Connection, request_id: int, awaiting: bool) -> None:
        inside.set()
        time.sleep(0.8)

    def run(name: str, ids: list[int], on_created=None) -> None:
        try:
            results[name] = service.create_payment_request(
                engine,
                who.login_id,
                ids,
                idempotency_key=uuid.uuid4().hex,
                max_bill_age=p.max_bill_age,
                limits=p.limits,
                on_created=on_created,
            )
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results[name] = exc

    first = threading.Thread(target=run, args=("first", first_ids, hold))
    first.start()
    assert inside.wait(10)
    started = time.monotonic()
    second = threading.Thread(target=run, args=("second", second_ids))
    second.start()
    second.join(30)
    waited = time.monotonic() - started
    first.join(30)
    return [results["first"], results["second"]], waited


def test_two_requests_made_at_once_cannot_both_slip_under(engine) -> None:
    """The second waits for the first's commit on the maker's row, then counts it."""
    who = maker()
    (first, second), waited = _two_at_once(engine, who, policy(per_request="1000", daily="1500"))
    assert not first.awaiting_approval
    assert second.awaiting_approval and second.approval_reasons == ("daily_limit",)
    assert waited > 0.5  # it really was made while the first was inside its transaction


def test_without_the_maker_row_lock_both_would_slip_under(engine, monkeypatch) -> None:
    """The control of the test above: the same interleaving with the lock taken away lets
    both through — so that test can fail, and the lock is what makes it pass."""
    monkeypatch.setattr(MakerDays, "lock", MakerDays.today)
    who = maker()
    (first, second), _waited = _two_at_once(engine, who, policy(per_request="1000", daily="1500"))
    assert not first.awaiting_approval and not second.awaiting_approval


# --------------------------------------------------------------------------- without step-up


def test_a_request_made_without_a_step_up_waits_and_its_maker_confirms_it(engine) -> None:
    """The API's case: no step-up in the session. Under every limit it waits only for the
    step-up; its maker confirms it with one (what the page would have asked), nobody
    confirms it without one, and the maker still never approves a request over a limit."""
    who = maker()
    p = policy(per_request="1000", daily="5000", step_up=True)
    api = create(engine, who, ["100.00"], p, via="api")
    assert api.approval_reasons == ("step_up",)
    with pytest.raises(Forbidden) as refused:
        operations.approve(engine, who, api.request_id, "mine", step_up_required=True)
    assert refused.value.code == "step_up_required"
    operations.approve(engine, who, api.request_id, "mine", step_up_required=True, stepped_up=True)
    row = request_state(engine, api.request_id)
    assert (row.state, row.approved_by) == ("queued", who.login_id)
    assert len(outbox_messages(engine, "request.submitted", api.request_id)) == 1

    over = create(engine, who, ["1500.00"], p, stepped_up=True)
    assert over.approval_reasons == ("request_limit",)
    with pytest.raises(Forbidden) as own:
        operations.approve(
            engine, who, over.request_id, "mine", step_up_required=True, stepped_up=True
        )
    assert own.value.code == "maker_cannot_approve"
    operations.approve(
        engine, CHECKER, over.request_id, "ok", step_up_required=True, stepped_up=True
    )
    assert request_state(engine, over.request_id).state == "queued"


def test_the_pages_ask_for_the_step_up_instead_of_creating_a_waiting_request(engine) -> None:
    who = maker()
    p = policy(per_request="1000", daily="5000", step_up=True)
    ids = seed_bills(engine, [("DSCO", "100.00")])
    with pytest.raises(Forbidden) as refused:
        operations.create_payment(
            engine, who, ids, key="page-1", policy=p, refuse_without_step_up=True
        )
    assert refused.value.code == "step_up_required"
    with engine.connect() as conn:
        made = conn.execute(
            sa.select(sa.func.count()).where(bulk_requests.c.created_by == who.login_id)
        ).scalar_one()
    assert made == 0  # nothing was written, the bill is still free
    created = operations.create_payment(
        engine, who, ids, key="page-1", policy=p, refuse_without_step_up=True, stepped_up=True
    )
    assert not created.awaiting_approval
    # Over a limit the request waits anyway: no step-up is asked of its maker.
    over = create(engine, who, ["1500.00"], p, refuse_without_step_up=True)
    assert over.approval_reasons == ("request_limit",)


# --------------------------------------------------------------------------- confirm steps


def test_resolving_shows_what_will_happen_before_anything_changes(engine, client_as) -> None:
    who = maker()
    made = create(engine, who, ["75.00", "80.00"], policy())
    paid, not_paid = payment_rows(engine, made.request_id)
    for payment in (paid, not_paid):
        make_uncleared(engine, payment.id)
    superadmin = client_as("superadmin")
    asked = superadmin.post(
        f"/payments/{paid.id}/resolve", data={"resolution": "paid", "comment": "in the report"}
    )
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200
    assert f"Record payment {paid.reference_id} as paid?" in html
    assert "not offered for payment again" in html and 'name="confirmed" value="1"' in html
    asked = superadmin.post(
        f"/payments/{not_paid.id}/resolve",
        data={"resolution": "not_paid", "comment": "not in the report"},
    )
    assert "would then be paid twice" in asked.get_data(as_text=True)
    assert [p.state for p in payment_rows(engine, made.request_id)] == ["uncleared"] * 2
    # a missing comment or resolution goes back to the payment's page, changing nothing
    back = superadmin.post(f"/payments/{paid.id}/resolve", data={"resolution": "paid"})
    assert back.status_code == 302 and back.headers["Location"].endswith("#resolve")
    done = superadmin.post(
        f"/payments/{paid.id}/resolve",
        data={"resolution": "paid", "comment": "in the report", "confirmed": "1"},
    )
    assert done.status_code == 302
    assert [p.state for p in payment_rows(engine, made.request_id)] == ["succeeded", "uncleared"]


def test_closing_the_breaker_has_a_confirm_page(engine, client_as) -> None:
    from bbp_common.core.stores.breaker import NAME as BREAKER
    from bbp_common.platform.db.tables import wallet_breaker

    with engine.begin() as conn:
        WalletBreaker(conn, actor="test").open(
            cause="Authen01/AUTH03 wallet authentication", reference_id="Q" * 20, details={}
        )
    superadmin = client_as("superadmin")
    wallet = superadmin.get("/wallet").get_data(as_text=True)
    assert 'href="/wallet/close"' in wallet and 'action="/wallet/close"' not in wallet
    assert client_as("admin").get("/wallet/close").status_code == 403
    page = superadmin.get("/wallet/close").get_data(as_text=True)
    assert "Close the wallet breaker?" in page and "Authen01/AUTH03" in page
    assert "one payment through to test the paying wallet" in page

    def state() -> str:
        with engine.connect() as conn:
            return conn.execute(
                sa.select(wallet_breaker.c.state).where(wallet_breaker.c.name == BREAKER)
            ).scalar_one()

    assert state() == "open"  # showing the page changed nothing
    done = superadmin.post("/wallet/close", data={"comment": "MPIN fixed"})
    assert done.status_code == 302 and state() == "probing"
    again = superadmin.get("/wallet/close")
    assert again.status_code == 302  # nothing to close now


def test_the_approve_page_says_why_it_waits_and_what_approving_does(
    database_url, redis_url
) -> None:
    app = _app(
        database_url,
        redis_url,
        approval_threshold="1000",
        approval_daily_threshold="1500",
        payer_label="GP wallet 01711000123",
    )
    try:
        engine = app.extensions["bbp.engine"]
        who = maker()
        p = operations.PayPolicy.from_settings(app.extensions["bbp.settings"])
        create(engine, who, ["900.00"], p)
        waiting = create(engine, who, ["600.00", "500.00"], p)
        assert waiting.approval_reasons == ("request_limit", "daily_limit")
        checker = sign_in(app.test_client(), "admin", "mk-checker")
        page = checker.get(f"/requests/{waiting.request_id}").get_data(as_text=True)
        assert f'href="/requests/{waiting.request_id}/approve"' in page
        html = checker.get(f"/requests/{waiting.request_id}/approve").get_data(as_text=True)
        assert 'data-reason="request_limit"' in html and 'data-reason="daily_limit"' in html
        assert "above the limit for one request (1,000.00 BDT)" in html
        assert f"the payment requests {who.login_id} made on" in html
        assert "total 2,000.00 BDT" in html and "above the daily limit of 1,500.00 BDT" in html
        assert "Approving sends its 2 payments, 1,100.00 BDT, from GP wallet ********123" in html
        assert 'id="approve"' in html  # step-up is off in this app
        maker_client = sign_in(app.test_client(), "admin", who.login_id)
        own = maker_client.get(f"/requests/{waiting.request_id}/approve").get_data(as_text=True)
        assert 'id="maker-note"' in own and 'id="approve"' not in own
    finally:
        app.extensions["bbp.engine"].dispose()
