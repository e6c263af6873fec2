"""Paying from the portal: pending bills, the confirmation page, creating once, freshness.

Real MariaDB/MySQL and Redis; the pipeline is not running (what the scheduler does with a
request is the pipeline tests'), so every payment stays where the portal put it.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from bbp_common.platform.db.tables import (
    audit_log,
    bills,
    bulk_requests,
    fetch_items,
    notifications,
    users,
)
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import operations
from bbp_portal.service_errors import Refused, ValidationFailed
from tests.integration.payments.conftest import ADMIN
from tests.support.payments import (
    consumer,
    done_fetch_item,
    outbox_messages,
    payment_rows,
    seed_bills,
)

POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))


def _flash(response: Any) -> str:
    html = response.get_data(as_text=True)
    return " ".join(
        re.sub(r"\s+", " ", m)
        for m in re.findall(r'<div class="alert[^"]*flash[^>]*>(.*?)</div>', html, re.S)
    )


def _requests_with_key(engine: Any, request_id: int) -> int:
    with engine.connect() as conn:
        key = conn.execute(
            sa.select(bulk_requests.c.idempotency_key).where(bulk_requests.c.id == request_id)
        ).scalar_one()
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(bulk_requests.c.idempotency_key == key)
            ).scalar_one()
        )


# --------------------------------------------------------------------------- confirm once


def test_confirm_submitted_twice_creates_one_request(client_as, engine) -> None:
    ids = seed_bills(engine, [("DSCO", "500.00"), ("DESCO", "700.00")])
    admin = client_as("admin")
    page = admin.get("/payments/new", query_string={"scope": "ids", "ids": [str(i) for i in ids]})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', html)[1]
    form = {"idempotency_key": key, "scope": "ids", "ids": ",".join(map(str, ids))}
    first = admin.post("/payments", data=form)
    second = admin.post("/payments", data=form)  # double click, back button, second tab
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    request_id = int(first.headers["Location"].rsplit("/", 1)[1])
    assert _requests_with_key(engine, request_id) == 1
    assert len(payment_rows(engine, request_id)) == 2
    assert "already submitted" in _flash(admin.get(second.headers["Location"]))
    # one request.submitted message, one audit entry
    submitted = len(outbox_messages(engine, "request.submitted", request_id))
    with engine.connect() as conn:
        created = conn.execute(
            sa.select(sa.func.count()).where(
                audit_log.c.action == "request.payment_created",
                audit_log.c.target_id == str(request_id),
            )
        ).scalar_one()
    assert submitted == 1
    assert created == 1


def test_the_same_key_from_another_person_is_another_request(engine) -> None:
    first_bills = seed_bills(engine, [("DSCO", "100.00")])
    second_bills = seed_bills(engine, [("DSCO", "100.00")])
    mine = operations.create_payment(engine, ADMIN, first_bills, key="k", policy=POLICY)
    theirs = operations.create_payment(
        engine, Actor("other-admin", "admin"), second_bills, key="k", policy=POLICY
    )
    assert mine.request_id != theirs.request_id and not theirs.existing


def test_a_payment_request_needs_an_idempotency_key(engine) -> None:
    ids = seed_bills(engine, [("DSCO", "100.00")])
    with pytest.raises(ValidationFailed) as refused:
        operations.create_payment(engine, ADMIN, ids, key=" ", policy=POLICY)
    assert refused.value.code == "idempotency_key_required"


def test_the_confirmation_page_shows_count_total_billers_and_the_masked_wallet(
    client_as, engine
) -> None:
    ids = seed_bills(engine, [("DSCO", "500.00"), ("DESCO", "700.00"), ("DESCO", "50.50")])
    page = client_as("admin").get(
        "/payments/new", query_string={"scope": "ids", "ids": [str(i) for i in ids]}
    )
    html = page.get_data(as_text=True)
    assert re.search(r'id="confirm-count">3<', html)
    # DESCO adds its service charge (10.00 a bill): 500 + 700 + 50.50 + 2 × 10
    assert re.search(r'id="confirm-total">1,270.50<', html)
    assert 'data-biller="DSCO"' in html and 'data-biller="DESCO"' in html
    assert "770.50" in html  # DESCO subtotal: 700 + 50.50 + 2 × 10
    assert "GP wallet ********123" in html
    assert "01711000123" not in html
    assert "disabled" not in re.search(r'<button[^>]*id="confirm-pay"[^>]*>', html)[0]


# --------------------------------------------------------------------------- freshness


def test_a_stale_bill_is_refused_with_a_clear_message(client_as, engine) -> None:
    fresh = seed_bills(engine, [("DSCO", "100.00")])
    stale = seed_bills(engine, [("JGDCL", "200.00")], fetched_ago=timedelta(hours=25))
    ids = fresh + stale
    # the confirmation page says so up front, and its button is off
    admin = client_as("admin")
    page = admin.get("/payments/new", query_string={"scope": "ids", "ids": [str(i) for i in ids]})
    html = page.get_data(as_text=True)
    assert f'data-problem-bill="{stale[0]}"' in html
    assert "fetched too long ago: fetch it again" in html
    assert "disabled" in re.search(r'<button[^>]*id="confirm-pay"[^>]*>', html)[0]
    # a forced submission is refused whole, naming the bill
    answer = admin.post(
        "/payments", data={"idempotency_key": "stale-1", "ids": ",".join(map(str, ids))}
    )
    assert answer.status_code == 302
    message = _flash(admin.get(answer.headers["Location"]))
    assert f"bill {stale[0]}: fetched too long ago" in message
    with pytest.raises(Refused) as refused:
        operations.create_payment(engine, ADMIN, ids, key="stale-2", policy=POLICY)
    assert refused.value.details == {str(stale[0]): "fetched too long ago: fetch it again"}
    # nothing was created, and the fresh bill is still free
    assert operations.create_payment(engine, ADMIN, fresh, key="fresh", policy=POLICY).items == 1


def test_the_api_refuses_a_stale_bill_with_details(client_as, engine) -> None:
    stale = seed_bills(engine, [("DSCO", "100.00")], fetched_ago=timedelta(days=2))
    answer = client_as("admin").post(
        "/api/v1/requests/payment", json={"bill_ids": stale, "idempotency_key": "api-stale"}
    )
    assert answer.status_code == 409
    error = answer.get_json()["error"]
    assert error["code"] == "bills_unavailable"
    assert error["details"] == {str(stale[0]): "fetched too long ago: fetch it again"}


def test_only_bills_of_the_accounts_latest_fetch_are_payable(engine) -> None:
    """A bill from a superseded fetch (younger than the freshness limit) may have been paid
    since: only the account's latest answered fetch counts, through the API too."""
    cid = consumer()
    (old,) = seed_bills(
        engine, [("DSCO", "80.00")], fetched_ago=timedelta(hours=2), consumer_ids=[cid]
    )
    (new,) = seed_bills(engine, [("DSCO", "80.00")], consumer_ids=[cid])
    with pytest.raises(Refused) as refused:
        operations.create_payment(engine, ADMIN, [old], key="superseded", policy=POLICY)
    assert refused.value.details == {
        str(old): "a newer fetch of this account no longer lists it: fetch it again"
    }
    assert operations.create_payment(engine, ADMIN, [new], key="latest", policy=POLICY).items == 1
    # The latest fetch said "no pending bill": nothing of the earlier fetch is payable either.
    other = consumer()
    (listed,) = seed_bills(
        engine, [("JGDCL", "15.00")], fetched_ago=timedelta(hours=1), consumer_ids=[other]
    )
    with engine.begin() as conn:
        item = conn.execute(
            sa.select(fetch_items).where(
                fetch_items.c.id
                == sa.select(bills.c.fetch_item_id).where(bills.c.id == listed).scalar_subquery()
            )
        ).one()
        account = (item.utility_code, item.consumer_id)
        now = sa.func.utc_timestamp(6)
        done_fetch_item(conn, item.request_id, item.bill_account_id, account, now, 0)
    with pytest.raises(Refused):
        operations.create_payment(engine, ADMIN, [listed], key="paid-since", policy=POLICY)


