"""The sandbox's in-memory state, shared by every request thread of the one worker process.

One lock guards everything: every critical section is a few dictionary operations, so a
single lock costs nothing measurable and makes "check the bill is pending, then record the
payment" atomic — 50 parallel payments of one bill give exactly one acceptance.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.mobiquity import faults as faults_mod
from sandbox.mobiquity.envelopes import new_id, now_precise, utc_text
from sandbox.mobiquity.journal import Journal
from sandbox.mobiquity.settings import RuntimeConfig, Settings
from sandbox.mobiquity.users import User, demo_users

log = logging.getLogger("sandbox.mobiquity")

SYSTEM = "system"
USER = "user"


def paid_key(entry: dict[str, Any]) -> tuple[str, str, str]:
    """The (utility, consumer id, bill number) an accepted ledger entry paid."""
    return (entry["utility"], entry["consumer_id"], entry["bill_number"])


@dataclass
class Token:
    """An issued access token; the value is JWT-shaped but only looked up, never parsed."""

    value: str
    kind: str
    seq: int
    expires_at: float
    login_id: str | None = None

    def expired(self, now: float) -> bool:
        """Past its `expires_in`."""
        return now >= self.expires_at


@dataclass
class Otp:
    """An OTP bound to one paused service request; usable once, until it expires."""

    login_id: str
    code: str
    purpose: str
    service_request_id: str
    created_at: str
    created_mono: float
    used: bool = False

    def to_json(self, ttl_seconds: int) -> dict[str, Any]:
        """`GET /__sandbox__/otps/<login_id>`."""
        return {
            "login_id": self.login_id,
            "otp": self.code,
            "purpose": self.purpose,
            "created_at": self.created_at,
            "service_request_id": self.service_request_id,
            "used": self.used,
            "expired": time.monotonic() - self.created_mono > ttl_seconds,
        }


@dataclass
class ServiceRequest:
    """A paused flow waiting for `resumeServiceRequestId`: an OTP or a new password."""

    id: str
    flow: str
    """"login_otp" | "reset_otp" | "reset_new_value"."""
    login_id: str
    original_id: str
    otp: Otp | None = None
    done: bool = False


@dataclass
class Call:
    """One Mobiquity call received, for `GET /__sandbox__/calls` (pacing checks)."""

    seq: int
    endpoint: str
    method: str
    path: str
    ts: float
    consumer_id: str | None = None
    reference: str | None = None
    status: int | None = None
    answered: str | None = None
    duration_ms: float | None = None
    fault_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The call as listed; `status` is null while unanswered or when dropped."""
        listed: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if name == "ts":  # the moment in words first, as the README lists them
                listed["received_at"] = utc_text(self.ts)
            listed[name] = value
        return listed


