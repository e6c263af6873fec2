"""Portal integration fixtures: the real app on the run's MariaDB/MySQL database.

Sign-in is not merged yet on this branch: tests sign in by writing the session the way the
sign-in views do (``session["user"]``). CSRF is off in ``app`` (its own tests turn it on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr

from bbp_portal import create_app
from bbp_portal.audit_trail import SYSTEM
from bbp_portal.billers.service import BillerInput, seed_billers, set_biller_active
from bbp_portal.settings import PortalSettings

BILLERS = [
    BillerInput("DSCO", "Dhaka Supply", "01700000001", 11, "DSCO"),
    BillerInput("DESCO", "Dhaka Electric", "01700000002", 12, "DESCO", pays_service_charge=True),
    BillerInput("JGDCL", "Jalalabad Gas", "01700000003", 13, "JGDCL"),
    BillerInput("TTAS", "Titas Gas", "01700000004", 14, "TTAS", supports_fetch=False),
    BillerInput("OLDCO", "Retired biller", "01700000005", 15, "OLDCO"),
]


def make_settings(database_url: str, **overrides: object) -> PortalSettings:
    return PortalSettings(
        database_url=SecretStr(database_url),
        amqp_url=SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F"),
        log_format="console",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    application = create_app(
        make_settings(database_url), SECRET_KEY="test-secret", TESTING=True, WTF_CSRF_ENABLED=False
    )
    engine = application.extensions["bbp.engine"]
    with engine.begin() as conn:
        seed_billers(conn, SYSTEM, BILLERS)
        set_biller_active(conn, SYSTEM, "OLDCO", False)
    yield application
    engine.dispose()


def sign_in(client: FlaskClient, role: str, login_id: str | None = None) -> FlaskClient:
    with client.session_transaction() as session:
        session["user"] = {"login_id": login_id or f"{role}1", "role": role, "language": "en"}
    return client


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
