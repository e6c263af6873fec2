"""Contract: token, login with and without OTP, change password, forgot password."""

from __future__ import annotations

from collections.abc import Callable

import mq_doc
import pytest

from mobiquity_client import (
    ClientCredentialsRejected,
    InvalidCredentials,
    LoginSucceeded,
    MobiquityClient,
    OtpRejected,
    OtpRequired,
    ResumeRequestNotFound,
    TokenRejected,
)
from sandbox.testing import RunningSandbox

pytestmark = pytest.mark.integration

DEVICE = mq_doc.DEVICE  # the document's login device (mobiquity-api.md §1.2)


def _login_with_otp(client: MobiquityClient, sb: RunningSandbox, login_id: str, password: str):
    paused = client.login(login_id, password, DEVICE)
    assert isinstance(paused, OtpRequired)
    return client.confirm_login_otp(paused.resume_id, sb.otp(login_id))


def test_system_token(client: MobiquityClient, sb: RunningSandbox) -> None:
    token = client.system_token()
    assert token
    assert client.system_token() == token  # cached
    assert len(sb.calls(endpoint="token")) == 1


def test_wrong_client_secret(
    make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    client = MobiquityClient(sb.base_url, sb.client_id, "not-the-secret")
    with pytest.raises(ClientCredentialsRejected):
        client.system_token()


def test_login_without_otp_replays_the_document(client: MobiquityClient) -> None:
    # mq_doc.LOGIN_REQUEST: Aman01 / Com@1357, two-factor disabled
    result = client.login(
        mq_doc.LOGIN_REQUEST["identifierValue"], mq_doc.LOGIN_REQUEST["authenticationValue"], DEVICE
    )
    assert isinstance(result, LoginSucceeded)
    assert result.user_id == mq_doc.LOGIN_SUCCEEDED["userId"]
    assert result.access_token
    assert result.refresh_token


def test_login_with_otp(client: MobiquityClient, sb: RunningSandbox) -> None:
    paused = client.login("admin02", "Admin@234", DEVICE)
    assert isinstance(paused, OtpRequired)
    otp = sb.otp("admin02")
    assert len(otp) == 6
    result = client.confirm_login_otp(paused.resume_id, otp)
    assert isinstance(result, LoginSucceeded)
    assert result.user_id == "US.10000000000000003"
    # an OTP is never valid twice
    with pytest.raises(OtpRejected) as err:
        client.confirm_login_otp(paused.resume_id, otp)
    assert err.value.user_message


def test_wrong_otp(client: MobiquityClient, sb: RunningSandbox) -> None:
    paused = client.login("admin02", "Admin@234", DEVICE)
    assert isinstance(paused, OtpRequired)
    wrong = "000000" if sb.otp("admin02") != "000000" else "111111"
    with pytest.raises(OtpRejected) as err:
        client.confirm_login_otp(paused.resume_id, wrong)
    assert err.value.user_message


def test_confirm_with_empty_resume_id_is_otp_rejected(client: MobiquityClient) -> None:
    # the document's only documented login-confirm error: Generic06 on an empty resume id
    with pytest.raises(OtpRejected) as err:
        client.confirm_login_otp("", "560727")
    assert err.value.error_code == "Generic06"


def test_wrong_password(client: MobiquityClient) -> None:
    with pytest.raises(InvalidCredentials) as err:
        client.login("Aman01", "Wrong@000", DEVICE)
    assert err.value.error_code == "Authen01"
    assert err.value.user_message == "Invalid credentials."
    assert err.value.http_status == 400
    assert err.value.trace_id


def test_wrong_password_with_status_in_body_only(
    client: MobiquityClient, sb: RunningSandbox
) -> None:
    sb.configure(status_in_body_only=True)
    with pytest.raises(InvalidCredentials):
        client.login("Aman01", "Wrong@000", DEVICE)


def test_change_password(client: MobiquityClient, sb: RunningSandbox) -> None:
    # mq_doc.CHANGE_CREDENTIAL_REQUEST: OTP01, Com@8989 -> Com@4545
    user = _login_with_otp(client, sb, "OTP01", "Com@8989")
    with pytest.raises(InvalidCredentials):
        client.change_password(user.access_token, "OTP01", "Wrong@000", "Com@4545", "Com@4545")
    client.change_password(user.access_token, "OTP01", "Com@8989", "Com@4545", "Com@4545")
    with pytest.raises(InvalidCredentials):
        client.login("OTP01", "Com@8989", DEVICE)
    assert isinstance(client.login("OTP01", "Com@4545", DEVICE), OtpRequired)


def test_change_password_needs_the_users_token(client: MobiquityClient) -> None:
    with pytest.raises(TokenRejected):
        client.change_password("not-a-token", "OTP01", "Com@8989", "Com@4545", "Com@4545")


def test_forgot_password_flow(client: MobiquityClient, sb: RunningSandbox) -> None:
    step = client.start_password_reset("OTP01", DEVICE)
    assert step.code == "otp.validation.required"
    step2 = client.verify_password_reset_otp(step.resume_id, sb.otp("OTP01"))
    assert step2.code in {"new.auth.value.required", "new.authentication.value.required"}
    assert step2.resume_id != step.resume_id
    client.finish_password_reset(step2.resume_id, "Com@0822", "Com@0822")
    assert isinstance(client.login("OTP01", "Com@0822", DEVICE), OtpRequired)
    with pytest.raises(InvalidCredentials):
        client.login("OTP01", "Com@8989", DEVICE)


def test_forgot_password_wrong_otp(client: MobiquityClient, sb: RunningSandbox) -> None:
    step = client.start_password_reset("OTP01", DEVICE)
    wrong = "000000" if sb.otp("OTP01") != "000000" else "111111"
    with pytest.raises(OtpRejected):
        client.verify_password_reset_otp(step.resume_id, wrong)


def test_forgot_password_unknown_resume_id(client: MobiquityClient) -> None:
    with pytest.raises(ResumeRequestNotFound) as err:
        client.verify_password_reset_otp("cfd43988-7adf-4168-bdcd-0523ce0a8634", "655336")
    assert err.value.error_code == "Generic05"


def test_login_token_expired_drops_the_token(client: MobiquityClient, sb: RunningSandbox) -> None:
    client.system_token()
    sb.add_fault(endpoint="login", fault="token_expired")
    with pytest.raises(TokenRejected):
        client.login("Aman01", "Com@1357", DEVICE)
    assert len(sb.calls(endpoint="login")) == 1  # not resent
    sb.clear_faults()
    assert isinstance(client.login("Aman01", "Com@1357", DEVICE), LoginSucceeded)
    assert len(sb.calls(endpoint="token")) == 2
