"""Response bodies in Mobiquity's documented shapes, and the error codes the sandbox uses.

Codes marked *documented* come from the scope document; the others are the sandbox's own
(listed in sandbox/README.md) for cases the document does not show.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

TENANT = "mfsPrimaryTenant"
LANGUAGES = ("en", "fr", "ar")

USER_MESSAGES = {
    "Authen01": "Invalid credentials.",  # documented
    "Authen02": "Invalid OTP.",  # docs/decisions.md, open point 9
    "Authen03": "User is blocked.",
    "Authen04": "Access token is invalid or expired.",
    "Generic04": "Mandatory field can't be empty",  # documented
    "Generic05": "No data found",  # documented
    "Generic06": "Invalid input.",  # documented
    "TXN01": "Insufficient balance.",  # docs/decisions.md (magic id 9907)
    "Bill01": "Bill is already paid.",
    "Bill02": "Bill not found.",
    "Bill03": "Amount does not match the bill.",
    "Bill04": "Biller not found.",
    "Bill05": "Receiver wallet does not match the biller.",
    "Bill06": "Reference id already used.",
}


@dataclass(frozen=True)
class ErrorDetail:
    """One `errors[]` item."""

    code: str
    message: str
    component: str = "user-authentication"

    def to_json(self) -> dict[str, str]:
        """The documented `{code, message, componentName}` item."""
        return {"code": self.code, "message": self.message, "componentName": self.component}


class MobiquityError(Exception):
    """A documented-style FAILED answer; views raise it, the app turns it into the envelope."""

    def __init__(
        self,
        error_code: str,
        details: list[ErrorDetail] | ErrorDetail,
        *,
        http_status: int = 400,
        step: str | None = "get.userid.service",
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(error_code)
        self.error_code = error_code
        self.details = details if isinstance(details, list) else [details]
        self.http_status = http_status
        self.step = step
        self.extra = extra or {}


def now_stamp() -> str:
    """`transactionTimeStamp`: naive UTC, seconds, like "2023-10-05T09:57:31"."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def now_precise() -> str:
    """Ledger and call times: naive UTC with microseconds (our convention: UTC everywhere)."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def utc_text(ts: float) -> str:
    """An epoch time as naive UTC ISO text with microseconds."""
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def new_id() -> str:
    """A 36-character `serviceRequestId` / `traceId`."""
    return str(uuid.uuid4())


def language_of(body: dict[str, Any] | None) -> str:
    """The request's language when it is a supported one, else English."""
    lang = (body or {}).get("language")
    return lang if isinstance(lang, str) and lang.lower() in LANGUAGES else "en"


def error_envelope(err: MobiquityError, language: str = "en") -> dict[str, Any]:
    """The common error envelope of mobiquity-api.md, field for field."""
    body: dict[str, Any] = {
        "txnStatus": "TF",
        "status": "FAILED",
        "language": language,
        "mfsTenantId": TENANT,
        "errors": [d.to_json() for d in err.details],
        "transactionTimeStamp": now_stamp(),
        "errorCode": err.error_code,
        "traceId": new_id(),
        "step": err.step,
        "errorUserMsg": USER_MESSAGES.get(err.error_code, "Bad Request"),
        "httpErrorCode": str(err.http_status),
    }
    body.update(err.extra)
    return body


# ---- the errors views raise -------------------------------------------------------------


def invalid_credentials() -> MobiquityError:
    """Wrong login id or password at login (documented Authen01 / AUTH_06)."""
    return MobiquityError(
        "Authen01", ErrorDetail("AUTH_06", "Invalid login credentials. Please try again.")
    )


def wrong_password(step: str) -> MobiquityError:
    """A password or MPIN check failed (documented Authen01 / AUTH03)."""
    return MobiquityError(
        "Authen01",
        ErrorDetail("AUTH03", "Provided Password Authentication is invalid. Remaining attempts: 3"),
        step=step,
    )


def user_blocked() -> MobiquityError:
    """The right password for a blocked user (sandbox code)."""
    return MobiquityError(
        "Authen03",
        ErrorDetail("user.blocked", "User is blocked. Please contact the administrator."),
    )


