"""What the views share, built once per application by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, has_request_context

from bbp_common.platform.logging import get_logger
from bbp_portal.audit import AuditEvent, AuditStore
from bbp_portal.device import client_ip, device_id
from bbp_portal.directory import UserStore
from bbp_portal.mobiquity import SignInApi
from bbp_portal.notices import NoticeStore
from bbp_portal.settings import PortalSettings
from bbp_portal.timing import FailureTiming
from bbp_portal.tokens import TokenVault

log = get_logger(__name__)


@dataclass
class Services:
    settings: PortalSettings
    users: UserStore
    audit: AuditStore
    mobiquity: SignInApi
    vault: TokenVault
    timing: FailureTiming
    reset_timing: FailureTiming
    notices: NoticeStore


def services() -> Services:
    return current_app.extensions["bbp.services"]  # type: ignore[no-any-return]


def record(
    action: str,
    *,
    actor: str | None,
    outcome: str = "ok",
    target_type: str | None = None,
    target_id: str | None = None,
    **details: Any,
) -> None:
    """Write an audit entry with this request's IP and device id, and log it (no secrets)."""
    in_request = has_request_context()
    event = AuditEvent(
        action=action,
        actor=actor,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        ip=client_ip() if in_request else None,
        device_id=device_id() if in_request else None,
        details={k: v for k, v in details.items() if v is not None},
    )
    services().audit.write(event)
    log.info(
        "audit",
        action=action,
        actor=actor,
        outcome=outcome,
        target_id=target_id,
        ip=event.ip,
        **event.details,
    )
