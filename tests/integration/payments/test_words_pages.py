"""Issue 17 (items 7–9) on the real pages: every reason a person reads is a sentence, in
English and in Bangla; codes, Mobiquity's own code and message, orderId and raw texts only
behind a "details" toggle; actors are people or "the system"; the audit log finds a
payment's entries by its reference id; the upload template has an example row;
``/accounts/`` with a slash works.

Each payment is moved by the ``PaymentStore`` with the causes and reasons the scheduler and
the communicator write (as the pipeline would), by a scheduler actor named as the services
name themselves.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy import Engine

from bbp_common.core.domain.payments import EnquiryPolicy
from bbp_common.core.domain.payments import PaymentState as S
from bbp_common.core.domain.requests import FetchItemState as F
from bbp_common.core.domain.requests import FetchOutcome
from bbp_common.core.stores import FetchItemStore, PaymentStore
from bbp_portal.audit_trail import Actor
from bbp_portal.payments import checks, operations
from tests.support.payments import payment_rows, seed_bills

ADMIN = Actor("words-admin", "admin")
SUPER = Actor("words-super", "superadmin")
POLICY = operations.PayPolicy(max_bill_age=timedelta(hours=24))
SERVICE = "scheduler:scheduler@vm:1379"

#: What must never be read outside a "details" toggle.
RAW = (
    "http_5xx",
    "HTTP 500",
    "Generic05",
    "MobiquityUnavailable",
    "billpay",
    "not sent after",
    "scheduler:",
    "@vm",
    "ids:",
    "request=",
    "chosen bills",
    "orderId",
    "ORD-77",
    "documented",
    '{"',
    "no usable answer",
    "unsent",
    "uncleared<",
)


def visible(page: str) -> str:
    """The text a person reads without opening a toggle: ``<details>`` blocks, scripts and
    every tag (with its attributes, which hold the codes for scripts and tests) removed."""
    page = re.sub(r"<details\b.*?</details>", " ", page, flags=re.S)
    page = re.sub(r"<(script|style|title)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def assert_no_raw(page: str) -> None:
    text = visible(page)
    found = [raw for raw in RAW if raw in text]
    assert found == [], (found, text[:3000])


def reasons_request(engine: Engine) -> tuple[int, list[Any]]:
    """A payment request of four payments, each with a different kind of reason."""
    ids = seed_bills(
        engine, [("DSCO", "21.00"), ("DSCO", "22.00"), ("JGDCL", "23.00"), ("DSCO", "24.00")]
    )
    request_id = operations.create_payment(
        engine, ADMIN, ids, key="words-reasons", policy=POLICY, selection="4 chosen bills"
    ).request_id
    rejected, unknown, unsent, cancelled = payment_rows(engine, request_id)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor=SERVICE, policy=EnquiryPolicy())
        store.lock([rejected.id, unknown.id, unsent.id, cancelled.id])
        # Mobiquity's FAILED answer (its code, message and orderId behind the toggle)
        store.move(rejected.id, S.DISPATCHED, "dispatched (attempt 1)", {"attempt": 1})
        store.move(rejected.id, S.SENDING, "claimed for billpay")
        store.move(
            rejected.id,
            S.FAILED,
            "billpay rejected",
            {
                "error_code": "Generic05",
                "error_message": "Transaction failed (documented FAILED answer)",
                "order_id": "ORD-77",
                "reason": "documented FAILED answer",
                "failure": "rejected",
            },
        )
        # no usable answer: HTTP 500
        store.move(unknown.id, S.DISPATCHED, "dispatched (attempt 1)", {"attempt": 1})
        store.move(unknown.id, S.SENDING, "claimed for billpay")
        store.to_ambiguous(
            store.current(unknown.id),
            "no usable answer to billpay",
            {"reason": "http_5xx: HTTP 500: the order may have been processed"},
        )
        # never left, its tries used up
        store.move(unsent.id, S.DISPATCHED, "dispatched (attempt 4)", {"attempt": 4, "returns": 3})
        store.never_left([store.current(unsent.id)], "command lost: not claimed by its deadline")
        store.cancel([store.current(cancelled.id)], f"request cancelled by {ADMIN.login_id}")
        store.flush()
    return request_id, payment_rows(engine, request_id)


def test_every_reason_on_the_payment_and_request_pages_is_a_sentence(engine, client_as) -> None:
    request_id, (rejected, unknown, unsent, cancelled) = reasons_request(engine)
    assert (rejected.state, unknown.state, unsent.state) == ("failed", "ambiguous", "unsent")
    client: FlaskClient = client_as("superadmin", "words-super")

    page = client.get(f"/payments/{rejected.id}").get_data(as_text=True)
    assert_no_raw(page)
    text = visible(page)
    assert "Mobiquity refused the payment." in text
    assert "the system" in text  # the scheduler's moves, by "the system"
    # Mobiquity's code, message and orderId are there, behind the toggle
    details = re.search(r"<details[^>]*id=\"mobiquity-details\".*?</details>", page, re.S)
    assert details and "Generic05" in details[0] and "ORD-77" in details[0]

    page = client.get(f"/payments/{unknown.id}").get_data(as_text=True)
    assert_no_raw(page)
    assert "Mobiquity answered with a server error" in visible(page)

    page = client.get(f"/payments/{unsent.id}").get_data(as_text=True)
    assert_no_raw(page)
    assert "Given up after 4 tries: its bill is free to be paid again." in visible(page)

    page = client.get(f"/payments/{cancelled.id}").get_data(as_text=True)
    assert_no_raw(page)
    assert "Cancelled with its request by words-admin." in visible(page)

    for path in (
        f"/requests/{request_id}",
        f"/requests/{request_id}/live",
        "/requests",
        "/attention",
        "/wallet",
        f"/payments/search?q={unsent.reference_id}",
        "/notifications/",
        "/audit/",
        "/",
    ):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert_no_raw(answer.get_data(as_text=True))
    text = visible(client.get(f"/requests/{request_id}").get_data(as_text=True))
    assert (
        "4 bills chosen" in text and "not sent" in text and "waiting for Mobiquity's answer" in text
    )
    assert "payment request created" in text  # the history: the action in words


def test_the_bangla_pages_say_states_and_reasons_in_bangla(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "25.00")])
    request_id = operations.create_payment(
        engine, ADMIN, ids, key="words-bangla", policy=POLICY
    ).request_id
    (row,) = payment_rows(engine, request_id)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor=SERVICE)
        store.lock([row.id])
        store.move(row.id, S.DISPATCHED, "dispatched (attempt 1)", {"attempt": 1})
        store.move(row.id, S.SENDING, "claimed for billpay")
        store.move(
            row.id, S.FAILED, "billpay rejected", {"error_code": "Generic05", "failure": "rejected"}
        )
        store.flush()
    client = client_as("admin", "words-bangla")
    client.get("/language/bn")
    page = client.get(f"/payments/{row.id}").get_data(as_text=True)
    assert_no_raw(page)
    text = visible(page)
    assert "Mobiquity পেমেন্টটি প্রত্যাখ্যান করেছে।" in text  # the reason
    assert "সিস্টেম" in text  # "the system"
    assert "Mobiquity refused" not in text and " failed " not in text
    rows = visible(client.get(f"/requests/{request_id}").get_data(as_text=True))
    assert "Mobiquity পেমেন্টটি প্রত্যাখ্যান করেছে।" in rows


def test_a_fetch_items_error_is_a_sentence_with_the_code_behind(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "26.00")])
    with engine.connect() as conn:
        account = conn.execute(
            sa.text("SELECT bill_account_id FROM bills WHERE id = :i"), {"i": ids[0]}
        ).scalar_one()
    client = client_as("admin", "words-fetcher")
    request_id = client.post("/api/v1/requests/fetch", json={"ids": [account]}).get_json()["id"]
    with engine.begin() as conn:
        store = FetchItemStore(conn)
        (item,) = store.lock_where("request_id = %s", (request_id,))
        item = store.move(item, F.DISPATCHED, {"attempts": 1})
        store.move(
            item,
            F.DONE,
            {
                "error_code": "MobiquityUnavailable",
                "error_message": "fetch: HTTP 500 from Mobiquity",
            },
            outcome=FetchOutcome.FAILED,
        )
        store.flush()
    page = client.get(f"/requests/{request_id}").get_data(as_text=True)
    assert_no_raw(page)
    assert "Mobiquity was unavailable" in visible(page)
    assert re.search(r"<details.*?MobiquityUnavailable fetch: HTTP 500 from Mobiquity", page, re.S)
    assert f"{1} account ticked" in visible(page)


def test_the_audit_log_finds_a_payments_entries_by_reference_id(engine, client_as) -> None:
    ids = seed_bills(engine, [("DSCO", "27.00"), ("DSCO", "28.00")])
    request_id = operations.create_payment(
        engine, ADMIN, ids, key="words-audit", policy=POLICY
    ).request_id
    first, second = payment_rows(engine, request_id)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor=SERVICE)
        store.lock([first.id, second.id])
        for row in (first, second):
            store.move(row.id, S.DISPATCHED, "dispatched (attempt 1)", {"attempt": 1})
            store.move(row.id, S.SENDING, "claimed for billpay")
            store.to_ambiguous(store.current(row.id), "no usable answer to billpay")
        store.flush()
    checks.check_now(engine, SUPER, first.id)
    checks.check_now(engine, SUPER, second.id)
    client = client_as("auditor", "words-auditor")
    page = client.get("/audit/", query_string={"reference": first.reference_id.lower()}).get_data(
        as_text=True
    )
    assert page.count('class="audit-entry"') == 1
    assert 'data-id="' in page and "Mobiquity asked once more" in visible(page)
    # by action, in words in the filter
    page = client.get("/audit/", query_string={"action": "payment.check_requested"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert text.count('data-action="payment.check_requested"') >= 2
    assert "payment.check_requested</option>" not in text  # the option reads as words
    assert (
        client.get("/audit/", query_string={"reference": "NOSUCHREFERENCE00000"})
        .get_data(as_text=True)
        .count('class="audit-entry"')
        == 0
    )


def test_rough_edges_template_example_row_and_a_trailing_slash(client_as) -> None:
    client = client_as("admin", "words-edges")
    csv = client.get("/accounts/template.csv").get_data(as_text=True)
    header, example = csv.lstrip("\ufeff").splitlines()[:2]
    assert header.startswith("utility,consumer_id") and example.startswith("# example: DESCO,")
    assert client.get("/accounts/").status_code == 200
    assert client.get("/requests/").status_code == 200
