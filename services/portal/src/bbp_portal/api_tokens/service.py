"""The rules of API tokens: who may make one, with which role, for how long; who may revoke
it; and whether a presented token may act now, as whom.

* A token belongs to a registered, active user and is made by that user (the pages ask for
  a step-up first; nothing here can tell, so only the pages call :func:`create`).
* Its role is at most its user's: a role the user's own covers (:data:`COVERS`; a superadmin
  may make an admin's or an auditor's token, an admin only an admin's, an auditor only an
  auditor's — an admin's role does not cover the auditor's audit log).
* At every call it acts with the greatest role both the token's and the user's *present*
  role cover (:func:`effective_role`): when the user's role drops, the token's drops with it;
  when nothing is left in common (an admin's token, its user now an auditor), it is refused.
* It expires at most :data:`MAX_DAYS` days after it was made (the person picks); a user keeps
  at most :data:`MAX_LIVE` live tokens.
* It is dead when revoked (by its user, or by a superadmin for anyone), expired, or its user
  is disabled (which also revokes it: enabling the user again does not bring it back) or
  removed (its row goes with the user's).

Each change is audited in its own transaction (``api_token.create``, ``api_token.revoke``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from bbp_portal.api_tokens import codec, store
from bbp_portal.api_tokens.store import TokenRow
from bbp_portal.audit_trail import Actor, record
from bbp_portal.auth.access import TokenCaller
from bbp_portal.service_errors import Conflict, Forbidden, NotFound, ValidationFailed, one_line

MAX_DAYS = 30
MAX_LIVE = 20
NAME_MAX = 64

#: The roles a role covers: what a token of that user may carry.
COVERS: dict[str, tuple[str, ...]] = {
    "superadmin": ("superadmin", "admin", "auditor"),
    "admin": ("admin",),
    "auditor": ("auditor",),
}


def grantable_roles(user_role: str) -> tuple[str, ...]:
    """The roles a user with ``user_role`` may give a token (their own first)."""
    return COVERS.get(user_role, ())


def effective_role(token_role: str, user_role: str | None) -> str | None:
    """The role a token acts with now: the greatest role both cover, or ``None``."""
    if user_role is None:
        return None
    common = [r for r in COVERS.get(token_role, ()) if r in COVERS.get(user_role, ())]
    return common[0] if common else None


# --------------------------------------------------------------------------- what a token is now


def state(row: TokenRow) -> str:
    """``active``, ``revoked``, ``expired``, ``user_disabled`` or ``role_withdrawn``."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at <= row.now:
        return "expired"
    if not row.user_active:
        return "user_disabled"
    if effective_role(row.role, row.user_role) is None:
        return "role_withdrawn"
    return "active"


# --------------------------------------------------------------------------- making, revoking


@dataclass(frozen=True)
class Created:
    """A new token: ``text`` is shown once and kept nowhere."""

    id: int
    public_id: str
    name: str
    role: str
    expires_at: datetime
    text: str

    def __repr__(self) -> str:
        return f"Created(id={self.id}, public_id={self.public_id!r}, text='***')"


def _clean_name(name: str) -> str:
    return one_line(
        name,
        "name",
        NAME_MAX,
        ("name_required", "Give the token a name."),
        ("name_too_long", f"A token's name has at most {NAME_MAX} characters."),
    )


