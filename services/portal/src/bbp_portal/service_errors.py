"""Errors the portal's services raise; pages show them as messages, the API as JSON.

Each carries a stable ``code`` (API clients and tests rely on it), a message for a person
and, for a bad value, the ``field``.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base: something the user can act on (never a bug: those are 500s)."""

    status = 400

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class ValidationFailed(ServiceError):
    """A value breaks a rule (422)."""

    status = 422


def one_line(
    text: str | None, field: str, limit: int, missing: tuple[str, str], too_long: tuple[str, str]
) -> str:
    """A person's short text on one line (runs of white space become one space), required
    (else ``missing``: its code and message) and at most ``limit`` characters (``too_long``)."""
    value = " ".join((text or "").split())
    if not value:
        raise ValidationFailed(*missing, field)
    if len(value) > limit:
        raise ValidationFailed(*too_long, field)
    return value


class NotFound(ServiceError):
    status = 404

    def __init__(self, message: str = "Not found.", code: str = "not_found") -> None:
        super().__init__(code, message)


class Conflict(ServiceError):
    """The request collides with stored state: duplicate, stale upload, already done (409)."""

    status = 409


class Forbidden(ServiceError):
    """The role may act, but not on this (the maker approving their own request) (403)."""

    status = 403


class Refused(ServiceError):
    """Conflict with a detail per refused thing (the bills that cannot be paid now) (409)."""

    status = 409

    def __init__(
        self, code: str, message: str, details: dict[str, str], field: str | None = None
    ) -> None:
        super().__init__(code, message, field)
        self.details = details
