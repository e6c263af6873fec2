"""Reusable pytest fixtures and helpers for the portal's tests (registered in tests/conftest.py).

Integration and e2e tests (real MariaDB, Redis and the sandbox):

* ``mobiquity_sandbox`` – the sandbox subprocess of this xdist worker (session-scoped).
* ``sandbox`` – the same, reset before the test (demo users, passwords, OTPs restored).
* ``sandbox_url`` – its base URL.
* ``portal_settings`` – a factory: ``portal_settings(**overrides) -> PortalSettings`` on the
  run's database, Redis (a fresh key prefix per call, so rate limits and sessions of one test
  never meet another's) and the sandbox.
* ``portal_app`` – ``create_app`` on those settings; ``portal_client`` – its test client.
* ``signed_in`` – ``signed_in(client, role="admin", login_id=None) -> login_id``: registers a
  sandbox demo user with that role in our database and signs in through the real flow
  (login page, CSRF token, OTP read from the sandbox when Mobiquity asks for one).
* ``csrf_token(client, page="/")`` and ``post_form(client, url, data, page=None)`` – helpers.

Unit tests (no database, Redis or network): ``unit_app(**settings_overrides)`` builds the app
on in-memory stores (``MemoryUsers``, ``MemoryAudit``, ``MemoryNotices``), an in-process
session store and a ``FakeMobiquity``.
"""

from __future__ import annotations

import html as htmllib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest
from cachelib import SimpleCache
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from bbp_portal.app import create_app
from bbp_portal.audit import AuditEntry, AuditEvent, AuditFilter
from bbp_portal.directory import DuplicateUser, SqlUserStore, UnknownUser, UserRecord
from bbp_portal.notices import Notice, NotResendable
from bbp_portal.settings import PortalSettings
from mobiquity_client import (
    DeviceInfo,
    InvalidCredentials,
    LoginSucceeded,
    OtpRejected,
    OtpRequired,
    ResetStep,
    ResumeRequestNotFound,
    TokenRejected,
)

#: Demo users of the sandbox (sandbox/src/sandbox/mobiquity/users.py): login id → password.
DEMO_PASSWORDS = {
    "superadmin": "Super@123",  # asks for an OTP
    "admin01": "Admin@123",  # no OTP
    "admin02": "Admin@234",  # asks for an OTP
    "Aman01": "Com@1357",
    "OTP01": "Com@8989",
}
DEMO_OTP_USERS = frozenset({"superadmin", "admin02", "OTP01"})
#: Which demo user ``signed_in`` uses for a role, unless told otherwise.
DEMO_FOR_ROLE = {"superadmin": "superadmin", "admin": "admin01", "auditor": "Aman01"}

_META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def base_settings(**overrides: Any) -> PortalSettings:
    """Valid settings that reach nothing (unit tests); override what a test needs."""
    values: dict[str, Any] = {
        "database_url": "mysql+pymysql://nobody@127.0.0.1:1/none",
        "amqp_url": "amqp://guest:guest@127.0.0.1:1/%2F",
        "portal_secret_key": "test-secret-" + uuid.uuid4().hex,
        "session_encryption_key": Fernet.generate_key().decode(),
        "redis_url": "redis://127.0.0.1:1/0",
        "redis_key_prefix": f"bbp:test:{uuid.uuid4().hex[:10]}:",
        "mobiquity_base_url": "http://127.0.0.1:1",
        "mobiquity_client_id": "test",
        "mobiquity_client_secret": "test",
        "session_cookie_secure": False,
        "signin_failure_min_duration": 0,
        "log_format": "console",
    }
    values.update(overrides)
    return PortalSettings(**values)


# ------------------------------------------------------------------------------ form helpers


def csrf_token(client: FlaskClient, page: str = "/") -> str:
    """The CSRF token of ``client``'s session, read from the ``<meta>`` of ``page``."""
    response = client.get(page, follow_redirects=True)
    found = _META_CSRF.search(response.get_data(as_text=True))
    assert found, f"no csrf-token meta on {page} ({response.status_code})"
    return found.group(1)


