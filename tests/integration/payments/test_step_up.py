"""Step-up (issue 17): before a payment request is confirmed or approved, the person proves
again it is them through Mobiquity's login flow — against the real MariaDB, Redis and the
Mobiquity sandbox (``admin01`` signs in without an OTP; ``OTP01`` and ``superadmin`` get
one, read from the sandbox).

A step-up is bound to the session, the action and its target (this confirmation's key, this
request), lasts ``BBP_STEP_UP_TTL``; a wrong password or OTP gets our words and is audited;
the steps are rate-limited like sign-in; nothing secret is kept or logged. The API cannot
confirm a payment or approve without one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bbp_common.platform.db.tables import audit_log, bulk_requests
from bbp_portal.app import create_app
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from tests.support.payments import outbox_messages, request_state, seed_billers, seed_bills
from tests.support.portal import LogCapture, csrf_token, flashes, form_value, href, post_form

#: Our words for a refused password (never Mobiquity's).
WRONG_PASSWORD = "That password is not correct. Type the password you sign in with."


@pytest.fixture
def stepping(portal_settings: Callable[..., Any]) -> Callable[..., Flask]:
    """``stepping(**settings)`` → the portal with the defaults (approvals and step-up on), but
    no daily limit unless asked (the demo users' days are shared by the run's tests)."""

    def make(**overrides: Any) -> Flask:
        app = create_app(
            portal_settings(**{"approval_daily_threshold": "off", **overrides}), TESTING=True
        )
        seed_billers(app.extensions["bbp.engine"])
        return app

    return make


def signed(app: Flask, signed_in: Callable[..., str], role: str, login_id: str) -> FlaskClient:
    client = app.test_client()
    signed_in(client, role, login_id)
    return client


def confirmation(client: FlaskClient, ids: list[int]) -> tuple[str, dict[str, str]]:
    """The confirmation page of these bills, and the form its button would send."""
    page = client.get(
        "/payments/new", query_string={"scope": "ids", "ids": ",".join(map(str, ids))}
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    form = {
        name: form_value(text, name)
        for name in ("idempotency_key", "scope", "ids", "selection", "confirm_url")
    }
    return text, form


def step_ups(app: Flask, login_id: str) -> list[Any]:
    with app.extensions["bbp.engine"].connect() as conn:
        return conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.actor == login_id, audit_log.c.action == "step_up")
            .order_by(audit_log.c.id)
        ).all()


def made_with(app: Flask, login_id: str, key: str) -> list[Any]:
    with app.extensions["bbp.engine"].connect() as conn:
        return conn.execute(
            sa.select(bulk_requests.c.id, bulk_requests.c.state).where(
                bulk_requests.c.idempotency_key == operations.idempotency_key(login_id, key)
            )
        ).all()


def secrets_kept(app: Flask, redis_url: str) -> str:
    """Everything the portal keeps: the audit log and every session in Redis."""
    with app.extensions["bbp.engine"].connect() as conn:
        dump = repr(conn.execute(sa.select(audit_log)).all())
    store = redis.Redis.from_url(redis_url)
    for key in store.keys(app.config["SESSION_KEY_PREFIX"] + "*"):
        dump += repr(store.get(key))
    return dump


# --------------------------------------------------------------------------- paying


def test_paying_needs_a_step_up_for_this_very_confirmation(stepping, sandbox, signed_in) -> None:
    app = stepping()
    engine = app.extensions["bbp.engine"]
    client = signed(app, signed_in, "admin", "admin01")
    ids = seed_bills(engine, [("DSCO", "120.00"), ("JGDCL", "80.00")])
    page, form = confirmation(client, ids)
    assert 'id="confirm-step-up"' in page and 'id="confirm-pay"' not in page
    here, key = form["confirm_url"], form["idempotency_key"]
    assert f"key={key}" in here

    # Paying without the step-up (a crafted POST) creates nothing and asks for it.
    asked = post_form(client, "/payments", form, page=here)
    assert asked.status_code == 302 and asked.headers["Location"].startswith("/step-up?")
    step_up = asked.headers["Location"]
    assert step_up == href(page, "confirm-step-up")
    assert made_with(app, "admin01", key) == []

    # A wrong password: our words, audited; then the right one (Mobiquity asks no OTP of
    # admin01) brings the person back to this confirmation, same key.
    shown = client.get(step_up).get_data(as_text=True)
    assert "You are about to pay the bills you are confirming." in shown
    wrong = post_form(client, step_up, {"password": "Wrong@123"})
    assert wrong.status_code == 400
    assert WRONG_PASSWORD in wrong.get_data(as_text=True)
    right = post_form(client, step_up, {"password": "Admin@123"})
    assert right.status_code == 302 and right.headers["Location"] == here
    back = client.get(here).get_data(as_text=True)
    assert 'id="step-up-fresh"' in back and 'id="confirm-pay"' in back
    assert form_value(back, "idempotency_key") == key
    assert [(r.outcome, r.target_type) for r in step_ups(app, "admin01")] == [
        ("failed", "pay"),
        ("ok", "pay"),
    ]
    assert "password_refused" in step_ups(app, "admin01")[0].details

    # Another confirmation is not covered by this step-up.
    other_page, other = confirmation(client, seed_bills(engine, [("DSCO", "50.00")]))
    assert 'id="confirm-step-up"' in other_page and other["idempotency_key"] != key
    again = post_form(client, "/payments", other, page=other["confirm_url"])
    assert again.headers["Location"].startswith("/step-up?")
    assert made_with(app, "admin01", other["idempotency_key"]) == []

    # This one goes: straight to the queue (under the limits), the step-up in its audit entry.
    done = post_form(client, "/payments", form, page=here)
    assert done.status_code == 302 and done.headers["Location"].startswith("/requests/")
    ((request_id, state),) = made_with(app, "admin01", key)
    assert state == "queued"
    assert len(outbox_messages(engine, "request.submitted", request_id)) == 1
    with engine.connect() as conn:
        details = conn.execute(
            sa.select(audit_log.c.details).where(
                audit_log.c.action == "request.payment_created",
                audit_log.c.target_id == str(request_id),
            )
        ).scalar_one()
    assert '"stepped_up": true' in details


def test_a_step_up_lasts_only_its_time(stepping, sandbox, signed_in) -> None:
    app = stepping(step_up_ttl=1)
    client = signed(app, signed_in, "admin", "admin01")
    _page, form = confirmation(client, seed_bills(app.extensions["bbp.engine"], [("DSCO", "9")]))
    asked = post_form(client, "/payments", form, page=form["confirm_url"])
    assert (
        post_form(client, asked.headers["Location"], {"password": "Admin@123"}).status_code == 302
    )
    time.sleep(1.2)
    late = post_form(client, "/payments", form, page=form["confirm_url"])
    assert late.status_code == 302 and late.headers["Location"].startswith("/step-up?")
    assert "a step-up lasts a few minutes only" in " ".join(flashes(client.get("/")))
    assert made_with(app, "admin01", form["idempotency_key"]) == []


def test_over_a_limit_the_maker_sends_it_for_approval_without_a_step_up(
    stepping, sandbox, signed_in
) -> None:
    app = stepping(approval_threshold="100")
    client = signed(app, signed_in, "admin", "admin01")
    page, form = confirmation(client, seed_bills(app.extensions["bbp.engine"], [("DSCO", "150")]))
    assert 'id="confirm-over-request-limit"' in page and 'id="confirm-step-up"' not in page
    assert "for approval" in page
    sent = post_form(client, "/payments", form, page=form["confirm_url"])
    assert sent.headers["Location"].startswith("/requests/")
    ((_request_id, state),) = made_with(app, "admin01", form["idempotency_key"])
    assert state == "awaiting_approval"


# --------------------------------------------------------------------------- approving


def test_approving_needs_a_step_up_with_mobiquitys_otp(
    stepping, sandbox, signed_in, redis_url
) -> None:
    app = stepping(approval_threshold="100")
    engine = app.extensions["bbp.engine"]
    policy = operations.PayPolicy.from_settings(app.extensions["bbp.settings"])
    ids = seed_bills(engine, [("DSCO", "150.00")])
    created = operations.create_payment(
        engine, Actor("admin01"), ids, key=uuid.uuid4().hex, policy=policy, stepped_up=True
    )
    assert created.approval_reasons == ("request_limit",)
    rid = created.request_id
    decide = f"/requests/{rid}/approve"
    checker = signed(app, signed_in, "admin", "OTP01")  # Mobiquity asks OTP01 for OTPs
    page = checker.get(decide).get_data(as_text=True)
    assert 'id="approve-step-up"' in page and 'id="approve"' not in page and 'id="reject"' in page

    with LogCapture() as logs:
        crafted = post_form(checker, decide, {"comment": "budget ok"})
        assert crafted.status_code == 302 and crafted.headers["Location"].startswith("/step-up?")
        assert request_state(engine, rid).state == "awaiting_approval"
        step_up = crafted.headers["Location"]
        assert step_up == href(page, "approve-step-up")
        otp_page = post_form(checker, step_up, {"password": "Com@8989"})
        assert otp_page.status_code == 302 and otp_page.headers["Location"] == "/step-up/otp"
        assert f"approve payment request #{rid}" in checker.get("/step-up/otp").get_data(
            as_text=True
        )
        # A wrong OTP that nothing stored or logged so far happens to contain (the shared test
        # database holds other tests' rows: a wallet like 01700000001 contains "000000").
        seen = logs.text + secrets_kept(app, redis_url)
        bad = next(
            c
            for c in ("000000", "111111", "737373", "919191", "864208", "502468")
            if c != sandbox.otp("OTP01") and c not in seen
        )
        wrong = post_form(checker, "/step-up/otp", {"otp": bad})
        assert wrong.status_code == 400
        assert "That one-time password is not correct." in wrong.get_data(as_text=True)
        otp = sandbox.otp("OTP01")
        right = post_form(checker, "/step-up/otp", {"otp": otp})
        assert right.status_code == 302 and right.headers["Location"] == decide
        ready = checker.get(decide).get_data(as_text=True)
        assert 'id="approve"' in ready and 'id="step-up-fresh"' in ready
        approved = post_form(checker, decide, {"comment": "budget ok"})
    assert approved.status_code == 302 and approved.headers["Location"] == f"/requests/{rid}"
    row = request_state(engine, rid)
    assert (row.state, row.approved_by) == ("queued", "OTP01")
    audited = [(r.outcome, r.target_type, r.target_id) for r in step_ups(app, "OTP01")]
    assert audited == [
        ("otp_sent", "approve", str(rid)),
        ("failed", "approve", str(rid)),
        ("ok", "approve", str(rid)),
    ]
    assert "otp_rejected" in step_ups(app, "OTP01")[1].details
    assert '"second_factor": true' in step_ups(app, "OTP01")[2].details
    # Never kept, never logged: the password and the OTPs.
    kept = secrets_kept(app, redis_url)
    for secret in ("Com@8989", otp, bad):
        assert secret not in logs.text, secret
        assert secret not in kept, secret
    assert "step_up" in logs.text  # the capture saw the flow


def test_a_step_up_is_for_one_request_and_one_action(stepping, sandbox, signed_in) -> None:
    app = stepping(approval_threshold="100")
    engine = app.extensions["bbp.engine"]
    policy = operations.PayPolicy.from_settings(app.extensions["bbp.settings"])
    maker = Actor(f"mk-{uuid.uuid4().hex[:8]}")
    first, second = (
        operations.create_payment(
            engine, maker, seed_bills(engine, [("DSCO", "300")]), key=key, policy=policy
        ).request_id
        for key in ("one-" + uuid.uuid4().hex, "two-" + uuid.uuid4().hex)
    )
    checker = signed(app, signed_in, "admin", "admin01")
    page = checker.get(f"/requests/{first}/approve").get_data(as_text=True)
    assert (
        post_form(checker, href(page, "approve-step-up"), {"password": "Admin@123"}).status_code
        == 302
    )
    other = post_form(checker, f"/requests/{second}/approve", {"comment": "ok"})
    assert (
        other.headers["Location"].startswith("/step-up?")
        and f"target={second}" in other.headers["Location"]
    )
    assert request_state(engine, second).state == "awaiting_approval"
    # …nor to pay: a confirmation asks for its own.
    pay_page, _form = confirmation(checker, seed_bills(engine, [("DSCO", "10")]))
    assert 'id="confirm-step-up"' in pay_page
    assert post_form(checker, f"/requests/{first}/approve", {"comment": "ok"}).status_code == 302
    assert request_state(engine, first).state == "queued"


def test_the_step_up_is_rate_limited_like_sign_in(stepping, sandbox, signed_in) -> None:
    app = stepping(rate_limit_per_login_id="3/minute", rate_limit_per_ip="100/minute")
    client = signed(app, signed_in, "admin", "admin01")
    _page, form = confirmation(client, seed_bills(app.extensions["bbp.engine"], [("DSCO", "7")]))
    step_up = post_form(client, "/payments", form, page=form["confirm_url"]).headers["Location"]
    statuses = [post_form(client, step_up, {"password": "Wrong@123"}).status_code for _ in range(3)]
    assert statuses == [400, 400, 400]
    blocked = post_form(client, step_up, {"password": "Admin@123"})  # even the right one
    assert blocked.status_code == 429
    assert len(sandbox.calls(endpoint="login")) == 1 + 3  # sign-in, then three tries


# --------------------------------------------------------------------------- the API


def api(client: FlaskClient, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json=body, headers={"X-CSRFToken": csrf_token(client)})


def test_the_api_cannot_confirm_a_payment_or_approve_without_a_step_up(
    stepping, sandbox, signed_in
) -> None:
    app = stepping()
    engine = app.extensions["bbp.engine"]
    maker = signed(app, signed_in, "admin", "admin01")
    ids = seed_bills(engine, [("DSCO", "60.00")])
    preview = api(maker, "/api/v1/payments/preview", {"bill_ids": ids}).get_json()
    assert preview["needs_approval"] is True and preview["approval_reasons"] == ["step_up"]
    assert Decimal(preview["maker_day_total"]) >= 0 and preview["maker_day"]

    # Under every limit, still it waits: nobody stepped up for it.
    made = api(maker, "/api/v1/requests/payment", {"bill_ids": ids, "idempotency_key": "api-1"})
    body = made.get_json()
    assert made.status_code == 201 and body["awaiting_approval"] is True
    assert body["approval_reasons"] == ["step_up"]
    rid = body["request"]["id"]
    assert body["request"]["state"] == "awaiting_approval"
    assert outbox_messages(engine, "request.submitted", rid) == []

    # Another person cannot approve it through the API without a step-up…
    checker = signed(app, signed_in, "superadmin", "superadmin")
    refused = api(checker, f"/api/v1/requests/{rid}/approve", {"comment": "ok"})
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "step_up_required"
    assert request_state(engine, rid).state == "awaiting_approval"

    # …its maker confirms it in the portal, with a step-up.
    page = maker.get(f"/requests/{rid}").get_data(as_text=True)
    assert "You made it without a step-up" in page
    decide = maker.get(f"/requests/{rid}/approve").get_data(as_text=True)
    assert f"Confirm payment request #{rid}" in decide and 'id="reject"' not in decide
    assert (
        post_form(maker, href(decide, "approve-step-up"), {"password": "Admin@123"}).status_code
        == 302
    )
    confirmed = post_form(maker, f"/requests/{rid}/approve", {"comment": "mine, confirmed"})
    assert confirmed.headers["Location"] == f"/requests/{rid}"
    row = request_state(engine, rid)
    assert (row.state, row.approved_by) == ("queued", "admin01")
    assert len(outbox_messages(engine, "request.submitted", rid)) == 1


def test_a_step_up_of_the_same_session_counts_for_the_api(stepping, sandbox, signed_in) -> None:
    """The rule is one for pages and API: a fresh step-up of this session, for this action
    on this target. (API tokens have no session: they never have one.)"""
    app = stepping()
    engine = app.extensions["bbp.engine"]
    client = signed(app, signed_in, "admin", "admin01")
    key = "api-" + uuid.uuid4().hex
    step_up = f"/step-up?action=pay&target={key}&next=/"
    assert post_form(client, step_up, {"password": "Admin@123"}).status_code == 302
    ids = seed_bills(engine, [("DSCO", "45.00")])
    made = api(client, "/api/v1/requests/payment", {"bill_ids": ids, "idempotency_key": key})
    assert made.status_code == 201 and made.get_json()["awaiting_approval"] is False
    assert made.get_json()["request"]["state"] == "queued"

    waiting = api(
        client,
        "/api/v1/requests/payment",
        {"bill_ids": seed_bills(engine, [("DSCO", "46.00")]), "idempotency_key": "x" * 20},
    ).get_json()["request"]["id"]
    checker = signed(app, signed_in, "admin", "OTP01")
    step_up = f"/step-up?action=approve&target={waiting}&next=/"
    assert post_form(checker, step_up, {"password": "Com@8989"}).headers["Location"] == (
        "/step-up/otp"
    )
    assert post_form(checker, "/step-up/otp", {"otp": sandbox.otp("OTP01")}).status_code == 302
    approved = api(checker, f"/api/v1/requests/{waiting}/approve", {"comment": "seen"})
    assert approved.status_code == 200 and approved.get_json()["state"] == "queued"


def test_the_step_up_page_refuses_what_it_does_not_know(stepping, sandbox, signed_in) -> None:
    app = stepping()
    client = signed(app, signed_in, "admin", "admin01")
    for query in ("action=delete&target=1", "action=approve&target=abc", "action=pay&target=a"):
        answer = client.get(f"/step-up?{query}&next=/")
        assert answer.status_code == 400, query
        assert "Traceback" not in answer.get_data(as_text=True)
    # an outside "next" is never followed
    answer = post_form(
        client,
        "/step-up?action=approve&target=5&next=https://evil.example/",
        {"password": "Admin@123"},
    )
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert client.get("/step-up/otp").status_code == 302  # no OTP step is open
