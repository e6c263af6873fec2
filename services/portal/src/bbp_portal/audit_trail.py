"""Writing the audit log from the portal's services: who did what, to what, from where.

Services take an :class:`Actor` (not the Flask request), so they stay callable from the
API, the pages, the CLI and tests alike, and the entry is written in the service's own
transaction: it commits with the change or not at all (``bbp_portal.context.record`` writes
through the audit store in a transaction of its own, which suits sign-in events).
``details`` is JSON and never holds file contents or secrets — counts, names and ids only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert

from bbp_common.platform.db.tables import audit_log


@dataclass(frozen=True)
class Actor:
    """Who acts: the signed-in login id (or ``system``) and the client's address; and, for a
    machine client, the API token it acts through (its public id and name)."""

    login_id: str
    role: str = "admin"
    ip: str | None = None
    device_id: str | None = None
    token_id: str | None = None
    token_name: str | None = None


SYSTEM = Actor("system", "superadmin")


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    target_type: str | None = None,
    target_id: object = None,
    outcome: str = "ok",
    **details: Any,
) -> None:
    """Append one audit entry in the caller's transaction (so it commits with the change).

    An entry of an API token's call names the token (``token_id``, ``token_name``)."""
    if actor.token_id:
        details = {"token_id": actor.token_id, "token_name": actor.token_name, **details}
    conn.execute(
        insert(audit_log).values(
            actor=actor.login_id,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id)[:64],
            ip=actor.ip,
            device_id=actor.device_id,
            details=json.dumps(details, default=str, ensure_ascii=False) if details else None,
        )
    )


def record_many(
    conn: Connection,
    actor: Actor,
    action: str,
    entries: list[tuple[str | None, object, dict[str, Any]]],
) -> None:
    """Append one audit entry per ``(target_type, target_id, details)`` in one multi-row
    INSERT, in the caller's transaction: the same entries :func:`record` writes one by one
    (a bulk resolution audits each of its thousands of payments)."""
    if not entries:
        return
    token = {"token_id": actor.token_id, "token_name": actor.token_name} if actor.token_id else {}
    conn.execute(
        insert(audit_log),
        [
            {
                "actor": actor.login_id,
                "action": action,
                "outcome": "ok",
                "target_type": target_type,
                "target_id": None if target_id is None else str(target_id)[:64],
                "ip": actor.ip,
                "device_id": actor.device_id,
                "details": json.dumps({**token, **details}, default=str, ensure_ascii=False),
            }
            for target_type, target_id, details in entries
        ],
    )
