"""Issue 17 in the portal and the stores, against the real database: enquiries a person can
see and ask for ("check now"), the wallet breaker that speaks up, the live request pages.

The scheduler's and communicator's part of "check now" (the dispatcher picking the extra
enquiry through the pace, the sandbox answering it) is in
``tests/integration/pipeline/test_enquiry_checks.py``.
"""

from __future__ import annotations

import html
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import Engine

from bbp_common.core.domain.payments import CHECK_ENQUIRY, EnquiryOutcome, EnquiryPolicy
from bbp_common.core.domain.payments import PaymentState as S
from bbp_common.core.notifications import wallet_breaker_opened
from bbp_common.core.stores import PaymentStore, WalletBreaker
from bbp_common.platform.db.tables import audit_log, notifications, outbox, payment_events, users
from bbp_portal import create_app
from bbp_portal.audit_trail import Actor
from bbp_portal.localtime import dhaka
from bbp_portal.payments import checks, operations
from bbp_portal.service_errors import Conflict, Forbidden
from tests.support.accounts import sign_in
from tests.support.payments import make_uncleared, move, payment_rows, seed_billers, seed_bills
from tests.support.pipeline import create_database, drop_database
from tests.support.portal import base_settings

ADMIN = Actor("live-admin", "admin")
SUPER = Actor("live-super", "superadmin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
#: The default schedule: 1m, 5m, 15m, 1h, 6h — five enquiries.
SCHEDULE = EnquiryPolicy()


def one_payment(engine: Engine, key: str) -> Any:
    ids = seed_bills(engine, [("DSCO", "31.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key=key, policy=POLICY).request_id
    (row,) = payment_rows(engine, request_id)
    return row


def make_ambiguous(engine: Engine, payment_id: int) -> Any:
    """As the scheduler leaves a payment without an answer: ambiguous, enquiry 1 due."""
    move(engine, payment_id, S.DISPATCHED, S.SENDING)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="scheduler:test", policy=SCHEDULE)
        store.lock([payment_id])
        store.to_ambiguous(store.current(payment_id), "no usable answer to billpay")
        store.flush()
    return row_of(engine, payment_id)


def row_of(engine: Engine, payment_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM payments WHERE id = :i"), {"i": payment_id}
        ).one()


def sent_and_answered(engine: Engine, payment_id: int, outcome: EnquiryOutcome) -> Any:
    """What the dispatcher and the result applier do with the enquiry that is due now."""
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="scheduler:test", policy=SCHEDULE)
        row = store.lock([payment_id])[payment_id]
        (marked,) = store.enquiries_sent({payment_id: (row.enquiry_count, store.now())})
        number = marked.enquiry_number
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="scheduler:test", policy=SCHEDULE)
        row = store.lock([payment_id])[payment_id]
        store.enquiry_answered(row, outcome, {}, check=number == CHECK_ENQUIRY)
    return number


def audits(engine: Engine, action: str, target_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(audit_log).where(
                audit_log.c.action == action, audit_log.c.target_id == str(target_id)
            )
        ).all()


def text_of(page: str) -> str:
    """The page's text as read (entities decoded, white space folded), tags kept."""
    return re.sub(r"\s+", " ", html.unescape(page))


# --------------------------------------------------------------------------- enquiries visible


def test_an_ambiguous_payment_says_when_mobiquity_is_asked_next_in_dhaka_time(
    engine, client_as
) -> None:
    payment = one_payment(engine, f"eq-{uuid.uuid4().hex[:8]}")
    row = make_ambiguous(engine, payment.id)
    assert row.enquiry_total == 5 and row.enquiry_count == 0
    hhmm = f"{dhaka(row.enquiry_due_at):%H:%M}"
    expected = f"waiting for Mobiquity's answer — next check at {hhmm} (1 of 5)"
    page = text_of(client_as("admin").get(f"/payments/{payment.id}").get_data(as_text=True))
    assert expected in page
    assert 'id="check-now"' not in page  # an admin reads; only a superadmin asks
    rows = text_of(client_as("auditor").get(f"/requests/{payment.request_id}").get_data(True))
    assert expected in rows

    # Enquiry 1 goes unanswered: the next is enquiry 2 of 5, five minutes after that answer.
    assert sent_and_answered(engine, payment.id, EnquiryOutcome.NOT_FOUND) == 1
    row = row_of(engine, payment.id)
    assert row.enquiry_count == 1
    hhmm = f"{dhaka(row.enquiry_due_at):%H:%M}"
    page = text_of(client_as("admin").get(f"/payments/{payment.id}").get_data(as_text=True))
    assert f"next check at {hhmm} (2 of 5)" in page
    # The request waits only for enquiries now: its page says so, in its own words.
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE bulk_requests SET state = 'enquiring' WHERE id = :i"),
            {"i": payment.request_id},
        )
    page = text_of(client_as("admin").get(f"/requests/{payment.request_id}").get_data(True))
    assert "waiting for Mobiquity's answers</span>" in page
    assert 'id="enquiring-note"' in page and "Every payment has been sent." in page


