"""Settings of the client: timeouts, paths, retries, authentication and the open points.

Every place where the scope document is silent (see ``mobiquity-api.md``, *Open points*) is a
setting here with the default our decisions chose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .models import EnquiryOutcome


class Endpoint(StrEnum):
    """Names of the calls; used in logs, metrics (``on_call``) and settings."""

    TOKEN = "token"  # noqa: S105 - an endpoint name, not a secret
    LOGIN = "login"
    LOGIN_CONFIRM = "login_confirm"
    CHANGE_CREDENTIAL = "change_credential"
    RESET_INITIATE = "reset_initiate"
    RESET_VALIDATE = "reset_validate"
    RESET_CONFIRM = "reset_confirm"
    FETCH = "fetch"
    BILLPAY = "billpay"
    ENQUIRY = "enquiry"


#: Calls that may be sent again without harm: only these are ever retried.
IDEMPOTENT_ENDPOINTS = frozenset({Endpoint.TOKEN, Endpoint.FETCH, Endpoint.ENQUIRY})


@dataclass(frozen=True)
class Timeouts:
    """Seconds to establish the TCP connection and to wait for each read of the answer."""

    connect: float = 3.0
    read: float = 15.0

    def __post_init__(self) -> None:
        if self.connect <= 0 or self.read <= 0:
            raise ConfigurationError("timeouts must be positive")


@dataclass(frozen=True)
class Paths:
    """Path of every call, relative to the base URL. ``enquiry`` is our assumption (open
    point 1): ``{reference}`` is replaced by the URL-quoted reference id."""

    token: str = "/mobiquitypay/oauth/token"  # noqa: S105 - a path
    login: str = "/mobiquitypay/ums/v3/user/auth/web/login"
    login_confirm: str = "/mobiquitypay/ums/v3/user/auth/web/login-confirm"
    change_credential: str = "/jigsaw/ums/v2/user/auth/change-credential"
    reset_initiate: str = "/mobiquitypay/v2/ums/user/auth/self-set-auth/initiate"
    reset_validate: str = "/mobiquitypay/v2/ums/user/auth/self-set-auth/validate-otp"
    reset_confirm: str = "/mobiquitypay/v2/ums/user/auth/self-set-auth/confirm"
    fetch: str = "/extensibility/fetchPendingBillsFormAggregator"
    billpay: str = "/jigsaw/v1/order/billpay"
    enquiry: str = "/jigsaw/v1/order/enquiry/{reference}"

    def __post_init__(self) -> None:
        for name in Endpoint:
            path = getattr(self, name.value)
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigurationError(f"path {name.value} must start with '/'")

    def of(self, endpoint: Endpoint) -> str:
        return str(getattr(self, endpoint.value))


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of the idempotent calls (token, fetch-bill, enquiry) — never of anything else.

    Only connection errors, timeouts and HTTP 5xx are retried, at most ``attempts`` tries in
    all, waiting a random time in ``[0, min(backoff_max, backoff_initial * 2**n)]`` between
    tries ("full jitter"). ``RetryPolicy.none()`` sends each call once, for a caller that paces
    and repeats calls itself.
    """

    attempts: int = 3
    backoff_initial: float = 0.2
    backoff_max: float = 2.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be at least 1")
        if self.backoff_initial < 0 or self.backoff_max < 0:
            raise ConfigurationError("RetryPolicy backoff must not be negative")

    @classmethod
    def none(cls) -> RetryPolicy:
        return cls(attempts=1)


@dataclass(frozen=True)
class ReferencePlacement:
    """Where our unique reference id travels in the billpay body (open point 2).

    Default (decisions.md §2): top-level ``externalReferenceId`` *and* ``remarks``.
    ``partner_data_other1`` puts it in ``partnerData.other1`` as well.
    """

    top_level_field: str | None = "externalReferenceId"
    remarks: bool = True
    partner_data_other1: bool = False

    def __post_init__(self) -> None:
        if not (self.top_level_field or self.remarks or self.partner_data_other1):
            raise ConfigurationError("the reference id must travel somewhere in the billpay body")


_SYSTEM_TOKEN_DEFAULT = frozenset(
    {
        Endpoint.LOGIN,
        Endpoint.LOGIN_CONFIRM,
        Endpoint.RESET_INITIATE,
        Endpoint.RESET_VALIDATE,
        Endpoint.RESET_CONFIRM,
        Endpoint.FETCH,
        Endpoint.BILLPAY,
        Endpoint.ENQUIRY,
    }
)


@dataclass(frozen=True)
class AuthPolicy:
    """Which calls carry which bearer token (open points 3 and 8).

    ``system_token_for``: calls sent with ``Authorization: Bearer <system token>``.
    ``user_token_for_change_credential``: change-credential carries the user's access token.
    ``renew_margin_seconds``: the cached system token is renewed this long before it expires
    (at most half its lifetime).
    """

    system_token_for: frozenset[Endpoint] = _SYSTEM_TOKEN_DEFAULT
    user_token_for_change_credential: bool = True
    renew_margin_seconds: float = 30.0

    def __post_init__(self) -> None:
        if Endpoint.TOKEN in self.system_token_for:
            raise ConfigurationError("the token call cannot carry the system token")
        if self.renew_margin_seconds < 0:
            raise ConfigurationError("renew_margin_seconds must not be negative")


@dataclass(frozen=True)
class EnquiryAnswer:
    """What the enquiry call got back, handed to a custom ``EnquiryContract.mapper``."""

    reference: str
    http_status: int
    body: Any  # parsed JSON (Decimal for fractions), or None when the body was not JSON


@dataclass(frozen=True)
class EnquiryContract:
    """The assumed enquiry contract (open point 1; decisions.md §1) and how its answer maps.

    ``method`` GET sends the reference in the path only; POST also sends
    ``{reference_body_field: reference}`` as the JSON body. ``mapper`` may take over the
    mapping: it gets an ``EnquiryAnswer`` and returns an outcome, or ``None`` to fall back to
    the default mapping below.
    """

    method: str = "GET"
    reference_body_field: str = "externalReferenceId"
    status_field: str = "orderStatus"
    succeeded: frozenset[str] = frozenset({"SUCCEEDED"})
    failed: frozenset[str] = frozenset({"FAILED"})
    pending: frozenset[str] = frozenset({"PENDING", "INPROGRESS"})
    not_found_codes: frozenset[str] = frozenset({"Generic05", "order.not.found"})
    mapper: Callable[[EnquiryAnswer], EnquiryOutcome | None] | None = field(
        default=None, compare=False
    )

    def __post_init__(self) -> None:
        if self.method.upper() not in {"GET", "POST"}:
            raise ConfigurationError("enquiry method must be GET or POST")


@dataclass(frozen=True)
class UmsSettings:
    """Constant fields of the user-management (login, password) bodies."""

    workspace_id: str = "ADMIN"
    language: str = "en"
    bearer_code: str = "WEB"
    identifier_type: str = "LOGINID"
    login_service_code: str = "LOGIN_POLICY"


@dataclass(frozen=True)
class BillpaySettings:
    """Constant fields of the billpay body (the document's example values)."""

    bearer_code: str = "MOBILE"
    currency: int | str = 101
    language: str = "en"
    initiator: str = "sender"
    service_flow_id: str = "BILLPAYOAP"
    #: ``"number"`` sends amounts as JSON numbers (exact, from Decimal), ``"string"`` as "110.00".
    amount_format: str = "number"
    #: extra top-level fields merged into every billpay body (deployment specifics)
    extra_fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.amount_format not in {"number", "string"}:
            raise ConfigurationError("amount_format must be 'number' or 'string'")