def post_form(
    client: FlaskClient, url: str, data: dict[str, str], *, page: str | None = None, **kw: Any
) -> Any:
    """POST ``data`` with the session's CSRF token (read from ``page``, default ``url``)."""
    token = csrf_token(client, page or url)
    return client.post(url, data={**data, "csrf_token": token}, **kw)


def settings_on(pipe: Any, redis_url: str, **overrides: Any) -> PortalSettings:
    """The portal's settings on a pipeline's database and its sandbox (``overrides`` win)."""
    return base_settings(
        database_url=pipe.database_url,
        redis_url=redis_url,
        mobiquity_base_url=pipe.sandbox.base_url,
        mobiquity_client_id=pipe.sandbox.client_id,
        mobiquity_client_secret=pipe.sandbox.client_secret,
        mobiquity_read_timeout=10,
        **overrides,
    )


def signed_out_because(client: FlaskClient, reason: str) -> None:
    """The session has ended: the next page sends the person away with a message that says
    ``reason``."""
    answer = client.get("/")
    assert answer.status_code == 302
    assert reason in " ".join(flashes(client.get(answer.headers["Location"])))


def change_password(client: FlaskClient, old: str, new: str, confirm: str | None = None) -> Any:
    """POST the change-password form (the confirmation is ``new`` unless said)."""
    form = {"old_password": old, "new_password": new, "confirm_password": confirm or new}
    return post_form(client, "/account/password", form)


def reset_password(
    client: FlaskClient, login_id: str, new: str, *, otp: str = "123456", confirm: str | None = None
) -> Any:
    """The forgot-password pages in turn (the login id, the OTP, the new password, its
    confirmation ``new`` unless said); returns the last page's answer."""
    post_form(client, "/forgot-password", {"login_id": login_id})
    post_form(client, "/forgot-password/otp", {"otp": otp})
    form = {"new_password": new, "confirm_password": confirm or new}
    return post_form(client, "/forgot-password/new", form)


def flashes(response: Any) -> list[str]:
    """The texts of the flash messages on a rendered page."""
    html = response.get_data(as_text=True)
    return [
        re.sub(r"\s+", " ", m).strip()
        for m in re.findall(r'<div class="alert[^"]*flash[^>]*>(.*?)</div>', html, re.S)
    ]


