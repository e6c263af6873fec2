"""Who may use the portal: the ``users`` table (no password column, ever).

A person gets in only if their login id is registered and active here *and* Mobiquity
accepts their credentials. Login ids are compared case-insensitively (the column's
collation), as Mobiquity users type them in any case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from bbp_common.platform.db import utcnow
from bbp_common.platform.db.tables import api_tokens, users


@dataclass(frozen=True)
class UserRecord:
    """One row of ``users``."""

    login_id: str
    email: str
    role: str
    language: str = "en"
    mobile: str | None = None
    active: bool = True
    last_login_at: datetime | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DuplicateUser(Exception):
    """A user with this login id is already registered."""


class UnknownUser(Exception):
    """No user with this login id is registered."""


class UserStore(Protocol):
    """The registry operations the portal needs (SQL here; an in-memory fake in tests)."""

    def get(self, login_id: str) -> UserRecord | None: ...

    def list(self) -> list[UserRecord]: ...

    def add(self, user: UserRecord) -> UserRecord: ...

    def update(
        self, login_id: str, *, email: str, role: str, mobile: str | None, language: str
    ) -> UserRecord: ...

    def set_active(self, login_id: str, active: bool) -> UserRecord: ...

    def record_sign_in(self, login_id: str) -> None: ...


def _record(row: sa.Row) -> UserRecord:  # type: ignore[type-arg]
    return UserRecord(
        login_id=row.login_id,
        email=row.email,
        role=row.role,
        language=row.language,
        mobile=row.mobile,
        active=bool(row.active),
        last_login_at=row.last_login_at,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlUserStore:
    """``UserStore`` on the portal's MySQL database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, login_id: str) -> UserRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.login_id == login_id)).first()
        return _record(row) if row else None

    def list(self) -> list[UserRecord]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.login_id)).all()
        return [_record(r) for r in rows]

    def add(self, user: UserRecord) -> UserRecord:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    users.insert().values(
                        login_id=user.login_id,
                        email=user.email,
                        role=user.role,
                        language=user.language,
                        mobile=user.mobile,
                        active=user.active,
                        created_by=user.created_by,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateUser(user.login_id) from exc
        added = self.get(user.login_id)
        assert added is not None
        return added

    def update(
        self, login_id: str, *, email: str, role: str, mobile: str | None, language: str
    ) -> UserRecord:
        if self.get(login_id) is None:
            raise UnknownUser(login_id)
        with self._engine.begin() as conn:
            conn.execute(
                users.update()
                .where(users.c.login_id == login_id)
                .values(email=email, role=role, mobile=mobile, language=language)
            )
        found = self.get(login_id)
        assert found is not None
        return found

    def set_active(self, login_id: str, active: bool) -> UserRecord:
        """Enable or disable a user. Disabling revokes the user's API tokens in the same
        transaction: enabling them again later does not bring the tokens back."""
        with self._engine.begin() as conn:
            conn.execute(users.update().where(users.c.login_id == login_id).values(active=active))
            if not active:
                conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.login_id == login_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=sa.func.utc_timestamp(6), revoked_reason="user_disabled")
                )
        found = self.get(login_id)
        if found is None:
            raise UnknownUser(login_id)
        return found

    def record_sign_in(self, login_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                users.update().where(users.c.login_id == login_id).values(last_login_at=utcnow())
            )
