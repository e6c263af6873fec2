"""Sign-in, OTP, sign-out and the password flows on fakes (no database, Redis or network)."""

from __future__ import annotations

import time

import pytest

from bbp_portal.directory import UserRecord
from tests.support.portal import (
    FakeAccount,
    LogCapture,
    change_password,
    csrf_token,
    flashes,
    make_unit_portal,
    post_form,
    reset_password,
    signed_out_because,
)

GENERIC = "The login ID or password is not correct, or this login ID may not use the portal."


def portal(**settings):
    return make_unit_portal(
        users=[
            UserRecord("admin01", "a1@bbp.example", "admin"),
            UserRecord("otpuser", "o@bbp.example", "superadmin"),
            UserRecord("gone01", "g@bbp.example", "admin", active=False),
        ],
        accounts={
            "admin01": FakeAccount("Admin@123"),
            "otpuser": FakeAccount("Otp@1234", otp=True),
            "gone01": FakeAccount("Gone@123"),
            "stranger": FakeAccount("Str@1234"),  # in Mobiquity, not registered with us
        },
        **settings,
    )


def refused_in_the_form(answer, message: str, p, call: str) -> None:
    """The form comes back saying ``message``, and Mobiquity's ``call`` was not made."""
    assert answer.status_code == 200
    assert message in answer.get_data(as_text=True)
    assert call not in p.mobiquity.calls


def login(client, login_id, password):
    return post_form(client, "/login", {"login_id": login_id, "password": password})


def test_sign_in_without_otp_reaches_the_dashboard():
    p = portal()
    client = p.client()
    answer = login(client, "admin01", "Admin@123")
    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "You are signed in as admin." in page.get_data(as_text=True)
    assert ("login", "admin01", "ok") in p.audit.actions()


def test_sign_in_with_otp():
    p = portal()
    client = p.client()
    answer = login(client, "otpuser", "Otp@1234")
    assert answer.headers["Location"].startswith("/login/otp")
    assert client.get("/").status_code == 302  # not signed in yet
    answer = post_form(client, "/login/otp", {"otp": "123456"})
    assert answer.headers["Location"] == "/"
    assert client.get("/").status_code == 200
    assert [a for a in p.audit.actions() if a[1] == "otpuser"] == [
        ("login", "otpuser", "otp_sent"),
        ("login", "otpuser", "ok"),
    ]


@pytest.mark.parametrize(
    ("login_id", "password", "reason"),
    [
        ("admin01", "Wrong@123", "mobiquity_refused"),
        ("nobody", "Whatever1", "unregistered"),
        ("stranger", "Str@1234", "unregistered"),
        ("gone01", "Gone@123", "disabled"),
    ],
)
def test_every_refusal_says_the_same(login_id, password, reason):
    p = portal()
    client = p.client()
    answer = login(client, login_id, password)
    assert answer.status_code == 200
    assert flashes(answer) == [GENERIC]
    assert client.get("/").status_code == 302
    event = p.audit.events[-1]
    assert (event.action, event.outcome, event.details["reason"]) == ("login", "failed", reason)


def test_registration_is_checked_before_mobiquity_is_called():
    p = portal()
    login(p.client(), "stranger", "Str@1234")
    assert "login" not in p.mobiquity.calls


def test_unregistered_and_refused_take_equally_long():
    p = portal(signin_failure_min_duration=0.05)
    p.mobiquity.delay = 0.3  # Mobiquity takes 300 ms to refuse
    client = p.client()
    durations = {}
    for name, login_id in (
        ("refused", "admin01"),
        ("unregistered", "nobody1"),
        ("refused2", "admin01"),
        ("unregistered2", "nobody2"),
    ):
        token = csrf_token(client, "/login")
        started = time.perf_counter()
        client.post(
            "/login", data={"login_id": login_id, "password": "Wrong@123", "csrf_token": token}
        )
        durations[name] = time.perf_counter() - started
    # The unregistered id is refused without a call, yet answers as slowly as a refusal.
    assert durations["unregistered2"] == pytest.approx(durations["refused2"], abs=0.12)
    assert durations["unregistered2"] >= 0.28


