"""The ``api_tokens`` table: the rows, read and written; no rule lives here (see ``service``).

Every time is the database's clock (``UTC_TIMESTAMP(6)``): a token's expiry is a deadline,
and deadlines are judged where every portal replica agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from bbp_common.platform.db.tables import api_tokens, users

NOW = sa.func.utc_timestamp(6)

#: The last-used time is written at most this often per token (seconds): a client calling
#: ten times a second costs one UPDATE a minute, not ten a second.
TOUCH_EVERY = 60


@dataclass(frozen=True)
class TokenRow:
    """A token with its user's present state, and the database's clock when it was read."""

    id: int
    public_id: str
    login_id: str
    name: str
    role: str
    secret_sha256: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    last_used_ip: str | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_reason: str | None
    user_role: str | None
    user_active: bool
    user_language: str
    now: datetime

    def __repr__(self) -> str:  # the hash is not secret, but has no business in a log line
        return f"TokenRow(id={self.id}, public_id={self.public_id!r}, name={self.name!r})"


def _select() -> sa.Select:  # type: ignore[type-arg]
    t = api_tokens.c
    return sa.select(
        t.id,
        t.public_id,
        t.login_id,
        t.name,
        t.role,
        t.secret_sha256,
        t.created_at,
        t.expires_at,
        t.last_used_at,
        t.last_used_ip,
        t.revoked_at,
        t.revoked_by,
        t.revoked_reason,
        users.c.role.label("user_role"),
        sa.func.coalesce(users.c.active, False).label("user_active"),
        sa.func.coalesce(users.c.language, "en").label("user_language"),
        NOW.label("now"),
    ).select_from(api_tokens.outerjoin(users, users.c.login_id == t.login_id))


def _row(found: sa.Row) -> TokenRow:  # type: ignore[type-arg]
    values = dict(found._mapping)
    values["user_active"] = bool(values["user_active"])
    return TokenRow(**values)


def by_public_id(conn: Connection, public_id: str) -> TokenRow | None:
    found = conn.execute(_select().where(api_tokens.c.public_id == public_id)).first()
    return _row(found) if found else None


def by_id(conn: Connection, token_id: int, *, lock: bool = False) -> TokenRow | None:
    query = _select().where(api_tokens.c.id == token_id)
    if lock:
        query = query.with_for_update(of=api_tokens)
    found = conn.execute(query).first()
    return _row(found) if found else None


def of_user(conn: Connection, login_id: str, *, limit: int = 200) -> list[TokenRow]:
    """A user's tokens, newest first."""
    query = (
        _select()
        .where(api_tokens.c.login_id == login_id)
        .order_by(api_tokens.c.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in conn.execute(query)]


def everyone(
    conn: Connection, *, before_id: int | None, limit: int, live_only: bool
) -> tuple[list[TokenRow], int | None]:
    """Every user's tokens, newest first, ``limit`` a page (keyset: ``id < before_id``), and
    the next page's key."""
    query = _select().order_by(api_tokens.c.id.desc()).limit(limit + 1)
    if before_id is not None:
        query = query.where(api_tokens.c.id < before_id)
    if live_only:
        query = query.where(api_tokens.c.revoked_at.is_(None), api_tokens.c.expires_at > NOW)
    rows = [_row(r) for r in conn.execute(query)]
    page = rows[:limit]
    return page, (page[-1].id if len(rows) > limit and page else None)


def lock_user(conn: Connection, login_id: str) -> sa.Row | None:  # type: ignore[type-arg]
    """The user's row, locked: two tokens made at once are counted one after the other."""
    return conn.execute(
        sa.select(users.c.login_id, users.c.role, users.c.active)
        .where(users.c.login_id == login_id)
        .with_for_update()
    ).first()


def count_live(conn: Connection, login_id: str) -> int:
    t = api_tokens.c
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(api_tokens)
            .where(t.login_id == login_id, t.revoked_at.is_(None), t.expires_at > NOW)
        ).scalar_one()
    )


def insert(
    conn: Connection,
    *,
    public_id: str,
    login_id: str,
    name: str,
    role: str,
    secret_sha256: str,
    days: int,
) -> int:
    """A new token row; it expires ``days`` days from now on the database's clock."""
    result = conn.execute(
        api_tokens.insert().values(
            public_id=public_id,
            login_id=login_id,
            name=name,
            role=role,
            secret_sha256=secret_sha256,
            created_at=NOW,
            expires_at=sa.func.date_add(NOW, sa.text(f"INTERVAL {int(days)} DAY")),
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def revoke(conn: Connection, token_id: int, *, by: str | None, reason: str) -> bool:
    """Revoke one token that is not revoked yet; whether it was."""
    return bool(_revoke(conn, api_tokens.c.id == token_id, by, reason))


def revoke_all_of(conn: Connection, login_id: str, *, by: str | None, reason: str) -> int:
    """Revoke every token of a user not revoked yet; how many."""
    return _revoke(conn, api_tokens.c.login_id == login_id, by, reason)


def _revoke(conn: Connection, which: ColumnElement[bool], by: str | None, reason: str) -> int:
    """Revoke the tokens ``which`` picks that are not revoked yet; how many."""
    done = conn.execute(
        api_tokens.update()
        .where(which, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=NOW, revoked_by=by, revoked_reason=reason)
    )
    return int(done.rowcount)


def touch(conn: Connection, token_id: int, ip: str | None) -> bool:
    """Write the last-used time and address, unless written less than ``TOUCH_EVERY`` seconds
    ago (the condition is the database's, so two replicas racing write once)."""
    t = api_tokens.c
    done = conn.execute(
        api_tokens.update()
        .where(
            t.id == token_id,
            sa.or_(
                t.last_used_at.is_(None),
                t.last_used_at <= sa.func.date_sub(NOW, sa.text(f"INTERVAL {TOUCH_EVERY} SECOND")),
            ),
        )
        .values(last_used_at=NOW, last_used_ip=(ip or None) and ip[:64])
    )
    return bool(done.rowcount)


__all__ = [
    "TOUCH_EVERY",
    "TokenRow",
    "by_id",
    "by_public_id",
    "count_live",
    "everyone",
    "insert",
    "lock_user",
    "of_user",
    "revoke",
    "revoke_all_of",
    "touch",
]