class State:
    """Users, tokens, OTPs, paused flows, the ledger, the calls, faults and config.

    With `settings.data_dir` the ledger is also kept in a journal file there and read back
    at start (`sandbox.mobiquity.journal`); everything else is in memory only.
    """

    def __init__(self, settings: Settings, *, seed: int | None = None) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self._rng = random.Random(seed)
        self.race_probe: Callable[[], None] | None = None
        """Test seam: called between "is the bill still pending?" and "mark it paid"."""
        self.journal: Journal | None = None
        self.reset()
        if settings.data_dir:
            self.journal = Journal(settings.data_dir)
            entries = self.journal.open(holder_url=settings.control_url)
            with self.lock:
                for entry in entries:
                    self._remember(entry)
                self.order_seq = len(entries)
            if entries:
                log.info(
                    "sandbox ledger: %d billpay entries read back from %s",
                    len(entries),
                    self.journal.path,
                )

    def close(self) -> None:
        """Release the data directory (a restarted sandbox may take it)."""
        if self.journal is not None:
            self.journal.close()

    def reset(self, *, keep_tokens: bool = False) -> None:
        """Forget everything (the ledger file too) and restore the demo users and config."""
        with self.lock:
            if self.journal is not None:
                self.journal.clear()
            self.config: RuntimeConfig = self.settings.config
            self.users: dict[str, User] = demo_users()
            if not keep_tokens:
                self.tokens: dict[str, Token] = {}
                self.token_seq = 0
            self.service_requests: dict[str, ServiceRequest] = {}
            self.latest_otp: dict[str, Otp] = {}
            self.ledger: list[dict[str, Any]] = []
            self.ledger_by_reference: dict[str, list[dict[str, Any]]] = {}
            self.paid: dict[tuple[str, str, str], int] = {}
            self.accepted_refs: dict[str, int] = {}
            self.calls: list[Call] = []
            self.faults: dict[int, faults_mod.Fault] = {}
            self.fault_seq = 0
            self.order_seq = 0

    # ---- the ledger ----------------------------------------------------------------------

    def record_billpay(self, entry: dict[str, Any]) -> None:
        """Append a processed billpay to the ledger (journal first). Call under `lock`.

        Raises OSError when the journal cannot be written; the caller then undoes what the
        validation marked and answers as if the order had never been processed.
        """
        if self.journal is not None:
            self.journal.append(entry)
        self._remember(entry)

    def _remember(self, entry: dict[str, Any]) -> None:
        self.ledger.append(entry)
        reference = entry.get("reference")
        if reference is not None:
            self.ledger_by_reference.setdefault(reference, []).append(entry)
        if entry["outcome"] == "accepted":
            self.paid.setdefault(paid_key(entry), entry["seq"])
            if reference is not None:
                self.accepted_refs.setdefault(reference, entry["seq"])

    # ---- tokens --------------------------------------------------------------------------

    def issue_token(self, kind: str, login_id: str | None = None) -> Token:
        """A new access token (system or user) valid for `token_ttl_seconds`."""
        with self.lock:
            self.token_seq += 1
            seq = self.token_seq
            ttl = self.config.token_ttl_seconds
            now = time.monotonic()
            if len(self.tokens) > 10_000:
                self.tokens = {k: t for k, t in self.tokens.items() if not t.expired(now)}
        claims = {
            "jti": new_id(),
            "client_id": self.settings.client_id,
            "token_kind": kind,
            "user_name": login_id,
            "iat": int(time.time()),
            "exp": int(time.time()) + ttl,
        }
        value = self._jwt(claims)
        token = Token(value, kind, seq, now + ttl, login_id)
        with self.lock:
            self.tokens[value] = token
        return token

    def refresh_token(self, login_id: str) -> str:
        """A refresh token for the login answer; never accepted anywhere (decision 5)."""
        return self._jwt(
            {
                "jti": new_id(),
                "token_kind": "refresh",
                "user_name": login_id,
                "iat": int(time.time()),
            }
        )

    def _jwt(self, claims: dict[str, Any]) -> str:
        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "sandbox"}).encode())
        payload = b64(json.dumps(claims).encode())
        signature = hmac.new(self._signing_key, f"{header}.{payload}".encode(), "sha256")
        return f"{header}.{payload}.{b64(signature.digest())}"

    def lookup_token(self, value: str | None) -> Token | None:
        """The token behind an Authorization header value, or None."""
        if not value:
            return None
        with self.lock:
            return self.tokens.get(value)

    # ---- OTPs and paused flows -----------------------------------------------------------

    def pause(
        self,
        flow: str,
        login_id: str,
        *,
        original_id: str | None = None,
        purpose: str | None = None,
    ) -> ServiceRequest:
        """A new paused service request; with `purpose`, a fresh OTP bound to it."""
        request_id = new_id()
        otp = None
        if purpose is not None:
            otp = Otp(
                login_id,
                f"{secrets.randbelow(10**6):06d}",
                purpose,
                request_id,
                now_precise(),
                time.monotonic(),
            )
        paused = ServiceRequest(request_id, flow, login_id, original_id or request_id, otp)
        with self.lock:
            self.service_requests[request_id] = paused
            if otp is not None:
                self.latest_otp[login_id] = otp
        return paused

    # ---- faults --------------------------------------------------------------------------

    def add_fault(self, body: dict[str, Any]) -> faults_mod.Fault:
        """Validate and activate a fault (raises FaultError)."""
        with self.lock:
            fault = faults_mod.parse_fault(body, self.fault_seq + 1, self.token_seq)
            self.fault_seq += 1
            self.faults[fault.id] = fault
            return fault

    def plan(
        self, endpoint: str, consumer_id: str | None, reference: str | None, token: Token | None
    ) -> faults_mod.Plan:
        """Match a call against the active faults and the magic ids (counts `times` down)."""
        if not self.faults:  # the common case: only the magic ids can apply
            plan = faults_mod.Plan()
            magic = faults_mod.magic_effect(endpoint, consumer_id)
            if magic is not None:
                plan.add(magic, seconds=self.config.slow_seconds)
            return plan
        with self.lock:
            plan, exhausted = faults_mod.plan_call(
                list(self.faults.values()),
                endpoint,
                consumer_id,
                reference,
                token.seq if token else None,
                self.config.slow_seconds,
                self._rng,
            )
            for fault in exhausted:
                self.faults.pop(fault.id, None)
            return plan

    # ---- calls ---------------------------------------------------------------------------

    def record_call(self, endpoint: str, method: str, path: str) -> Call:
        """Append a call as it arrives; the view fills in scope and outcome."""
        with self.lock:
            call = Call(len(self.calls) + 1, endpoint, method, path, time.time())
            self.calls.append(call)
            return call

    def next_order_id(self) -> str:
        """An orderId shaped like the document's "169647-825021-446643" (unique per run)."""
        self.order_seq += 1
        return (
            f"{int(time.time()) // 10_000 % 10**6:06d}-{self.order_seq % 10**6:06d}-"
            f"{secrets.randbelow(10**6):06d}"
        )
