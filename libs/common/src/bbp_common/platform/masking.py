"""One secret masker for every log line, message and error the platform writes.

Passwords, OTPs, MPINs, tokens and credentials must never reach a log line. The masker
works on keys (any mapping key that names a secret has its value replaced) and on text
(bearer/basic credentials and whatever follows ``Authorization:``, JWTs, the portal's API
tokens ``bbp_<id>_<secret>`` wherever they appear, ``"mpin": 1234``-style pairs inside
strings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|otp|mpin|pin|secret|token|authori[sz]ation|authenticationvalue|cookie|"
    r"credential|api[_-]?key|session[_-]?id|csrf)",
    re.IGNORECASE,
)
# Keys that contain a secret-looking word but are not secrets.
_SAFE_KEYS = frozenset(
    {
        "token_type",
        "expires_in",
        "otp_required",
        "has_otp",
        "csrf_enabled",
        "pin_length",
        "fencing_token",
        "token_age",
        "password_rules",
        # An API token's public id and name (bbp_portal.api_tokens): never its secret.
        "token_id",
        "token_name",
    }
)

_TEXT_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # The portal's API tokens (bbp_<16 hex>_<secret>), anywhere: a header, a URL, a body a
    # client sent by mistake. The public id before the secret stays (it is no secret).
    (re.compile(r"\b(bbp_[0-9a-f]{16}_)[A-Za-z0-9_-]{8,}"), r"\1" + MASK),
    # An Authorization header's value, whatever its scheme ("Authorization: Bearer x",
    # "authorization=x", "'Authorization': 'Token x'").
    (
        re.compile(
            r"(?i)(\bauthori[sz]ation[\"']?\s*[:=]\s*[\"']?)"
            r"((?:bearer|basic|token|digest)\s+)?(?!\*\*\*)[^\s\"',;}]+"
        ),
        r"\1\2" + MASK,
    ),
    # Bearer and basic credentials, with or without their header.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MASK),
    # JSON Web Tokens (three base64url parts, the first one starting with eyJ).
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # key=value / "key": value pairs whose key names a secret.
    (
        re.compile(
            r"(?i)([\"']?(?:[a-z_]*password|[a-z_]*passwd|otp|mpin|pin|client_secret|secret|"
            r"access_token|refresh_token|[a-z]*authenticationvalue)[\"']?\s*[:=]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s,&}\]]+)"
        ),
        r"\1" + MASK,
    ),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@"), r"\1" + MASK + "@"),
]


def is_secret_key(key: str) -> bool:
    """True if a field called ``key`` holds a secret and must be masked."""
    return key.lower() not in _SAFE_KEYS and bool(_SECRET_KEY.search(key))


# Every text pattern needs one of these words (or a JWT's "eyJ", or a URL's "://"): text
# without any of them cannot hold a secret we recognise, and most log values are such text.
_MAY_HOLD_SECRET = re.compile(
    r"(?i)bearer|basic|eyJ|pass|otp|pin|secret|token|authenticationvalue|authori[sz]ation|bbp_|://"
)


def mask_text(text: str) -> str:
    """``text`` with every recognisable secret replaced by ``***``."""
    if not _MAY_HOLD_SECRET.search(text):
        return text
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def mask(value: Any, _depth: int = 0) -> Any:
    """A copy of ``value`` (mappings, sequences, strings) with secrets masked."""
    if _depth > 8:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
                else mask(v, _depth + 1)
            )
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(mask(v, _depth + 1) for v in value)
    return value
