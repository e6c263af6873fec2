"""Notifications of requests through the real pipeline: portal service → scheduler (producer,
outbox) → RabbitMQ → communicator (render, send) → the sandbox's SMTP and SMS sinks, and the
delivery result recorded back by the scheduler. Each message must arrive exactly once, to
the right recipient, in the right language, with the right content."""

from __future__ import annotations

import csv
import io
import time
from decimal import Decimal

import sqlalchemy as sa

from bbp_common.platform.db.tables import bills, fetch_items
from bbp_portal.payments.service import create_payment_request
from bbp_portal.requests.service import create_fetch_request
from sandbox.testing import RunningSinks
from tests.integration.notify.conftest import OPS, add_user, rows
from tests.support.pipeline import Pipeline


def wait_sent(pipeline: Pipeline, expected: int, timeout: float = 60, **where) -> list:
    def done() -> list | None:
        found = rows(pipeline, **where)
        if len(found) >= expected and all(r.state in ("sent", "failed") for r in found):
            return found
        return None

    return pipeline.wait_for(done, timeout, f"{expected} notifications {where} settled")


def settle(seconds: float = 2.0) -> None:
    """Give a duplicate the time it would need to show up."""
    time.sleep(seconds)


def test_fetch_request_finished_email_with_csv_and_sms_in_each_users_language(
    pipe: Pipeline, sinks: RunningSinks
) -> None:
    en_mail = add_user(pipe, "admin01", language="en", mobile="01711000001")
    bn_mail = add_user(pipe, "admin02", language="bn", mobile="+8801911000002")
    accounts = [("DSCO", f"1702{i:04d}") for i in range(12)] + [("TTAS", "55000001")]
    ids = pipe.add_accounts(accounts)
    pipe.start("scheduler")
    pipe.start("communicator")

    first = create_fetch_request(pipe.engine, "admin01", ids)
    pipe.wait_finished(first.request_id, timeout=60)
    second = create_fetch_request(pipe.engine, "admin02", ids[:3])
    pipe.wait_finished(second.request_id, timeout=60)
    wait_sent(pipe, 2, request_id=first.request_id)
    wait_sent(pipe, 2, request_id=second.request_id)
    settle()

    # --- English, admin01: one e-mail, one SMS
    mails = sinks.mails(to=en_mail)
    assert len(mails) == 1, [m["subject"] for m in mails]
    mail = mails[0]
    assert mail["rcpt_tos"] == [en_mail]
    assert mail["subject"] == f"Request #{first.request_id} (fetch) finished"
    assert mail["language"] == "en"
    tallies = pipe.tallies(first.request_id)
    text = mail["text"]
    assert "13 items in all" in text
    assert f"bills found: {tallies['bills'][0]}" in text
    assert f"failed: {tallies['failed'][0]}" in text
    amount = f"{tallies['bills'][1]:,.2f}"
    assert f"Tk {amount}" in text
    assert f"https://bbp.example.com/requests/{first.request_id}" in text
    assert [a["filename"] for a in mail["attachments"]] == [
        f"request-{first.request_id}-results.csv"
    ]
    table = list(csv.DictReader(io.StringIO(mail["attachments"][0]["content"].lstrip("\ufeff"))))
    with pipe.engine.connect() as conn:
        items = conn.execute(
            sa.select(fetch_items.c.consumer_id, fetch_items.c.outcome).where(
                fetch_items.c.request_id == first.request_id
            )
        ).all()
    assert {(r["consumer_id"], r["outcome"]) for r in table} == {
        (i.consumer_id, i.outcome) for i in items
    }
    assert len(table) == 13

    sms = sinks.sms(to="8801711000001")
    assert len(sms) == 1
    assert sms[0]["to"] == "8801711000001"  # normalised to the gateway's international form
    assert sms[0]["sender"] == "GP BillPay"
    assert sms[0]["text"].startswith(f"BBP: fetch request #{first.request_id} finished:")
    assert f"bills found {tallies['bills'][0]}" in sms[0]["text"]  # the outcome in words
    assert sms[0]["fields"]["api_token"] == "***"  # the token arrived (the sink hides it)

    # --- Bangla, admin02
    mails = sinks.mails(to=bn_mail)
    assert len(mails) == 1
    assert mails[0]["subject"].startswith("অনুরোধ #")
    assert "সম্পন্ন হয়েছে" in mails[0]["subject"]
    assert mails[0]["language"] == "bn"
    assert "মোট ৩টি" in mails[0]["text"]
    sms = sinks.sms(to="8801911000002")
    assert len(sms) == 1 and "সম্পন্ন" in sms[0]["text"]

    # Recorded: every one of them sent, on the first try.
    for row in rows(pipe):
        assert (row.state, row.attempts, row.last_error) == ("sent", 1, None), row
    assert len(sinks.mails()) == 2 and len(sinks.sms()) == 2


def _fetch_bills(pipe: Pipeline, starter: str, ids: list[int]) -> dict[str, list[int]]:
    created = create_fetch_request(pipe.engine, starter, ids)
    pipe.wait_finished(created.request_id, timeout=60)
    with pipe.engine.connect() as conn:
        found = conn.execute(sa.select(bills.c.id, bills.c.consumer_id)).all()
    by_consumer: dict[str, list[int]] = {}
    for bill in found:
        by_consumer.setdefault(bill.consumer_id, []).append(bill.id)
    return by_consumer


