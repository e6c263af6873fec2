"""Login (with and without OTP), change password and the forgot-password flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mq_doc
import mq_fake
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, calls_to, sent_body

from mobiquity_client import (
    AuthPolicy,
    DeviceInfo,
    InvalidCredentials,
    InvalidInput,
    LoginSucceeded,
    MandatoryFieldMissing,
    MobiquityClient,
    MobiquityError,
    MobiquityUnavailable,
    OtpRejected,
    OtpRequired,
    RequestRefused,
    ResetStep,
    ResumeRequestNotFound,
    TokenRejected,
    UnexpectedResponse,
    UnsupportedFlow,
)

pytestmark = pytest.mark.unit

LOGIN = "/mobiquitypay/ums/v3/user/auth/web/login"
CONFIRM = "/mobiquitypay/ums/v3/user/auth/web/login-confirm"
CHANGE = "/jigsaw/ums/v2/user/auth/change-credential"
INITIATE = "/mobiquitypay/v2/ums/user/auth/self-set-auth/initiate"
VALIDATE = "/mobiquitypay/v2/ums/user/auth/self-set-auth/validate-otp"
FINISH = "/mobiquitypay/v2/ums/user/auth/self-set-auth/confirm"
TOKEN = "/mobiquitypay/oauth/token"

DOC_DEVICE = mq_doc.DEVICE


# -- login ------------------------------------------------------------------------------------


def test_login_sends_the_document_body_with_system_token(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + LOGIN, json=mq_doc.LOGIN_SUCCEEDED)
    client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert sent_body(rsps, LOGIN) == mq_doc.LOGIN_REQUEST
    (call,) = calls_to(rsps, LOGIN)
    assert call.request.headers["Authorization"] == "Bearer " + mq_doc.TOKEN["access_token"]


def test_login_without_otp(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + LOGIN, json=mq_doc.LOGIN_SUCCEEDED)
    result = client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert isinstance(result, LoginSucceeded)
    assert result.user_id == "US.29211689145575742"
    assert result.access_token == "eyJ.user-access-token-secret"
    assert result.refresh_token == "eyJ.user-refresh-token-secret"
    assert result.expires_in == 299
    assert result.session_ids == ("fd4e5489-3280-4aa7-b1d0-596570277b2f",)


def test_login_paused_for_otp(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + LOGIN, json=mq_doc.LOGIN_PAUSED_OTP)
    result = client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert result == OtpRequired(
        resume_id="d8b7d414-b4d0-4d02-9f42-d1c3edb6459b",
        message="OTP validation is required. Please enter OTP to continue",
    )


@pytest.mark.parametrize("http_status", [400, 200])
def test_login_wrong_credentials(
    http_status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + LOGIN, json=mq_doc.ERROR_INVALID_CREDENTIALS, status=http_status)
    with pytest.raises(InvalidCredentials) as err:
        client.login("Aman01", "wrong", DOC_DEVICE)
    exc = err.value
    assert exc.user_message == "Invalid credentials."
    assert exc.error_code == "Authen01"
    assert exc.code == "AUTH_06"
    assert exc.http_status == http_status
    assert exc.trace_id == "19422597-1711-4bc6-bcab-baf6734549a8"
    assert isinstance(exc, MobiquityError)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (mq_doc.ERROR_WORKSPACE_MANDATORY, MandatoryFieldMissing),
        (mq_doc.ERROR_INVALID_VALUE, InvalidInput),
        (mq_doc.ERROR_EMPTY_RESUME_ID, InvalidInput),
        ({**mq_doc.ERROR_INVALID_CREDENTIALS, "errorCode": "Authen09"}, RequestRefused),
    ],
)
def test_login_other_documented_errors_are_typed(
    answer: dict[str, Any],
    error: type[MobiquityError],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + LOGIN, json=answer, status=400)
    with pytest.raises(error) as err:
        client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert type(err.value) is error
    assert err.value.user_message == answer["errorUserMsg"]


def test_login_400_without_envelope_is_unexpected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + LOGIN, body="<html>Bad request</html>", status=400)
    with pytest.raises(UnexpectedResponse):
        client.login("Aman01", "Com@1357", DOC_DEVICE)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({**mq_doc.LOGIN_PAUSED_OTP, "code": "security.answer.required"}, UnsupportedFlow),
        ({**mq_doc.LOGIN_SUCCEEDED, "token": None}, UnexpectedResponse),
        ({**mq_doc.LOGIN_SUCCEEDED, "status": "INPROGRESS"}, UnexpectedResponse),
        ({"message": "no status"}, UnexpectedResponse),
        ({**mq_doc.LOGIN_SUCCEEDED, "token": {"expires_in": 1}}, UnexpectedResponse),
    ],
)
def test_login_odd_answers(
    answer: dict[str, Any],
    error: type[MobiquityError],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + LOGIN, json=answer)
    with pytest.raises(error):
        client.login("Aman01", "Com@1357", DOC_DEVICE)


def test_login_missing_token_field_is_named(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + LOGIN, json={**mq_doc.LOGIN_SUCCEEDED, "token": {"expires_in": 1}})
    with pytest.raises(UnexpectedResponse) as err:
        client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert err.value.field == "token.access_token"


@pytest.mark.parametrize("failure", [{"status": 500}, {"body": mq_fake.reset()}])
def test_login_is_never_retried(
    failure: dict[str, Any],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + LOGIN, **failure)
    with pytest.raises(MobiquityUnavailable):
        client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert len(calls_to(rsps, LOGIN)) == 1


def test_login_401_drops_token_but_does_not_resend(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + LOGIN, status=401, json={"error": "invalid_token"})
    with pytest.raises(TokenRejected):
        client.login("Aman01", "Com@1357", DOC_DEVICE)
    assert len(calls_to(rsps, LOGIN)) == 1
    client.system_token()
    assert len(calls_to(rsps, TOKEN)) == 2  # the refused token was forgotten


# -- login OTP --------------------------------------------------------------------------------


def test_confirm_login_otp(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + CONFIRM, json=mq_doc.LOGIN_CONFIRM_SUCCEEDED)
    result = client.confirm_login_otp("0a24aaa1-3e71-4468-a7a7-e7bc8aef6d31", "560727")
    assert sent_body(rsps, CONFIRM) == mq_doc.LOGIN_CONFIRM_REQUEST
    assert result.access_token == "eyJ.confirmed-access-token-secret"
    assert result.expires_in == 2999
    (call,) = calls_to(rsps, CONFIRM)
    assert call.request.headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    "answer",
    [
        mq_doc.ERROR_OTP_INVALID,
        mq_doc.ERROR_EMPTY_RESUME_ID,  # the documented Generic06 on an empty resume id
        {"status": "FAILED", "errorCode": "Whatever99", "errorUserMsg": "OTP expired"},
    ],
)
def test_any_failed_answer_to_an_otp_step_is_otp_rejected(
    answer: dict[str, Any],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + CONFIRM, json=answer, status=400)
    with pytest.raises(OtpRejected) as err:
        client.confirm_login_otp("0a24aaa1-3e71-4468-a7a7-e7bc8aef6d31", "000000")
    assert err.value.user_message == answer["errorUserMsg"]
    assert len(calls_to(rsps, CONFIRM)) == 1


def test_confirm_otp_unknown_resume_id(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + CONFIRM, json=mq_doc.ERROR_RESUME_NOT_FOUND, status=400)
    with pytest.raises(ResumeRequestNotFound) as err:
        client.confirm_login_otp("nope", "560727")
    assert isinstance(err.value, OtpRejected)


def test_confirm_without_system_token_when_configured(
    rsps: FakeHttp, make_client: Callable[..., MobiquityClient]
) -> None:
    client = make_client(auth=AuthPolicy(system_token_for=frozenset()))
    rsps.post(BASE + CONFIRM, json=mq_doc.LOGIN_CONFIRM_SUCCEEDED)
    client.confirm_login_otp("0a24aaa1-3e71-4468-a7a7-e7bc8aef6d31", "560727")
    (call,) = calls_to(rsps, CONFIRM)
    assert "Authorization" not in call.request.headers


# -- change password --------------------------------------------------------------------------


def test_change_password(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + CHANGE, json=mq_doc.CHANGE_CREDENTIAL_SUCCEEDED)
    client.change_password("user-token-abc", "OTP01", "Com@8989", "Com@4545", "Com@4545")
    assert sent_body(rsps, CHANGE) == mq_doc.CHANGE_CREDENTIAL_REQUEST
    (call,) = calls_to(rsps, CHANGE)
    assert call.request.headers["Authorization"] == "Bearer user-token-abc"
    assert not calls_to(rsps, TOKEN)  # the user's token, not the system token


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (mq_doc.ERROR_WORKSPACE_MANDATORY, MandatoryFieldMissing),
        (mq_doc.ERROR_INVALID_CREDENTIALS, InvalidCredentials),
    ],
)
def test_change_password_errors(
    answer: dict[str, Any],
    error: type[MobiquityError],
    rsps: FakeHttp,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + CHANGE, json=answer, status=400)
    with pytest.raises(error):
        client.change_password("user-token-abc", "OTP01", "bad", "Com@4545", "Com@4545")


def test_change_password_expired_user_token(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + CHANGE, status=401)
    with pytest.raises(TokenRejected):
        client.change_password("expired", "OTP01", "Com@8989", "Com@4545", "Com@4545")
    assert len(calls_to(rsps, CHANGE)) == 1


def test_change_password_with_system_token_when_configured(
    rsps: FakeHttp, token_ok: object, make_client: Callable[..., MobiquityClient]
) -> None:
    auth = AuthPolicy(
        system_token_for=frozenset({"change_credential"}),  # type: ignore[arg-type]
        user_token_for_change_credential=False,
    )
    rsps.post(BASE + CHANGE, json=mq_doc.CHANGE_CREDENTIAL_SUCCEEDED)
    make_client(auth=auth).change_password("u", "OTP01", "a", "b", "b")
    (call,) = calls_to(rsps, CHANGE)
    assert call.request.headers["Authorization"] == "Bearer " + mq_doc.TOKEN["access_token"]


# -- forgot password --------------------------------------------------------------------------


def test_reset_flow(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + INITIATE, json=mq_doc.RESET_INITIATE_PAUSED)
    rsps.post(BASE + VALIDATE, json=mq_doc.RESET_VALIDATE_PAUSED)
    rsps.post(BASE + FINISH, json=mq_doc.RESET_CONFIRM_SUCCEEDED)
    device = DeviceInfo(device_id="dev-1", app_name="portal", model="web", os="linux")

    step = client.start_password_reset("OTP01", device)
    assert step == ResetStep(
        resume_id="cfd43988-7adf-4168-bdcd-0523ce0a8634",
        code="otp.validation.required",
        original_service_request_id="cfd43988-7adf-4168-bdcd-0523ce0a8634",
        message="OTP validation is required. Please enter OTP to continue",
    )
    body = sent_body(rsps, INITIATE)
    for key, value in mq_doc.RESET_INITIATE_REQUEST.items():
        assert body[key] == value
    assert body["deviceInfo"]["deviceId"] == "dev-1"
    assert body["deviceInfo"]["isPublicDevice"] == "N"

    step2 = client.verify_password_reset_otp(step.resume_id, "655336")
    assert sent_body(rsps, VALIDATE) == mq_doc.RESET_VALIDATE_REQUEST
    assert step2.resume_id == "11111111-2222-4333-8444-555555555555"  # a new id
    assert step2.code == "new.auth.value.required"

    assert client.finish_password_reset(step2.resume_id, "Com@0822", "Com@0822") is None
    assert sent_body(rsps, FINISH) == mq_doc.RESET_CONFIRM_REQUEST
    for path in (INITIATE, VALIDATE, FINISH):
        (call,) = calls_to(rsps, path)
        assert call.request.headers["Authorization"].startswith("Bearer ")


def test_reset_accepts_the_field_tables_spelling(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    answer = {**mq_doc.RESET_VALIDATE_PAUSED, "code": "new.authentication.value.required"}
    rsps.post(BASE + VALIDATE, json=answer)
    assert client.verify_password_reset_otp("x", "655336").code == answer["code"]


def test_reset_initiate_invalid_value(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + INITIATE, json=mq_doc.ERROR_INVALID_VALUE, status=400)
    with pytest.raises(InvalidInput) as err:
        client.start_password_reset("OTP01", DOC_DEVICE)
    assert err.value.user_message == "Unexpected value 'LOGINI'"


def test_reset_initiate_security_question_is_unsupported(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(
        BASE + INITIATE, json={**mq_doc.RESET_INITIATE_PAUSED, "code": "security.answer.required"}
    )
    with pytest.raises(UnsupportedFlow) as err:
        client.start_password_reset("OTP01", DOC_DEVICE)
    assert err.value.code == "security.answer.required"


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (mq_doc.ERROR_RESUME_NOT_FOUND, ResumeRequestNotFound),
        (mq_doc.ERROR_OTP_INVALID, OtpRejected),
        (mq_doc.ERROR_INVALID_CREDENTIALS, OtpRejected),
    ],
)
def test_reset_validate_failures_are_otp_rejected(
    answer: dict[str, Any],
    error: type[MobiquityError],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + VALIDATE, json=answer, status=400)
    with pytest.raises(error) as err:
        client.verify_password_reset_otp("cfd43988", "000000")
    assert type(err.value) is error
    assert err.value.user_message == answer["errorUserMsg"]


def test_reset_validate_unexpected_step(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + VALIDATE, json={**mq_doc.RESET_VALIDATE_PAUSED, "serviceRequestId": None})
    with pytest.raises(UnexpectedResponse) as err:
        client.verify_password_reset_otp("x", "655336")
    assert err.value.field == "serviceRequestId"


def test_reset_finish_failure(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + FINISH, json=mq_doc.ERROR_WORKSPACE_MANDATORY, status=400)
    with pytest.raises(MandatoryFieldMissing):
        client.finish_password_reset("x", "a", "a")


@pytest.mark.parametrize("path", [INITIATE, VALIDATE, FINISH, CONFIRM])
def test_password_and_otp_calls_are_never_retried(
    path: str, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + path, status=503)
    calls = {
        INITIATE: lambda: client.start_password_reset("OTP01", DOC_DEVICE),
        VALIDATE: lambda: client.verify_password_reset_otp("x", "1"),
        FINISH: lambda: client.finish_password_reset("x", "a", "a"),
        CONFIRM: lambda: client.confirm_login_otp("x", "1"),
    }
    with pytest.raises(MobiquityUnavailable):
        calls[path]()
    assert len(calls_to(rsps, path)) == 1


def test_401_on_an_otp_step_is_token_rejected_not_otp_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + CONFIRM, json=mq_doc.UNAUTHORIZED_ENVELOPE, status=401)
    with pytest.raises(TokenRejected) as err:
        client.confirm_login_otp("x", "560727")
    assert not isinstance(err.value, OtpRejected)
    assert err.value.error_code == "Authen04"
    assert len(calls_to(rsps, CONFIRM)) == 1  # not resent: the OTP may be single-use