def form_value(page: str, name: str) -> str:
    """The value of the form field ``name`` on a rendered page (unescaped)."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, name
    return htmllib.unescape(found.group(1))


def href(page: str, element_id: str) -> str:
    """Where the link with id ``element_id`` on a rendered page goes (unescaped)."""
    found = re.search(rf'id="{element_id}" href="([^"]+)"', page)
    assert found, element_id
    return htmllib.unescape(found.group(1))


# ------------------------------------------------------------------------------ unit fakes


@dataclass
class FakeAccount:
    password: str
    otp: bool = False


@dataclass
class FakeMobiquity:
    """Mobiquity for unit tests: accounts with passwords, OTP 123456, tokens that can expire."""

    accounts: dict[str, FakeAccount] = field(default_factory=dict)
    otp_code: str = "123456"
    token_ttl: int = 299
    delay: float = 0.0
    calls: list[str] = field(default_factory=list)
    stale_system_token_once: bool = False
    _resumes: dict[str, tuple[str, str]] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)
    _used: set[str] = field(default_factory=set)

    def _system(self, name: str) -> None:
        self.calls.append(name)
        if self.delay:
            time.sleep(self.delay)
        if self.stale_system_token_once:
            self.stale_system_token_once = False
            raise TokenRejected(f"{name}: HTTP 401", http_status=401, endpoint=name)

    def _succeeded(self, login_id: str) -> LoginSucceeded:
        token = uuid.uuid4().hex
        self._tokens[token] = login_id
        return LoginSucceeded(user_id="US.1", access_token=token, expires_in=self.token_ttl)

    def _pause(self, login_id: str, purpose: str) -> str:
        resume = uuid.uuid4().hex
        self._resumes[resume] = (login_id, purpose)
        return resume

    def login(
        self, login_id: str, password: str, device: DeviceInfo
    ) -> LoginSucceeded | OtpRequired:
        self._system("login")
        account = self.accounts.get(login_id)
        if account is None or account.password != password:
            raise InvalidCredentials(
                "login: HTTP 400 Authen01",
                error_code="Authen01",
                user_message="Invalid credentials.",
            )
        if account.otp:
            return OtpRequired(resume_id=self._pause(login_id, "login"))
        return self._succeeded(login_id)

    def _take_otp(self, resume_id: str, otp: str, purpose: str) -> str:
        found = self._resumes.get(resume_id)
        if found is None or found[1] != purpose:
            raise ResumeRequestNotFound("resume id not found", error_code="Generic05")
        if otp != self.otp_code or resume_id in self._used:
            raise OtpRejected("otp", error_code="Authen02", user_message="Invalid OTP")
        self._used.add(resume_id)
        return found[0]

    def confirm_login_otp(self, resume_id: str, otp: str) -> LoginSucceeded:
        self._system("login_confirm")
        return self._succeeded(self._take_otp(resume_id, otp, "login"))

    def change_password(
        self, user_token: str, login_id: str, old: str, new: str, confirm: str
    ) -> None:
        self.calls.append("change_credential")
        if self._tokens.get(user_token) != login_id or self.token_ttl <= 0:
            raise TokenRejected("change_credential: HTTP 401", http_status=401)
        account = self.accounts[login_id]
        if account.password != old:
            raise InvalidCredentials(
                "wrong", error_code="Authen01", user_message="Wrong old password."
            )
        account.password = new

    def start_password_reset(self, login_id: str, device: DeviceInfo) -> ResetStep:
        self._system("reset_initiate")
        if login_id not in self.accounts:
            raise InvalidCredentials("unknown", error_code="Authen01", user_message="No such user")
        return ResetStep(resume_id=self._pause(login_id, "reset"), code="otp.validation.required")

    def verify_password_reset_otp(self, resume_id: str, otp: str) -> ResetStep:
        self._system("reset_validate")
        login_id = self._take_otp(resume_id, otp, "reset")
        return ResetStep(resume_id=self._pause(login_id, "new"), code="new.auth.value.required")

    def finish_password_reset(self, resume_id: str, new: str, confirm: str) -> None:
        self._system("reset_confirm")
        found = self._resumes.pop(resume_id, None)
        if found is None or found[1] != "new":
            raise ResumeRequestNotFound("gone", error_code="Generic05")
        self.accounts[found[0]].password = new


class MemoryUsers:
    """``UserStore`` in a dict (case-insensitive login ids, like the MySQL collation)."""

    def __init__(self, *users: UserRecord) -> None:
        self._rows: dict[str, UserRecord] = {u.login_id.lower(): u for u in users}

    def get(self, login_id: str) -> UserRecord | None:
        return self._rows.get(login_id.lower())

    def list(self) -> list[UserRecord]:
        return sorted(self._rows.values(), key=lambda u: u.login_id.lower())

    def add(self, user: UserRecord) -> UserRecord:
        if user.login_id.lower() in self._rows:
            raise DuplicateUser(user.login_id)
        self._rows[user.login_id.lower()] = user
        return user

    def _change(self, login_id: str, **values: Any) -> UserRecord:
        found = self.get(login_id)
        if found is None:
            raise UnknownUser(login_id)
        changed = replace(found, **values)
        self._rows[login_id.lower()] = changed
        return changed

    def update(
        self, login_id: str, *, email: str, role: str, mobile: str | None, language: str
    ) -> UserRecord:
        return self._change(login_id, email=email, role=role, mobile=mobile, language=language)

    def set_active(self, login_id: str, active: bool) -> UserRecord:
        return self._change(login_id, active=active)

    def record_sign_in(self, login_id: str) -> None:
        self._change(login_id, last_login_at=datetime.now())


class MemoryAudit:
    """``AuditStore`` in a list."""

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def write(self, event: AuditEvent) -> None:
        self.events.append(event)

    def search(
        self, filters: AuditFilter, *, before_id: int | None, limit: int
    ) -> tuple[list[AuditEntry], int | None]:
        rows = [
            AuditEntry(
                i + 1,
                datetime.now(),
                e.actor,
                e.action,
                e.outcome,
                e.target_type,
                e.target_id,
                e.ip,
                e.device_id,
                str(e.details),
            )
            for i, e in enumerate(self.events)
        ][::-1]
        rows = [r for r in rows if before_id is None or r.id < before_id]
        rows = [r for r in rows if not filters.actor or r.actor == filters.actor]
        rows = [r for r in rows if not filters.action or r.action == filters.action]
        page = rows[:limit]
        return page, (page[-1].id if len(rows) > limit else None)

    def actions(self) -> list[tuple[str, str | None, str]]:
        return [(e.action, e.actor, e.outcome) for e in self.events]


class MemoryNotices:
    """``NoticeStore`` in lists: what the portal asked for, and rows to list and resend."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.rows: list[Notice] = []
        self.resent: list[tuple[str, str]] = []

    def password_changed(self, login_id: str, how: str) -> None:
        self.asked.append((login_id, how))

    def undelivered(self, *, before_id: int | None, limit: int) -> tuple[list[Notice], int | None]:
        rows = sorted(
            (r for r in self.rows if r.state in ("failed", "dead")),
            key=lambda r: r.id,
            reverse=True,
        )
        rows = [r for r in rows if before_id is None or r.id < before_id]
        page = rows[:limit]
        return page, (page[-1].id if len(rows) > limit else None)

    def resend(self, notification_id: str, by: str) -> None:
        for i, row in enumerate(self.rows):
            if row.notification_id == notification_id and row.state in ("failed", "dead"):
                self.rows[i] = replace(row, state="pending", resent_by=by)
                self.resent.append((notification_id, by))
                return
        raise NotResendable(notification_id)


