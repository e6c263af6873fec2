"""The portal's notifications through the real pipeline, triggered by the real portal pages:
maker-checker (approval needed → the admins who may approve, approved / rejected → the maker)
and password changed (the change-password page and the forgot-password flow, the sandbox
standing in for Mobiquity). Portal (notification row + outbox, in the business transaction)
→ scheduler's relay / the portal's after-commit relay → RabbitMQ → communicator (render,
send) → the sandbox's SMTP sink. Each message must arrive exactly once, to the right
recipient, in the recipient's preferred language, with its key content."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bbp_common.platform.db.tables import bulk_requests
from bbp_portal.app import create_app
from sandbox.testing import RunningSinks
from tests.integration.notify.conftest import rows
from tests.support.pipeline import Pipeline, seed_fetched_bills
from tests.support.portal import (
    change_password,
    post_form,
    register,
    settings_on,
    sign_in_through_pages,
)

BASE_URL = "https://bbp.example.com"  # BBP_PORTAL_BASE_URL of the notify tests' communicator
_BN = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")


def bn(value: Any) -> str:
    """``value`` written with Bangla digits, as the Bangla templates write numbers."""
    return str(value).translate(_BN)


def address(login_id: str) -> str:
    return f"{login_id.lower()}@bbp.example"  # what ``register`` stores


def mails_to(sinks: RunningSinks, login_id: str) -> list[dict[str, Any]]:
    """The e-mails addressed to exactly this user (the sink's ``to`` matches parts)."""
    return [m for m in sinks.mails() if m["rcpt_tos"] == [address(login_id)]]


def assert_mail(mail: dict[str, Any], subject: str, language: str, *texts: str) -> None:
    """``mail`` has this subject, is in ``language`` and its text says each of ``texts``."""
    assert mail["subject"] == subject
    assert mail["language"] == language
    for text in texts:
        assert text in mail["text"], text


def settle(seconds: float = 2.0) -> None:
    """Give a duplicate the time it would need to show up."""
    time.sleep(seconds)


def wait_sent(pipe: Pipeline, kind: str, expected: int, timeout: float = 20, **where: Any) -> list:
    """The ``kind`` notifications once ``expected`` of them are recorded sent (then no more)."""

    def sent() -> list | None:
        found = rows(pipe, kind=kind, **where)
        if len(found) >= expected and all(r.state == "sent" for r in found):
            return found
        return None

    found = pipe.wait_for(sent, timeout, f"{expected} {kind} notification(s) sent")
    assert len(found) == expected, [(r.recipient, r.state) for r in found]
    return found


@pytest.fixture()
def portal(pipe: Pipeline, redis_url: str) -> Iterator[Flask]:
    """The portal on the pipeline's database and vhost, maker-checker over 100 BDT (no daily
    limit, no step-up: the approvals tests look at those)."""
    app = create_app(
        settings_on(
            pipe,
            redis_url,
            amqp_url=pipe.amqp_url,
            approval_threshold="100",
            approval_daily_threshold="off",
            step_up=False,
        ),
        TESTING=True,
    )
    yield app
    app.extensions["bbp.engine"].dispose()


@pytest.fixture()
def user(portal: Flask, pipe: Pipeline) -> Callable[..., FlaskClient]:
    """``user("admin01", "admin", language="bn")`` → registered and signed in through the
    pages (the sandbox's demo users; OTPs read from the sandbox)."""

    def make(login_id: str, role: str, *, language: str = "en") -> FlaskClient:
        register(portal, login_id, role, language=language)
        client = portal.test_client()
        answer = sign_in_through_pages(client, pipe.sandbox, login_id)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/"), answer
        return client

    return make


def pay_over_the_threshold(pipe: Pipeline, maker: FlaskClient) -> Any:
    """The maker confirms a payment of fetched bills on the page; it waits for approval.
    Returns its ``bulk_requests`` row."""
    found = seed_fetched_bills(pipe, [("DSCO", "17021273"), ("DESCO", "22051272")])
    ids = [bill for bills in found.values() for bill in bills]
    assert len(ids) >= 2
    page = maker.get("/payments/new", query_string={"scope": "ids", "ids": [str(i) for i in ids]})
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.get_data(as_text=True))[1]
    form = {"idempotency_key": key, "scope": "ids", "ids": ",".join(map(str, ids))}
    answer = post_form(maker, "/payments", form, page="/payments/pending")
    assert answer.status_code == 302, answer.get_data(as_text=True)[:2000]
    request_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with pipe.engine.connect() as conn:
        request = conn.execute(
            sa.select(bulk_requests).where(bulk_requests.c.id == request_id)
        ).one()
    assert request.state == "awaiting_approval" and request.total_items == len(ids)
    assert request.total_amount > Decimal("100")
    return request


