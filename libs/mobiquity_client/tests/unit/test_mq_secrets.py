"""Secrets (passwords, OTPs, MPIN, tokens, client secret) never reach logs, errors or reprs.

A full flow runs against a real local HTTP server with every logger at DEBUG (urllib3
included), successes and failures alike.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import mq_doc
import pytest
from mq_helpers import payment

from mobiquity_client import (
    DeviceInfo,
    LoginSucceeded,
    MobiquityClient,
    MobiquityError,
    PayerWallet,
    RetryPolicy,
    Timeouts,
)

pytestmark = pytest.mark.unit

CLIENT_SECRET = "cl1ent-S3cret-zz"
MPIN = "86420"
PASSWORD = "Pa55-w0rd"
NEW_PASSWORD = "N3w-Pa55x"
OTP = "731904"
RESET_OTP = "482913"
SYSTEM_TOKEN = "sys-token-7f3a9c"
USER_TOKEN = "user-access-5d1e"
REFRESH_TOKEN = "user-refresh-9b2c"
BASIC = base64.b64encode(f"bbp:{CLIENT_SECRET}".encode()).decode()

SECRETS = [
    CLIENT_SECRET,
    BASIC,
    MPIN,
    PASSWORD,
    NEW_PASSWORD,
    OTP,
    RESET_OTP,
    SYSTEM_TOKEN,
    USER_TOKEN,
    REFRESH_TOKEN,
]

LOGIN_OK = {
    **mq_doc.LOGIN_SUCCEEDED,
    "token": {"access_token": USER_TOKEN, "expires_in": 299, "refresh_token": REFRESH_TOKEN},
}

ANSWERS: dict[str, list[tuple[int, Any]]] = {
    "/mobiquitypay/oauth/token": [(200, {"access_token": SYSTEM_TOKEN, "expires_in": 299})],
    "/mobiquitypay/ums/v3/user/auth/web/login": [
        (400, mq_doc.ERROR_INVALID_CREDENTIALS),
        (200, mq_doc.LOGIN_PAUSED_OTP),
    ],
    "/mobiquitypay/ums/v3/user/auth/web/login-confirm": [
        (400, mq_doc.ERROR_OTP_INVALID),
        (200, LOGIN_OK),
    ],
    "/jigsaw/ums/v2/user/auth/change-credential": [
        (400, mq_doc.ERROR_INVALID_CREDENTIALS),
        (200, mq_doc.CHANGE_CREDENTIAL_SUCCEEDED),
    ],
    "/mobiquitypay/v2/ums/user/auth/self-set-auth/initiate": [(200, mq_doc.RESET_INITIATE_PAUSED)],
    "/mobiquitypay/v2/ums/user/auth/self-set-auth/validate-otp": [
        (400, mq_doc.ERROR_RESUME_NOT_FOUND),
        (200, mq_doc.RESET_VALIDATE_PAUSED),
    ],
    "/mobiquitypay/v2/ums/user/auth/self-set-auth/confirm": [(200, mq_doc.RESET_CONFIRM_SUCCEEDED)],
    "/jigsaw/v1/order/billpay": [
        (400, mq_doc.BILLPAY_FAILED),
        (500, {"message": "boom"}),
        (200, mq_doc.BILLPAY_ACCEPTED),
    ],
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counters: dict[str, int] = {}

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        answers = ANSWERS.get(self.path, [(404, {"message": "no"})])
        index = self.counters.get(self.path, 0)
        self.counters[self.path] = index + 1
        status, body = answers[min(index, len(answers) - 1)]
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.counters = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:3]}… leaked"


def test_a_full_flow_leaks_no_secret(server: str, caplog: pytest.LogCaptureFixture) -> None:
    client = MobiquityClient(
        server,
        "bbp",
        CLIENT_SECRET,
        sender=PayerWallet("01755555555", MPIN),
        timeouts=Timeouts(connect=2, read=5),
        retries=RetryPolicy(attempts=2, sleep=lambda _s: None),
    )
    device = DeviceInfo(device_id="dev-1")
    texts: list[str] = [repr(client)]
    caplog.set_level(logging.DEBUG)  # every logger, urllib3 included

    def expect_error(call: Any) -> None:
        with pytest.raises(MobiquityError) as err:
            call()
        texts.extend([str(err.value), repr(err.value), repr(err.value.__dict__)])

    expect_error(lambda: client.login("Aman01", PASSWORD, device))
    paused = client.login("Aman01", PASSWORD, device)
    texts.append(repr(paused))
    expect_error(lambda: client.confirm_login_otp("resume-1", OTP))
    user = client.confirm_login_otp("resume-1", OTP)
    texts.append(repr(user))
    assert isinstance(user, LoginSucceeded)
    assert user.access_token == USER_TOKEN  # the secret is there, only not shown
    expect_error(
        lambda: client.change_password(USER_TOKEN, "Aman01", PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    )
    client.change_password(USER_TOKEN, "Aman01", PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    step = client.start_password_reset("Aman01", device)
    expect_error(lambda: client.verify_password_reset_otp(step.resume_id, RESET_OTP))
    step2 = client.verify_password_reset_otp(step.resume_id, RESET_OTP)
    texts.extend([repr(step), repr(step2)])
    client.finish_password_reset(step2.resume_id, NEW_PASSWORD, NEW_PASSWORD)
    for reference in ("REF0000000000000000A", "REF0000000000000000B", "REF0000000000000000C"):
        texts.append(repr(client.pay_bill(payment(reference))))
    texts.append(repr(PayerWallet("01755555555", MPIN)))
    texts.append(repr(client._token))

    logged = "\n".join(r.getMessage() + repr(getattr(r, "mobiquity", "")) for r in caplog.records)
    assert "endpoint=billpay" in logged  # the flow was logged...
    assert "reference=REF0000000000000000A" in logged
    assert "endpoint=login" in logged
    _no_secret_in(logged)  # ...without a secret
    _no_secret_in("\n".join(texts))
