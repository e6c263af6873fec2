"""Delivery of notifications when things go wrong, through the real pipeline and the sinks:
an outage delays but loses nothing; what keeps failing ends dead (dead-letter queue and the
superadmin page) and "send again" delivers it; a permanent failure does not loop; and a
communicator killed between handing a message over and reporting it sends it at most once
more — a notification recorded sent is never sent again."""

from __future__ import annotations

import signal
import time
from typing import Any

from bbp_common import outbox
from bbp_common.messages import NOTIFY_COMMAND
from bbp_common.messaging import EXCHANGE
from bbp_common.notifications import enqueue, enqueue_for_user
from bbp_portal.app import create_app
from sandbox.testing import RunningSinks
from tests.integration.notify.conftest import add_user, dead_letters, rows
from tests.support.pipeline import Pipeline
from tests.support.portal import base_settings, post_form, register, sign_in_through_pages

SUBMITTED = {
    "state": "posted",
    "biller": "DESCO",
    "bill_number": "0123456789",
    "consumer_id": "22051272",
    "total": "1520.00",
    "reference_id": "REF0000000000000ABCD",
}


def sms(pipe: Pipeline, to: str) -> str:
    with pipe.engine.begin() as conn:
        queued = enqueue(
            conn,
            kind="payment_submitted",
            channel="sms",
            recipient=to,
            language="en",
            params=SUBMITTED,
        )
    return queued.notification_id


def password_mail(pipe: Pipeline, login_id: str) -> str:
    with pipe.engine.begin() as conn:
        (queued,) = enqueue_for_user(
            conn, login_id, "password_changed", {"how": "changed", "changed_at": "now"}
        )
    return queued.notification_id


def row(pipe: Pipeline, notification_id: str) -> Any:
    (found,) = rows(pipe, notification_id=notification_id)
    return found


def wait_state(pipe: Pipeline, notification_id: str, state: str, timeout: float = 60) -> Any:
    return pipe.wait_for(
        lambda: (r := row(pipe, notification_id)).state == state and r,
        timeout,
        f"notification {notification_id} {state} (now {row(pipe, notification_id).state})",
    )


def test_an_outage_delays_but_does_not_lose(pipe: Pipeline, sinks: RunningSinks) -> None:
    add_user(pipe, "admin01")
    pipe.start("scheduler")
    pipe.start("communicator")
    # Four refusals: the first delivery's three tries fail, the command goes back to the
    # queue, and the second delivery gets through on its second try.
    sinks.add_fault(channel="sms", fault="outage", times=4)
    sinks.add_fault(channel="mail", fault="outage", times=2)
    sms_id = sms(pipe, "01711000001")
    mail_id = password_mail(pipe, "admin01")

    sent = wait_state(pipe, sms_id, "sent")
    assert sent.attempts == 5 and sent.last_error is None
    sent = wait_state(pipe, mail_id, "sent")
    assert sent.attempts == 3
    time.sleep(2)
    delivered = sinks.sms(to="8801711000001")
    assert len(delivered) == 1 and delivered[0]["id"] == sms_id
    assert "submitted to DESCO" in delivered[0]["text"]
    mails = sinks.mails(to="admin01@bbp.example")
    assert len(mails) == 1 and mails[0]["notification_id"] == mail_id
    assert mails[0]["subject"] == "Your Bulk Bill Payment password was changed"
    assert [r["fault"] for r in sinks.refused()] == ["outage"] * 6
    assert dead_letters(pipe) == []