def test_check_now_is_a_superadmins_audited_extra_enquiry_never_counted(engine, client_as) -> None:
    payment = one_payment(engine, f"cn-{uuid.uuid4().hex[:8]}")
    before = make_ambiguous(engine, payment.id)
    superadmin = client_as("superadmin", SUPER.login_id)
    page = superadmin.get(f"/payments/{payment.id}").get_data(as_text=True)
    assert 'id="check-now"' in page
    assert client_as("admin").post(f"/payments/{payment.id}/check").status_code == 403
    with pytest.raises(Forbidden):
        checks.check_now(engine, ADMIN, payment.id)

    done = superadmin.post(f"/payments/{payment.id}/check", follow_redirects=True)
    page = text_of(done.get_data(as_text=True))
    assert "Asked: Mobiquity is asked once more" in page
    assert "an extra check asked by live-super goes out within seconds" in page
    asked = row_of(engine, payment.id)
    assert asked.check_requested_by == SUPER.login_id
    assert asked.check_resume_at == before.enquiry_due_at  # the schedule is kept aside
    assert asked.enquiry_due_at < before.enquiry_due_at  # due now: the dispatcher takes it
    (entry,) = audits(engine, "payment.check_requested", payment.id)
    assert json.loads(entry.details)["reference_id"] == payment.reference_id
    # Twice is refused, and not audited twice.
    again = superadmin.post(f"/payments/{payment.id}/check", follow_redirects=True)
    assert "A check of this payment is already on its way." in again.get_data(as_text=True)
    with pytest.raises(Conflict) as refused:
        checks.check_now(engine, SUPER, payment.id)
    assert refused.value.code == "already_asked"
    assert len(audits(engine, "payment.check_requested", payment.id)) == 1

    # The dispatcher sends it as an extra enquiry (number 0); no answer: not counted, and the
    # regular enquiry 1 is due when it was before the check.
    assert sent_and_answered(engine, payment.id, EnquiryOutcome.UNKNOWN) == CHECK_ENQUIRY
    after = row_of(engine, payment.id)
    assert after.state == "ambiguous" and after.enquiry_count == 0
    assert after.enquiry_due_at == before.enquiry_due_at
    assert after.check_requested_at is None and after.enquiry_sent_at is None
    assert after.check_outcome == "unknown"
    page = text_of(superadmin.get(f"/payments/{payment.id}").get_data(as_text=True))
    assert "Last extra check (" in page and "asked by live-super): no answer came." in page
    assert "(1 of 5)" in page and 'id="check-now"' in page  # may be asked again
    # Its answer, when it says where the payment stands, settles it like any enquiry's.
    checks.check_now(engine, SUPER, payment.id)
    assert sent_and_answered(engine, payment.id, EnquiryOutcome.SUCCEEDED) == CHECK_ENQUIRY
    settled = row_of(engine, payment.id)
    assert settled.state == "succeeded" and settled.enquiry_count == 0
    with engine.connect() as conn:
        causes = conn.execute(
            sa.select(payment_events.c.cause).where(payment_events.c.payment_id == payment.id)
        ).scalars()
        assert "check asked by a person: enquiry: succeeded" in list(causes)
    with pytest.raises(Conflict) as refused:
        checks.check_now(engine, SUPER, payment.id)
    assert refused.value.code == "not_enquirable"


