"""System token, login with and without OTP, change password and forgot password."""

from __future__ import annotations

import base64
import logging
import time

import pytest
from flask.testing import FlaskClient

from .conftest import (
    PATH_CHANGE,
    PATH_LOGIN,
    PATH_LOGIN_CONFIRM,
    PATH_RESET_CONFIRM,
    PATH_RESET_INITIATE,
    PATH_RESET_VALIDATE,
    PATH_TOKEN,
    Api,
    assert_envelope,
    login_body,
)

pytestmark = pytest.mark.unit


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def change_body(login_id: str, old: str, new: str, confirm: str | None = None) -> dict:
    return {
        "requestedBy": "SELF",
        "oldAuthenticationValue": old,
        "newAuthenticationValue": new,
        "confirmedAuthenticationValue": new if confirm is None else confirm,
        "language": "en",
        "workspaceId": "ADMIN",
        "identifierType": "LOGINID",
        "identifierValue": login_id,
    }


def initiate_body(login_id: str, **overrides: object) -> dict:
    body = {
        "requestedBy": "SELF",
        "workspaceId": "ADMIN",
        "identifierType": "LOGINID",
        "identifierValue": login_id,
        "language": "en",
        "bearerCode": "WEB",
        "deviceInfo": {
            "appName": "MobiquityPayChannel",
            "appVersion": "10.03.0.01",
            "deviceId": "17cf27d2-871b-42d2-aa4c-2930bed0f5e6",
            "isPublicDevice": "N",
            "model": "Google sdk gphone x86",
            "os": "ANDROID",
        },
    }
    body.update(overrides)
    return body


def user_token(api: Api, login_id: str, password: str) -> str:
    resp = api.post(PATH_LOGIN, login_body(login_id, password))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    if body["status"] == "PAUSED":
        resp = api.post(
            PATH_LOGIN_CONFIRM,
            {
                "resumeServiceRequestId": body["serviceRequestId"],
                "otp": api.otp(login_id),
                "serviceCode": "LOGIN_POLICY",
            },
        )
        assert resp.status_code == 200, resp.get_data(as_text=True)
        body = resp.get_json()
    return body["token"]["access_token"]


def can_login(api: Api, login_id: str, password: str) -> bool:
    return api.post(PATH_LOGIN, login_body(login_id, password)).status_code == 200


# ---- system token -------------------------------------------------------------------------


def not_the(otp: str) -> str:
    """A six-digit OTP that is not ``otp``."""
    return f"{(int(otp) + 1) % 10**6:06d}"


