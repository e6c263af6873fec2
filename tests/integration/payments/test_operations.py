"""Operating payment requests: maker-checker, pause/resume/cancel, resolving uncleared
payments, the wallet breaker, disagreeing results, search, needs-attention, roles.

Service-level on the real database (the pipeline's side of pausing and cancelling is in
``tests/integration/pipeline/test_payment_operations.py``). Payments are moved along the
state machine through the payment store exactly as the scheduler and communicator
move them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from bbp_common.core import tallies
from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.notifications import PaymentSmsSettings
from bbp_common.core.stores import PaymentStore, WalletBreaker
from bbp_common.core.stores.breaker import NAME as BREAKER
from bbp_common.platform.db.tables import (
    audit_log,
    bulk_requests,
    notifications,
    payment_anomalies,
    payment_events,
    wallet_breaker,
)
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations, service
from bbp_portal.service_errors import Conflict, Forbidden, Refused, ValidationFailed
from tests.integration.payments.conftest import ADMIN, CHECKER, SUPER, _app
from tests.support.accounts import sign_in
from tests.support.payments import (
    make_uncleared,
    move,
    outbox_messages,
    payment_rows,
    request_state,
    seed_bills,
)

S = PaymentState
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
CHECKED = operations.PayPolicy(max_bill_age=timedelta(hours=24), approval_threshold=Decimal(1000))


def audits(engine, action: str, target_id: object) -> list:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(audit_log).where(
                audit_log.c.action == action, audit_log.c.target_id == str(target_id)
            )
        ).all()


def waiting(engine, amount: str = "1500.00", maker: Actor = ADMIN) -> tuple[int, list[int]]:
    ids = seed_bills(engine, [("DSCO", amount)])
    created = operations.create_payment(engine, maker, ids, key=str(ids), policy=CHECKED)
    assert created.awaiting_approval
    return created.request_id, ids


# --------------------------------------------------------------------------- maker-checker


def test_the_maker_can_never_approve_their_own_request(engine, client_as) -> None:
    request_id, _ = waiting(engine)
    with pytest.raises(Forbidden) as refused:
        operations.approve(engine, ADMIN, request_id, "looks fine")
    assert refused.value.code == "maker_cannot_approve"
    with pytest.raises(Forbidden):
        operations.reject(engine, Actor(ADMIN.login_id.upper(), "admin"), request_id, "no")
    # … nor through the API or the page (the same rule), and nothing changed
    maker = client_as("admin", ADMIN.login_id)
    answer = maker.post(f"/api/v1/requests/{request_id}/approve", json={"comment": "mine"})
    assert answer.status_code == 403
    assert answer.get_json()["error"]["code"] == "maker_cannot_approve"
    page = maker.get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'id="maker-note"' in page and 'id="approve"' not in page
    assert request_state(engine, request_id).state == "awaiting_approval"
    assert outbox_messages(engine, "request.submitted", request_id) == []


def test_another_admin_approves_with_a_comment_and_the_request_starts(engine, client_as) -> None:
    request_id, _ = waiting(engine)
    with pytest.raises(ValidationFailed) as missing:
        operations.approve(engine, CHECKER, request_id, "  ")
    assert missing.value.code == "comment_required"
    checker = client_as("admin", CHECKER.login_id)
    client_as("admin", ADMIN.login_id)  # the maker is a user: they get the e-mail
    answer = checker.post(f"/requests/{request_id}/approve", data={"comment": "budget ok"})
    assert answer.status_code == 302
    row = request_state(engine, request_id)
    assert (row.state, row.approved_by, row.approval_comment) == (
        "queued",
        CHECKER.login_id,
        "budget ok",
    )
    assert len(outbox_messages(engine, "request.submitted", request_id)) == 1
    (entry,) = audits(engine, "request.approved", request_id)
    assert entry.actor == CHECKER.login_id and json.loads(entry.details)["comment"] == "budget ok"
    with engine.connect() as conn:
        kinds = conn.execute(
            sa.select(notifications.c.kind, notifications.c.recipient).where(
                notifications.c.request_id == request_id
            )
        ).all()
    assert ("request_approved", f"{ADMIN.login_id}@example.com") in [tuple(k) for k in kinds]
    # once: a second approval is refused
    with pytest.raises(Conflict):
        operations.approve(engine, SUPER, request_id, "again")


def test_rejecting_cancels_every_payment_and_frees_the_bills(engine) -> None:
    request_id, ids = waiting(engine)
    assert operations.reject(engine, CHECKER, request_id, "not this month") == 1
    row = request_state(engine, request_id)
    assert (row.state, row.approved_by, row.approval_comment) == (
        "rejected",
        CHECKER.login_id,
        "not this month",
    )
    (payment,) = payment_rows(engine, request_id)
    assert payment.state == "cancelled" and payment.live_bill_key is None
    with engine.connect() as conn:
        assert tallies.read(conn, request_id) == {"cancelled": (1, Decimal("1500.00"))}
        events = conn.execute(
            sa.select(payment_events.c.to_state, payment_events.c.actor).where(
                payment_events.c.payment_id == payment.id
            )
        ).all()
    assert ("cancelled", f"portal:{CHECKER.login_id}") in [tuple(e) for e in events]
    assert audits(engine, "request.rejected", request_id)
    assert outbox_messages(engine, "request.submitted", request_id) == []
    again = operations.create_payment(engine, ADMIN, ids, key="after-reject", policy=POLICY)
    assert payment_rows(engine, again.request_id)[0].reference_id != payment.reference_id


def test_approval_is_refused_once_the_bills_went_stale(engine) -> None:
    request_id, _ = waiting(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE bills b JOIN payments p ON p.bill_id = b.id "
                "SET b.fetched_at = UTC_TIMESTAMP(6) - INTERVAL 2 DAY WHERE p.request_id = :r"
            ),
            {"r": request_id},
        )
    with pytest.raises(Conflict) as refused:
        operations.approve(engine, CHECKER, request_id, "ok", max_bill_age=timedelta(hours=24))
    assert refused.value.code == "bills_stale"
    assert request_state(engine, request_id).state == "awaiting_approval"


# --------------------------------------------------------------------------- pause, resume, cancel


def test_pause_and_resume_are_audited_and_tell_the_scheduler(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "10.00"), ("DSCO", "20.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="pr", policy=POLICY).request_id
    operations.pause(engine, ADMIN, request_id, "checking the wallet balance")
    row = request_state(engine, request_id)
    assert (row.state, row.paused_by) == ("paused", ADMIN.login_id)
    assert "checking the wallet balance" in row.paused_reason
    with pytest.raises(Conflict):
        operations.pause(engine, ADMIN, request_id)
    operations.resume(engine, CHECKER, request_id)
    row = request_state(engine, request_id)
    assert (row.state, row.paused_by, row.paused_reason) == ("queued", None, None)  # never started
    changes = [m["change"] for m in outbox_messages(engine, "request.changed", request_id)]
    assert changes == ["paused", "resumed"]
    assert audits(engine, "request.paused", request_id)
    assert audits(engine, "request.resumed", request_id)
    with pytest.raises(Conflict):
        operations.resume(engine, ADMIN, request_id)


def test_resuming_an_auto_paused_request_clears_its_reason(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "10.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="ap", policy=POLICY).request_id
    with engine.begin() as conn:  # what the scheduler's failure streak does
        conn.execute(
            sa.update(bulk_requests)
            .where(bulk_requests.c.id == request_id)
            .values(
                state="paused",
                started_at=sa.func.utc_timestamp(6),
                paused_by="system",
                paused_reason="auto-paused: the last 3 payments failed with TXN01/",
            )
        )
    operations.resume(engine, ADMIN, request_id, "balance topped up")
    row = request_state(engine, request_id)
    assert (row.state, row.paused_by, row.paused_reason) == ("running", None, None)
    (entry,) = audits(engine, "request.resumed", request_id)
    assert json.loads(entry.details)["paused_reason"].startswith("auto-paused")


def test_cancel_leaves_in_flight_payments_to_finish(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "10.00"), ("DSCO", "20.00"), ("DSCO", "30.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="cx", policy=POLICY).request_id
    first, second, third = payment_rows(engine, request_id)
    move(engine, first.id, S.DISPATCHED, S.SENDING)  # a communicator is calling billpay
    move(engine, second.id, S.DISPATCHED)  # its command is on its way
    operations.pause(engine, ADMIN, request_id)
    with engine.connect() as conn:
        before = tallies.read(conn, request_id)
    service.cancel_request(engine, request_id, ADMIN.login_id)
    states = {p.id: p for p in payment_rows(engine, request_id)}
    assert states[first.id].state == "sending" and states[first.id].live_bill_key
    assert states[second.id].state == "dispatched" and states[second.id].live_bill_key
    assert states[third.id].state == "cancelled" and states[third.id].live_bill_key is None
    assert request_state(engine, request_id).state == "cancelled"
    with engine.connect() as conn:
        after = tallies.read(conn, request_id)
    assert before["in_flight"] == after["in_flight"] == (2, Decimal("30.00"))
    assert after["cancelled"] == (1, Decimal("30.00"))
    # the in-flight ones finish as usual after the cancel
    move(engine, first.id, S.POSTED)
    move(engine, second.id, S.SENDING, S.POSTED)
    assert {p.state for p in payment_rows(engine, request_id)} == {"posted", "cancelled"}


def test_cancel_works_while_awaiting_approval(engine) -> None:
    request_id, _ids = waiting(engine)
    assert service.cancel_request(engine, request_id, ADMIN.login_id) == 1
    assert request_state(engine, request_id).state == "cancelled"
    assert payment_rows(engine, request_id)[0].live_bill_key is None


# --------------------------------------------------------------------------- resolving


def test_only_a_superadmin_resolves_and_a_comment_is_required(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "77.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="rs", policy=POLICY).request_id
    (payment,) = payment_rows(engine, request_id)
    with pytest.raises(Conflict) as early:
        operations.resolve(engine, SUPER, payment.id, "paid", "too early")
    assert early.value.code == "not_uncleared"  # a person moves only an uncleared payment
    make_uncleared(engine, payment.id)
    with pytest.raises(Forbidden):
        operations.resolve(engine, ADMIN, payment.id, "paid", "admin tries")
    with pytest.raises(ValidationFailed):
        operations.resolve(engine, SUPER, payment.id, "paid", "")
    with pytest.raises(ValidationFailed):
        operations.resolve(engine, SUPER, payment.id, "maybe", "?")
    assert operations.resolve(engine, SUPER, payment.id, "paid", "in the report") is S.SUCCEEDED
    (row,) = payment_rows(engine, request_id)
    assert (row.state, row.resolved_by, row.resolution_comment) == (
        "succeeded",
        SUPER.login_id,
        "in the report",
    )
    assert row.resolved_at is not None and row.live_bill_key is not None  # paid keeps it taken
    with engine.connect() as conn:
        assert tallies.read(conn, request_id) == {"succeeded": (1, Decimal("77.00"))}
    with pytest.raises(Conflict):
        operations.resolve(engine, SUPER, payment.id, "not_paid", "changed my mind")


def test_resolving_not_paid_lets_the_bill_be_paid_again_with_a_new_reference(
    engine, client_as
) -> None:
    ids = seed_bills(engine, [("DESCO", "120.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="np", policy=POLICY).request_id
    (payment,) = payment_rows(engine, request_id)
    make_uncleared(engine, payment.id)
    with pytest.raises(Refused):  # uncleared keeps the bill: a person must decide first
        operations.create_payment(engine, ADMIN, ids, key="np-too-soon", policy=POLICY)
    superadmin = client_as("superadmin")
    answer = superadmin.post(
        f"/api/v1/payments/{payment.id}/resolve",
        json={"resolution": "not_paid", "comment": "absent from the Mobiquity report"},
    )
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["state"] == "failed" and body["resolved_by"] == "pay-superadmin"
    assert body["events"][-1] == {
        **body["events"][-1],
        "from_state": "uncleared",
        "to_state": "failed",
        "actor": "portal:pay-superadmin",
    }
    (row,) = payment_rows(engine, request_id)
    assert row.live_bill_key is None and row.reason == "resolved by a person: not paid"
    with engine.connect() as conn:
        assert tallies.read(conn, request_id) == {"failed": (1, Decimal("130.00"))}
    assert audits(engine, "payment.resolved", payment.id)
    again = operations.create_payment(engine, ADMIN, ids, key="np-again", policy=POLICY)
    (second,) = payment_rows(engine, again.request_id)
    assert second.bill_id == payment.bill_id and second.reference_id != payment.reference_id
    assert second.state == "queued"
    # the resolution is part of the first request's history
    html = client_as("auditor").get(f"/requests/{request_id}").get_data(as_text=True)
    assert 'data-action="payment.resolved"' in html


def test_the_resolve_page_is_for_superadmins(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "55.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="rp", policy=POLICY).request_id
    (payment,) = payment_rows(engine, request_id)
    make_uncleared(engine, payment.id)
    admin = client_as("admin")
    assert 'id="resolve-form"' not in admin.get(f"/payments/{payment.id}").get_data(as_text=True)
    refused = admin.post(
        f"/payments/{payment.id}/resolve", data={"resolution": "paid", "comment": "x"}
    )
    assert refused.status_code == 403
    superadmin = client_as("superadmin")
    page = superadmin.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'id="resolve-form"' in page
    done = superadmin.post(
        f"/payments/{payment.id}/resolve", data={"resolution": "paid", "comment": "seen"}
    )
    assert done.status_code == 302
    assert payment_rows(engine, request_id)[0].state == "succeeded"


def _submitted_sms(engine, payment_id: int) -> list:
    """The payment-submitted SMS about one payment, with its command's outbox body."""
    from bbp_common.platform.db.tables import notified_payments, outbox

    with engine.connect() as conn:
        told = conn.execute(
            sa.select(notified_payments.c.notification_id).where(
                notified_payments.c.payment_id == payment_id,
                notified_payments.c.purpose == "submitted",
            )
        ).scalars()
        found = []
        for notification_id in told:
            row = conn.execute(
                sa.select(notifications).where(notifications.c.notification_id == notification_id)
            ).one()
            commands = [
                json.loads(body)["body"]
                for body in conn.execute(
                    sa.select(outbox.c.body).where(outbox.c.message_id == row.command_id)
                ).scalars()
            ]
            found.append((row, commands))
        return found


