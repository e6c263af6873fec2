"""Mobiquity's authentication endpoints: system token, login (+ OTP), change and reset password.

Why one module of more than 400 lines: Mobiquity's login, OTP and password flows share their
paused service requests.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Flask, Response, request

from sandbox.mobiquity import envelopes as env
from sandbox.mobiquity.envelopes import (
    TENANT,
    MobiquityError,
    language_of,
    new_id,
    now_stamp,
    unauthorized,
)
from sandbox.mobiquity.http import (
    bearer,
    error_answer,
    finish,
    gate,
    json_body,
    state,
    system_auth,
    user_auth,
)
from sandbox.mobiquity.state import SYSTEM, USER, ServiceRequest, State
from sandbox.mobiquity.users import User

WORKSPACES = ("SUBSCRIBER", "BUSINESS", "ADMIN")
IDENTIFIER_TYPES = ("LOGINID", "MSISDN", "EMAIL", "OTHRID", "OTHERID")
IDENTIFIER_LENGTHS = {"LOGINID": (3, 20), "MSISDN": (8, 15), "EMAIL": (1, 40)}
PASSWORD_LENGTH = (5, 10)
DEVICE_MAX_LENGTHS = {
    "appName": 40,
    "appVersion": 20,
    "browser": 50,
    "deviceId": 50,
    "latitude": 30,
    "longitude": 30,
    "mac": 30,
    "networkOperator": 30,
    "networkType": 30,
    "model": 150,
    "os": 20,
    "providerIpAddress": 50,
}
SCOPE = (
    "GET_USER_AND_ACCOUNT_DETAILS SELFSETAUTHFACTOR FETCH_USER_QUESTION TXN CORRECT "
    "ATMCASHOUT ATMCASHOUT_V4 ADMTXNREFID"
)
OTP_REQUIRED_MESSAGE = "OTP validation is required. Please enter OTP to continue"
CHANGED_MESSAGE = "Authentication factor is successfully changed"

PATHS = {
    "token": ["/mobiquitypay/oauth/token"],
    "login": ["/mobiquitypay/ums/v3/user/auth/web/login"],
    "login_confirm": [
        "/mobiquitypay/ums/v3/user/auth/web/login-confirm",
        "/mobiquitypay/ums/v3/user/auth/login-confirm",
    ],
    "change_credential": ["/jigsaw/ums/v2/user/auth/change-credential"],
    "reset_initiate": ["/mobiquitypay/v2/ums/user/auth/self-set-auth/initiate"],
    "reset_validate": ["/mobiquitypay/v2/ums/user/auth/self-set-auth/validate-otp"],
    "reset_confirm": ["/mobiquitypay/v2/ums/user/auth/self-set-auth/confirm"],
}


# ---- validation helpers -------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _require(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if not _text(body.get(name)).strip():
            raise env.mandatory(name)


def _length(name: str, value: str, low: int, high: int) -> None:
    if not low <= len(value) <= high:
        raise env.invalid_length(name, low, high)


def _object_body() -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise env.invalid_json()
    return body


def _check_identity(body: dict[str, Any]) -> None:
    """workspaceId, identifierType, identifierValue, language: mandatory, enums, lengths."""
    _require(body, "workspaceId", "identifierType", "identifierValue")
    if body["workspaceId"] not in WORKSPACES:
        raise env.invalid_value("workspaceId", body["workspaceId"])
    id_type = body["identifierType"]
    if id_type not in IDENTIFIER_TYPES:
        raise env.invalid_value("identifierType", id_type)
    lang = body.get("language")
    if lang is not None and _text(lang).lower() not in env.LANGUAGES:
        raise env.invalid_value("language", lang)
    low, high = IDENTIFIER_LENGTHS.get(id_type, (1, 40))
    _length("identifierValue", _text(body["identifierValue"]), low, high)


def _check_device(device: Any, *, required: bool) -> None:
    if device is None and not required:
        return
    if not isinstance(device, dict):
        raise env.mandatory("deviceInfo.deviceId")
    for name in ("deviceId", "isPublicDevice"):
        if required and not _text(device.get(name)).strip():
            raise env.mandatory(f"deviceInfo.{name}")
    public = device.get("isPublicDevice")
    if public is not None and _text(public) not in ("Y", "N"):
        raise env.invalid_value("deviceInfo.isPublicDevice", public)
    for name, high in DEVICE_MAX_LENGTHS.items():
        if len(_text(device.get(name))) > high:
            raise env.invalid_length(f"deviceInfo.{name}", 0, high)


def _find_user(st: State, body: dict[str, Any]) -> User | None:
    id_type, value = body["identifierType"], _text(body["identifierValue"])
    for user in st.users.values():
        if user.workspace != body["workspaceId"]:
            continue
        if id_type == "LOGINID" and user.login_id == value:
            return user
        if id_type == "MSISDN" and user.msisdn == value:
            return user
        if id_type == "EMAIL" and user.email.lower() == value.lower():
            return user
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _check_new_value(body: dict[str, Any]) -> str:
    _require(body, "newAuthenticationValue", "confirmedAuthenticationValue")
    new, confirmed = (
        _text(body["newAuthenticationValue"]),
        _text(body["confirmedAuthenticationValue"]),
    )
    _length("newAuthenticationValue", new, *PASSWORD_LENGTH)
    if not _same(new, confirmed):
        raise env.auth_value_mismatch()
    return new


def _resume(body: dict[str, Any], flow: str) -> ServiceRequest:
    resume_id = _text(body.get("resumeServiceRequestId")).strip()
    if not resume_id:
        raise env.resume_id_empty()
    paused = state().service_requests.get(resume_id)
    if paused is None or paused.flow != flow:
        raise env.resume_id_not_found()
    return paused


def _consume_otp(paused: ServiceRequest, code: str) -> None:
    """Accept the OTP once: wrong, expired or reused all answer OTP_INVALID."""
    st = state()
    with st.lock:
        otp = paused.otp
        if paused.done or otp is None or otp.used:
            raise env.otp_invalid()
        if time.monotonic() - otp.created_mono > st.config.otp_ttl_seconds:
            raise env.otp_invalid()
        if not _same(otp.code, code):
            raise env.otp_invalid()
        otp.used = True
        paused.done = True


def _login_succeeded(user: User, language: str, message: str) -> dict[str, Any]:
    st = state()
    token = st.issue_token(USER, user.login_id)
    last_login, user.last_login_time = user.last_login_time, now_stamp()
    return {
        "serviceRequestId": new_id(),
        "message": message,
        "transactionId": None,
        "txnStatus": None,
        "serviceFlow": "LOGIN_POLICY",
        "status": "SUCCEEDED",
        "language": language,
        "mfsTenantId": TENANT,
        "transactionTimeStamp": now_stamp(),
        "token": {
            "access_token": token.value,
            "expires_in": st.config.token_ttl_seconds,
            "refresh_token": st.refresh_token(user.login_id),
        },
        "lastLoginTime": last_login,
        "userId": user.user_id,
        "sessionIdList": [new_id()],
    }


def _run(endpoint: str, ctx_auth: str | None, handler: Any) -> Response:
    ctx = gate(endpoint, auth=ctx_auth)
    body = json_body()
    language = language_of(body if isinstance(body, dict) else None)
    try:
        payload, status = handler(), 200
    except MobiquityError as err:
        payload, status = error_answer(err, language)
    return finish(ctx, payload, status)


# ---- views --------------------------------------------------------------------------------


def token() -> Response:
    """POST /mobiquitypay/oauth/token: client credentials (Basic) → system token."""
    ctx = gate("token", auth=None)
    st = state()
    creds = request.authorization
    if (
        creds is None
        or creds.type != "basic"
        or not _same(creds.username or "", st.settings.client_id)
        or not _same(creds.password or "", st.settings.client_secret)
    ):
        return finish(ctx, unauthorized(expired=False, oauth_error="invalid_client"), 401)
    if request.method == "POST" and request.form.get("grant_type") != "client_credentials":
        return finish(
            ctx,
            {
                "error": "unsupported_grant_type",
                "error_description": "grant_type must be client_credentials",
            },
            400,
        )
    issued = st.issue_token(SYSTEM)
    return finish(
        ctx,
        {
            "access_token": issued.value,
            "token_type": "bearer",
            "expires_in": st.config.token_ttl_seconds,
            "scope": SCOPE,
            "jti": new_id(),
        },
        200,
    )


def login() -> Response:
    """POST .../web/login: password check; PAUSED for OTP users, else a user token."""

    def handle() -> dict[str, Any]:
        body = _object_body()
        _require(body, "workspaceId")
        _check_identity(body)
        _require(body, "authenticationValue")
        _check_device(body.get("deviceInfo"), required=True)
        _length("authenticationValue", _text(body["authenticationValue"]), *PASSWORD_LENGTH)
        st = state()
        user = _find_user(st, body)
        if user is None or not _same(user.password, _text(body["authenticationValue"])):
            raise env.invalid_credentials()
        if user.blocked:
            raise env.user_blocked()
        language = language_of(body)
        if user.otp_enabled:
            paused = st.pause("login_otp", user.login_id, purpose="login")
            return {
                "serviceRequestId": paused.id,
                "message": OTP_REQUIRED_MESSAGE,
                "transactionId": None,
                "txnStatus": None,
                "serviceFlow": "LOGIN_POLICY",
                "status": "PAUSED",
                "language": language,
                "code": "otp.validation.required",
                "mfsTenantId": TENANT,
                "transactionTimeStamp": now_stamp(),
            }
        return _login_succeeded(user, language, "Login Successfully")

    return _run("login", system_auth(state().config.auth_require_bearer), handle)


def login_confirm() -> Response:
    """POST .../web/login-confirm: the OTP of a paused login → a user token."""

    def handle() -> dict[str, Any]:
        body = _object_body()
        paused = _resume(body, "login_otp")
        _require(body, "otp")
        _consume_otp(paused, _text(body["otp"]))
        user = state().users[paused.login_id]
        return _login_succeeded(user, language_of(body), "Login Successfully")

    return _run("login_confirm", system_auth(state().config.auth_require_bearer), handle)


def change_credential() -> Response:
    """POST /jigsaw/ums/v2/user/auth/change-credential: old → new password (user's token)."""
    st = state()
    required = st.config.change_credential_requires_user_token

    def handle() -> dict[str, Any]:
        body = _object_body()
        _require(body, "requestedBy")
        _check_identity(body)
        _require(body, "oldAuthenticationValue")
        _require(body, "newAuthenticationValue", "confirmedAuthenticationValue")
        _length("newAuthenticationValue", _text(body["newAuthenticationValue"]), *PASSWORD_LENGTH)
        user = _find_user(st, body)
        caller = st.lookup_token(bearer())
        if required and (user is None or caller is None or caller.login_id != user.login_id):
            raise MobiquityError(
                "Authen04",
                env.ErrorDetail(
                    "AUTH_TOKEN_INVALID", "Access token does not belong to this user", "gateway"
                ),
                http_status=401,
                step=None,
            )
        if user is None:
            raise env.invalid_credentials()
        if user.blocked:
            raise env.user_blocked()
        if not _same(user.password, _text(body["oldAuthenticationValue"])):
            raise env.wrong_password("validate.old.authentication.value")
        new = _check_new_value(body)
        if _same(new, user.password):
            raise env.auth_value_same_as_old()
        with st.lock:
            user.password = new
        return {
            "serviceRequestId": new_id(),
            "message": CHANGED_MESSAGE,
            "serviceFlow": "CHANGEAUTHFACTOR",
            "status": "SUCCEEDED",
            "userId": user.user_id,
            "userName": None,
            "workspaceId": body["workspaceId"],
            "identifierType": body["identifierType"],
            "identifierValue": body["identifierValue"],
            "sessionIdList": [new_id()],
        }

    return _run("change_credential", user_auth(required), handle)


def _reset_answer(
    paused_id: str, original_id: str, language: str, code: str, message: str, status: str
) -> dict[str, Any]:
    return {
        "serviceRequestId": paused_id,
        "mfsTenantId": TENANT,
        "language": language,
        "serviceFlow": "SELFSETAUTHMFA",
        "transactionTimeStamp": now_stamp(),
        "originalServiceRequestId": original_id,
        "code": code,
        "message": message,
        "status": status,
    }


def reset_initiate() -> Response:
    """POST .../self-set-auth/initiate: forgot password, step 1 → PAUSED for an OTP."""

    def handle() -> dict[str, Any]:
        body = _object_body()
        _require(body, "workspaceId")
        _check_identity(body)
        _require(body, "bearerCode")
        _check_device(body.get("deviceInfo"), required=False)
        st = state()
        user = _find_user(st, body)
        if user is None:
            raise env.user_not_found()
        if user.blocked:
            raise env.user_blocked()
        paused = st.pause("reset_otp", user.login_id, purpose="reset")
        return _reset_answer(
            paused.id,
            paused.id,
            language_of(body),
            "otp.validation.required",
            OTP_REQUIRED_MESSAGE,
            "PAUSED",
        )

    return _run("reset_initiate", system_auth(state().config.auth_require_bearer), handle)


def reset_validate() -> Response:
    """POST .../self-set-auth/validate-otp: step 2 → a new serviceRequestId for the new value."""

    def handle() -> dict[str, Any]:
        body = _object_body()
        paused = _resume(body, "reset_otp")
        _require(body, "otp")
        _consume_otp(paused, _text(body["otp"]))
        following = state().pause(
            "reset_new_value", paused.login_id, original_id=paused.original_id
        )
        return _reset_answer(
            following.id,
            following.original_id,
            language_of(body),
            "new.auth.value.required",
            "New authentication value is required. Please enter new and confirmation values "
            "to continue",
            "PAUSED",
        )

    return _run("reset_validate", system_auth(state().config.auth_require_bearer), handle)


def reset_confirm() -> Response:
    """POST .../self-set-auth/confirm: step 3 → the password is changed."""

    def handle() -> dict[str, Any]:
        body = _object_body()
        paused = _resume(body, "reset_new_value")
        if paused.done:
            raise env.resume_id_not_found()
        new = _check_new_value(body)
        st = state()
        with st.lock:
            if paused.done:
                raise env.resume_id_not_found()
            paused.done = True
            st.users[paused.login_id].password = new
        return _reset_answer(
            new_id(), paused.original_id, language_of(body), "AUTH_04", CHANGED_MESSAGE, "SUCCEEDED"
        )

    return _run("reset_confirm", system_auth(state().config.auth_require_bearer), handle)


def register(app: Flask) -> None:
    """Add the authentication endpoints to the app."""
    # The scope document's heading names a GET system-token path; its curl uses the OAuth one.
    app.add_url_rule(
        "/mobiquitypay/ums/v1/user/auth/web/system-token",
        endpoint="token",
        view_func=token,
        methods=["GET"],
    )
    views = {
        "token": (token, ["POST"]),
        "login": (login, ["POST"]),
        "login_confirm": (login_confirm, ["POST"]),
        "change_credential": (change_credential, ["POST"]),
        "reset_initiate": (reset_initiate, ["POST"]),
        "reset_validate": (reset_validate, ["POST"]),
        "reset_confirm": (reset_confirm, ["POST"]),
    }
    for name, (view, methods) in views.items():
        for path in PATHS[name]:
            app.add_url_rule(path, endpoint=name, view_func=view, methods=methods)
