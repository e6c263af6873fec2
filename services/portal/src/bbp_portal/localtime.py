"""Times as people in Bangladesh read them: Asia/Dhaka (UTC+6, no daylight saving).

The database keeps UTC (naive ``DATETIME(6)``); pages that say *when something will happen*
("next check at 14:05") say it in Dhaka time. The zone comes from the system's time-zone
database; where an image has none, Bangladesh's fixed offset (+06:00 since 2009) is the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _zone() -> tzinfo:
    try:
        return ZoneInfo("Asia/Dhaka")
    except ZoneInfoNotFoundError:  # pragma: no cover - an image without tzdata
        return timezone(timedelta(hours=6), "+06")


DHAKA = _zone()


def dhaka(moment: datetime) -> datetime:
    """``moment`` (naive UTC, as read from the database, or aware) in Dhaka time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(DHAKA)


def clock(moment: datetime, now: datetime | None = None) -> str:
    """``14:05`` when ``moment`` falls on the same Dhaka day as ``now``, else
    ``2026-12-08 14:05`` (a six-hour wait may cross midnight)."""
    local = dhaka(moment)
    if now is not None and dhaka(now).date() == local.date():
        return f"{local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


__all__ = ["DHAKA", "clock", "dhaka"]
