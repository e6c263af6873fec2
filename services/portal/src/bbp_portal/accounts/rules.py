"""What a valid bill account is: the field rules shared by the forms, the API and the upload.

Pure functions. Each returns the normalised value or raises :class:`FieldError` with a
stable ``code`` and a message for a person. The upload reports these at line and column;
the API reports them with the field name.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from bbp_portal.api.patterns import WHITESPACE

CONSUMER_ID_MAX = 40
LABEL_MAX = 120
GROUP_NAME_MAX = 80
MOBILE_MIN, MOBILE_MAX = 8, 15  # Mobiquity's MSISDN rule
GROUP_SEPARATOR = "|"
MAX_GROUPS_PER_ACCOUNT = 20

_CONSUMER_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?\d+[.,]\d+$")
_MOBILE_NOISE = re.compile(r"[\s\-.()/]")
_UTILITY = re.compile(r"^[A-Z0-9_]{2,16}$")

# The same rules as patterns for the JSON API (ECMA and Python regex alike): the API takes a
# value already in its canonical form (no trimming, upper-casing or dropped punctuation, as
# forms and uploads get), so its OpenAPI document can state exactly what is accepted.
UTILITY_PATTERN = _UTILITY.pattern
#: Letters, digits, inner dashes — and not scientific notation (``1e5``, ``12E-3``).
CONSUMER_ID_PATTERN = r"^(?![0-9]+[eE]-?[0-9]+$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$"
MOBILE_PATTERN = r"^[0-9]{8,15}$"
GROUP_NAME_PATTERN = f"^[^|]*[^|{WHITESPACE}][^|]*$"


class FieldError(ValueError):
    """A value breaks a rule. ``code`` is stable (API clients and tests rely on it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _from_number(value: object, what: str) -> str | None:
    """The digits of a number cell (XLSX), or None if ``value`` is not a number.

    Excel keeps 15 significant digits: a longer number may have lost digits, so it is
    refused rather than stored wrong. Leading zeros never survive a number cell either.
    """
    if isinstance(value, bool):
        raise FieldError("malformed", f"{what} is TRUE/FALSE, not a number or text.")
    if isinstance(value, datetime | date):
        raise FieldError(
            "excel_number", f"Excel turned the {what} into a date; format the column as Text."
        )
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldError(
                "excel_number",
                f"The {what} is a number with decimals ({value!r}); format the column as Text.",
            )
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise FieldError("malformed", f"The {what} is a negative number.")
        digits = str(value)
        if len(digits) > 15:
            raise FieldError(
                "excel_number",
                f"Excel stored the {what} as a {len(digits)}-digit number and keeps only 15 "
                "digits exactly; format the column as Text and type it again.",
            )
        return digits
    return None


def _reject_excel_forms(text: str, what: str) -> None:
    if _SCIENTIFIC.match(text):
        raise FieldError(
            "scientific_notation",
            f"Excel turned the {what} into scientific notation ({text}): digits are lost. "
            "Format the column as Text and type it again.",
        )
    if _DECIMAL.match(text):
        raise FieldError(
            "excel_number",
            f"The {what} looks like a number Excel reformatted ({text}); "
            "format the column as Text and type it again.",
        )


def utility_code(value: object) -> str:
    """Upper-cased and trimmed; whether the biller exists is checked against the catalogue."""
    text = _text(value).upper()
    if not text:
        raise FieldError("missing", "The utility is empty.")
    if not _UTILITY.match(text):
        raise FieldError("malformed", f"{text!r} is not a utility code (e.g. DSCO, DESCO).")
    return text


def consumer_id(value: object) -> str:
    """Letters, digits and inner dashes, 1–40; Excel's number mangling is refused, not guessed."""
    number = _from_number(value, "consumer id")
    text = number if number is not None else _text(value)
    if not text:
        raise FieldError("missing", "The consumer id is empty.")
    _reject_excel_forms(text, "consumer id")
    if len(text) > CONSUMER_ID_MAX:
        raise FieldError(
            "too_long", f"The consumer id has {len(text)} characters; at most {CONSUMER_ID_MAX}."
        )
    if not _CONSUMER_ID.match(text):
        raise FieldError(
            "malformed",
            "The consumer id may hold only letters, digits and dashes (no spaces or symbols).",
        )
    return text


def mobile(value: object) -> str:
    """The MOB_NO Mobiquity takes: 8–15 digits. Spaces, dashes, dots, brackets and a leading
    ``+`` are dropped (``+880 1712-345678`` → ``8801712345678``); letters are refused."""
    number = _from_number(value, "mobile number")
    text = number if number is not None else _text(value)
    if not text:
        raise FieldError("missing", "The mobile number is empty.")
    _reject_excel_forms(text, "mobile number")
    digits = _MOBILE_NOISE.sub("", text)
    digits = digits.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise FieldError(
            "malformed", "The mobile number may hold only digits (and spaces, dashes, a +)."
        )
    if not MOBILE_MIN <= len(digits) <= MOBILE_MAX:
        raise FieldError(
            "malformed",
            f"The mobile number has {len(digits)} digits; it must have {MOBILE_MIN} to "
            f"{MOBILE_MAX}.",
        )
    return digits


def label(value: object) -> str:
    """Free text, whitespace collapsed, at most 120 characters; may be empty."""
    text = " ".join(_text(value).split())
    if len(text) > LABEL_MAX:
        raise FieldError("too_long", f"The label has {len(text)} characters; at most {LABEL_MAX}.")
    return text


def group_name(value: object) -> str:
    """A group's name: 1–80 characters, no ``|`` (it separates groups in the upload)."""
    text = " ".join(_text(value).split())
    if not text:
        raise FieldError("missing", "The group name is empty.")
    if len(text) > GROUP_NAME_MAX:
        raise FieldError(
            "too_long", f"The group name has {len(text)} characters; at most {GROUP_NAME_MAX}."
        )
    if GROUP_SEPARATOR in text:
        raise FieldError("malformed", f"A group name may not contain {GROUP_SEPARATOR!r}.")
    return text


def group_names(value: object) -> list[str]:
    """``"Dhaka offices | Head office"`` → the names, trimmed, duplicates dropped."""
    names: list[str] = []
    seen: set[str] = set()
    for part in _text(value).split(GROUP_SEPARATOR):
        name = " ".join(part.split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            names.append(name)
    if len(names) > MAX_GROUPS_PER_ACCOUNT:
        raise FieldError(
            "too_many",
            f"{len(names)} groups; an account may be in at most {MAX_GROUPS_PER_ACCOUNT}.",
        )
    return names


def account_key(utility: str, consumer: str) -> tuple[str, str]:
    """The identity of an account, compared as the database's collation does (no case)."""
    return utility.upper(), consumer.casefold()
