"""Fault injection: faults set through `POST /__sandbox__/faults` and the magic consumer ids.

A request is matched against the faults once, when it arrives, giving a `Plan`: what to do
before processing (latency, 401, 500) and after it (drop, 500, malformed JSON, slow).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Every endpoint but the token call: the calls that carry a bearer token.
BEARER_ENDPOINTS = (
    "login",
    "login_confirm",
    "change_credential",
    "reset_initiate",
    "reset_validate",
    "reset_confirm",
    "fetch",
    "billpay",
    "enquiry",
)
ENDPOINTS = ("token", *BEARER_ENDPOINTS)
ANY_ENDPOINT = "*"

# What happens after processing, in the ledger's `answered` vocabulary.
DROP = "dropped"
AFTER_500 = "500_after"
MALFORMED = "malformed"
SLOW = "slow"
ANSWERED = "answered"

AFTER_EFFECTS = {
    "drop_after_process": DROP,
    "error_500_after_process": AFTER_500,
    "malformed_json": MALFORMED,
    "slow": SLOW,
}
FAULT_KINDS = (
    "latency",
    "slow",
    "drop_after_process",
    "error_500_after_process",
    "error_500_before_process",
    "malformed_json",
    "token_expired",
    "wrong_mpin",
    "insufficient_balance",
)
BILLPAY_ONLY = ("wrong_mpin", "insufficient_balance")

# Magic consumer ids (docs/decisions.md): prefix -> (endpoint, effect).
MAGIC: dict[str, tuple[str, str]] = {
    "9901": ("fetch", "error_500_before_process"),
    "9902": ("billpay", "drop_after_process"),
    "9903": ("billpay", "error_500_after_process"),
    "9904": ("billpay", "error_500_before_process"),
    "9905": ("billpay", "malformed_json"),
    "9906": ("billpay", "slow"),
    "9907": ("billpay", "insufficient_balance"),
    "9908": ("billpay", "wrong_mpin"),
    "9909": ("enquiry", "slow"),
}


class FaultError(ValueError):
    """A fault definition the sandbox refuses (answered 400 by the control API)."""


@dataclass
class Fault:
    """One active fault; `times` counts down the calls it may still affect (None: unlimited)."""

    id: int
    endpoint: str
    fault: str
    consumer_id: str | None = None
    reference: str | None = None
    probability: float = 1.0
    latency_ms: int = 0
    seconds: float | None = None
    times: int | None = None
    token_seq_limit: int = 0
    applied: int = 0

    def matches(self, endpoint: str, consumer_id: str | None, reference: str | None) -> bool:
        """Whether the fault's scope covers the call (probability aside)."""
        if self.endpoint not in (endpoint, ANY_ENDPOINT):
            return False
        if self.consumer_id is not None and self.consumer_id != consumer_id:
            return False
        return self.reference is None or self.reference == reference

    def to_json(self) -> dict[str, Any]:
        """The fault as `GET /__sandbox__/faults` lists it: every field but the token limit."""
        return {k: v for k, v in asdict(self).items() if k != "token_seq_limit"}


