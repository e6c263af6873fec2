"""``notify.result``: what became of one delivery of a notification."""

from __future__ import annotations

from typing import Any

from bbp_scheduler import notifications
from bbp_scheduler.work import Work


def apply_notify_result(work: Work, body: dict[str, Any]) -> None:
    notifications.apply_result(work.conn, body)