# --------------------------------------------------------------------------- maker-checker


def test_approval_needed_to_each_approver_in_their_language_then_approved_to_the_maker(
    pipe: Pipeline, sinks: RunningSinks, portal: Flask, user: Callable[..., FlaskClient]
) -> None:
    maker = user("admin01", "admin")
    checker = user("admin02", "admin")  # English
    user("superadmin", "superadmin", language="bn")  # Bangla: may approve too
    register(portal, "retired01", "admin", active=False)  # disabled: not told
    register(portal, "Aman01", "auditor")  # may not approve: not told
    pipe.start("scheduler")
    pipe.start("communicator")

    request = pay_over_the_threshold(pipe, maker)
    rid, count, total = request.id, request.total_items, request.total_amount
    link = f"{BASE_URL}/requests/{rid}"
    wait_sent(pipe, "approval_needed", 2, request_id=rid)
    settle()

    # --- approval needed: once to each approver, never to the maker or who may not approve
    (en,) = mails_to(sinks, "admin02")
    assert_mail(
        en,
        f"Request #{rid} waits for your approval",
        "en",
        "Hello admin02,",
        f"admin01 asks to pay {count} bill{'' if count == 1 else 's'}, Tk {total:,.2f} in all"
        f" (request #{rid}).",
        link,
    )
    (bangla,) = mails_to(sinks, "superadmin")
    assert_mail(
        bangla,
        f"অনুরোধ #{bn(rid)} আপনার অনুমোদনের অপেক্ষায়",
        "bn",
        "প্রিয় superadmin,",
        f"admin01 {bn(count)}টি বিল পরিশোধ করতে চান, মোট ৳{bn(f'{total:,.2f}')} (অনুরোধ #{bn(rid)})।",
        "অন্য একজন অ্যাডমিনের অনুমোদন প্রয়োজন",
        link,  # the link keeps its ASCII digits
    )
    for nobody in ("admin01", "retired01", "Aman01"):
        assert mails_to(sinks, nobody) == [], nobody
    assert len(sinks.mails()) == 2 and sinks.sms() == []

    # --- approved on the page by another admin: once, to the maker only
    answer = post_form(
        checker, f"/requests/{rid}/approve", {"comment": "budget ok"}, page=f"/requests/{rid}"
    )
    assert answer.status_code == 302
    assert pipe.request_state(rid) in ("queued", "running", "finished")
    (approved,) = wait_sent(pipe, "request_approved", 1, request_id=rid)
    assert approved.recipient == address("admin01")
    settle()
    mails = [m for m in mails_to(sinks, "admin01") if "approved" in m["subject"]]
    assert len(mails) == 1, [m["subject"] for m in mails_to(sinks, "admin01")]
    mail = mails[0]
    assert_mail(
        mail,
        f"Request #{rid} was approved",
        "en",
        "Hello admin01,",
        f"admin02 approved your payment request #{rid}"
        f" ({count} bill{'' if count == 1 else 's'}, Tk {total:,.2f}).",
        link,
    )
    # Nobody else was told of the approval, and nobody was asked to approve again.
    for login_id in ("admin02", "superadmin", "retired01", "Aman01"):
        subjects = [m["subject"] for m in mails_to(sinks, login_id)]
        assert len(subjects) == (1 if login_id in ("admin02", "superadmin") else 0), subjects
    assert len(rows(pipe, kind="approval_needed")) == 2


