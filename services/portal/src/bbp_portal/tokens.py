"""Mobiquity user tokens, encrypted before they enter the session store.

The session store (Redis) is shared infrastructure: a dump of it must not hand out bearer
tokens that can change a user's password. Tokens are sealed with Fernet (AES-128-CBC +
HMAC-SHA256, from ``cryptography``); several keys may be configured so that the key can be
rotated without signing everybody out (the first key seals, every key opens).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenVault:
    """Seals and opens short secrets (Mobiquity access tokens) for the session store."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("BBP_SESSION_ENCRYPTION_KEY: at least one Fernet key is required")
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])
        except (ValueError, UnicodeEncodeError) as exc:
            raise ValueError(
                "BBP_SESSION_ENCRYPTION_KEY: each key must be a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `python -c "
                "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from exc

    def __repr__(self) -> str:
        return "TokenVault(***)"

    def seal(self, secret: str) -> str:
        """The encrypted, authenticated form of ``secret`` (ASCII, safe to store)."""
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str | None) -> str | None:
        """The secret, or ``None`` if ``sealed`` is missing, tampered with or from an old key."""
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            return None
