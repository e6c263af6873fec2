"""The scheduler's message handlers: plain functions of ``(work, body)``, one per message
type, registered explicitly in :func:`routes` (no import side effects, no ``if/elif`` on the
type). A batch of results is applied in one unit of work: each route's ``preload`` locks the
rows its messages name in one statement, then each handler runs in arrival order, then the
stores flush once (see ``bbp_scheduler.results``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bbp_common.core.messages import ENQUIRY_RESULT, FETCH_RESULT, NOTIFY_RESULT, PAY_RESULT
from bbp_scheduler.work import Work

Handler = Callable[[Work, dict[str, Any]], None]
Preload = Callable[[Work, Sequence[dict[str, Any]]], None]


@dataclass(frozen=True)
class Route:
    handle: Handler
    preload: Preload | None = None


def routes() -> dict[str, Route]:
    """Message type → handler."""
    from bbp_scheduler.handlers import enquiry, fetch, notify, pay

    return {
        FETCH_RESULT.type: Route(fetch.apply_fetch_result, fetch.preload),
        PAY_RESULT.type: Route(pay.apply_pay_result, pay.preload),
        ENQUIRY_RESULT.type: Route(enquiry.apply_enquiry_result, pay.preload),
        NOTIFY_RESULT.type: Route(notify.apply_notify_result),
    }
