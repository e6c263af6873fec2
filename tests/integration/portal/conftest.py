"""Accounts integration fixtures: the real app on the run's MariaDB/MySQL and Redis.

Most tests sign in by writing the session as the sign-in views do (``session["user"]`` and
``session["auth"]``) for a user registered in ``users`` — fast, and the role is the test's
choice; the real sign-in flow (sandbox, OTP) is covered by the sign-in tests and used by the
accounts browser test. CSRF is off in ``app`` (its own tests turn it on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bbp_portal import create_app
from bbp_portal.audit_trail import SYSTEM
from bbp_portal.billers.service import BillerInput, seed_billers, set_biller_active
from bbp_portal.settings import PortalSettings
from tests.support.accounts import sign_in
from tests.support.portal import base_settings

__all__ = ["sign_in"]

BILLERS = [
    BillerInput("DSCO", "Dhaka Supply", "01700000001", 11, "DSCO"),
    BillerInput("DESCO", "Dhaka Electric", "01700000002", 12, "DESCO", pays_service_charge=True),
    BillerInput("JGDCL", "Jalalabad Gas", "01700000003", 13, "JGDCL"),
    BillerInput("TTAS", "Titas Gas", "01700000004", 14, "TTAS", supports_fetch=False),
    BillerInput("OLDCO", "Retired biller", "01700000005", 15, "OLDCO"),
]


def make_settings(database_url: str, redis_url: str, **overrides: object) -> PortalSettings:
    """The sign-in tests' base settings on the run's database and Redis (no Mobiquity)."""
    return base_settings(database_url=database_url, redis_url=redis_url, **overrides)


def build_app(database_url: str, redis_url: str, **settings: object) -> Flask:
    return create_app(
        make_settings(database_url, redis_url, **settings), TESTING=True, WTF_CSRF_ENABLED=False
    )


@pytest.fixture(scope="session")
def app(database_url: str, redis_url: str) -> Iterator[Flask]:
    application = build_app(database_url, redis_url)
    engine = application.extensions["bbp.engine"]
    with engine.begin() as conn:
        seed_billers(conn, SYSTEM, BILLERS)
        set_biller_active(conn, SYSTEM, "OLDCO", False)
    yield application
    engine.dispose()


@pytest.fixture()
def client_as(app: Flask) -> Callable[..., FlaskClient]:
    """``client_as("admin")`` → a test client signed in with that role."""

    def make(role: str | None, login_id: str | None = None) -> FlaskClient:
        client = app.test_client()
        return sign_in(client, role, login_id) if role else client

    return make


@pytest.fixture()
def admin(client_as: Callable[..., FlaskClient]) -> FlaskClient:
    return client_as("admin")


@pytest.fixture()
def engine(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["bbp.engine"]