def user_not_found() -> MobiquityError:
    """Forgot password for a login id Mobiquity does not know (sandbox code)."""
    return MobiquityError("Generic05", ErrorDetail("user.not.found", "User not found"))


def otp_invalid() -> MobiquityError:
    """Wrong, expired or already used OTP (docs/decisions.md, open point 9)."""
    return MobiquityError(
        "Authen02", ErrorDetail("OTP_INVALID", "Invalid OTP"), step="validate.otp"
    )


def mandatory(field: str, component: str = "user-authentication") -> MobiquityError:
    """A mandatory field is missing or empty (Generic04; WORK02 is the documented one)."""
    if field == "workspaceId":
        detail = ErrorDetail("WORK02", "Workspace is mandatory", component)
    else:
        detail = ErrorDetail("mandatory.field.missing", f"{field} is mandatory", component)
    return MobiquityError("Generic04", detail)


def invalid_value(field: str, value: object) -> MobiquityError:
    """An enumerated field has a value outside its set (documented invalid.value)."""
    return MobiquityError(
        "Generic06",
        ErrorDetail("invalid.value", f"Unexpected value '{value}'"),
        step=f"validate.{field}",
    )


def invalid_length(field: str, low: int, high: int) -> MobiquityError:
    """A field breaks its documented length rule (sandbox code)."""
    return MobiquityError(
        "Generic06",
        ErrorDetail("invalid.length", f"{field} must be {low} to {high} characters long"),
    )


def invalid_json() -> MobiquityError:
    """The body is not a JSON object (sandbox code)."""
    return MobiquityError(
        "Generic06", ErrorDetail("invalid.json", "Request body must be a JSON object")
    )


def resume_id_empty() -> MobiquityError:
    """Documented Generic06 for an empty `resumeServiceRequestId`."""
    return MobiquityError(
        "Generic06",
        ErrorDetail(
            "sfm.errors.invalid.resume.service.request.id",
            "resume request id mandatory cannot have null or empty value",
            "SFM",
        ),
        step=None,
    )


def resume_id_not_found() -> MobiquityError:
    """Documented Generic05 for an unknown `resumeServiceRequestId`."""
    return MobiquityError(
        "Generic05",
        ErrorDetail(
            "sfm.errors.resume.service.request.id.not.found", "resume request id not found", "SFM"
        ),
        step=None,
    )


def auth_value_mismatch() -> MobiquityError:
    """New and confirmed password differ (sandbox code)."""
    return MobiquityError(
        "Generic06",
        ErrorDetail("auth.value.mismatch", "New and confirmed authentication values do not match"),
    )


def auth_value_same_as_old() -> MobiquityError:
    """Change-credential to the same password (sandbox code)."""
    return MobiquityError(
        "Generic06",
        ErrorDetail("auth.value.same.as.old", "New authentication value must differ from the old"),
    )


# ---- 401 / 500 ---------------------------------------------------------------------------


def unauthorized(expired: bool, *, oauth_error: str = "invalid_token") -> dict[str, Any]:
    """HTTP 401: the common envelope plus OAuth2's `error` / `error_description`.

    Mobiquity's gateway is Spring-based and answers OAuth2-style; the envelope fields are
    added so that a client classifying by `errorCode` sees a FAILED answer too.
    """
    if expired:
        detail = ErrorDetail("AUTH_TOKEN_EXPIRED", "Access token expired", "gateway")
    elif oauth_error == "invalid_client":
        detail = ErrorDetail("AUTH_CLIENT_INVALID", "Bad client credentials", "gateway")
    else:
        detail = ErrorDetail("AUTH_TOKEN_INVALID", "Access token is missing or invalid", "gateway")
    body = error_envelope(MobiquityError("Authen04", detail, http_status=401, step=None))
    return {"error": oauth_error, "error_description": detail.message, **body}


def server_error(path: str, status: int = 500) -> dict[str, Any]:
    """A Spring Boot style 5xx body: what a crashed Mobiquity service answers."""
    return {
        "timestamp": now_stamp(),
        "status": status,
        "error": "Internal Server Error" if status == 500 else "Error",
        "path": path,
    }
