"""Fixtures for the sandbox's unit tests: the Flask test client, no network."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sandbox.mobiquity import create_app
from sandbox.mobiquity.settings import Settings
from tests.support.sandbox_calls import billpay_body

PATH_TOKEN = "/mobiquitypay/oauth/token"
PATH_LOGIN = "/mobiquitypay/ums/v3/user/auth/web/login"
PATH_LOGIN_CONFIRM = "/mobiquitypay/ums/v3/user/auth/web/login-confirm"
PATH_CHANGE = "/jigsaw/ums/v2/user/auth/change-credential"
PATH_RESET_INITIATE = "/mobiquitypay/v2/ums/user/auth/self-set-auth/initiate"
PATH_RESET_VALIDATE = "/mobiquitypay/v2/ums/user/auth/self-set-auth/validate-otp"
PATH_RESET_CONFIRM = "/mobiquitypay/v2/ums/user/auth/self-set-auth/confirm"
PATH_FETCH = "/extensibility/fetchPendingBillsFormAggregator"
PATH_BILLPAY = "/jigsaw/v1/order/billpay"
PATH_ENQUIRY = "/jigsaw/v1/order/enquiry/"

ENVELOPE_FIELDS = {
    "txnStatus",
    "status",
    "errors",
    "errorCode",
    "traceId",
    "step",
    "errorUserMsg",
    "httpErrorCode",
    "transactionTimeStamp",
    "language",
    "mfsTenantId",
}


def device() -> dict[str, str]:
    """The scope document's login deviceInfo (shortened)."""
    return {
        "appName": "mobilePay",
        "appVersion": "V X.9",
        "deviceId": "ffed2d4608c5191f5086b2f2cf160afd",
        "browser": "Google Chrome",
        "isPublicDevice": "N",
        "model": "Desktop - Windows 10",
        "providerIpAddress": "136.226.255.14",
    }


def login_body(login_id: str, password: str, **overrides: Any) -> dict[str, Any]:
    """The scope document's login payload for `login_id`."""
    body: dict[str, Any] = {
        "bearerCode": "WEB",
        "language": "en",
        "workspaceId": "ADMIN",
        "identifierType": "LOGINID",
        "identifierValue": login_id,
        "authenticationValue": password,
        "isTokenRequired": "Y",
        "deviceInfo": device(),
    }
    body.update(overrides)
    return body


def assert_envelope(resp: TestResponse, http: int, error_code: str, detail_code: str) -> dict:
    """The response is the common error envelope with these codes."""
    assert resp.status_code == http, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) >= ENVELOPE_FIELDS, ENVELOPE_FIELDS - set(body)
    assert body["status"] == "FAILED"
    assert body["txnStatus"] == "TF"
    assert body["errorCode"] == error_code, body
    assert body["errors"][0]["code"] == detail_code, body
    assert set(body["errors"][0]) == {"code", "message", "componentName"}
    assert body["mfsTenantId"] == "mfsPrimaryTenant"
    return body


class Api:
    """Thin wrapper over the test client speaking Mobiquity's payloads."""

    def __init__(self, client: FlaskClient, app: Flask) -> None:
        self.client = client
        self.app = app
        self._token: str | None = None

    @property
    def state(self) -> Any:
        return self.app.extensions["sandbox_state"]

    def token(self, *, fresh: bool = False) -> str:
        if self._token is None or fresh:
            creds = base64.b64encode(b"CoreWeb:sandbox-secret").decode()
            resp = self.client.post(
                PATH_TOKEN,
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {creds}"},
            )
            assert resp.status_code == 200, resp.get_data(as_text=True)
            self._token = resp.get_json()["access_token"]
        return self._token

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token()}"}

    def post(self, path: str, body: Any, token: str | None = None, **kw: Any) -> TestResponse:
        return self.client.post(path, json=body, headers=self.headers(token), **kw)

    def fetch(self, utility: str, consumer_id: Any) -> TestResponse:
        body = {
            "utility": utility,
            "consumer_id": consumer_id,
            "thirdParty": "aggregator",
            "params": {"MOB_NO": "9810036587"},
        }
        return self.post(PATH_FETCH, body)

    def bills(self, utility: str, consumer_id: str) -> list[dict[str, Any]]:
        resp = self.fetch(utility, consumer_id)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["bill_list"]

    def pay_body(
        self,
        utility: str,
        consumer_id: str,
        bill: dict[str, Any],
        reference: str | None = "REF0000000000000001",
        *,
        amount: Any = None,
        mpin: Any = 13579,
    ) -> dict[str, Any]:
        """The scope document's billpay payload, for one fetched bill."""
        body = billpay_body(utility, consumer_id, bill, reference, mpin=mpin, amount=amount)
        body["deviceInfo"] = {"appVersion": 10.2, "deviceId": 990000862471854, "model": "Oneplus10"}
        return body

    def pay(self, *args: Any, **kw: Any) -> TestResponse:
        """POST billpay with :meth:`pay_body`'s payload (the same arguments)."""
        return self.post(PATH_BILLPAY, self.pay_body(*args, **kw))

    def enquire(self, reference: str) -> TestResponse:
        return self.client.get(PATH_ENQUIRY + reference, headers=self.headers())

    def ledger(self, **filters: str) -> list[dict[str, Any]]:
        return self.client.get("/__sandbox__/ledger", query_string=filters).get_json()

    def calls(self, **filters: Any) -> list[dict[str, Any]]:
        return self.client.get("/__sandbox__/calls", query_string=filters).get_json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        resp = self.client.patch("/__sandbox__/config", json=changes)
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()

    def add_fault(self, **fault: Any) -> int:
        resp = self.client.post("/__sandbox__/faults", json=fault)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()["id"]

    def otp(self, login_id: str) -> str:
        resp = self.client.get(f"/__sandbox__/otps/{login_id}")
        assert resp.status_code == 200, resp.get_data(as_text=True)
        return resp.get_json()["otp"]


@pytest.fixture
def app() -> Iterator[Flask]:
    # Explicit Settings(): the tests must not depend on SANDBOX_* variables of the shell.
    app = create_app(Settings())
    app.testing = True
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient, app: Flask) -> Api:
    return Api(client, app)
