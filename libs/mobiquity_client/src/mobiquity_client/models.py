"""Values the client takes and returns. All frozen; secrets are kept out of ``repr``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from .errors import ConfigurationError

# ---------------------------------------------------------------------------------------------
# Inputs


_DEVICE_MAX = {
    "app_name": 40,
    "app_version": 20,
    "browser": 50,
    "device_id": 50,
    "latitude": 30,
    "longitude": 30,
    "mac": 30,
    "model": 150,
    "network_operator": 30,
    "network_type": 30,
    "os": 20,
    "provider_ip_address": 50,
}


@dataclass(frozen=True)
class DeviceInfo:
    """The ``deviceInfo`` block of login, reset and billpay bodies.

    ``device_id`` and ``is_public_device`` are mandatory for Mobiquity; the maximum lengths of
    the document are checked here (a too-long value raises ``ConfigurationError``).
    """

    device_id: str
    is_public_device: bool = False
    app_name: str = ""
    app_version: str = ""
    browser: str = ""
    model: str = ""
    os: str = ""
    provider_ip_address: str = ""
    latitude: str = ""
    longitude: str = ""
    mac: str = ""
    network_operator: str = ""
    network_type: str = ""

    def __post_init__(self) -> None:
        if not self.device_id:
            raise ConfigurationError("DeviceInfo.device_id is mandatory")
        for name, limit in _DEVICE_MAX.items():
            value = getattr(self, name)
            if len(value) > limit:
                raise ConfigurationError(f"DeviceInfo.{name} is longer than {limit} characters")

    def to_body(self, *, longitude_key: str = "longitude") -> dict[str, Any]:
        return {
            "appName": self.app_name,
            "appVersion": self.app_version,
            "deviceId": self.device_id,
            "browser": self.browser,
            "isPublicDevice": "Y" if self.is_public_device else "N",
            "latitude": self.latitude,
            longitude_key: self.longitude,
            "mac": self.mac,
            "model": self.model,
            "networkOperator": self.network_operator,
            "networkType": self.network_type,
            "os": self.os,
            "providerIpAddress": self.provider_ip_address,
        }


@dataclass(frozen=True)
class PayerWallet:
    """The paying wallet (billpay ``sender``); deployment configuration (open point 4)."""

    msisdn: str
    mpin: str = field(repr=False)
    product_id: int | str = 12
    id_type: str = "mobileNumber"
    user_role: str = "Channel"
    instrument_type: str = "WALLET"

    def __post_init__(self) -> None:
        if not self.msisdn:
            raise ConfigurationError("PayerWallet.msisdn is mandatory")
        if not self.mpin:
            raise ConfigurationError("PayerWallet.mpin is mandatory")


_REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class BillPayment:
    """One bill to pay. ``reference`` is our unique reference id, stored before sending.

    ``amount`` is a ``Decimal`` with at most two decimal places (the top-level bill ``amount``,
    plus ``service_charge`` where the biller says so — open point 10; never recomputed here).
    ``consumer_id`` is sent as ``partnerData.billAccountNumber`` (open point 11).
    """

    reference: str
    biller_code: str
    consumer_id: str
    bill_number: str
    amount: Decimal
    receiver_wallet: str
    receiver_product_id: int | str = 12
    receiver_id_type: str = "mobileNumber"
    biller_name: str = ""
    surcharge: str = ""
    vat: str = ""
    other1: str = ""
    other2: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.reference, str) or not _REFERENCE.match(self.reference):
            raise ConfigurationError("BillPayment.reference must be 1-64 characters [A-Za-z0-9_-]")
        if not isinstance(self.amount, Decimal):
            raise ConfigurationError("BillPayment.amount must be a Decimal (never a float)")
        if not self.amount.is_finite() or self.amount <= 0:
            raise ConfigurationError("BillPayment.amount must be positive")
        exponent = self.amount.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            raise ConfigurationError("BillPayment.amount has more than two decimal places")
        for name in ("biller_code", "consumer_id", "bill_number", "receiver_wallet"):
            if not getattr(self, name):
                raise ConfigurationError(f"BillPayment.{name} is mandatory")


# ---------------------------------------------------------------------------------------------
# Login and password


@dataclass(frozen=True)
class LoginSucceeded:
    user_id: str | None
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    expires_in: int | None = None
    service_request_id: str | None = None
    last_login_time: str | None = None
    session_ids: tuple[str, ...] = ()
    message: str | None = None


@dataclass(frozen=True)
class OtpRequired:
    """Login paused for an OTP; pass ``resume_id`` to ``confirm_login_otp``."""

    resume_id: str
    message: str | None = None


@dataclass(frozen=True)
class ResetStep:
    """A paused step of the forgot-password flow.

    ``resume_id`` is the ``serviceRequestId`` to send with the next step; ``code`` is what
    Mobiquity now asks for (``otp.validation.required``, ``new.auth.value.required``).
    """

    resume_id: str
    code: str
    original_service_request_id: str | None = None
    message: str | None = None


# ---------------------------------------------------------------------------------------------
# Bills


@dataclass(frozen=True)
class BillDetail:
    """The biller's ``detail`` block. All values optional: billers differ."""

    account_no: str | None = None
    bill_no: str | None = None
    bill_month: int | None = None
    bill_year: int | None = None
    total_kwh: str | None = None
    amount: Decimal | None = None
    lpc: Decimal | None = None
    vat: Decimal | None = None
    issue_date: date | None = None
    due_date: date | None = None
    payment_status: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class PendingBill:
    bill_number: str
    due_date: date | None
    amount: Decimal
    service_charge: Decimal
    detail: BillDetail | None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Payment outcomes