def test_rejected_to_the_maker_in_bangla_with_the_checkers_comment(
    pipe: Pipeline, sinks: RunningSinks, portal: Flask, user: Callable[..., FlaskClient]
) -> None:
    maker = user("admin01", "admin", language="bn")
    checker = user("superadmin", "superadmin")
    pipe.start("scheduler")
    pipe.start("communicator")

    request = pay_over_the_threshold(pipe, maker)
    rid = request.id
    wait_sent(pipe, "approval_needed", 1, request_id=rid)
    comment = "এই মাসে নয় — budget closed for June"
    answer = post_form(
        checker, f"/requests/{rid}/reject", {"comment": comment}, page=f"/requests/{rid}"
    )
    assert answer.status_code == 302
    assert pipe.request_state(rid) == "rejected"
    (rejected,) = wait_sent(pipe, "request_rejected", 1, request_id=rid)
    assert (rejected.recipient, rejected.language) == (address("admin01"), "bn")
    settle()

    (mail,) = mails_to(sinks, "admin01")  # the maker: the rejection and nothing else
    assert_mail(
        mail,
        f"অনুরোধ #{bn(rid)} প্রত্যাখ্যাত হয়েছে",
        "bn",
        "প্রিয় admin01,",
        f"superadmin আপনার পেমেন্ট অনুরোধ #{bn(rid)} প্রত্যাখ্যান করেছেন।",
        "এর কোনো বিল পরিশোধ করা হবে না।",
        f"মন্তব্য: {comment}",
        f"{BASE_URL}/requests/{rid}",
    )
    # The checker got only the approval request (in English); nothing was paid or finished.
    assert [m["subject"] for m in mails_to(sinks, "superadmin")] == [
        f"Request #{rid} waits for your approval"
    ]
    assert len(sinks.mails()) == 2 and sinks.sms() == []
    assert {r.kind for r in rows(pipe, request_id=rid)} == {"approval_needed", "request_rejected"}


# --------------------------------------------------------------------------- password changed


def test_password_changed_on_the_page_and_reset_through_forgot_password(
    pipe: Pipeline, sinks: RunningSinks, portal: Flask, user: Callable[..., FlaskClient]
) -> None:
    changer = user("admin01", "admin")  # English: changes it on the account page
    register(portal, "admin02", "admin", language="bn")  # Bangla: forgot it
    register(portal, "superadmin", "superadmin")  # a bystander: told nothing
    pipe.start("scheduler")
    pipe.start("communicator")

    answer = change_password(changer, "Admin@123", "Next@123")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"

    stranger = portal.test_client()
    answer = post_form(stranger, "/forgot-password", {"login_id": "admin02"})
    assert answer.headers["Location"] == "/forgot-password/otp"
    answer = post_form(stranger, "/forgot-password/otp", {"otp": pipe.sandbox.otp("admin02")})
    assert answer.headers["Location"] == "/forgot-password/new"
    answer = post_form(
        stranger,
        "/forgot-password/new",
        {"new_password": "Rst@4567", "confirm_password": "Rst@4567"},
    )
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/login")

    wait_sent(pipe, "password_changed", 2)
    settle()

    (changed,) = mails_to(sinks, "admin01")
    assert_mail(
        changed,
        "Your Bulk Bill Payment password was changed",
        "en",
        "Hello admin01,",
        "tell an administrator at once",
    )
    assert re.search(
        r"the password of your login ID admin01 was changed on \d{4}-\d\d-\d\d \d\d:\d\d UTC\.",
        changed["text"],
    )

    (reset,) = mails_to(sinks, "admin02")
    assert_mail(
        reset,
        "আপনার বাল্ক বিল পেমেন্ট পাসওয়ার্ড রিসেট করা হয়েছে",
        "bn",
        "প্রিয় admin02,",
        "একজন অ্যাডমিনিস্ট্রেটরকে জানান",
    )
    assert re.search(
        r"আপনার লগইন আইডি admin02-এর পাসওয়ার্ড [০-৯]{4}-[০-৯]{2}-[০-৯]{2} [০-৯]{2}:[০-৯]{2} UTC-এ"
        r" রিসেট করা হয়েছে।",
        reset["text"],
    )

    for mail in (changed, reset):  # never a password, old or new
        for secret in ("Admin@123", "Next@123", "Admin@234", "Rst@4567"):
            assert secret not in mail["text"] and secret not in mail["subject"]
    assert mails_to(sinks, "superadmin") == []
    assert len(sinks.mails()) == 2 and sinks.sms() == []
