"""Managing who may use the portal: the rules shared by the users page and the CLI.

Every change is validated the same way (login id per Mobiquity's rules, e-mail syntax,
Bangladeshi mobile number) and written to the audit log with who made it.
"""

from __future__ import annotations

import re
from dataclasses import replace

from email_validator import EmailNotValidError, validate_email

from bbp_portal.auth.access import ROLES
from bbp_portal.auth.forms import LOGIN_ID_MAX, LOGIN_ID_MIN, LOGIN_ID_PATTERN
from bbp_portal.context import record, services
from bbp_portal.directory import UserRecord
from bbp_portal.i18n import LANGUAGES

_LOGIN_ID = re.compile(f"^{LOGIN_ID_PATTERN}$")
_MOBILE = re.compile(r"^01[3-9]\d{8}$")


class InvalidUser(ValueError):
    """A field of a user does not follow the rules; the message says which and why."""


def check_login_id(value: str) -> str:
    value = value.strip()
    if not LOGIN_ID_MIN <= len(value) <= LOGIN_ID_MAX or not _LOGIN_ID.match(value):
        raise InvalidUser(
            f"login id must be {LOGIN_ID_MIN}-{LOGIN_ID_MAX} letters, digits or . _ @ -"
        )
    return value


def check_email(value: str) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidUser(f"e-mail: {exc}") from None


def normalize_mobile(value: str | None) -> str | None:
    """A Bangladeshi mobile number as ``01XXXXXXXXX`` (11 digits), or ``None`` if empty.

    Accepts ``+8801…``, ``8801…`` and spaces or dashes between digits.
    """
    if value is None or not value.strip():
        return None
    digits = re.sub(r"[\s-]", "", value.strip())
    if digits.startswith("+"):
        digits = digits[1:]
    if digits.startswith("880"):
        digits = digits[2:]
    if not _MOBILE.match(digits):
        raise InvalidUser("mobile must be a Bangladeshi mobile number, e.g. 01712345678")
    return digits


def check_role(value: str) -> str:
    if value not in ROLES:
        raise InvalidUser(f"role must be one of {', '.join(ROLES)}")
    return value


def check_language(value: str) -> str:
    if value not in LANGUAGES:
        raise InvalidUser(f"language must be one of {', '.join(LANGUAGES)}")
    return value


def add_user(
    actor: str,
    login_id: str,
    email: str,
    role: str,
    *,
    mobile: str | None = None,
    language: str = "en",
) -> UserRecord:
    user = UserRecord(
        login_id=check_login_id(login_id),
        email=check_email(email),
        role=check_role(role),
        mobile=normalize_mobile(mobile),
        language=check_language(language),
        created_by=actor,
    )
    added = services().users.add(user)
    record(
        "user_add",
        actor=actor,
        target_type="user",
        target_id=added.login_id,
        role=added.role,
        email=added.email,
        mobile=added.mobile,
        language=added.language,
    )
    return added


def update_user(
    actor: str,
    login_id: str,
    *,
    email: str,
    role: str,
    mobile: str | None,
    language: str,
) -> UserRecord:
    store = services().users
    before = store.get(login_id)
    after = store.update(
        login_id,
        email=check_email(email),
        role=check_role(role),
        mobile=normalize_mobile(mobile),
        language=check_language(language),
    )
    changes = {}
    if before is not None:
        for name in ("email", "role", "mobile", "language"):
            old, new = getattr(before, name), getattr(after, name)
            if old != new:
                changes[name] = f"{old} -> {new}"
    record("user_update", actor=actor, target_type="user", target_id=after.login_id, **changes)
    return after


def set_active(actor: str, login_id: str, active: bool) -> UserRecord:
    user = services().users.set_active(login_id, active)
    record(
        "user_enable" if active else "user_disable",
        actor=actor,
        target_type="user",
        target_id=user.login_id,
    )
    return user


def ensure_user(
    actor: str,
    login_id: str,
    email: str,
    role: str,
    *,
    mobile: str | None = None,
    language: str = "en",
) -> tuple[UserRecord, bool]:
    """Add the user, or bring an existing one to these values and enable them (idempotent)."""
    existing = services().users.get(login_id)
    if existing is None:
        return add_user(actor, login_id, email, role, mobile=mobile, language=language), True
    wanted = replace(
        existing,
        email=check_email(email),
        role=check_role(role),
        mobile=normalize_mobile(mobile),
        language=check_language(language),
        active=True,
    )
    if wanted != existing:
        existing = update_user(
            actor, login_id, email=email, role=role, mobile=mobile, language=language
        )
        if not existing.active:
            existing = set_active(actor, login_id, True)
    return existing, False
