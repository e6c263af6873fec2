"""Payment-operations fixtures: the real app on the run's MariaDB/MySQL and Redis.

Two apps on the same database: ``app`` (no maker-checker, no step-up) and ``checked_app``
(approval over 1 000 BDT per request, no daily limit, no step-up). Maker-checker and step-up
are on by default; their own tests (``test_approvals.py``, ``test_step_up.py``) turn them on.
Sessions are written as the sign-in views leave them (``tests.support.accounts.sign_in``);
the real sign-in flow is the e2e test's. CSRF is off (its own tests turn it on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from bbp_portal import create_app
from bbp_portal.audit_trail import Actor
from tests.support.accounts import sign_in
from tests.support.payments import seed_billers
from tests.support.portal import base_settings

#: The rules these tests do not look at, off (each test module looks at one thing).
UNCHECKED: dict[str, object] = {
    "approval_threshold": "off",
    "approval_daily_threshold": "off",
    "step_up": False,
}


def _app(database_url: str, redis_url: str, **settings: object) -> Flask:
    return create_app(
        base_settings(database_url=database_url, redis_url=redis_url, **{**UNCHECKED, **settings}),
        TESTING=True,
        WTF_CSRF_ENABLED=False,
    )


def _seeded_app(database_url: str, redis_url: str, **settings: Any) -> Iterator[Flask]:
    """The portal with ``settings``, the payment tests' billers seeded."""
    application = _app(database_url, redis_url, **settings)
    seed_billers(application.extensions["bbp.engine"])
    yield application
    application.extensions["bbp.engine"].dispose()


@pytest.fixture(scope="session")
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    yield from _seeded_app(database_url, redis_url, payer_label="GP wallet 01711000123")


@pytest.fixture(scope="session")
def checked_app(database_url: str, redis_url: str) -> Iterator[Flask]:
    yield from _seeded_app(database_url, redis_url, approval_threshold="1000")


@pytest.fixture()
def engine(app: Flask) -> Engine:  # type: ignore[override]
    return app.extensions["bbp.engine"]  # type: ignore[no-any-return]


@pytest.fixture()
def client_as(app: Flask) -> Callable[..., FlaskClient]:
    """``client_as("admin", "maker1")`` → a test client signed in with that role."""

    def make(role: str, login_id: str | None = None, on: Flask | None = None) -> FlaskClient:
        client = (on or app).test_client()
        return sign_in(client, role, login_id or f"pay-{role}")

    return make


ADMIN = Actor("pay-admin", "admin")
CHECKER = Actor("pay-checker", "admin")
SUPER = Actor("pay-super", "superadmin")
