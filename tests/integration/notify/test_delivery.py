"""Delivery of notifications when things go wrong, through the real pipeline and the sinks:
an outage delays but loses nothing (each retry comes back later, scheduled by the scheduler
through the outbox, and survives restarts of both services); a retry never holds a notify
worker, so e-mail is not stuck behind an SMS gateway outage; what keeps failing ends dead
(on the superadmin page) and "send again" delivers it; a permanent failure does not loop and
ends in the dead-letter queue; and a communicator killed between handing a message over and
reporting it sends it at most once more — a notification recorded sent is never sent
again."""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import Any

from bbp_common.core.messages import NOTIFY_COMMAND
from bbp_common.core.notifications import enqueue, enqueue_for_user
from bbp_common.platform import outbox
from bbp_common.platform.messaging import EXCHANGE
from bbp_portal.app import create_app
from sandbox.testing import RunningSinks
from tests.integration.notify.conftest import add_user, dead_letters, rows
from tests.support.pipeline import Pipeline
from tests.support.portal import (
    post_form,
    register,
    settings_on,
    sign_in_through_pages,
)

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
    # Four refusals: one try per command, each failure a retry scheduled by the scheduler;
    # the fifth command gets through.
    sinks.add_fault(channel="sms", fault="outage", times=4)
    sinks.add_fault(channel="mail", fault="outage", times=2)
    sms_id = sms(pipe, "01711000001")
    mail_id = password_mail(pipe, "admin01")

    sent = wait_state(pipe, sms_id, "sent")
    assert (sent.attempts, sent.retries, sent.last_error) == (5, 4, None)
    sent = wait_state(pipe, mail_id, "sent")
    assert (sent.attempts, sent.retries) == (3, 2)
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
    assert (dead.attempts, dead.retries) == (9, 8)  # the first try and the schedule's 8
    assert "gave up after 9 deliveries" in dead.last_error and "421" in dead.last_error
    # The permanent failure is rejected into the dead-letter queue at once (the evidence);
    # the retried one was acknowledged each time and given up by the scheduler: its row
    # (and the page) is where it waits for a person.
    letters = {d["body"]["notification_id"] for d in dead_letters(pipe)}
    assert letters == {sms_id}
    assert sinks.mails(to="deadbeat@") == [] and sinks.sms(to="8801711000777") == []

    # The superadmin page lists both; after the cause is fixed, "send again" delivers them.
    app = create_app(
        settings_on(pipe, redis_url),
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


def _at(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["received_at"])


def test_retries_wait_longer_each_time_and_survive_restarts(
    pipe: Pipeline, sinks: RunningSinks
) -> None:
    """The outage outlasts both services: the next try waits in the outbox (MySQL), not in
    a worker or the broker, and the waits grow as the schedule says."""
    scheduler = pipe.start("scheduler", BBP_NOTIFY_RETRY_SCHEDULE="2s,4s,30m")
    communicator = pipe.start("communicator")
    sinks.add_fault(channel="sms", fault="outage", times=2)
    nid = sms(pipe, "01711000002")

    pipe.wait_for(lambda: row(pipe, nid).retries == 1, 30, "the first retry scheduled")
    waiting = row(pipe, nid)
    assert waiting.state == "pending" and waiting.next_attempt_at is not None
    assert "HTTP 503" in waiting.last_error or "unreachable" in waiting.last_error
    # Both services die while the retry waits; new ones pick it up when it is due.
    for service in (communicator, scheduler):
        service.signal(signal.SIGKILL)
        service.process.wait(10)
    pipe.start("scheduler", BBP_NOTIFY_RETRY_SCHEDULE="2s,4s,30m")
    pipe.start("communicator")

    sent = wait_state(pipe, nid, "sent", timeout=60)
    assert (sent.attempts, sent.retries) == (3, 2)
    refused = [r for r in sinks.refused() if r["fault"] == "outage"]
    delivered = sinks.sms(to="8801711000002")
    assert len(refused) == 2 and len(delivered) == 1
    first, second, third = _at(refused[0]), _at(refused[1]), _at(delivered[0])
    assert (second - first).total_seconds() >= 2 * 0.9  # the schedule's 2 s, less jitter
    assert (third - second).total_seconds() >= 4 * 0.9  # then 4 s


def test_an_sms_gateway_outage_does_not_hold_up_email(pipe: Pipeline, sinks: RunningSinks) -> None:
    """One notify worker, a dead SMS gateway and a queue of SMS ahead of an e-mail: a failed
    SMS frees the worker at once (no sleeping between tries), so the e-mail goes out."""
    add_user(pipe, "mailer")
    pipe.start("scheduler", BBP_NOTIFY_RETRY_SCHEDULE="30m")
    pipe.start("communicator", BBP_COMMUNICATOR_NOTIFY_WORKERS="1", BBP_AMQP_PREFETCH="1")
    sinks.add_fault(channel="sms", fault="outage")  # until cleared
    sms_ids = [sms(pipe, f"0171100010{i}") for i in range(6)]
    mail_id = password_mail(pipe, "mailer")
    started = time.monotonic()
    wait_state(pipe, mail_id, "sent", timeout=30)
    assert time.monotonic() - started < 5
    pipe.wait_for(
        lambda: all(row(pipe, i).retries == 1 for i in sms_ids), 30, "every SMS retry scheduled"
    )
    assert all(row(pipe, i).state == "pending" for i in sms_ids)  # waiting, not lost
