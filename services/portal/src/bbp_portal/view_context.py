"""What the accounts and billers views need: the engine, the settings, the acting user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import Engine

from bbp_portal.audit_trail import Actor
from bbp_portal.auth import current_token, current_user
from bbp_portal.device import client_ip, device_id
from bbp_portal.settings import PortalSettings

T = TypeVar("T")


def engine() -> Engine:
    return current_app.extensions["bbp.engine"]  # type: ignore[no-any-return]


def settings() -> PortalSettings:
    return current_app.extensions["bbp.settings"]  # type: ignore[no-any-return]


def actor() -> Actor:
    """The signed-in user as the services' :class:`Actor` (views are guarded: one exists);
    through an API token, with the token's id and name (its entries in the audit log say so).
    """
    user = current_user()
    if user is None:  # pragma: no cover - every caller is behind login_required
        raise RuntimeError("no signed-in user")
    token = current_token()
    if token is not None:
        return Actor(user.login_id, user.role, client_ip(), None, token.token_id, token.name)
    return Actor(user.login_id, user.role, client_ip(), device_id())


def reading(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(conn, *args, **kwargs)`` on a connection of its own (no transaction to commit)."""
    with engine().connect() as conn:
        return call(conn, *args, **kwargs)


def changing(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``call(conn, actor(), *args, **kwargs)`` in one transaction, committed if it returns."""
    with engine().begin() as conn:
        return call(conn, actor(), *args, **kwargs)