def test_check_now_on_an_uncleared_payment_records_the_answer_and_never_applies_it(
    engine, client_as
) -> None:
    payment = one_payment(engine, f"cu-{uuid.uuid4().hex[:8]}")
    make_uncleared(engine, payment.id)
    superadmin = client_as("superadmin", SUPER.login_id)
    done = superadmin.post(f"/payments/{payment.id}/check", follow_redirects=True)
    page = text_of(done.get_data(as_text=True))
    assert "Its answer is shown here for you to decide" in page
    assert "an extra check asked by live-super is on its way" in page
    assert sent_and_answered(engine, payment.id, EnquiryOutcome.SUCCEEDED) == CHECK_ENQUIRY
    after = row_of(engine, payment.id)
    assert after.state == "uncleared"  # recorded, never applied
    assert after.check_outcome == "succeeded" and after.check_requested_at is None
    page = text_of(superadmin.get(f"/payments/{payment.id}").get_data(as_text=True))
    assert "Mobiquity says it succeeded." in page
    assert "(recorded for you to decide; nothing was changed by it)" in page
    assert 'id="resolve-form"' in page  # the person still decides


# --------------------------------------------------------------------------- live rows


def test_a_request_page_polls_a_small_fragment_until_it_is_settled(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "11.00"), ("JGDCL", "12.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="live-rows", policy=POLICY)
    request_id = request_id.request_id
    first, second = payment_rows(engine, request_id)
    client = client_as("auditor")
    page = client.get(f"/requests/{request_id}?state=queued").get_data(as_text=True)
    assert "vendor/htmx/htmx.min.js" in page and "cdn" not in page.lower()
    # The live part polls with the page's filters, as a background request.
    assert f'hx-get="/requests/{request_id}/live?state=queued"' in page
    assert "X-BBP-Background" in page

    move(engine, first.id, S.DISPATCHED, S.SENDING, S.POSTED)
    live = client.get(f"/requests/{request_id}/live", headers={"X-BBP-Background": "1"})
    assert live.status_code == 200 and live.headers["X-BBP-Live"] == "1"
    html = live.get_data(as_text=True)
    assert "<html" not in html  # a fragment, not a page
    assert re.search(rf'data-payment="{first.id}".*?data-state="posted">', html, re.S)
    assert 'id="progress"' in html and 'hx-swap-oob="true"' in html
    assert 'id="request-state"' in html and "hx-trigger" in html
    # A poll never writes to the session: a bad page link is told by the page, not by every
    # poll of it.
    assert client.get(f"/requests/{request_id}/live?cursor=nonsense").status_code == 200
    with client.session_transaction() as session:
        assert not session.get("_flashes")

    with engine.begin() as conn:
        PaymentStore(conn, actor="test").cancel_queued(request_id, "test")
        conn.execute(
            sa.text("UPDATE bulk_requests SET state = 'finished' WHERE id = :i"), {"i": request_id}
        )
    html = client.get(f"/requests/{request_id}/live").get_data(as_text=True)
    assert "hx-trigger" not in html  # final rows, and polling stops
    assert re.search(rf'data-payment="{second.id}".*?data-state="cancelled">', html, re.S)
    assert 'data-settled="true"' in html


def test_a_fetch_request_page_is_live_too(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "13.00")])
    with engine.connect() as conn:
        account = conn.execute(
            sa.text("SELECT bill_account_id FROM bills WHERE id = :i"), {"i": ids[0]}
        ).scalar_one()
    created = client_as("admin").post("/api/v1/requests/fetch", json={"ids": [account]})
    request_id = created.get_json()["id"]
    page = client_as("admin").get(f"/requests/{request_id}").get_data(as_text=True)
    assert f'hx-get="/requests/{request_id}/live"' in page
    html = client_as("admin").get(f"/requests/{request_id}/live").get_data(as_text=True)
    assert 'id="results"' in html and "hx-trigger" in html and "data-billers-url" in html