def test_resolving_as_paid_sends_the_payment_submitted_sms_when_it_is_on(engine) -> None:
    on = PaymentSmsSettings(notify_payment_sms=True, notify_payment_sms_language="bn")
    ids = seed_bills(engine, [("DSCO", "120.00"), ("DSCO", "130.00"), ("DSCO", "140.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="sms", policy=POLICY).request_id
    paid, not_paid, off = payment_rows(engine, request_id)
    for payment in (paid, not_paid, off):
        make_uncleared(engine, payment.id)

    operations.resolve(engine, SUPER, paid.id, "paid", "in the report", payment_sms=on)
    ((row, commands),) = _submitted_sms(engine, paid.id)
    assert (row.kind, row.channel, row.recipient, row.language, row.state) == (
        "payment_submitted",
        "sms",
        "01711000000",
        "bn",
        "pending",
    )
    params = json.loads(row.params)
    assert params["state"] == "succeeded"  # worded as paid, not as submitted
    assert params["reference_id"] == paid.reference_id and params["total"] == str(paid.total)
    assert commands == [
        {"notification_id": row.notification_id, "channel": "sms", "kind": "payment_submitted"}
    ]
    # Not paid: nothing to tell. Off (the default): no SMS either.
    operations.resolve(engine, SUPER, not_paid.id, "not_paid", "not in it", payment_sms=on)
    operations.resolve(engine, SUPER, off.id, "paid", "in the report", payment_sms=None)
    operations_off = PaymentSmsSettings()
    assert operations_off.notify_payment_sms is False
    assert _submitted_sms(engine, not_paid.id) == [] and _submitted_sms(engine, off.id) == []


def test_the_resolve_page_sends_the_sms_by_the_portal_setting(database_url, redis_url) -> None:
    app = _app(database_url, redis_url, notify_payment_sms=True)
    try:
        engine = app.extensions["bbp.engine"]
        ids = seed_bills(engine, [("DSCO", "66.00")])
        request_id = operations.create_payment(
            engine, ADMIN, ids, key="sms-page", policy=POLICY
        ).request_id
        (payment,) = payment_rows(engine, request_id)
        make_uncleared(engine, payment.id)
        client = sign_in(app.test_client(), "superadmin", "pay-superadmin")
        done = client.post(
            f"/payments/{payment.id}/resolve", data={"resolution": "paid", "comment": "seen"}
        )
        assert done.status_code == 302
        ((row, _commands),) = _submitted_sms(engine, payment.id)
        assert json.loads(row.params)["state"] == "succeeded" and row.language == "en"
    finally:
        app.extensions["bbp.engine"].dispose()


# --------------------------------------------------------------------------- breaker, anomalies


def _breaker(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(wallet_breaker.c.state).where(wallet_breaker.c.name == BREAKER)
        ).scalar_one()


def test_only_a_superadmin_closes_the_open_breaker(engine, client_as) -> None:
    with engine.begin() as conn:
        WalletBreaker(conn, actor="test").open(
            cause="Authen01/AUTH03 wallet authentication", reference_id="R" * 20, details={}
        )
    page = client_as("auditor").get("/wallet").get_data(as_text=True)
    assert "Authen01/AUTH03" in page and 'id="close-breaker"' not in page
    assert client_as("admin").post("/wallet/close").status_code == 403
    answer = client_as("admin").post("/api/v1/wallet-breaker/close", json={})
    assert answer.status_code == 403
    with pytest.raises(Forbidden):
        operations.close_wallet_breaker(engine, ADMIN)
    assert _breaker(engine) == "open"
    superadmin = client_as("superadmin")
    assert 'id="close-breaker"' in superadmin.get("/wallet").get_data(as_text=True)
    answer = superadmin.post("/api/v1/wallet-breaker/close", json={"comment": "MPIN fixed"})
    assert answer.status_code == 200 and answer.get_json()["state"] == "probing"
    assert answer.get_json()["closed_by"] == "pay-superadmin"
    assert audits(engine, "wallet_breaker.closed", BREAKER)
    again = superadmin.post("/api/v1/wallet-breaker/close", json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "breaker_not_open"


def test_a_disagreeing_result_is_acknowledged_once_with_a_comment(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "12.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="an", policy=POLICY).request_id
    (payment,) = payment_rows(engine, request_id)
    move(engine, payment.id, S.DISPATCHED, S.SENDING, S.FAILED, reason="billpay rejected")
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test")
        row = store.lock([payment.id])[payment.id]
        store.keep_anomaly(row, "pay", json.dumps({"outcome": "accepted"}))
        anomaly_id = conn.execute(
            sa.select(payment_anomalies.c.id).where(payment_anomalies.c.payment_id == payment.id)
        ).scalar_one()
    html = client_as("admin").get("/attention").get_data(as_text=True)
    assert f'data-anomaly="{anomaly_id}"' in html
    assert (
        client_as("admin").post(f"/attention/anomalies/{anomaly_id}/acknowledge").status_code == 403
    )
    with pytest.raises(ValidationFailed):
        operations.acknowledge_anomaly(engine, SUPER, anomaly_id, "")
    answer = client_as("superadmin").post(
        f"/api/v1/anomalies/{anomaly_id}/acknowledge", json={"comment": "late answer, not paid"}
    )
    assert answer.status_code == 200
    with pytest.raises(Conflict):
        operations.acknowledge_anomaly(engine, SUPER, anomaly_id, "again")
    listed = client_as("admin").get("/api/v1/attention").get_json()
    assert anomaly_id not in [a["id"] for a in listed["anomalies"]]
    assert audits(engine, "payment.anomaly_acknowledged", anomaly_id)


# --------------------------------------------------------------------------- attention, search


def test_needs_attention_lists_what_a_person_must_look_at(checked_app, engine, client_as) -> None:
    uncleared_ids = seed_bills(engine, [("DSCO", "40.00"), ("DSCO", "41.00")])
    troubled = operations.create_payment(
        engine, ADMIN, uncleared_ids, key="att", policy=POLICY
    ).request_id
    first, second = payment_rows(engine, troubled)
    make_uncleared(engine, first.id)
    move(engine, second.id, S.DISPATCHED, S.SENDING, S.AMBIGUOUS)
    auto = operations.create_payment(
        engine, ADMIN, seed_bills(engine, [("DSCO", "5.00")]), key="att-auto", policy=POLICY
    ).request_id
    with engine.begin() as conn:
        conn.execute(
            sa.update(bulk_requests)
            .where(bulk_requests.c.id == auto)
            .values(state="paused", paused_by="system", paused_reason="auto-paused: streak")
        )
    awaiting, _ = waiting(engine)
    body = client_as("auditor").get("/api/v1/attention").get_json()
    entry = next(t for t in body["troubled"] if t["request_id"] == troubled)
    assert (entry["uncleared"], entry["ambiguous"]) == (1, 1)
    assert Decimal(entry["uncleared_amount"]) == Decimal("40.00")
    assert auto in [r["id"] for r in body["auto_paused"]]
    assert awaiting in [r["id"] for r in body["awaiting_approval"]]
    assert body["breaker"]["state"] in ("open", "probing", "closed")
    html = client_as("auditor").get("/attention").get_data(as_text=True)
    assert f'data-request="{troubled}"' in html and f'data-request="{auto}"' in html


def test_search_finds_a_payment_by_reference_order_consumer_or_bill(engine, client_as) -> None:
    ids = seed_bills(engine, [("JGDCL", "66.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="se", policy=POLICY).request_id
    (payment,) = payment_rows(engine, request_id)
    order_id = f"ORD-{payment.id}-X"
    move(engine, payment.id, S.DISPATCHED, S.SENDING, S.POSTED, order_id=order_id)
    auditor = client_as("auditor")
    for term in (
        payment.reference_id,
        payment.reference_id.lower(),
        order_id,
        payment.consumer_id,
        payment.bill_number,
    ):
        found = auditor.get("/api/v1/payments/search", query_string={"q": term}).get_json()
        assert payment.id in [p["id"] for p in found], term
    html = auditor.get("/payments/search", query_string={"q": payment.reference_id}).get_data(
        as_text=True
    )
    assert f'data-payment="{payment.id}"' in html
    assert auditor.get("/api/v1/payments/search", query_string={"q": "NOPE"}).get_json() == []
    too_long = auditor.get("/api/v1/payments/search", query_string={"q": "x" * 65})
    assert too_long.status_code == 422


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("method", "url", "roles_allowed"),
    [
        ("get", "/payments/new?scope=ids&ids=1", {"admin", "superadmin"}),
        ("post", "/payments", {"admin", "superadmin"}),
        ("post", "/requests/999999999/approve", {"admin", "superadmin"}),
        ("post", "/requests/999999999/reject", {"admin", "superadmin"}),
        ("post", "/requests/999999999/pause", {"admin", "superadmin"}),
        ("post", "/requests/999999999/resume", {"admin", "superadmin"}),
        ("post", "/payments/999999999/resolve", {"superadmin"}),
        ("post", "/attention/anomalies/999999999/acknowledge", {"superadmin"}),
        ("post", "/wallet/close", {"superadmin"}),
        ("post", "/api/v1/requests/payment", {"admin", "superadmin"}),
        ("post", "/api/v1/payments/preview", {"admin", "superadmin"}),
        ("post", "/api/v1/requests/999999999/approve", {"admin", "superadmin"}),
        ("post", "/api/v1/requests/999999999/pause", {"admin", "superadmin"}),
        ("post", "/api/v1/payments/999999999/resolve", {"superadmin"}),
        ("post", "/api/v1/anomalies/999999999/acknowledge", {"superadmin"}),
        ("post", "/api/v1/wallet-breaker/close", {"superadmin"}),
    ],
)
def test_roles(client_as, method: str, url: str, roles_allowed: set[str]) -> None:
    for role in ("auditor", "admin", "superadmin"):
        client = client_as(role)
        kwargs = {"json": {}} if url.startswith("/api/") and method == "post" else {}
        answer = getattr(client, method)(url, **kwargs)
        if role in roles_allowed:
            assert answer.status_code != 403, (role, url, answer.status_code)
        else:
            assert answer.status_code == 403, (role, url, answer.status_code)


def test_the_openapi_document_has_the_payment_operations(client_as) -> None:
    paths = client_as("auditor").get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/requests/payment",
        "/api/v1/payments/preview",
        "/api/v1/pending-bills",
        "/api/v1/requests/{request_id}/approve",
        "/api/v1/requests/{request_id}/reject",
        "/api/v1/requests/{request_id}/pause",
        "/api/v1/requests/{request_id}/resume",
        "/api/v1/requests/{request_id}/cancel",
        "/api/v1/requests/{request_id}/payments",
        "/api/v1/requests/{request_id}/history",
        "/api/v1/payments/{payment_id}",
        "/api/v1/payments/{payment_id}/resolve",
        "/api/v1/payments/search",
        "/api/v1/attention",
        "/api/v1/wallet-breaker",
        "/api/v1/wallet-breaker/close",
        "/api/v1/anomalies/{anomaly_id}/acknowledge",
    ):
        assert path in paths, path