def test_system_token_has_the_documented_shape(client: FlaskClient) -> None:
    resp = client.post(
        PATH_TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic("CoreWeb", "sandbox-secret"),
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "jti"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 299
    assert body["access_token"].count(".") == 2  # JWT-shaped
    assert len(body["jti"]) == 36


@pytest.mark.parametrize(
    "headers",
    [
        basic("CoreWeb", "wrong"),
        basic("Other", "sandbox-secret"),
        {},
        {"Authorization": "Bearer x"},
    ],
)
def test_system_token_refuses_bad_client_credentials(client: FlaskClient, headers) -> None:
    resp = client.post(PATH_TOKEN, data={"grant_type": "client_credentials"}, headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "invalid_client"


def test_system_token_needs_grant_type_client_credentials(client: FlaskClient) -> None:
    resp = client.post(
        PATH_TOKEN, data={"grant_type": "password"}, headers=basic("CoreWeb", "sandbox-secret")
    )
    assert resp.status_code == 400
    assert resp.get_json()["error"] == "unsupported_grant_type"


def test_system_token_via_the_headings_get_path(client: FlaskClient) -> None:
    resp = client.get(
        "/mobiquitypay/ums/v1/user/auth/web/system-token",
        headers=basic("CoreWeb", "sandbox-secret"),
    )
    assert resp.status_code == 200 and resp.get_json()["access_token"]


def test_client_credentials_come_from_the_environment(monkeypatch) -> None:
    from sandbox.mobiquity import create_app
    from sandbox.mobiquity.settings import Settings

    monkeypatch.setenv("SANDBOX_CLIENT_ID", "bbp")
    monkeypatch.setenv("SANDBOX_CLIENT_SECRET", "s3cret")
    client = create_app(Settings.from_env()).test_client()
    ok = client.post(
        PATH_TOKEN, data={"grant_type": "client_credentials"}, headers=basic("bbp", "s3cret")
    )
    demo = client.post(
        PATH_TOKEN,
        data={"grant_type": "client_credentials"},
        headers=basic("CoreWeb", "sandbox-secret"),
    )
    assert (ok.status_code, demo.status_code) == (200, 401)


# ---- login --------------------------------------------------------------------------------


def test_login_without_otp_succeeds_with_a_user_token(api: Api) -> None:
    resp = api.post(PATH_LOGIN, login_body("Aman01", "Com@1357"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "SUCCEEDED" and body["serviceFlow"] == "LOGIN_POLICY"
    assert body["userId"] == "US.29211689145575742"
    assert set(body["token"]) == {"access_token", "expires_in", "refresh_token"}
    assert body["lastLoginTime"] is None
    assert len(body["sessionIdList"]) == 1 and len(body["serviceRequestId"]) == 36
    again = api.post(PATH_LOGIN, login_body("Aman01", "Com@1357")).get_json()
    assert again["lastLoginTime"] is not None


def test_login_with_otp_pauses_then_confirms(api: Api) -> None:
    resp = api.post(PATH_LOGIN, login_body("superadmin", "Super@123"))
    assert resp.status_code == 200
    paused = resp.get_json()
    assert paused["status"] == "PAUSED" and paused["code"] == "otp.validation.required"
    assert "token" not in paused
    otp = api.client.get("/__sandbox__/otps/superadmin").get_json()
    assert otp["purpose"] == "login" and otp["login_id"] == "superadmin"
    assert len(otp["otp"]) == 6 and otp["otp"].isdigit()
    assert otp["service_request_id"] == paused["serviceRequestId"]
    resp = api.post(
        PATH_LOGIN_CONFIRM,
        {
            "resumeServiceRequestId": paused["serviceRequestId"],
            "otp": otp["otp"],
            "serviceCode": "LOGIN_POLICY",
        },
    )
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "SUCCEEDED" and body["message"] == "Login Successfully"
    assert body["token"]["access_token"] and body["userId"] == "US.10000000000000001"


def test_an_otp_is_never_valid_twice(api: Api) -> None:
    paused = api.post(PATH_LOGIN, login_body("OTP01", "Com@8989")).get_json()
    confirm = {
        "resumeServiceRequestId": paused["serviceRequestId"],
        "otp": api.otp("OTP01"),
        "serviceCode": "LOGIN_POLICY",
    }
    assert api.post(PATH_LOGIN_CONFIRM, confirm).status_code == 200
    body = assert_envelope(api.post(PATH_LOGIN_CONFIRM, confirm), 400, "Authen02", "OTP_INVALID")
    assert body["errors"][0]["message"] == "Invalid OTP"
    assert api.client.get("/__sandbox__/otps/OTP01").get_json()["used"] is True


def test_a_wrong_otp_is_refused_and_the_right_one_still_works(api: Api) -> None:
    paused = api.post(PATH_LOGIN, login_body("OTP01", "Com@8989")).get_json()
    right = api.otp("OTP01")
    resume = paused["serviceRequestId"]
    wrong = {"resumeServiceRequestId": resume, "otp": not_the(right)}
    assert_envelope(api.post(PATH_LOGIN_CONFIRM, wrong), 400, "Authen02", "OTP_INVALID")
    ok = api.post(PATH_LOGIN_CONFIRM, {"resumeServiceRequestId": resume, "otp": right})
    assert ok.status_code == 200


def test_an_expired_otp_is_refused(api: Api) -> None:
    api.configure(otp_ttl_seconds=1)
    paused = api.post(PATH_LOGIN, login_body("OTP01", "Com@8989")).get_json()
    otp = api.otp("OTP01")
    time.sleep(1.1)
    resp = api.post(
        PATH_LOGIN_CONFIRM, {"resumeServiceRequestId": paused["serviceRequestId"], "otp": otp}
    )
    assert_envelope(resp, 400, "Authen02", "OTP_INVALID")


def test_each_login_gets_a_fresh_random_otp(api: Api) -> None:
    otps = set()
    for _ in range(5):
        api.post(PATH_LOGIN, login_body("OTP01", "Com@8989"))
        otps.add(api.otp("OTP01"))
    assert len(otps) >= 4


def test_login_confirm_documented_errors(api: Api) -> None:
    body = assert_envelope(
        api.post(PATH_LOGIN_CONFIRM, {"resumeServiceRequestId": "", "otp": "123456"}),
        400,
        "Generic06",
        "sfm.errors.invalid.resume.service.request.id",
    )
    assert body["errors"][0]["componentName"] == "SFM"
    assert_envelope(
        api.post(
            PATH_LOGIN_CONFIRM,
            {"resumeServiceRequestId": "0a24aaa1-3e71-4468-a7a7-e7bc8aef6d31", "otp": "560727"},
        ),
        400,
        "Generic05",
        "sfm.errors.resume.service.request.id.not.found",
    )


@pytest.mark.parametrize(
    ("login_id", "password"),
    [("Aman01", "Com@9999"), ("nobody", "Com@1357"), ("aman01", "Com@1357")],
)
def test_wrong_credentials_are_the_documented_authen01(api: Api, login_id, password) -> None:
    body = assert_envelope(
        api.post(PATH_LOGIN, login_body(login_id, password)), 400, "Authen01", "AUTH_06"
    )
    assert body["errorUserMsg"] == "Invalid credentials."
    assert body["httpErrorCode"] == "400"
    assert body["step"] == "get.userid.service"


def test_a_blocked_user_is_refused_with_the_right_password_only(api: Api) -> None:
    assert_envelope(
        api.post(PATH_LOGIN, login_body("blocked01", "Block@123")), 400, "Authen03", "user.blocked"
    )
    assert_envelope(
        api.post(PATH_LOGIN, login_body("blocked01", "Wrong@123")), 400, "Authen01", "AUTH_06"
    )


def test_login_by_msisdn_and_email(api: Api) -> None:
    by_msisdn = login_body("01710000004", "Com@1357", identifierType="MSISDN")
    by_email = login_body("aman01@bbp.example", "Com@1357", identifierType="EMAIL")
    assert api.post(PATH_LOGIN, by_msisdn).status_code == 200
    assert api.post(PATH_LOGIN, by_email).status_code == 200


def _without(body: dict, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


@pytest.mark.parametrize(
    ("body", "error_code", "detail_code"),
    [
        (_without(login_body("Aman01", "Com@1357"), "workspaceId"), "Generic04", "WORK02"),
        (login_body("Aman01", "Com@1357", workspaceId=""), "Generic04", "WORK02"),
        (login_body("Aman01", "Com@1357", workspaceId="ROOT"), "Generic06", "invalid.value"),
        (login_body("Aman01", "Com@1357", identifierType="LOGINI"), "Generic06", "invalid.value"),
        (login_body("Aman01", "Com@1357", language="de"), "Generic06", "invalid.value"),
        (login_body("ab", "Com@1357"), "Generic06", "invalid.length"),
        (login_body("a" * 21, "Com@1357"), "Generic06", "invalid.length"),
        (login_body("0171", "Com@1357", identifierType="MSISDN"), "Generic06", "invalid.length"),
        (login_body("Aman01", "Com@"), "Generic06", "invalid.length"),
        (login_body("Aman01", "Com@1357901"), "Generic06", "invalid.length"),
        (
            _without(login_body("Aman01", "Com@1357"), "authenticationValue"),
            "Generic04",
            "mandatory.field.missing",
        ),
        (
            _without(login_body("Aman01", "Com@1357"), "deviceInfo", "deviceId"),
            "Generic04",
            "mandatory.field.missing",
        ),
        (
            _without(login_body("Aman01", "Com@1357"), "deviceInfo", "isPublicDevice"),
            "Generic04",
            "mandatory.field.missing",
        ),
        (
            _without(login_body("Aman01", "Com@1357"), "deviceInfo"),
            "Generic04",
            "mandatory.field.missing",
        ),
        (
            login_body("Aman01", "Com@1357", deviceInfo={"deviceId": "d", "isPublicDevice": "X"}),
            "Generic06",
            "invalid.value",
        ),
        (
            login_body(
                "Aman01", "Com@1357", deviceInfo={"deviceId": "d" * 51, "isPublicDevice": "N"}
            ),
            "Generic06",
            "invalid.length",
        ),
        ("not json", "Generic06", "invalid.json"),
    ],
)
def test_login_field_rules(api: Api, body, error_code: str, detail_code: str) -> None:
    if isinstance(body, str):
        resp = api.client.post(
            PATH_LOGIN, data=body, headers=api.headers(), content_type="application/json"
        )
    else:
        resp = api.post(PATH_LOGIN, body)
    assert_envelope(resp, 400, error_code, detail_code)


def test_password_boundaries_are_accepted(api: Api) -> None:
    # 5 and 10 characters are inside the rule: a wrong password, not a field error
    for password in ("Com@1", "Com@123456"):
        assert_envelope(
            api.post(PATH_LOGIN, login_body("Aman01", password)), 400, "Authen01", "AUTH_06"
        )


def test_login_needs_the_system_token_unless_configured_off(api: Api) -> None:
    resp = api.client.post(PATH_LOGIN, json=login_body("Aman01", "Com@1357"))
    assert resp.status_code == 401
    user = user_token(api, "Aman01", "Com@1357")
    assert api.post(PATH_LOGIN, login_body("Aman01", "Com@1357"), token=user).status_code == 401
    api.configure(auth_require_bearer=False)
    assert api.client.post(PATH_LOGIN, json=login_body("Aman01", "Com@1357")).status_code == 200


# ---- change password ----------------------------------------------------------------------


def test_change_password_really_changes_it(api: Api) -> None:
    token = user_token(api, "OTP01", "Com@8989")
    resp = api.post(PATH_CHANGE, change_body("OTP01", "Com@8989", "Com@4545"), token=token)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["status"] == "SUCCEEDED" and body["serviceFlow"] == "CHANGEAUTHFACTOR"
    assert body["message"] == "Authentication factor is successfully changed"
    assert body["userId"] == "US.462873139693364" and body["identifierValue"] == "OTP01"
    assert body["userName"] is None and len(body["sessionIdList"]) == 1
    assert not can_login(api, "OTP01", "Com@8989")
    assert can_login(api, "OTP01", "Com@4545")


def test_change_password_checks_the_old_one(api: Api) -> None:
    token = user_token(api, "admin01", "Admin@123")
    resp = api.post(PATH_CHANGE, change_body("admin01", "Wrong@1", "Admin@999"), token=token)
    assert_envelope(resp, 400, "Authen01", "AUTH03")
    assert can_login(api, "admin01", "Admin@123")


@pytest.mark.parametrize(
    ("new", "confirm", "error_code", "detail_code"),
    [
        ("Admin@999", "Admin@998", "Generic06", "auth.value.mismatch"),
        ("Adm@", "Adm@", "Generic06", "invalid.length"),
        ("Admin@12345", "Admin@12345", "Generic06", "invalid.length"),
        ("Admin@123", "Admin@123", "Generic06", "auth.value.same.as.old"),
    ],
)
def test_change_password_rules(api: Api, new, confirm, error_code, detail_code) -> None:
    token = user_token(api, "admin01", "Admin@123")
    resp = api.post(PATH_CHANGE, change_body("admin01", "Admin@123", new, confirm), token=token)
    assert_envelope(resp, 400, error_code, detail_code)
    assert can_login(api, "admin01", "Admin@123")


def test_change_password_without_workspace_is_the_documented_work02(api: Api) -> None:
    token = user_token(api, "admin01", "Admin@123")
    body = change_body("admin01", "Admin@123", "Admin@999")
    del body["workspaceId"]
    assert_envelope(api.post(PATH_CHANGE, body, token=token), 400, "Generic04", "WORK02")


def test_change_password_needs_the_users_own_token(api: Api) -> None:
    body = change_body("admin01", "Admin@123", "Admin@999")
    other = user_token(api, "Aman01", "Com@1357")
    assert api.client.post(PATH_CHANGE, json=body).status_code == 401
    assert api.post(PATH_CHANGE, body).status_code == 401  # the system token
    assert api.post(PATH_CHANGE, body, token=other).status_code == 401
    assert can_login(api, "admin01", "Admin@123")


# ---- forgot password ----------------------------------------------------------------------


def test_forgot_password_three_steps(api: Api) -> None:
    resp = api.post(PATH_RESET_INITIATE, initiate_body("OTP01"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    first = resp.get_json()
    assert first["status"] == "PAUSED" and first["code"] == "otp.validation.required"
    assert first["serviceFlow"] == "SELFSETAUTHMFA"
    assert first["originalServiceRequestId"] == first["serviceRequestId"]
    otp = api.client.get("/__sandbox__/otps/OTP01").get_json()
    assert otp["purpose"] == "reset"

    resp = api.post(
        PATH_RESET_VALIDATE,
        {"language": "en", "otp": otp["otp"], "resumeServiceRequestId": first["serviceRequestId"]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    second = resp.get_json()
    assert second["status"] == "PAUSED" and second["code"] == "new.auth.value.required"
    assert second["serviceRequestId"] != first["serviceRequestId"]
    assert second["originalServiceRequestId"] == first["serviceRequestId"]

    resp = api.post(
        PATH_RESET_CONFIRM,
        {
            "confirmedAuthenticationValue": "Com@0822",
            "language": "en",
            "newAuthenticationValue": "Com@0822",
            "resumeServiceRequestId": second["serviceRequestId"],
        },
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    third = resp.get_json()
    assert third["status"] == "SUCCEEDED" and third["code"] == "AUTH_04"
    assert third["message"] == "Authentication factor is successfully changed"
    assert third["originalServiceRequestId"] == first["serviceRequestId"]
    assert can_login(api, "OTP01", "Com@0822")
    assert not can_login(api, "OTP01", "Com@8989")

    again = api.post(
        PATH_RESET_CONFIRM,
        {
            "confirmedAuthenticationValue": "Com@0823",
            "newAuthenticationValue": "Com@0823",
            "resumeServiceRequestId": second["serviceRequestId"],
        },
    )
    assert_envelope(again, 400, "Generic05", "sfm.errors.resume.service.request.id.not.found")


def _reset_until_new_value(api: Api, login_id: str) -> str:
    first = api.post(PATH_RESET_INITIATE, initiate_body(login_id)).get_json()
    second = api.post(
        PATH_RESET_VALIDATE,
        {"otp": api.otp(login_id), "resumeServiceRequestId": first["serviceRequestId"]},
    )
    return second.get_json()["serviceRequestId"]


def test_forgot_password_otp_is_single_use_and_checked(api: Api) -> None:
    first = api.post(PATH_RESET_INITIATE, initiate_body("admin01")).get_json()
    otp = api.otp("admin01")
    resume = first["serviceRequestId"]
    wrong = {"otp": not_the(otp), "resumeServiceRequestId": resume}
    assert_envelope(api.post(PATH_RESET_VALIDATE, wrong), 400, "Authen02", "OTP_INVALID")
    assert (
        api.post(PATH_RESET_VALIDATE, {"otp": otp, "resumeServiceRequestId": resume}).status_code
        == 200
    )
    assert_envelope(
        api.post(PATH_RESET_VALIDATE, {"otp": otp, "resumeServiceRequestId": resume}),
        400,
        "Authen02",
        "OTP_INVALID",
    )


def test_forgot_password_resume_ids_belong_to_their_step(api: Api) -> None:
    first = api.post(PATH_RESET_INITIATE, initiate_body("admin01")).get_json()
    confirm = {
        "newAuthenticationValue": "Admin@777",
        "confirmedAuthenticationValue": "Admin@777",
        "resumeServiceRequestId": first["serviceRequestId"],
    }
    assert_envelope(
        api.post(PATH_RESET_CONFIRM, confirm),
        400,
        "Generic05",
        "sfm.errors.resume.service.request.id.not.found",
    )
    login_paused = api.post(PATH_LOGIN, login_body("admin02", "Admin@234")).get_json()
    resp = api.post(
        PATH_RESET_VALIDATE,
        {"otp": api.otp("admin02"), "resumeServiceRequestId": login_paused["serviceRequestId"]},
    )
    assert_envelope(resp, 400, "Generic05", "sfm.errors.resume.service.request.id.not.found")
    assert_envelope(
        api.post(PATH_RESET_VALIDATE, {"otp": "123456"}),
        400,
        "Generic06",
        "sfm.errors.invalid.resume.service.request.id",
    )


def test_forgot_password_confirm_rules(api: Api) -> None:
    resume = _reset_until_new_value(api, "admin01")
    mismatch = {
        "newAuthenticationValue": "Admin@777",
        "confirmedAuthenticationValue": "Admin@778",
        "resumeServiceRequestId": resume,
    }
    assert_envelope(api.post(PATH_RESET_CONFIRM, mismatch), 400, "Generic06", "auth.value.mismatch")
    short = {
        "newAuthenticationValue": "A@1",
        "confirmedAuthenticationValue": "A@1",
        "resumeServiceRequestId": resume,
    }
    assert_envelope(api.post(PATH_RESET_CONFIRM, short), 400, "Generic06", "invalid.length")
    ok = {
        "newAuthenticationValue": "Admin@777",
        "confirmedAuthenticationValue": "Admin@777",
        "resumeServiceRequestId": resume,
    }
    assert api.post(PATH_RESET_CONFIRM, ok).status_code == 200
    assert can_login(api, "admin01", "Admin@777")


@pytest.mark.parametrize(
    ("body", "error_code", "detail_code"),
    [
        (initiate_body("nobody"), "Generic05", "user.not.found"),
        (initiate_body("blocked01"), "Authen03", "user.blocked"),
        (initiate_body("OTP01", identifierType="LOGINI"), "Generic06", "invalid.value"),
        (initiate_body("OTP01", workspaceId=None), "Generic04", "WORK02"),
        (initiate_body("OTP01", bearerCode=""), "Generic04", "mandatory.field.missing"),
    ],
)
def test_forgot_password_initiate_errors(api: Api, body, error_code, detail_code) -> None:
    assert_envelope(api.post(PATH_RESET_INITIATE, body), 400, error_code, detail_code)


def test_reset_restores_the_demo_passwords(api: Api) -> None:
    token = user_token(api, "admin01", "Admin@123")
    api.post(PATH_CHANGE, change_body("admin01", "Admin@123", "Admin@999"), token=token)
    assert can_login(api, "admin01", "Admin@999")
    api.client.post("/__sandbox__/reset")
    api.token(fresh=True)
    assert can_login(api, "admin01", "Admin@123")


def test_secrets_never_reach_the_log(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    token = user_token(api, "OTP01", "Com@8989")
    api.post(PATH_CHANGE, change_body("OTP01", "Com@8989", "Com@4545"), token=token)
    otp = api.otp("OTP01")
    bill = api.bills("DSCO", "17021272")[0]
    api.pay("DSCO", "17021272", bill)
    text = caplog.text
    assert "billpay" in text  # the log is there, and it carries no secret
    for secret in ("Com@8989", "Com@4545", otp, token, api.token(), "13579", "sandbox-secret"):
        assert secret not in text
