"""The part of Mobiquity the portal itself calls: login, OTP and the password flows.

Bill fetching and payment are the communicator's alone; the portal only signs people in.
``SignInApi`` is what the views need (``mobiquity_client.MobiquityClient`` provides it;
unit tests pass a fake).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from bbp_common.platform import mobiquity
from bbp_portal.settings import PortalSettings
from mobiquity_client import (
    DeviceInfo,
    LoginSucceeded,
    MobiquityClient,
    OtpRequired,
    ResetStep,
    TokenRejected,
)

T = TypeVar("T")


class SignInApi(Protocol):
    """The Mobiquity calls behind the sign-in and password pages."""

    def login(
        self, login_id: str, password: str, device: DeviceInfo
    ) -> LoginSucceeded | OtpRequired: ...

    def confirm_login_otp(self, resume_id: str, otp: str) -> LoginSucceeded: ...

    def change_password(
        self, user_token: str, login_id: str, old: str, new: str, confirm: str
    ) -> None: ...

    def start_password_reset(self, login_id: str, device: DeviceInfo) -> ResetStep: ...

    def verify_password_reset_otp(self, resume_id: str, otp: str) -> ResetStep: ...

    def finish_password_reset(self, resume_id: str, new: str, confirm: str) -> None: ...


def make_client(settings: PortalSettings) -> MobiquityClient:
    """The process's Mobiquity client (thread-safe; caches the system token)."""
    return mobiquity.make_client(settings)


def with_system_token(call: Callable[[], T]) -> T:
    """Run a system-token call; if Mobiquity refused the *system* token, run it once more.

    The client drops a refused system token but (rightly) never repeats a call that is not
    idempotent. A 401 for the system token means Mobiquity did not process the request (no
    login attempt counted, no OTP consumed), so one more try with a fresh token is safe.
    Only for calls that carry the system token — never for change-password, whose 401 means
    the *user's* token has expired.
    """
    try:
        return call()
    except TokenRejected:
        return call()