def test_wrong_otp_then_right_one():
    p = portal()
    client = p.client()
    login(client, "otpuser", "Otp@1234")
    answer = post_form(client, "/login/otp", {"otp": "000000"})
    assert answer.status_code == 302
    assert "Invalid OTP" in flashes(client.get(answer.headers["Location"]))
    answer = post_form(client, "/login/otp", {"otp": "123456"})
    assert answer.headers["Location"] == "/"


def test_three_wrong_otps_end_the_step():
    p = portal()
    client = p.client()
    login(client, "otpuser", "Otp@1234")
    for _ in range(3):
        answer = post_form(client, "/login/otp", {"otp": "000000"})
    assert answer.headers["Location"] == "/login"
    assert client.get("/login/otp").headers["Location"].startswith("/login")


def test_otp_must_be_six_digits_in_browser_and_server():
    p = portal()
    client = p.client()
    login(client, "otpuser", "Otp@1234")
    page = client.get("/login/otp").get_data(as_text=True)
    assert 'pattern="\\d{6}"' in page and 'maxlength="6"' in page and 'inputmode="numeric"' in page
    answer = post_form(client, "/login/otp", {"otp": "12ab"})
    refused_in_the_form(answer, "The OTP has 6 digits.", p, "login_confirm")


def test_length_rules_are_in_the_page_and_enforced():
    p = portal()
    client = p.client()
    page = client.get("/login").get_data(as_text=True)
    assert 'minlength="3"' in page and 'maxlength="20"' in page
    assert 'minlength="5"' in page and 'maxlength="10"' in page
    answer = login(client, "ab", "x")
    assert answer.status_code == 200
    assert p.mobiquity.calls == []


def test_a_stale_system_token_is_renewed_once():
    p = portal()
    p.mobiquity.stale_system_token_once = True
    answer = login(p.client(), "admin01", "Admin@123")
    assert answer.headers["Location"] == "/"
    assert p.mobiquity.calls == ["login", "login"]


def test_sign_out_ends_the_session():
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    before = client.get_cookie("bbp_session").value
    answer = post_form(client, "/logout", {})
    assert answer.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    after = client.get_cookie("bbp_session")
    assert after is None or after.value != before
    assert ("logout", "admin01", "ok") in p.audit.actions()


def test_session_id_changes_at_sign_in():
    p = portal()
    client = p.client()
    client.get("/login")
    anonymous = client.get_cookie("bbp_session").value
    login(client, "admin01", "Admin@123")
    signed_in = client.get_cookie("bbp_session").value
    assert signed_in != anonymous
    # The old id is worth nothing: a browser presenting it is not signed in.
    other = p.client()
    other.set_cookie("bbp_session", anonymous)
    assert other.get("/").status_code == 302