# --------------------------------------------------------------------------- halts speak up


@pytest.fixture()
def fresh(servers, redis_url: str) -> Iterator[Flask]:
    """A new install: its own migrated database, nothing paid yet."""
    name = f"bbp_fresh_{uuid.uuid4().hex[:10]}"
    url = create_database(servers.db_url(), name)
    app = create_app(
        base_settings(database_url=url, redis_url=redis_url), TESTING=True, WTF_CSRF_ENABLED=False
    )
    seed_billers(app.extensions["bbp.engine"])
    try:
        yield app
    finally:
        app.extensions["bbp.engine"].dispose()
        drop_database(servers.db_url(), name)


def test_a_fresh_install_shows_no_attention_item_and_no_banner(fresh: Flask) -> None:
    admin = sign_in(fresh.test_client(), "admin", "fresh-admin")
    home = admin.get("/").get_data(as_text=True)
    assert 'data-testid="attention-clear"' in home and "Nothing needs attention." in home
    assert 'data-testid="attention-count"' not in home
    # It proves its wallet with the first payment (probing), which is nothing to worry about.
    assert 'data-testid="breaker" data-state="probing">ready</span>' in home
    assert 'id="breaker-banner"' not in home
    assert 'id="all-clear"' in admin.get("/attention").get_data(as_text=True)
    assert admin.get("/api/v1/attention").status_code == 200


def test_the_banner_tells_operators_on_every_page_while_payments_are_held(fresh: Flask) -> None:
    engine = fresh.extensions["bbp.engine"]
    ids = seed_bills(engine, [("DSCO", "40.00"), ("DSCO", "41.00")])
    request_id = operations.create_payment(engine, ADMIN, ids, key="held", policy=POLICY)
    request_id = request_id.request_id
    with engine.begin() as conn:
        WalletBreaker(conn, actor="communicator-1").open(
            cause="wallet authentication failed (Authen01/AUTH03)", reference_id=None, details={}
        )
    admin = sign_in(fresh.test_client(), "admin", "held-admin")
    for path in ("/", "/accounts", "/requests", f"/requests/{request_id}", "/payments/pending"):
        page = text_of(admin.get(path).get_data(as_text=True))
        assert 'id="breaker-banner" data-breaker="open"' in page, path
        assert "Payments are stopped." in page and "closes the breaker" in page, path
    auditor = sign_in(fresh.test_client(), "auditor", "held-auditor")
    assert 'id="breaker-banner"' not in auditor.get("/").get_data(as_text=True)
    home = admin.get("/").get_data(as_text=True)
    assert 'data-testid="breaker-open"' in home and 'data-testid="attention-count">1<' in home
    # The payment request that waits says why.
    page = text_of(admin.get(f"/requests/{request_id}").get_data(as_text=True))
    assert 'id="breaker-wait"' in page and "then its waiting payments go out" in page
    bangla = sign_in(fresh.test_client(), "admin", "held-admin-bn")
    bangla.get("/language/bn")
    assert "পেমেন্ট বন্ধ আছে।" in bangla.get("/accounts").get_data(as_text=True)

    # A superadmin closes it: operators are told payments resume one at a time.
    operations.close_wallet_breaker(engine, Actor("held-super", "superadmin"), "MPIN fixed")
    page = text_of(admin.get("/accounts").get_data(as_text=True))
    assert 'data-breaker="probing"' in page and "held-super closed the wallet breaker" in page
    assert 'data-testid="breaker-resuming"' in admin.get("/").get_data(as_text=True)
    # One payment proves the wallet: nothing to say any more.
    with engine.begin() as conn:
        assert WalletBreaker(conn, actor="communicator-1").confirm(reference_id="R" * 20)
    assert 'id="breaker-banner"' not in admin.get("/accounts").get_data(as_text=True)
    assert 'data-testid="attention-clear"' in admin.get("/").get_data(as_text=True)