# --------------------------------------------------------------------------- pending bills


def test_pending_bills_are_the_latest_fetch_not_in_a_live_payment(client_as, engine) -> None:
    group = "pending-" + str(id(engine))[-6:]
    in_group = seed_bills(
        engine, [("DSCO", "10.00"), ("DESCO", "20.00")], group=group, due=date(2031, 5, 1)
    )
    outside = seed_bills(engine, [("DSCO", "30.00")], due=date(2031, 7, 1))
    with engine.connect() as conn:
        gid = conn.execute(sa.text("SELECT id FROM account_groups WHERE name = :n"), {"n": group})
        gid = gid.scalar_one()
    admin = client_as("admin")

    def shown(**query: Any) -> set[int]:
        html = admin.get("/payments/pending", query_string=query).get_data(as_text=True)
        return {int(b) for b in re.findall(r'data-bill="(\d+)"', html)}

    assert shown(group_id=gid) == set(in_group)
    assert shown(group_id=gid, utility="DESCO") == {in_group[1]}
    assert outside[0] in shown(due_from="2031-06-01", due_to="2031-07-31")
    assert not set(in_group) & shown(due_from="2031-06-01", due_to="2031-07-31")
    # paying a bill takes it off the list
    operations.create_payment(engine, ADMIN, [in_group[0]], key="pend", policy=POLICY)
    assert shown(group_id=gid) == {in_group[1]}
    # a newer fetch of the same account supersedes the older one's bills
    with engine.connect() as conn:
        cid = conn.execute(
            sa.text("SELECT consumer_id FROM bills WHERE id = :i"), {"i": in_group[1]}
        ).scalar_one()
    newer = seed_bills(engine, [("DESCO", "25.00")], group=group, consumer_ids=[cid])
    assert shown(group_id=gid) == {newer[0]}


