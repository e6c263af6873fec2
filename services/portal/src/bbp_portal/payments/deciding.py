"""Making and approving a bulk resolution as the signed-in superadmin: what the page
(:mod:`~bbp_portal.payments.resolving`) and the API (:mod:`~bbp_portal.payments.resolutions_api`)
both do, with the same step-up rule, payment SMS settings and relay. The rules are
:mod:`~bbp_portal.payments.resolutions`'.
"""

from __future__ import annotations

from typing import Any

from bbp_portal.auth import step_up_fresh
from bbp_portal.bulk.publishing import relay
from bbp_portal.payments import resolutions
from bbp_portal.view_context import actor, engine, settings


def confirm_as_me(
    ids: list[int], outcome: str, comment: str | None, key: str, reconciliation_id: int | None
) -> resolutions.Done:
    """Make a bulk resolution as the signed-in superadmin (the page and the API), with this
    session's step-up for ``key``; above the threshold it waits for a second superadmin."""
    return resolutions.confirm(
        engine(),
        actor(),
        ids,
        outcome,
        comment,
        key=key,
        threshold=settings().bulk_resolve_second_approval_above,
        reconciliation_id=reconciliation_id,
        **_deciding("resolve", key),
    )


def approve_as_me(resolution_id: int, comment: str | None) -> resolutions.Done:
    """Approve a waiting bulk resolution as the signed-in superadmin (the page and the API),
    with this session's step-up for it."""
    return resolutions.approve(
        engine(), actor(), resolution_id, comment, **_deciding("resolution", str(resolution_id))
    )


def _deciding(action: str, target: str) -> dict[str, Any]:
    """What a decision is made with: the step-up rule and whether this session made a fresh
    one for ``action`` on ``target``, the payment SMS settings, the relay."""
    return {
        "step_up_required": settings().step_up,
        "stepped_up": step_up_fresh(action, target),
        "payment_sms": settings(),
        "relay": relay(),
    }