@dataclass
class UnitPortal:
    app: Flask
    mobiquity: FakeMobiquity
    users: MemoryUsers
    audit: MemoryAudit
    notices: MemoryNotices

    def client(self) -> FlaskClient:
        return self.app.test_client()


def make_unit_portal(
    users: list[UserRecord] | None = None,
    accounts: dict[str, FakeAccount] | None = None,
    **settings_overrides: Any,
) -> UnitPortal:
    """The portal on fakes: memory stores, in-process sessions and rate limits, FakeMobiquity."""
    mobiquity = FakeMobiquity(accounts=dict(accounts or {}))
    store = MemoryUsers(*(users or []))
    audit = MemoryAudit()
    notices = MemoryNotices()
    app = create_app(
        base_settings(**settings_overrides),
        mobiquity=mobiquity,
        users=store,
        audit=audit,
        notices=notices,
        TESTING=True,
        SESSION_TYPE="cachelib",
        SESSION_CACHELIB=SimpleCache(),
        RATELIMIT_STORAGE_URI="memory://",
    )
    return UnitPortal(app, mobiquity, store, audit, notices)


@pytest.fixture
def unit_portal() -> Callable[..., UnitPortal]:
    """``unit_portal(users=[...], accounts={...}, **settings)`` → a portal on fakes."""
    return make_unit_portal


# ------------------------------------------------------------------------------ integration


@pytest.fixture(scope="session")
def mobiquity_sandbox() -> Iterator[Any]:
    """The Mobiquity sandbox of this test worker (a ``sandbox.testing.RunningSandbox``)."""
    from sandbox.testing import run_sandbox

    with run_sandbox() as running:
        yield running


@pytest.fixture
def sandbox(mobiquity_sandbox: Any) -> Any:
    """The sandbox, reset: demo users and their passwords restored, OTPs and faults gone."""
    mobiquity_sandbox.reset()
    return mobiquity_sandbox


@pytest.fixture
def sandbox_url(sandbox: Any) -> str:
    return str(sandbox.base_url)


@pytest.fixture
def portal_settings(
    database_url: str, redis_url: str, sandbox: Any
) -> Callable[..., PortalSettings]:
    """``portal_settings(**overrides)``: settings on the run's DB, Redis and the sandbox."""

    def make(**overrides: Any) -> PortalSettings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "mobiquity_base_url": sandbox.base_url,
            "mobiquity_client_id": sandbox.client_id,
            "mobiquity_client_secret": sandbox.client_secret,
            "mobiquity_read_timeout": 10,
        }
        values.update(overrides)
        return base_settings(**values)

    return make