def create(
    engine: Engine, actor: Actor, *, name: str, days: int, role: str | None = None
) -> Created:
    """Make a token for ``actor`` (who has just stepped up: the caller's duty)."""
    cleaned = _clean_name(name)
    if not 1 <= int(days) <= MAX_DAYS:
        raise ValidationFailed(
            "bad_lifetime", f"A token lasts from 1 to {MAX_DAYS} days.", "expires_in_days"
        )
    with engine.begin() as conn:
        user = store.lock_user(conn, actor.login_id)
        if user is None or not user.active:
            raise Forbidden("user_inactive", "Only an active registered user may make a token.")
        wanted = role or user.role
        if wanted not in grantable_roles(user.role):
            raise ValidationFailed(
                "role_not_allowed", "A token carries at most your own role.", "role"
            )
        if store.count_live(conn, user.login_id) >= MAX_LIVE:
            raise Conflict(
                "too_many_tokens",
                f"You have {MAX_LIVE} live tokens: revoke one you no longer use first.",
            )
        minted = codec.mint()
        token_id = store.insert(
            conn,
            public_id=minted.public_id,
            login_id=user.login_id,
            name=cleaned,
            role=wanted,
            secret_sha256=minted.secret_sha256,
            days=int(days),
        )
        row = store.by_id(conn, token_id)
        assert row is not None
        record(
            conn,
            actor,
            "api_token.create",
            target_type="api_token",
            target_id=minted.public_id,
            token_name=cleaned,
            role=wanted,
            expires_at=row.expires_at.isoformat(sep=" ", timespec="seconds"),
            days=int(days),
        )
    return Created(token_id, minted.public_id, cleaned, wanted, row.expires_at, minted.text)


def revoke(engine: Engine, actor: Actor, token_id: int) -> TokenRow:
    """Revoke a token: its own user's, or any for a superadmin."""
    with engine.begin() as conn:
        row = store.by_id(conn, token_id, lock=True)
        mine = row is not None and row.login_id.lower() == actor.login_id.lower()
        if row is None or not (mine or actor.role == "superadmin"):
            raise NotFound("There is no such token.")
        if not store.revoke(
            conn, token_id, by=actor.login_id, reason="owner" if mine else "superadmin"
        ):
            raise Conflict("already_revoked", "This token was already revoked.")
        record(
            conn,
            actor,
            "api_token.revoke",
            target_type="api_token",
            target_id=row.public_id,
            token_name=row.name,
            owner=row.login_id,
        )
        found = store.by_id(conn, token_id)
    assert found is not None
    return found


def mine(engine: Engine, login_id: str) -> list[TokenRow]:
    with engine.connect() as conn:
        return store.of_user(conn, login_id)


def everyone(
    engine: Engine, *, before_id: int | None, limit: int, live_only: bool
) -> tuple[list[TokenRow], int | None]:
    with engine.connect() as conn:
        return store.everyone(conn, before_id=before_id, limit=limit, live_only=live_only)


# --------------------------------------------------------------------------- checking a token


@dataclass(frozen=True)
class Refusal:
    """Why a presented token may not act. ``token_id`` only once its secret matched."""

    code: str
    message: str
    token_id: str | None = None


_INVALID = Refusal("invalid_token", "This API token is not valid.")


def check(engine: Engine, text: str, *, ip: str | None) -> TokenCaller | Refusal:
    """Whether the token ``text`` may act now, and as whom; its last use is written (at most
    once every ``store.TOUCH_EVERY`` seconds)."""
    parsed = codec.parse(text)
    if parsed is None:
        return _INVALID
    public_id, secret = parsed
    with engine.connect() as conn:
        row = store.by_public_id(conn, public_id)
        if row is None or not codec.matches(secret, row.secret_sha256):
            return _INVALID
        now_state = state(row)
        if now_state != "active":
            return Refusal(f"token_{now_state}", _REFUSED[now_state], row.public_id)
        due = row.last_used_at is None or (row.now - row.last_used_at).total_seconds() >= (
            store.TOUCH_EVERY
        )
        if due:
            store.touch(conn, row.id, ip)
            conn.commit()
    role = effective_role(row.role, row.user_role)
    assert role is not None
    return TokenCaller(row.id, row.public_id, row.name, row.login_id, role, row.user_language)


_REFUSED = {
    "revoked": "This API token was revoked. Make a new one on the portal's API tokens page.",
    "expired": "This API token has expired. Make a new one on the portal's API tokens page.",
    "user_disabled": "The user this API token belongs to may no longer use the portal.",
    "role_withdrawn": "The user this API token belongs to no longer holds the role it was "
    "made with. Make a new one on the portal's API tokens page.",
}


__all__ = [
    "COVERS",
    "MAX_DAYS",
    "MAX_LIVE",
    "Created",
    "Refusal",
    "check",
    "create",
    "effective_role",
    "everyone",
    "grantable_roles",
    "mine",
    "revoke",
    "state",
]