class FakeClock:
    """The sessions' clock, moved by the test: no real sleeps, so a loaded machine (a slow
    request) cannot make the idle limit pass or not pass by accident."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    from bbp_portal.auth import sessions

    fake = FakeClock()
    monkeypatch.setattr(sessions, "time", fake)
    return fake


def test_idle_and_absolute_expiry(clock: FakeClock):
    p = portal(session_idle_timeout=0.3, session_absolute_lifetime=100)
    client = p.client()
    login(client, "admin01", "Admin@123")
    assert client.get("/").status_code == 200
    clock.advance(0.4)
    signed_out_because(client, "without activity")

    p = portal(session_idle_timeout=100, session_absolute_lifetime=0.5)
    client = p.client()
    login(client, "admin01", "Admin@123")
    for _ in range(3):
        assert client.get("/").status_code == 200  # busy...
        clock.advance(0.1)
    clock.advance(0.3)
    signed_out_because(client, "maximum length")


def test_background_polls_do_not_keep_an_unattended_session_alive(clock: FakeClock):
    """A request page polling its progress is not activity: the idle limit still ends it."""
    p = portal(session_idle_timeout=0.5, session_absolute_lifetime=100)
    client = p.client()
    login(client, "admin01", "Admin@123")
    polled = []
    for _ in range(5):
        clock.advance(0.15)
        polled.append(client.get("/", headers={"X-BBP-Background": "1"}).status_code)
    assert polled[0] == 200  # still signed in: it reads...
    assert polled[-1] == 302  # ...but 0.75 s without a person's request ended the session
    signed_out_because(client, "without activity")
    # The same requests without the header are activity and keep the session.
    client = p.client()
    login(client, "admin01", "Admin@123")
    for _ in range(5):
        clock.advance(0.15)
        assert client.get("/").status_code == 200


def test_disabling_a_user_ends_their_open_session():
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    p.users.set_active("admin01", False)
    signed_out_because(client, "withdrawn")


def test_role_change_applies_at_the_next_request():
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    assert client.get("/audit/").status_code == 403
    p.users.update("admin01", email="a1@bbp.example", role="auditor", mobile=None, language="en")
    assert client.get("/audit/").status_code == 200


def test_csrf_token_is_required():
    p = portal()
    client = p.client()
    client.get("/login")
    answer = client.post("/login", data={"login_id": "admin01", "password": "Admin@123"})
    assert answer.status_code == 400
    assert p.mobiquity.calls == []


def test_next_is_followed_only_within_the_site():
    p = portal()
    client = p.client()
    answer = client.get("/audit/?actor=x")
    assert answer.headers["Location"] == "/login?next=/audit/?actor%3Dx"
    for target, expected in (
        ("/users/", "/users/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
    ):
        c = p.client()
        token = csrf_token(c, "/login")
        answer = c.post(
            f"/login?next={target}",
            data={"login_id": "admin01", "password": "Admin@123", "csrf_token": token},
        )
        assert answer.headers["Location"] == expected, target


def test_forgot_password_end_to_end():
    p = portal()
    client = p.client()
    answer = post_form(client, "/forgot-password", {"login_id": "admin01"})
    assert answer.headers["Location"] == "/forgot-password/otp"
    answer = post_form(client, "/forgot-password/otp", {"otp": "123456"})
    assert answer.headers["Location"] == "/forgot-password/new"
    answer = post_form(
        client, "/forgot-password/new", {"new_password": "Fresh@12", "confirm_password": "Fresh@12"}
    )
    assert answer.headers["Location"] == "/login"
    assert p.mobiquity.accounts["admin01"].password == "Fresh@12"
    assert login(p.client(), "admin01", "Fresh@12").headers["Location"] == "/"


def test_forgot_password_for_an_unknown_id_looks_the_same():
    p = portal()
    client = p.client()
    known = post_form(client, "/forgot-password", {"login_id": "admin01"})
    unknown_client = p.client()
    unknown = post_form(unknown_client, "/forgot-password", {"login_id": "nobody"})
    assert known.headers["Location"] == unknown.headers["Location"]
    assert flashes(client.get("/forgot-password/otp")) == flashes(
        unknown_client.get("/forgot-password/otp")
    )
    assert "reset_initiate" in p.mobiquity.calls and p.mobiquity.calls.count("reset_initiate") == 1
    answer = post_form(unknown_client, "/forgot-password/otp", {"otp": "123456"})
    unknown_refusal = flashes(unknown_client.get(answer.headers["Location"]))
    assert "not accepted" in " ".join(unknown_refusal)
    # A wrong OTP for a registered id reads the same (not Mobiquity's own "Invalid OTP").
    answer = post_form(client, "/forgot-password/otp", {"otp": "000000"})
    assert flashes(client.get(answer.headers["Location"])) == unknown_refusal


def test_forgot_password_refused_by_mobiquity_looks_like_an_unknown_id():
    """Registered with us, unknown to Mobiquity: the same pages as an unregistered id."""
    p = portal()
    p.users.add(UserRecord("ghost01", "gh@bbp.example", "admin"))
    registered, unknown = p.client(), p.client()
    refused = post_form(registered, "/forgot-password", {"login_id": "ghost01"})
    nobody = post_form(unknown, "/forgot-password", {"login_id": "nobody"})
    assert refused.status_code == nobody.status_code == 302
    assert refused.headers["Location"] == nobody.headers["Location"]
    assert flashes(registered.get("/forgot-password/otp")) == flashes(
        unknown.get("/forgot-password/otp")
    )
    assert ("password_reset", "ghost01", "failed") in p.audit.actions()


def test_new_passwords_must_match():
    p = portal()
    client = p.client()
    answer = reset_password(client, "admin01", "Fresh@12", confirm="Fresh@13")
    refused_in_the_form(answer, "The two new passwords differ.", p, "reset_confirm")


def test_change_password_with_a_fresh_token():
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    answer = change_password(client, "Admin@123", "Next@123")
    assert answer.headers["Location"] == "/"
    assert p.mobiquity.accounts["admin01"].password == "Next@123"
    assert p.mobiquity.calls.count("login") == 1


def test_change_password_after_the_token_expired_signs_in_again():
    p = portal()
    p.mobiquity.token_ttl = 10  # shorter than our renewal margin: stale at once
    client = p.client()
    login(client, "admin01", "Admin@123")
    answer = change_password(client, "Admin@123", "Next@123")
    assert answer.headers["Location"] == "/"
    assert p.mobiquity.calls == ["login", "login", "change_credential"]
    assert p.mobiquity.accounts["admin01"].password == "Next@123"


def test_change_password_expired_token_with_otp():
    p = portal()
    p.mobiquity.token_ttl = 10
    client = p.client()
    post_form(client, "/login", {"login_id": "otpuser", "password": "Otp@1234"})
    post_form(client, "/login/otp", {"otp": "123456"})
    form = {"old_password": "Otp@1234", "new_password": "Next@123", "confirm_password": "Next@123"}
    answer = post_form(client, "/account/password", form)
    assert answer.headers["Location"] == "/account/password/otp"
    p.mobiquity.token_ttl = 299  # the token the OTP step brings is fresh
    answer = post_form(client, "/account/password/otp", {"otp": "123456"})
    assert answer.headers["Location"] == "/account/password"
    assert p.mobiquity.accounts["otpuser"].password == "Otp@1234"
    answer = post_form(client, "/account/password", form)
    assert answer.headers["Location"] == "/"
    assert p.mobiquity.accounts["otpuser"].password == "Next@123"


def test_change_password_shows_mobiquitys_refusal():
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    answer = change_password(client, "Bad@1234", "Next@123")
    assert answer.status_code == 400
    assert flashes(answer) == ["Wrong old password."]


def test_no_password_or_otp_reaches_logs_audit_or_session():
    p = portal()
    client = p.client()
    with LogCapture() as logs:
        _every_flow(p, client)
    secrets = ["Wrong@999", "Otp@1234", "654321", "123456", "Next@123", "Fresh@99", "Admin@123"]
    logged = logs.text
    assert "action=login" in logged or '"action": "login"' in logged  # the capture works
    audited = repr(p.audit.events)
    stored = repr(p.app.config["SESSION_CACHELIB"]._cache)
    for secret in secrets:
        assert secret not in logged, secret
        assert secret not in audited, secret
        assert secret not in stored, secret
    # ...and the Mobiquity token is kept sealed, never in clear.
    assert not any(tok in stored for tok in p.mobiquity._tokens)


def _every_flow(p, client):
    login(client, "admin01", "Wrong@999")
    login(client, "otpuser", "Otp@1234")
    post_form(client, "/login/otp", {"otp": "654321"})
    post_form(client, "/login/otp", {"otp": "123456"})
    change_password(client, "Otp@1234", "Next@123")
    other = p.client()
    reset_password(other, "admin01", "Fresh@99")


def test_change_password_is_rate_limited_too():
    p = portal(rate_limit_per_login_id="2/minute")
    client = p.client()
    login(client, "admin01", "Admin@123")
    form = {"old_password": "Bad@1234", "new_password": "Next@123", "confirm_password": "Next@123"}
    statuses = [post_form(client, "/account/password", form).status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


def test_the_dashboard_opens_without_figures_when_the_database_is_unreachable():
    """The unit portal's database is unreachable: the dashboard says so and keeps its links."""
    p = portal()
    client = p.client()
    login(client, "admin01", "Admin@123")
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="figures-unavailable"' in html and 'href="/requests"' in html
    assert "Traceback" not in html and "OperationalError" not in html