def test_dead_and_failed_end_in_the_dead_letter_queue_and_the_page_sends_them_again(
    pipe: Pipeline, sinks: RunningSinks, redis_url: str
) -> None:
    add_user(pipe, "deadbeat")
    pipe.start("scheduler")
    pipe.start("communicator")
    sinks.add_fault(channel="mail", fault="outage", to="deadbeat@")  # until cleared
    sinks.add_fault(channel="sms", fault="permanent", to="8801711000777", times=1)
    mail_id = password_mail(pipe, "deadbeat")
    sms_id = sms(pipe, "01711000777")

    failed = wait_state(pipe, sms_id, "failed")
    assert failed.attempts == 1  # a permanent failure is not retried
    assert "did not accept it" in failed.last_error
    dead = wait_state(pipe, mail_id, "dead", timeout=90)
    assert dead.attempts == 9  # 3 deliveries x 3 tries
    assert "421" in dead.last_error
    letters = {d["body"]["notification_id"] for d in dead_letters(pipe)}
    assert letters == {mail_id, sms_id}
    assert sinks.mails(to="deadbeat@") == [] and sinks.sms(to="8801711000777") == []

    # The superadmin page lists both; after the cause is fixed, "send again" delivers them.
    app = create_app(
        base_settings(
            database_url=pipe.database_url,
            redis_url=redis_url,
            mobiquity_base_url=pipe.sandbox.base_url,
            mobiquity_client_id=pipe.sandbox.client_id,
            mobiquity_client_secret=pipe.sandbox.client_secret,
            mobiquity_read_timeout=10,
        ),
        TESTING=True,
    )
    register(app, "superadmin", "superadmin")
    client = app.test_client()
    assert sign_in_through_pages(client, pipe.sandbox, "superadmin").status_code == 302
    page = client.get("/notifications/").get_data(as_text=True)
    assert f'data-notification-id="{mail_id}"' in page
    assert f'data-notification-id="{sms_id}"' in page
    assert "0171****777" in page
    sinks.clear_faults()
    for nid in (mail_id, sms_id):
        answer = post_form(client, f"/notifications/{nid}/resend", {}, page="/notifications/")
        assert answer.status_code == 302
    for nid in (mail_id, sms_id):
        sent = wait_state(pipe, nid, "sent")
        assert sent.resent_by == "superadmin"
    time.sleep(2)
    assert [m["notification_id"] for m in sinks.mails(to="deadbeat@")] == [mail_id]
    assert [s["id"] for s in sinks.sms(to="8801711000777")] == [sms_id]
    page = client.get("/notifications/").get_data(as_text=True)
    assert mail_id not in page and sms_id not in page
    with pipe.engine.connect() as conn:
        audited = conn.exec_driver_sql(
            "SELECT target_id FROM audit_log WHERE action = 'notification_resend'"
            " AND actor = 'superadmin' AND outcome = 'ok'"
        ).scalars()
        assert set(audited) == {mail_id, sms_id}


def test_killed_after_sending_before_reporting_sends_once_more_and_never_after_recorded(
    pipe: Pipeline, sinks: RunningSinks
) -> None:
    pipe.start("scheduler")
    first = pipe.start("communicator", BBP_SMS_GATEWAY_TIMEOUT="25")
    # The gateway keeps the SMS, then holds its answer: the sender dies waiting for it.
    sinks.add_fault(channel="sms", fault="slow", seconds=30, times=1, to="8801711000555")
    nid = sms(pipe, "01711000555")
    pipe.wait_for(lambda: sinks.sms(to="8801711000555"), 30, "the gateway to have the SMS")
    first.signal(signal.SIGKILL)
    first.process.wait(10)
    assert row(pipe, nid).state == "pending"  # handed over, never reported

    second = pipe.start("communicator", BBP_SMS_GATEWAY_TIMEOUT="25")
    sent = wait_state(pipe, nid, "sent")
    assert sent.attempts == 1  # the second delivery's one try (the first was never reported)
    copies = sinks.sms(to="8801711000555")
    assert [c["id"] for c in copies] == [nid, nid]  # sent again exactly that once

    # The rule: a notification recorded sent is only acknowledged, however often its command
    # comes again (a relay publishing twice, a person re-publishing a dead letter).
    with pipe.engine.begin() as conn:
        for _ in range(2):
            outbox.add(
                conn,
                EXCHANGE,
                NOTIFY_COMMAND.routing_key,
                NOTIFY_COMMAND.type,
                {"notification_id": nid, "channel": "sms", "kind": "payment_submitted"},
                version=NOTIFY_COMMAND.version,
            )

    def acknowledged() -> int:
        return sum(
            1
            for line in second.log_lines()
            if line.get("event") == "notification_already_sent"
            and line.get("notification_id") == nid
        )

    pipe.wait_for(lambda: acknowledged() == 2, 30, "both copies acknowledged")
    time.sleep(1)
    assert len(sinks.sms(to="8801711000555")) == 2
    assert row(pipe, nid).state == "sent"
