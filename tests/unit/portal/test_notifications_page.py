"""The superadmin page of undelivered notifications, and the password-changed e-mail request
(on fakes: no database, Redis or network)."""

from __future__ import annotations

from datetime import datetime

from bbp_portal.directory import UserRecord
from bbp_portal.notices import Notice
from tests.support.portal import (
    FakeAccount,
    change_password,
    flashes,
    make_unit_portal,
    post_form,
    reset_password,
)


def portal():
    return make_unit_portal(
        users=[
            UserRecord("boss", "boss@bbp.example", "superadmin"),
            UserRecord("admin01", "a1@bbp.example", "admin"),
        ],
        accounts={"boss": FakeAccount("Boss@123"), "admin01": FakeAccount("Admin@123")},
    )


def notice(i: int, state: str, channel: str = "email", recipient: str = "x@bbp.example"):
    return Notice(
        id=i,
        notification_id=f"{i:08d}-0000-0000-0000-000000000000",
        kind="request_finished",
        channel=channel,
        recipient=recipient,
        language="bn",
        request_id=7,
        state=state,
        attempts=15,
        last_error="SMS gateway answered HTTP 503",
        created_at=datetime(2026, 11, 25, 10, 0, 0),
        resent_by=None,
        resent_at=None,
    )


def sign_in(client, login_id, password):
    answer = post_form(client, "/login", {"login_id": login_id, "password": password})
    assert answer.headers["Location"] == "/"


def test_only_superadmins_see_the_page_and_the_nav_entry():
    p = portal()
    admin = p.client()
    sign_in(admin, "admin01", "Admin@123")
    assert admin.get("/notifications/").status_code == 403
    assert 'href="/notifications/"' not in admin.get("/").get_data(as_text=True)
    boss = p.client()
    sign_in(boss, "boss", "Boss@123")
    assert 'href="/notifications/"' in boss.get("/").get_data(as_text=True)


def test_the_page_lists_failed_and_dead_and_hides_mobile_numbers():
    p = portal()
    p.notices.rows = [
        notice(1, "dead", "sms", "01711000123"),
        notice(2, "failed"),
        notice(3, "sent"),
    ]
    client = p.client()
    sign_in(client, "boss", "Boss@123")
    html = client.get("/notifications/").get_data(as_text=True)
    assert html.count('class="notice"') == 2
    assert "00000003-" not in html
    assert "0171****123" in html and "01711000123" not in html
    assert "SMS gateway answered HTTP 503" in html


def test_send_again_needs_csrf_is_audited_and_refuses_a_second_time():
    p = portal()
    p.notices.rows = [notice(1, "dead")]
    nid = p.notices.rows[0].notification_id
    client = p.client()
    sign_in(client, "boss", "Boss@123")
    assert client.post(f"/notifications/{nid}/resend").status_code == 400
    answer = post_form(client, f"/notifications/{nid}/resend", {}, page="/notifications/")
    assert answer.headers["Location"] == "/notifications/"
    assert p.notices.resent == [(nid, "boss")]
    assert ("notification_resend", "boss", "ok") in p.audit.actions()
    assert "will be sent again" in " ".join(flashes(client.get("/notifications/")))
    post_form(client, f"/notifications/{nid}/resend", {}, page="/notifications/")
    assert p.notices.resent == [(nid, "boss")]
    assert ("notification_resend", "boss", "failed") in p.audit.actions()


def test_a_password_change_and_a_reset_ask_for_the_e_mail():
    p = portal()
    client = p.client()
    sign_in(client, "admin01", "Admin@123")
    change_password(client, "Admin@123", "Next@123")
    other = p.client()
    reset_password(other, "boss", "Fresh@12")
    assert p.notices.asked == [("admin01", "changed"), ("boss", "reset")]


def test_a_refused_change_asks_for_nothing_and_a_failing_store_does_not_break_the_change():
    p = portal()
    client = p.client()
    sign_in(client, "admin01", "Admin@123")
    change_password(client, "Wrong@123", "Next@123")
    assert p.notices.asked == []

    def broken(login_id: str, how: str) -> None:
        raise RuntimeError("database away")

    p.notices.password_changed = broken  # type: ignore[method-assign]
    answer = change_password(client, "Admin@123", "Next@123")
    assert answer.headers["Location"] == "/"
    assert p.mobiquity.accounts["admin01"].password == "Next@123"
