"""Recipients of e-mail and SMS: Bangladeshi mobile numbers and e-mail addresses, checked.

Both ends check: the producer (a number or address that cannot work gets no message, and
the reason is recorded on the notification) and the communicator (defence in depth, just
before sending). One implementation, so they never disagree.

Mobile numbers: ``01XXXXXXXXX``, ``8801XXXXXXXXX`` and ``+8801XXXXXXXXX`` (spaces and
dashes allowed) are the same number. Only the mobile operators' prefixes ``013``–``019``
are valid SMS destinations (``011``/``012`` are not in use for mobiles).
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

_SEPARATORS = re.compile(r"[\s\-().]")
_LOCAL = re.compile(r"^01[3-9]\d{8}$")


class InvalidRecipient(ValueError):
    """A mobile number or e-mail address no message can be delivered to; says why."""


def normalise_mobile(value: str | None) -> str:
    """A Bangladeshi mobile number as ``01XXXXXXXXX`` (11 digits).

    Raises :class:`InvalidRecipient` for anything else (empty, foreign, landline, wrong length,
    an unknown operator prefix).
    """
    raw = (value or "").strip()
    if not raw:
        raise InvalidRecipient("no mobile number")
    digits = _SEPARATORS.sub("", raw)
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("00880"):
        digits = digits[2:]
    if digits.startswith("880"):
        digits = digits[2:]
    if not digits.isdigit():
        raise InvalidRecipient(f"mobile number {mask_mobile(raw)} has characters other than digits")
    if not _LOCAL.match(digits):
        raise InvalidRecipient(
            f"mobile number {mask_mobile(raw)} is not a Bangladeshi mobile number "
            "(01[3-9] and 8 more digits)"
        )
    return digits


def international(mobile: str) -> str:
    """``01XXXXXXXXX`` → ``8801XXXXXXXXX`` (what most SMS gateways take)."""
    return "88" + normalise_mobile(mobile)


def mask_mobile(value: str | None) -> str:
    """``01711000000`` → ``0171****000``: enough to recognise in a log, not to misuse."""
    text = (value or "").strip()
    if len(text) < 7:
        return "***"
    return text[:4] + "****" + text[-3:]


def normalise_email(value: str | None) -> str:
    """The address in its normalised form, or :class:`InvalidRecipient` (syntax only: no DNS)."""
    raw = (value or "").strip()
    if not raw:
        raise InvalidRecipient("no e-mail address")
    try:
        return validate_email(raw, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"e-mail address is not valid: {exc}") from None


def normalise(channel: str, value: str | None) -> str:
    """The recipient for ``channel`` (``email`` or ``sms``), normalised, or InvalidRecipient."""
    if channel == "email":
        return normalise_email(value)
    if channel == "sms":
        return normalise_mobile(value)
    raise ValueError(f"unknown channel {channel!r}")


__all__ = [
    "InvalidRecipient",
    "international",
    "mask_mobile",
    "normalise",
    "normalise_email",
    "normalise_mobile",
]
