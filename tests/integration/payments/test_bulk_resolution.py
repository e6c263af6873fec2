"""Bulk resolution of uncleared payments (issue 18): many at once with one comment, each
through the payment store and audited; a second superadmin above the configured total (never
the maker); mixed selections refused by name; the "succeeded, unacknowledged" guard; the
pages (choose → confirm → done, select all matching) and the API.

Service-level and through the Flask test client on the real database.
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
from bbp_common.core.stores import PaymentStore
from bbp_common.platform.db.tables import (
    audit_log,
    bulk_resolution_payments,
    bulk_resolutions,
    notified_payments,
    payment_events,
)
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations, resolutions, uncleared
from bbp_portal.payments import resolution_records as records
from bbp_portal.service_errors import Forbidden, Refused, ValidationFailed
from tests.integration.payments.conftest import ADMIN, SUPER, _app
from tests.support.accounts import sign_in
from tests.support.payments import make_uncleared, payment_rows, seed_bills

S = PaymentState
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
OTHER = Actor("pay-super-2", "superadmin")
KEYS = iter(f"bulk-key-{n:08d}-abcdef" for n in range(10_000))


def open_payments(engine, *amounts: str, utility: str = "DSCO") -> tuple[int, list]:
    """A payment request whose payments are all uncleared; (request id, payment rows)."""
    ids = seed_bills(engine, [(utility, a) for a in amounts])
    created = operations.create_payment(engine, ADMIN, ids, key=str(ids), policy=POLICY)
    rows = payment_rows(engine, created.request_id)
    for row in rows:
        make_uncleared(engine, row.id)
    return created.request_id, payment_rows(engine, created.request_id)


def resolved_audits(engine, payment_ids) -> dict[int, dict]:
    with engine.connect() as conn:
        found = conn.execute(
            sa.select(audit_log.c.target_id, audit_log.c.actor, audit_log.c.details).where(
                audit_log.c.action == "payment.resolved",
                audit_log.c.target_id.in_([str(i) for i in payment_ids]),
            )
        ).all()
    return {int(t): {"actor": a, **json.loads(d)} for t, a, d in found}


def confirm(engine, actor, ids, outcome="paid", comment="in Mobiquity's report", **kw):
    kw.setdefault("threshold", None)
    return resolutions.confirm(engine, actor, ids, outcome, comment, key=next(KEYS), **kw)


def succeeded_unacknowledged(engine, payment_id: int) -> None:
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test")
        row = store.lock([payment_id])[payment_id]
        store.keep_anomaly(row, "enquiry.succeeded", '{"outcome": "succeeded"}')


# --------------------------------------------------------------------------- the service


def test_many_are_resolved_with_one_comment_each_through_the_store_and_audited(engine) -> None:
    request_id, rows = open_payments(engine, "100.00", "200.00", "300.00")
    ids = [r.id for r in rows]
    done = confirm(engine, SUPER, ids, "paid", "all three in the 5 Dec report", reconciliation_id=7)
    assert done.state == "applied" and sorted(done.resolved) == sorted(r.reference_id for r in rows)
    assert done.refused == []
    after = payment_rows(engine, request_id)
    note = (
        f"all three in the 5 Dec report (bulk resolution #{done.resolution_id}, "
        "from reconciliation 7)"
    )
    assert {(r.state, r.resolved_by, r.resolution_comment) for r in after} == {
        ("succeeded", SUPER.login_id, note)
    }
    with engine.connect() as conn:
        assert tallies.read(conn, request_id) == {"succeeded": (3, Decimal("600.00"))}
        events = conn.execute(
            sa.select(payment_events.c.payment_id, payment_events.c.actor).where(
                payment_events.c.payment_id.in_(ids), payment_events.c.to_state == "succeeded"
            )
        ).all()
        record = conn.execute(
            sa.select(bulk_resolutions).where(bulk_resolutions.c.id == done.resolution_id)
        ).one()
    assert sorted(e.payment_id for e in events) == sorted(ids)
    assert {e.actor for e in events} == {f"portal:{SUPER.login_id}"}
    assert (record.state, record.payment_count, record.total, record.resolved_count) == (
        "applied",
        3,
        Decimal("600.00"),
        3,
    )
    audits = resolved_audits(engine, ids)
    assert set(audits) == set(ids)  # one entry per payment
    for entry in audits.values():
        assert entry["actor"] == SUPER.login_id
        assert entry["comment"] == note and entry["resolution"] == "paid"
        assert entry["bulk_resolution_id"] == done.resolution_id
        assert entry["reconciliation_id"] == 7
    # the same key again (a double click) does nothing more
    again = resolutions.confirm(
        engine, SUPER, ids, "paid", "x", key=_key_of(engine, done.resolution_id), threshold=None
    )
    assert again.existing and again.resolution_id == done.resolution_id


def _key_of(engine, resolution_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(bulk_resolutions.c.idempotency_key).where(
                bulk_resolutions.c.id == resolution_id
            )
        ).scalar_one()


def test_paid_sends_each_payment_submitted_sms_when_it_is_on(engine) -> None:
    _, rows = open_payments(engine, "50.00", "51.00")
    sms = PaymentSmsSettings(notify_payment_sms=True)
    done = confirm(engine, SUPER, [r.id for r in rows], payment_sms=sms)
    assert len(done.resolved) == 2
    with engine.connect() as conn:
        told = conn.execute(
            sa.select(notified_payments.c.payment_id).where(
                notified_payments.c.payment_id.in_([r.id for r in rows]),
                notified_payments.c.purpose == "submitted",
            )
        ).all()
    assert sorted(t.payment_id for t in told) == sorted(r.id for r in rows)


def test_not_paid_frees_the_bills(engine) -> None:
    request_id, rows = open_payments(engine, "40.00", "41.00")
    done = confirm(engine, SUPER, [r.id for r in rows], "not_paid", "absent from the report")
    assert len(done.resolved) == 2
    after = payment_rows(engine, request_id)
    assert {(r.state, r.failure, r.live_bill_key) for r in after} == {("failed", "person", None)}


def test_only_a_superadmin_with_a_comment_and_an_outcome(engine) -> None:
    _, rows = open_payments(engine, "10.00")
    with pytest.raises(Forbidden):
        confirm(engine, ADMIN, [rows[0].id])
    with pytest.raises(ValidationFailed):
        confirm(engine, SUPER, [rows[0].id], comment="  ")
    with pytest.raises(ValidationFailed):
        confirm(engine, SUPER, [rows[0].id], outcome="maybe")
    with pytest.raises(ValidationFailed):
        confirm(engine, SUPER, [])
    with pytest.raises(ValidationFailed) as many:
        confirm(engine, SUPER, list(range(1, uncleared.MAX_PAYMENTS + 2)))
    assert many.value.code == "too_many_payments"
    with pytest.raises(Forbidden) as step:
        confirm(engine, SUPER, [rows[0].id], step_up_required=True, stepped_up=False)
    assert step.value.code == "step_up_required"
    assert payment_rows(engine, rows[0].request_id)[0].state == "uncleared"


def test_a_mixed_selection_resolves_the_uncleared_and_names_the_others(engine) -> None:
    _, open_rows = open_payments(engine, "11.00", "12.00")
    ids = seed_bills(engine, [("DSCO", "13.00")])
    queued_request = operations.create_payment(engine, ADMIN, ids, key=str(ids), policy=POLICY)
    (queued,) = payment_rows(engine, queued_request.request_id)
    missing = 9_000_000_000
    plan_ids = [open_rows[0].id, open_rows[1].id, queued.id, missing]
    with engine.connect() as conn:
        plan = uncleared.preview(conn, plan_ids, "paid", None)
    assert {c.reference_id: c.refusal for c in plan.refused} == {
        queued.reference_id: "not_uncleared",
        f"#{missing}": "not_found",
    }
    done = confirm(engine, SUPER, plan_ids)
    assert sorted(done.resolved) == sorted(r.reference_id for r in open_rows)
    assert dict(done.refused) == {
        queued.reference_id: "not_uncleared",
        f"#{missing}": "not_found",
    }
    assert payment_rows(engine, queued_request.request_id)[0].state == "queued"
    with engine.connect() as conn:
        kept = dict(
            conn.execute(
                sa.select(
                    bulk_resolution_payments.c.reference_id, bulk_resolution_payments.c.result
                ).where(bulk_resolution_payments.c.resolution_id == done.resolution_id)
            ).all()
        )
    assert kept[queued.reference_id] == "not_uncleared"  # kept with why, by name
    # nothing resolvable at all: refused, each by name, and nothing recorded
    with pytest.raises(Refused) as refused:
        confirm(engine, SUPER, [queued.id, open_rows[0].id])
    assert refused.value.code == "nothing_to_resolve"
    assert refused.value.details == {
        queued.reference_id: "not_uncleared",
        open_rows[0].reference_id: "not_uncleared",
    }


def test_not_paid_is_refused_while_mobiquity_said_succeeded_unacknowledged(engine) -> None:
    request_id, rows = open_payments(engine, "21.00", "22.00")
    alarmed, clear = rows
    succeeded_unacknowledged(engine, alarmed.id)
    done = confirm(engine, SUPER, [alarmed.id, clear.id], "not_paid", "not in the report")
    assert done.resolved == [clear.reference_id]
    assert done.refused == [(alarmed.reference_id, "success_unacknowledged")]
    states = {r.id: r.state for r in payment_rows(engine, request_id)}
    assert states == {alarmed.id: "uncleared", clear.id: "failed"}
    # "paid" is not refused by it
    assert confirm(engine, SUPER, [alarmed.id], "paid", "it is there").resolved == [
        alarmed.reference_id
    ]


# --------------------------------------------------------------------------- the second person


def test_above_the_amount_a_second_superadmin_approves_and_never_the_maker(engine) -> None:
    request_id, rows = open_payments(engine, "600.00", "500.00")
    ids = [r.id for r in rows]
    done = confirm(engine, SUPER, ids, "paid", "both in the report", threshold=Decimal("1000"))
    assert done.state == "awaiting_approval" and done.resolved == []
    assert {r.state for r in payment_rows(engine, request_id)} == {"uncleared"}
    with engine.connect() as conn:
        waiting = records.list_resolutions(conn, "awaiting_approval")
        assert done.resolution_id in [w.id for w in waiting]
        # a payment waiting in it cannot be chosen for another one
        plan = uncleared.preview(conn, ids, "paid", None)
    assert {c.refusal for c in plan.chosen} == {"in_pending"}
    with pytest.raises(Refused):
        confirm(engine, OTHER, ids)
    # the maker cannot approve (whatever the case of the login id)
    for maker in (SUPER, Actor(SUPER.login_id.upper(), "superadmin")):
        with pytest.raises(Forbidden) as own:
            resolutions.approve(engine, maker, done.resolution_id)
        assert own.value.code == "maker_cannot_approve"
    with pytest.raises(Forbidden):
        resolutions.approve(engine, ADMIN, done.resolution_id)
    with pytest.raises(Forbidden) as step:
        resolutions.approve(
            engine, OTHER, done.resolution_id, step_up_required=True, stepped_up=False
        )
    assert step.value.code == "step_up_required"
    assert {r.state for r in payment_rows(engine, request_id)} == {"uncleared"}
    approved = resolutions.approve(engine, OTHER, done.resolution_id, "checked the report too")
    assert sorted(approved.resolved) == sorted(r.reference_id for r in rows)
    after = payment_rows(engine, request_id)
    assert {(r.state, r.resolved_by) for r in after} == {("succeeded", SUPER.login_id)}
    audits = resolved_audits(engine, ids)
    assert {a["actor"] for a in audits.values()} == {OTHER.login_id}
    assert {a["approved_by"] for a in audits.values()} == {OTHER.login_id}
    assert {a["resolved_by"] for a in audits.values()} == {SUPER.login_id}
    with engine.connect() as conn:
        row, items = records.get_resolution(conn, done.resolution_id)
    assert (row.state, row.decided_by, row.resolved_count) == ("applied", OTHER.login_id, 2)
    assert {i.result for i in items} == {"resolved"}
    with pytest.raises(Exception) as twice:
        resolutions.approve(engine, OTHER, done.resolution_id)
    assert getattr(twice.value, "code", "") == "not_awaiting_approval"


def test_at_approval_each_payment_is_judged_again(engine) -> None:
    request_id, rows = open_payments(engine, "700.00", "800.00")
    first, second = rows
    done = confirm(engine, SUPER, [first.id, second.id], "not_paid", "absent", threshold=Decimal(1))
    # meanwhile: one is resolved by hand, the other gets a "succeeded" nobody acknowledged
    operations.resolve(engine, OTHER, first.id, "paid", "found it after all")
    succeeded_unacknowledged(engine, second.id)
    approved = resolutions.approve(engine, OTHER, done.resolution_id)
    assert approved.resolved == []
    assert dict(approved.refused) == {
        first.reference_id: "not_uncleared",
        second.reference_id: "success_unacknowledged",
    }
    states = {r.id: r.state for r in payment_rows(engine, request_id)}
    assert states == {first.id: "succeeded", second.id: "uncleared"}


def test_a_rejected_resolution_leaves_the_payments_uncleared(engine) -> None:
    request_id, rows = open_payments(engine, "900.00")
    done = confirm(engine, SUPER, [rows[0].id], threshold=Decimal(1))
    with pytest.raises(ValidationFailed):
        resolutions.reject(engine, OTHER, done.resolution_id, "")
    resolutions.reject(engine, SUPER, done.resolution_id, "wrong report")  # the maker withdraws
    assert payment_rows(engine, request_id)[0].state == "uncleared"
    with engine.connect() as conn:
        row, _ = records.get_resolution(conn, done.resolution_id)
        assert row.state == "rejected"
        # free to be chosen again
        assert uncleared.preview(conn, [rows[0].id], "paid", None).refused == []


# --------------------------------------------------------------------------- the pages


def test_the_pages_choose_confirm_and_resolve(engine, client_as) -> None:
    request_id, rows = open_payments(engine, "31.00", "32.00", "33.00")
    admin = client_as("admin")
    assert admin.get("/payments/resolve-many").status_code == 403
    superadmin = client_as("superadmin")
    page = superadmin.get(f"/payments/resolve-many?request={request_id}").get_data(as_text=True)
    for row in rows:
        assert f'data-payment="{row.id}"' in page
    assert "3 uncleared payments match" in page
    # preselected by the reconciliation page
    pre = superadmin.get(
        f"/payments/resolve-many?ids={rows[0].id}&ids={rows[1].id}&reconciliation=12&outcome=paid"
    ).get_data(as_text=True)
    assert 'id="preselected"' in pre and 'id="from-reconciliation"' in pre
    chosen = superadmin.post(
        "/payments/resolve-many",
        data={
            "review": "1",
            "ids": [str(rows[0].id), str(rows[1].id)],
            "outcome": "paid",
            "comment": "both in the report",
            "reconciliation": "12",
        },
    )
    assert chosen.status_code == 302
    confirm_url = chosen.headers["Location"]
    shown = superadmin.get(confirm_url).get_data(as_text=True)
    assert 'id="resolve-many-question"' in shown and "63.00" in shown  # DSCO adds no service charge
    assert {r.state for r in payment_rows(engine, request_id)} == {"uncleared"}
    done = superadmin.post(confirm_url)
    assert done.status_code == 302 and "/payments/resolutions/" in done.headers["Location"]
    states = {r.id: r.state for r in payment_rows(engine, request_id)}
    assert states == {rows[0].id: "succeeded", rows[1].id: "succeeded", rows[2].id: "uncleared"}
    result = superadmin.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-result="resolved"' in result and "reconciliation 12" in result
    # select all matching (the filter): the one left
    chosen = superadmin.post(
        "/payments/resolve-many",
        data={
            "review": "1",
            "scope": "filter",
            "request": str(request_id),
            "outcome": "not_paid",
            "comment": "not in the report",
        },
    )
    superadmin.post(chosen.headers["Location"])
    assert payment_rows(engine, request_id)[2].state == "failed"
    # in Bangla too
    superadmin.get("/language/bn")
    bangla = superadmin.get(f"/payments/resolve-many?ids={rows[0].id}&reconciliation=12")
    assert bangla.status_code == 200 and "অমীমাংসিত পেমেন্টের মীমাংসা করুন" in bangla.get_data(
        as_text=True
    )
    assert superadmin.get(done.headers["Location"]).status_code == 200
    assert superadmin.get("/payments/resolutions").status_code == 200
    superadmin.get("/language/en")
    # bad input: our page, not a 500
    assert superadmin.get("/payments/resolve-many?from=yesterday").status_code == 400
    assert superadmin.get("/payments/resolve-many?outcome=maybe").status_code == 400
    assert superadmin.get("/payments/resolve-many/not-a-key").status_code == 302


def test_the_approval_pages_and_the_api(engine, database_url, redis_url) -> None:
    app = _app(database_url, redis_url, bulk_resolve_second_approval_above="50")
    maker = sign_in(app.test_client(), "superadmin", "bulk-maker")
    checker = sign_in(app.test_client(), "superadmin", "bulk-checker")
    request_id, rows = open_payments(app.extensions["bbp.engine"], "60.00", "70.00")
    ids = [r.id for r in rows]
    made = maker.post(
        "/api/v1/resolutions",
        json={
            "payment_ids": ids,
            "outcome": "paid",
            "comment": "in the report",
            "idempotency_key": "api-bulk-key-0000000001",
        },
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["state"] == "awaiting_approval"
    resolution_id = body["resolution_id"]
    listed = checker.get("/api/v1/resolutions?state=awaiting_approval").get_json()
    assert resolution_id in [r["id"] for r in listed]
    detail = checker.get(f"/api/v1/resolutions/{resolution_id}").get_json()
    assert detail["total"] == "130.00" and len(detail["payments"]) == 2
    shown = checker.get(f"/payments/{ids[0]}").get_data(as_text=True)
    assert 'id="in-bulk-resolution"' in shown
    page = maker.get(f"/payments/resolutions/{resolution_id}").get_data(as_text=True)
    assert 'id="maker-note"' in page and 'id="approve"' not in page
    assert maker.post(f"/api/v1/resolutions/{resolution_id}/approve", json={}).status_code == 403
    own = maker.post(f"/payments/resolutions/{resolution_id}/approve", follow_redirects=True)
    assert "another superadmin must approve it" in own.get_data(as_text=True)
    assert {r.state for r in payment_rows(engine, request_id)} == {"uncleared"}
    # a token never resolves: the mutating operations are a person's
    spec = checker.get("/api/v1/openapi.json").get_json()
    assert spec["paths"]["/api/v1/resolutions"]["post"]["security"] == [{"session": []}]
    assert 'id="approve"' in checker.get(f"/payments/resolutions/{resolution_id}").get_data(
        as_text=True
    )
    answer = checker.post(f"/payments/resolutions/{resolution_id}/approve", data={"comment": "ok"})
    assert answer.status_code == 302
    assert {r.state for r in payment_rows(engine, request_id)} == {"succeeded"}
    app.extensions["bbp.engine"].dispose()
