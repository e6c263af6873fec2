"""What the sinks received, and the faults they were told to play (in memory, one process).

Faults (``POST /__sandbox__/faults``): ``{"channel": "mail"|"sms", "fault": …, "times"?,
"to"?, "seconds"?}`` — ``outage`` (mail: SMTP 421 at DATA; SMS: HTTP 503; nothing kept),
``permanent`` (mail: 550 for the recipient; SMS: HTTP 200 with ``"status": "FAILED"``;
nothing kept) and ``slow`` (kept, then the answer waits ``seconds``: the sender may give up
or die while the message is already delivered). ``times`` = how many messages it affects
(default: until cleared); ``to`` limits it to one recipient.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

CHANNELS = ("mail", "sms")
FAULTS = ("outage", "permanent", "slow")


class FaultError(ValueError):
    """A fault the sinks cannot play; the message says why."""


@dataclass
class Fault:
    id: int
    channel: str
    fault: str
    times: int | None = None
    to: str | None = None
    seconds: float = 10.0
    applied: int = 0

    def matches(self, channel: str, recipients: list[str]) -> bool:
        if self.channel != channel:
            return False
        if self.to is None:
            return True
        wanted = self.to.lower()
        return any(wanted in r.lower() for r in recipients)


def now_text() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


@dataclass
class SinkState:
    """Mail and SMS kept, oldest first, and the active faults. Thread-safe."""

    mails: list[dict[str, Any]] = field(default_factory=list)
    sms: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _fault_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.mails.clear()
            self.sms.clear()
            self.faults.clear()
            self.refused.clear()

    def add_fault(self, spec: dict[str, Any]) -> Fault:
        channel, kind = spec.get("channel"), spec.get("fault")
        if channel not in CHANNELS:
            raise FaultError(f"channel must be one of {', '.join(CHANNELS)}")
        if kind not in FAULTS:
            raise FaultError(f"fault must be one of {', '.join(FAULTS)}")
        unknown = set(spec) - {"channel", "fault", "times", "to", "seconds"}
        if unknown:
            raise FaultError(f"unknown fields: {', '.join(sorted(unknown))}")
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise FaultError("times must be a positive integer")
        seconds = float(spec.get("seconds", 10.0))
        with self.lock:
            fault = Fault(next(self._fault_ids), channel, kind, times, spec.get("to"), seconds)
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> int:
        with self.lock:
            removed = len(self.faults)
            self.faults.clear()
        return removed

    def take_fault(self, channel: str, recipients: list[str]) -> Fault | None:
        """The first fault that matches this message (its ``times`` is used up by one)."""
        with self.lock:
            for fault in self.faults:
                if fault.matches(channel, recipients):
                    fault.applied += 1
                    if fault.times is not None and fault.applied >= fault.times:
                        self.faults.remove(fault)
                    return Fault(**asdict(fault))
        return None

    def keep(self, channel: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            record = {"seq": next(self._seq), "received_at": now_text(), **record}
            (self.mails if channel == "mail" else self.sms).append(record)
        return record

    def note_refused(self, channel: str, recipients: list[str], fault: str) -> None:
        with self.lock:
            self.refused.append(
                {
                    "channel": channel,
                    "to": recipients,
                    "fault": fault,
                    "received_at": now_text(),
                }
            )

    def list(self, channel: str, to: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            items = list(self.mails if channel == "mail" else self.sms)
        if to:
            wanted = to.lower()
            items = [i for i in items if any(wanted in r.lower() for r in _recipients(i))]
        return items


def _recipients(item: dict[str, Any]) -> list[str]:
    if "rcpt_tos" in item:
        return [str(r) for r in item["rcpt_tos"]]
    return [str(item.get("to", "")), str(item.get("to_local", ""))]
