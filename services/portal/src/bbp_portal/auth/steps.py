"""What the sign-in and password steps share: the rate-limit mark, the words for Mobiquity's
refusals and absence, and the rule for a refused OTP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _

from bbp_portal.context import record
from mobiquity_client import MobiquityError

F = TypeVar("F", bound=Callable[..., Any])

#: Wrong OTPs allowed in one sign-in or reset step before it must start again.
MAX_OTP_TRIES = 3


def rate_limited(view: F) -> F:
    """Mark a sign-in step for the per-IP and per-login-id limits (wired in ``create_app``)."""
    view.__bbp_rate_limited__ = True  # type: ignore[attr-defined]
    return view


def generic_failure() -> str:
    # One message for "not registered", "disabled" and "Mobiquity refused".
    return _("The login ID or password is not correct, or this login ID may not use the portal.")


def unavailable() -> str:
    return _("Mobiquity could not be reached just now. Please try again in a minute.")


def refusal_text(exc: MobiquityError, fallback: str) -> str:
    return exc.user_message or fallback


def otp_refused(
    key: str, action: str, step: dict[str, Any], exc: MobiquityError | None, restart: str
) -> Any:
    tries = int(step.get("tries", 0)) + 1
    record(action, actor=step["login_id"], outcome="failed", reason="otp_rejected", tries=tries)
    message = refusal_text(exc, "") if exc else ""
    message = message or _("The OTP was not accepted.")
    if tries >= MAX_OTP_TRIES:
        session.pop(key, None)
        flash(message + " " + _("Please start again."), "danger")
        return redirect(url_for(restart))
    step["tries"] = tries
    session[key] = step
    flash(message, "danger")
    return redirect(request.full_path.rstrip("?"))


__all__ = [
    "MAX_OTP_TRIES",
    "generic_failure",
    "otp_refused",
    "rate_limited",
    "refusal_text",
    "unavailable",
]