def parse_fault(body: Mapping[str, Any], fault_id: int, token_seq: int) -> Fault:
    """Validate a `POST /__sandbox__/faults` body; `token_seq` is the last token issued."""
    allowed = {
        "endpoint",
        "fault",
        "consumer_id",
        "reference",
        "probability",
        "latency_ms",
        "seconds",
        "times",
    }
    unknown = set(body) - allowed
    if unknown:
        raise FaultError(f"unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    endpoint = body.get("endpoint")
    kind = body.get("fault")
    if endpoint not in (*ENDPOINTS, ANY_ENDPOINT):
        raise FaultError(f"endpoint must be one of {[*ENDPOINTS, ANY_ENDPOINT]}")
    if kind not in FAULT_KINDS:
        raise FaultError(f"fault must be one of {list(FAULT_KINDS)}")
    if kind in BILLPAY_ONLY and endpoint != "billpay":
        raise FaultError(f"{kind} applies to the billpay endpoint only")
    if kind == "token_expired" and endpoint == "token":
        raise FaultError("token_expired applies to endpoints called with a bearer token")
    try:
        probability = float(body.get("probability", 1.0))
        latency_ms = int(body.get("latency_ms", 0))
        seconds = None if body.get("seconds") is None else float(body["seconds"])
        times = None if body.get("times") is None else int(body["times"])
    except (TypeError, ValueError):
        raise FaultError("probability, latency_ms, seconds and times must be numbers") from None
    if not 0.0 <= probability <= 1.0:
        raise FaultError("probability must be between 0 and 1")
    if latency_ms < 0 or (seconds is not None and seconds < 0):
        raise FaultError("latency_ms and seconds must not be negative")
    if kind == "latency" and latency_ms == 0:
        raise FaultError("a latency fault needs latency_ms > 0")
    if times is not None and times < 1:
        raise FaultError("times must be at least 1 (omit it for unlimited)")
    for key in ("consumer_id", "reference"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise FaultError(f"{key} must be a string")
    return Fault(
        id=fault_id,
        endpoint=str(endpoint),
        fault=str(kind),
        consumer_id=body.get("consumer_id"),
        reference=body.get("reference"),
        probability=probability,
        latency_ms=latency_ms,
        seconds=seconds,
        times=times,
        token_seq_limit=token_seq,
    )


@dataclass
class Plan:
    """What the faults (and magic ids) do to one call."""

    latency_ms: int = 0
    token_expired: bool = False
    before_500: bool = False
    after: str = ANSWERED
    slow_seconds: float = 0.0
    wrong_mpin: bool = False
    insufficient_balance: bool = False
    fault_ids: list[int] = field(default_factory=list)

    def add(self, kind: str, *, latency_ms: int = 0, seconds: float = 0.0) -> None:
        """Fold one effect in: latencies add up, the first after-effect wins."""
        if kind == "latency":
            self.latency_ms += latency_ms
        elif kind == "token_expired":
            self.token_expired = True
        elif kind == "error_500_before_process":
            self.before_500 = True
        elif kind == "wrong_mpin":
            self.wrong_mpin = True
        elif kind == "insufficient_balance":
            self.insufficient_balance = True
        elif kind in AFTER_EFFECTS and self.after == ANSWERED:
            self.after = AFTER_EFFECTS[kind]
            if kind == "slow":
                self.slow_seconds = seconds


def magic_effect(endpoint: str, consumer_id: str | None) -> str | None:
    """The fault a magic consumer id builds in for this endpoint, if any."""
    if not consumer_id:
        return None
    magic = MAGIC.get(consumer_id[:4])
    if magic is None or magic[0] != endpoint:
        return None
    return magic[1]


def plan_call(
    faults: list[Fault],
    endpoint: str,
    consumer_id: str | None,
    reference: str | None,
    token_seq: int | None,
    slow_seconds: float,
    rng: random.Random,
) -> tuple[Plan, list[Fault]]:
    """Match a call against the faults; returns the plan and the faults used up.

    Called under the state lock: `times` counts down here. A `token_expired` fault only
    counts (and only applies) when the call carries a token issued before the fault.
    """
    plan = Plan()
    exhausted: list[Fault] = []
    for fault in faults:
        if not fault.matches(endpoint, consumer_id, reference):
            continue
        if fault.fault == "token_expired" and (
            token_seq is None or token_seq > fault.token_seq_limit
        ):
            continue
        if fault.probability < 1.0 and rng.random() >= fault.probability:
            continue
        plan.add(
            fault.fault,
            latency_ms=fault.latency_ms,
            seconds=slow_seconds if fault.seconds is None else fault.seconds,
        )
        plan.fault_ids.append(fault.id)
        fault.applied += 1
        if fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                exhausted.append(fault)
    magic = magic_effect(endpoint, consumer_id)
    if magic is not None:
        plan.add(magic, seconds=slow_seconds)
    return plan, exhausted