@dataclass(frozen=True)
class Accepted:
    """Mobiquity took the order (``process.fulfilment`` / ``PENDING`` / ``SUCCEEDED``)."""

    reference: str
    order_id: str | None
    order_status: str | None
    code: str | None
    service_request_id: str | None
    http_status: int
    elapsed_seconds: float
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Rejected:
    """Mobiquity refused the order: a documented FAILED answer, or HTTP 401/403.

    The payment was not made; it is final for this reference.
    """

    reference: str
    http_status: int
    error_code: str | None
    error_codes: tuple[str, ...]
    user_message: str | None
    order_id: str | None
    order_status: str | None
    trace_id: str | None
    service_request_id: str | None
    reason: str
    elapsed_seconds: float
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class NotSent:
    """The billpay request provably never left (DNS failure, connect timeout, connection
    refused on a new connection, or no system token). Safe to send later."""

    reference: str
    kind: str
    reason: str
    elapsed_seconds: float


@dataclass(frozen=True)
class Unknown:
    """Mobiquity may or may not have processed the order: enquire, never resend."""

    reference: str
    kind: str
    reason: str
    http_status: int | None
    elapsed_seconds: float
    order_id: str | None = None
    trace_id: str | None = None
    service_request_id: str | None = None


PaymentOutcome = Accepted | Rejected | NotSent | Unknown


# ---------------------------------------------------------------------------------------------
# Enquiry outcomes


@dataclass(frozen=True)
class EnquirySucceeded:
    reference: str
    order_id: str | None
    order_status: str
    service_request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EnquiryFailed:
    reference: str
    order_id: str | None
    order_status: str
    error_code: str | None = None
    user_message: str | None = None
    service_request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EnquiryPending:
    reference: str
    order_id: str | None
    order_status: str
    service_request_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EnquiryNotFound:
    """Mobiquity's documented "not found" answer for the reference."""

    reference: str
    error_code: str | None = None
    trace_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EnquiryUnknown:
    """No usable answer (timeout, 5xx, odd body): enquire again later."""

    reference: str
    kind: str
    reason: str
    http_status: int | None = None


EnquiryOutcome = (
    EnquirySucceeded | EnquiryFailed | EnquiryPending | EnquiryNotFound | EnquiryUnknown
)