def _told(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notifications.c.params, notifications.c.channel, notifications.c.language)
            .where(notifications.c.kind == "wallet_breaker_opened")
            .order_by(notifications.c.id)
        ).all()
    return sorted((json.loads(r.params)["login_id"], r.channel, r.language) for r in rows)


def test_opening_the_breaker_tells_each_superadmin_once_per_opening(fresh: Flask) -> None:
    """The communicator (which got Mobiquity's answer) and the scheduler (applying the result)
    both open the breaker, at the same moment: the superadmins hear of it once — an e-mail and
    an SMS each, in their language — and again only when it opens again."""
    engine = fresh.extensions["bbp.engine"]
    with engine.begin() as conn:
        people = [
            ("boss1", "01711000001", "en", "superadmin", True),
            ("boss2", "01811000002", "bn", "superadmin", True),
            ("boss3", None, "en", "superadmin", True),
            ("gone", "01911000003", "en", "superadmin", False),
            ("clerk", "01611000004", "en", "admin", True),
        ]
        conn.execute(
            sa.insert(users),
            [
                {
                    "login_id": login,
                    "email": f"{login}@bbp.example",
                    "mobile": mobile,
                    "language": language,
                    "role": role,
                    "active": active,
                }
                for login, mobile, language, role, active in people
            ],
        )
    opened: list[bool] = []
    first_in = threading.Event()

    def communicator() -> None:
        with engine.begin() as conn:
            breaker = WalletBreaker(conn, actor="communicator-1", on_opened=wallet_breaker_opened)
            opened.append(
                breaker.open(
                    cause="wallet authentication failed", reference_id="A" * 20, details={}
                )
            )
            first_in.set()
            time.sleep(0.5)  # the scheduler's opening waits for this transaction

    def scheduler() -> None:
        first_in.wait(5)
        with engine.begin() as conn:
            breaker = WalletBreaker(conn, actor="system", on_opened=wallet_breaker_opened)
            opened.append(
                breaker.open(
                    cause="wallet authentication failed (scheduler)",
                    reference_id="A" * 20,
                    details={},
                )
            )

    threads = [threading.Thread(target=communicator), threading.Thread(target=scheduler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(opened) == [False, True]
    once = [
        ("boss1", "email", "en"),
        ("boss1", "sms", "en"),
        ("boss2", "email", "bn"),
        ("boss2", "sms", "bn"),
        ("boss3", "email", "en"),  # no mobile number: no SMS
    ]
    assert _told(engine) == once
    with engine.connect() as conn:
        commands = conn.execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.routing_key == "command.notify")
        ).scalar_one()
    assert commands == len(once)  # each through the outbox, relayed by the scheduler
    with engine.connect() as conn:
        params = json.loads(conn.execute(sa.select(notifications.c.params).limit(1)).scalar_one())
    assert params["reference_id"] == "A" * 20 and params["opened_at"].endswith("UTC")

    # Closed by a person, opened again by the next wrong PIN: told again, once.
    operations.close_wallet_breaker(engine, Actor("boss1", "superadmin"), "MPIN fixed")
    with engine.begin() as conn:
        breaker = WalletBreaker(conn, actor="system", on_opened=wallet_breaker_opened)
        assert breaker.open(cause="again", reference_id=None, details={})
        assert not breaker.open(cause="again", reference_id=None, details={})
    assert _told(engine) == sorted(once * 2)