def test_pay_all_matching_from_a_fetch_request_leaves_stale_bills_out(client_as, engine) -> None:
    fresh = seed_bills(engine, [("DSCO", "10.00"), ("JGDCL", "11.00")])
    with engine.connect() as conn:
        fetch_request = conn.execute(
            sa.text(
                "SELECT fi.request_id FROM bills b JOIN fetch_items fi ON fi.id = b.fetch_item_id "
                "WHERE b.id = :i"
            ),
            {"i": fresh[0]},
        ).scalar_one()
    page = client_as("admin").get(
        "/payments/new", query_string={"scope": "filter", "request": fetch_request}
    )
    html = page.get_data(as_text=True)
    assert re.search(r'id="confirm-count">2<', html)
    assert re.search(r'name="ids" value="([^"]+)"', html)[1] == ",".join(map(str, fresh))


# --------------------------------------------------------------------------- maker-checker


def test_over_the_threshold_the_request_waits_and_approvers_are_told(
    checked_app, client_as
) -> None:
    engine = checked_app.extensions["bbp.engine"]
    maker = client_as("admin", "mc-maker", on=checked_app)
    client_as("admin", "mc-checker", on=checked_app)  # registered: an approver
    ids = seed_bills(engine, [("DSCO", "900.00"), ("JGDCL", "200.00")])
    answer = maker.post(
        "/api/v1/requests/payment", json={"bill_ids": ids, "idempotency_key": "mc-1"}
    )
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["awaiting_approval"] and body["request"]["state"] == "awaiting_approval"
    request_id = body["request"]["id"]
    submitted = len(outbox_messages(engine, "request.submitted", request_id))
    with engine.connect() as conn:
        told = set(
            conn.execute(
                sa.select(notifications.c.recipient).where(
                    notifications.c.kind == "approval_needed",
                    notifications.c.request_id == request_id,
                )
            ).scalars()
        )
        approvers = set(
            conn.execute(
                sa.select(users.c.email).where(
                    users.c.role.in_(["admin", "superadmin"]),
                    users.c.active.is_(True),
                    users.c.login_id != "mc-maker",
                )
            ).scalars()
        )
    assert submitted == 0  # nothing leaves before approval
    assert "mc-checker@example.com" in told and "mc-maker@example.com" not in told
    assert told == approvers
    # under the threshold: straight to queued
    small = seed_bills(engine, [("DSCO", "100.00")])
    answer = maker.post(
        "/api/v1/requests/payment", json={"bill_ids": small, "idempotency_key": "mc-2"}
    )
    assert answer.get_json()["request"]["state"] == "queued"


# --------------------------------------------------------------------------- the request page


def test_the_payment_request_page_and_its_formula_safe_export(client_as, engine) -> None:
    ids = seed_bills(
        engine, [("DSCO", "10.00"), ("DSCO", "20.00")], consumer_ids=["=1+2", "+4455667788"]
    )
    created = operations.create_payment(engine, ADMIN, ids, key="page", policy=POLICY)
    viewer = client_as("auditor")
    html = viewer.get(f"/requests/{created.request_id}").get_data(as_text=True)
    assert "Payment request" in html and 'data-bucket="queued">2<' in html
    assert 'data-amount="queued">30.00<' in html
    refs = re.findall(r'data-reference="([A-Z0-9]{20})"', html)
    assert len(refs) == 2
    assert 'data-action="request.payment_created"' in html  # the history
    assert "pause-form" not in html and "cancel-form" not in html  # auditors read only
    export = viewer.get(f"/requests/{created.request_id}/export.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.get_data().decode("utf-8-sig"))))
    assert {r["consumer_id"] for r in rows} == {"'=1+2", "'+4455667788"}
    assert {r["reference_id"] for r in rows} == set(refs)
    assert {r["state"] for r in rows} == {"queued"}
    xlsx = viewer.get(f"/requests/{created.request_id}/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    # filters and the API agree
    api = viewer.get(f"/api/v1/requests/{created.request_id}/payments?state=queued&limit=1")
    page = api.get_json()
    assert len(page["items"]) == 1 and page["page"]["next"]
    rest = viewer.get(
        f"/api/v1/requests/{created.request_id}/payments",
        query_string={"state": "queued", "cursor": page["page"]["next"]},
    ).get_json()
    assert {p["reference_id"] for p in page["items"] + rest["items"]} == set(refs)
    assert Decimal(rest["items"][0]["total"]) + Decimal(page["items"][0]["total"]) == Decimal(30)