@pytest.fixture
def portal_app(portal_settings: Callable[..., PortalSettings]) -> Flask:
    """The portal on the run's MariaDB, Redis and the sandbox (its own Redis key prefix)."""
    return create_app(portal_settings(), TESTING=True)


@pytest.fixture
def portal_client(portal_app: Flask) -> FlaskClient:
    return portal_app.test_client()


def register(
    app: Flask, login_id: str, role: str, *, active: bool = True, language: str = "en"
) -> None:
    """Put ``login_id`` in the registry with ``role`` (idempotent), straight into the table."""
    store = SqlUserStore(app.extensions["bbp.engine"])
    found = store.get(login_id)
    if found is None:
        store.add(
            UserRecord(
                login_id=login_id,
                email=f"{login_id.lower()}@bbp.example",
                role=role,
                language=language,
                created_by="test",
            )
        )
    else:
        store.update(login_id, email=found.email, role=role, mobile=found.mobile, language=language)
    store.set_active(login_id, active)


def unregister(app: Flask, login_id: str) -> None:
    """Remove ``login_id`` from the registry (tests that need a stranger to Mobiquity's users)."""
    import sqlalchemy as sa

    from bbp_common.platform.db.tables import users

    with app.extensions["bbp.engine"].begin() as conn:
        conn.execute(sa.delete(users).where(users.c.login_id == login_id))


def sign_in_through_pages(
    client: FlaskClient, sandbox: Any, login_id: str, password: str | None = None
) -> Any:
    """Sign in like a person: the login page, then the OTP page if Mobiquity asks."""
    password = password or DEMO_PASSWORDS[login_id]
    response = post_form(client, "/login", {"login_id": login_id, "password": password})
    if response.status_code == 302 and "/login/otp" in response.headers["Location"]:
        otp = sandbox.otp(login_id)
        response = post_form(client, "/login/otp", {"otp": otp})
    return response


@pytest.fixture
def signed_in(portal_app: Flask, sandbox: Any) -> Callable[..., str]:
    """``signed_in(client, role="admin", login_id=None) -> login_id`` (real sign-in flow)."""

    def sign_in(client: FlaskClient, role: str = "admin", login_id: str | None = None) -> str:
        login_id = login_id or DEMO_FOR_ROLE[role]
        app = client.application
        register(app, login_id, role)
        response = sign_in_through_pages(client, sandbox, login_id)
        assert response.status_code == 302, response.get_data(as_text=True)[:2000]
        assert response.headers["Location"].endswith("/"), response.headers["Location"]
        with client.session_transaction() as sess:
            assert sess["user"]["login_id"] == login_id
        return login_id

    return sign_in


class LogCapture:
    """Every log line as the portal writes it (after the masker), plus the raw records."""

    def __init__(self) -> None:
        import io
        import logging

        self.stream = io.StringIO()
        root = logging.getLogger()
        self.handler = logging.StreamHandler(self.stream)
        if root.handlers and root.handlers[0].formatter is not None:
            self.handler.setFormatter(root.handlers[0].formatter)
        self.records: list[logging.LogRecord] = []
        self._root = root
        self._level = root.level

        class Keep(logging.Handler):
            def emit(inner, record: logging.LogRecord) -> None:
                self.records.append(record)

        self.keeper = Keep()

    def __enter__(self) -> LogCapture:
        import logging

        self._root.addHandler(self.handler)
        self._root.addHandler(self.keeper)
        self._root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._root.removeHandler(self.handler)
        self._root.removeHandler(self.keeper)
        self._root.setLevel(self._level)

    @property
    def text(self) -> str:
        raw = "\n".join(
            f"{r.getMessage()} {r.args!r} {getattr(r, 'mobiquity', '')} {r.msg!r}"
            for r in self.records
        )
        return self.stream.getvalue() + "\n" + raw
