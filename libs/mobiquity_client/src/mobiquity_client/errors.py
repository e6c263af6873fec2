"""Exceptions raised by the client.

``MobiquityError`` is the root of everything Mobiquity (or the way to it) can cause. Its
attributes describe Mobiquity's answer where there was one; none of them ever holds a
password, OTP, MPIN or token. ``ConfigurationError`` is a programmer error (bad settings, a
missing paying wallet) and deliberately not a ``MobiquityError``.

``pay_bill`` and ``enquire_payment`` never raise these for transport or answer problems:
they return an outcome instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ConfigurationError(ValueError):
    """The client was configured or called in a way that can never work (a programmer error)."""


class MobiquityError(Exception):
    """Base class of every error coming from Mobiquity or from the way to it.

    Attributes:
        code: Mobiquity's detail code, ``errors[0].code`` (``AUTH_06``) or the answer's ``code``.
        error_code: Mobiquity's ``errorCode`` (``Authen01``, ``Generic05``), if any.
        error_codes: every ``errors[].code`` of the answer.
        user_message: Mobiquity's ``errorUserMsg`` (or its best user-facing message).
        http_status: the HTTP status of the answer (``None`` when there was no answer).
        trace_id: Mobiquity's ``traceId``, if any.
        service_request_id: Mobiquity's ``serviceRequestId``, if any.
        endpoint: which call of ours failed (``login``, ``fetch``, ...).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        error_code: str | None = None,
        error_codes: Sequence[str] = (),
        user_message: str | None = None,
        http_status: int | None = None,
        trace_id: str | None = None,
        service_request_id: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error_code = error_code
        self.error_codes: tuple[str, ...] = tuple(error_codes)
        self.user_message = user_message
        self.http_status = http_status
        self.trace_id = trace_id
        self.service_request_id = service_request_id
        self.endpoint = endpoint

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, endpoint={self.endpoint!r}, "
            f"http_status={self.http_status!r}, error_code={self.error_code!r}, "
            f"code={self.code!r}, trace_id={self.trace_id!r})"
        )


class RequestRefused(MobiquityError):
    """Mobiquity answered and refused the request (a documented FAILED answer or a 4xx).

    Raised as such for a refusal no more specific class describes.
    """


class InvalidCredentials(RequestRefused):
    """Wrong login id or password (``Authen01``); ``user_message`` is Mobiquity's text."""


class OtpRejected(RequestRefused):
    """Any FAILED answer to an OTP step (wrong, expired or reused OTP; open point 9)."""


class ResumeRequestNotFound(OtpRejected):
    """The paused flow a resume id points to is unknown or gone (``Generic05``)."""


class InvalidInput(RequestRefused):
    """Mobiquity rejected a value (``Generic06``, ``invalid.value``)."""


class MandatoryFieldMissing(RequestRefused):
    """A mandatory field was empty (``Generic04``)."""


class ConsumerIdRequired(InvalidInput):
    """Fetch-bill: "Consumer Id can not be empty" (422)."""


class NotApplicableForUtility(RequestRefused):
    """Fetch-bill: "This API is not applicable for the specific utility" (403)."""


class UnsupportedFlow(RequestRefused):
    """Mobiquity asks for a step this client does not implement (e.g. a security answer)."""


class TokenRejected(RequestRefused):
    """A bearer token (the system token or a user's token) was refused (401/403)."""


class ClientCredentialsRejected(RequestRefused):
    """The token endpoint refused our client id / secret."""


class MobiquityUnavailable(MobiquityError):
    """No usable answer: connection failure, timeout or HTTP 5xx. Retryable for idempotent calls.

    ``never_sent`` is True only when the request provably never left this process.
    ``kind`` names the failure (``connection_refused``, ``read_timeout``, ``http_5xx``...).
    """

    def __init__(self, message: str, *, kind: str, never_sent: bool = False, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind
        self.never_sent = never_sent


class UnexpectedResponse(MobiquityError):
    """The answer does not have the documented shape; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field
