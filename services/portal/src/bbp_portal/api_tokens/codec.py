"""The text of an API token: ``bbp_<public id>_<secret>``, made, parsed and hashed.

* ``public id``: 16 hex digits (64 random bits), stored as is; it finds the row and names the
  token in lists, logs and the audit log. It is no secret.
* ``secret``: 43 URL-safe characters (256 random bits). Only its SHA-256 is stored. A salt
  or a slow hash (bcrypt, Argon2) protects *guessable* secrets; 256 random bits cannot be
  guessed, so one SHA-256 is enough, and a check costs microseconds instead of the ~100 ms
  a slow hash would add to every API call.
* The ``bbp_`` prefix lets secret scanners and the log masker recognise a token anywhere
  (``bbp_common.platform.masking``).

Comparing uses :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "bbp_"
PUBLIC_ID_BYTES = 8
SECRET_BYTES = 32

_TOKEN = re.compile(r"^bbp_(?P<public_id>[0-9a-f]{16})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Minted:
    """A new token: the text to show once, and what is stored of it."""

    text: str
    public_id: str
    secret_sha256: str

    def __repr__(self) -> str:  # never print the secret by accident
        return f"Minted(public_id={self.public_id!r}, text='***')"


def digest(secret: str) -> str:
    """The stored form of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def mint() -> Minted:
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return Minted(f"{PREFIX}{public_id}_{secret}", public_id, digest(secret))


def parse(text: str) -> tuple[str, str] | None:
    """``(public id, secret)`` of a well-formed token, else ``None``."""
    found = _TOKEN.match(text.strip())
    if found is None:
        return None
    return found["public_id"], found["secret"]


def matches(secret: str, stored_sha256: str) -> bool:
    """Whether ``secret`` hashes to ``stored_sha256`` (constant-time comparison)."""
    return hmac.compare_digest(digest(secret), stored_sha256)


__all__ = ["PREFIX", "Minted", "digest", "matches", "mint", "parse"]