def test_payment_notifications_submitted_sms_uncleared_and_auto_paused(
    pipe: Pipeline, sinks: RunningSinks
) -> None:
    starter = add_user(pipe, "admin01", language="en")
    good = pipe.add_accounts([("DSCO", "17021273")], mobile="01811222333")  # one bill
    bad_mobile = pipe.add_accounts([("DESCO", "22051271")], mobile="01234")  # one bill
    lost = pipe.add_accounts([("DSCO", "99091231")], mobile="01711999888")  # enquiry never answers
    broke = pipe.add_accounts(
        [("JGDCL", f"9907{i:03d}1") for i in range(4)], mobile="01711555444"
    )  # insufficient balance, one bill each
    env = {"BBP_NOTIFY_PAYMENT_SMS": "true", "BBP_AUTO_PAUSE_AFTER": "3"}
    pipe.start("scheduler", **env)
    pipe.start("communicator")
    by_consumer = _fetch_bills(pipe, "admin01", good + bad_mobile + lost + broke)
    sinks.reset()
    # Every billpay of the lost account is processed and the answer dropped: ambiguous; its
    # enquiries then never answer in time: uncleared.
    pipe.sandbox.add_fault(endpoint="billpay", fault="drop_after_process", consumer_id="99091231")

    paying = create_payment_request(
        pipe.engine,
        "admin01",
        by_consumer["17021273"] + by_consumer["22051271"] + by_consumer["99091231"],
    )
    pipe.wait_finished(paying.request_id, timeout=90)
    paused = create_payment_request(
        pipe.engine,
        "admin01",
        [b for c, found in by_consumer.items() if c.startswith("9907") for b in found],
    )
    # All four were dispatched at once: the pause comes after three, the fourth still ends.
    pipe.wait_for(lambda: rows(pipe, kind="request_paused"), 60, "auto-pause")
    pipe.wait_for(
        lambda: len(rows(pipe, kind="payments_attention", state="sent")) == 2, 60, "attention"
    )
    pipe.wait_for(
        lambda: len(rows(pipe, kind="request_paused", state="sent")) == 2, 60, "paused mails"
    )
    wait_sent(pipe, 1, request_id=paying.request_id, kind="request_finished")
    settle()

    with pipe.engine.connect() as conn:
        pays = {
            r.consumer_id: r
            for r in conn.execute(
                sa.text(
                    "SELECT consumer_id, reference_id, bill_number, total, service_charge,"
                    " utility_code, state FROM payments WHERE request_id = :r"
                ),
                {"r": paying.request_id},
            )
        }
    assert pays["17021273"].state == "posted"
    assert pays["99091231"].state == "uncleared"

    # Payment submitted: one SMS to the good account's mobile, worded "submitted".
    sms = sinks.sms(to="8801811222333")
    assert len(sms) == 1
    p = pays["17021273"]
    biller = pipe.sandbox.billers()
    name = next(b["name"] for b in biller if b["code"] == "DSCO")
    assert sms[0]["text"] == (
        f"Payment of your {name} bill {p.bill_number}, Tk {p.total:,.2f}, was submitted to"
        f" {name}. Ref {p.reference_id}."
    )
    # An invalid mobile number gets no SMS; the reason is recorded.
    failed = rows(pipe, kind="payment_submitted", state="failed")
    assert len(failed) == 1 and failed[0].recipient == "01234"
    assert "not a Bangladeshi mobile number" in failed[0].last_error
    assert sinks.sms(to="1234") == []

    # Uncleared: one e-mail to the starter and one to operations, listing the reference id.
    for to in (starter, OPS):
        mails = [m for m in sinks.mails(to=to) if "attention" in m["subject"]]
        assert len(mails) == 1, to
        assert mails[0]["subject"] == f"Request #{paying.request_id}: 1 payment needs attention"
        assert pays["99091231"].reference_id in mails[0]["text"]
        assert pays["17021273"].reference_id not in mails[0]["text"]

    # Auto-paused: the reason and the failed reference ids, to the starter and operations.
    with pipe.engine.connect() as conn:
        failed_refs = [
            r.reference_id
            for r in conn.execute(
                sa.text(
                    "SELECT reference_id FROM payments WHERE request_id = :r AND state='failed'"
                ),
                {"r": paused.request_id},
            )
        ]
    assert len(failed_refs) >= 3
    for to in (starter, OPS):
        mails = [m for m in sinks.mails(to=to) if "paused" in m["subject"]]
        assert len(mails) == 1, to
        assert mails[0]["subject"] == f"Request #{paused.request_id} was paused automatically"
        assert "auto-paused: the last 3 payments failed" in mails[0]["text"]
        assert sum(ref in mails[0]["text"] for ref in failed_refs) >= 3

    # The payment request's finished e-mail: by outcome, results CSV with reference ids.
    finished = f"Request #{paying.request_id} (payment) finished"
    mails = [m for m in sinks.mails(to=starter) if m["subject"] == finished]
    assert len(mails) == 1
    assert "submitted: 2" in mails[0]["text"]
    assert "uncleared: a person decides: 1" in mails[0]["text"]
    table = list(
        csv.DictReader(io.StringIO(mails[0]["attachments"][0]["content"].lstrip("\ufeff")))
    )
    assert {r["reference_id"]: r["state"] for r in table} == {
        p.reference_id: p.state for p in pays.values()
    }
    # The service charge of the e-mail is the one rule's, as on every page (issue 17, item 6).
    assert {r["reference_id"]: Decimal(r["service_charge"]) for r in table} == {
        p.reference_id: p.service_charge for p in pays.values()
    }
    assert pays["99091231"].service_charge == Decimal("0.00")  # DSCO takes none
