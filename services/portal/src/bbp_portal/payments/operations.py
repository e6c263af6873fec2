"""Every change an admin makes to payments and payment requests, each in one transaction.

Why one transaction each: the change, its audit entry, its notifications (maker-checker) and
its outbox row (``request.submitted`` / ``request.changed``, so the scheduler reacts at once)
commit together or not at all. The outbox row is then published right after the commit by
the worker's relay (best effort; the scheduler's relay publishes whatever is left).

Money rules enforced here (and tested in ``tests/integration/payments``):

* A request is re-read under its row lock (``SELECT … FOR UPDATE``) before it changes, and
  every change is conditional on the state it was read in: two people clicking at once, or a
  person and the scheduler's auto-pause, never both win.
* Maker-checker, on by default (``bbp_common.core.domain.approvals``): a request above the
  per-request limit, one that takes its maker's Asia/Dhaka day above the daily limit, and one
  created without a step-up (the API) waits for approval. The maker never approves (or
  rejects) their own request — except one that waits *only* for the step-up its maker did
  not make: its maker confirms it with a step-up (what they would have done on the page).
* Step-up: approving needs a fresh step-up of the approving person (the views and the API
  say whether the session has one; this module refuses without it).
* Approval re-checks freshness: a request approved after its bills went stale is refused —
  except a scheduled one (it goes to ``scheduled``: each bill is fetched again at its due
  time, which renews it).
* Scheduled payments whose amount changed at that fetch wait for a person: another admin
  approves the new amounts (with a step-up; the maker only where maker-checker is off
  altogether) — each is then fetched once more before it goes — or anyone cancels them.
* "Pay again" of a finished request fetches the bills it offers (``again``) again; the new
  request is created from that fetch through the usual confirmation, and re-checked then.
* Rejecting or cancelling cancels only *queued* payments (``cancel_queued_payments``:
  conditional, evented, tallied); what is in flight finishes.
* Only a superadmin moves an ``uncleared`` payment, through the payment store with
  the person as ``actor`` and ``resolved_by/at/resolution_comment`` set. "Not paid" clears the
  live-bill key, so the bill can be paid again — with a new payment and a new reference id.
* Only a superadmin closes the wallet breaker (``open → probing``).

These functions know nothing of Flask: the views and the API pass the engine, the acting
person and the relay, so tests call them directly.

Why one module of more than 400 lines: these are every change a person makes to payments,
side by side under the money rules above, which they enforce together (the request lock,
the maker-checker and superadmin checks, the comment rules); callers and tests reach them
all as ``operations.*``. The writes they build on are in ``service`` (creating a payment
request, cancelling its queued payments).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from bbp_common.core import notifications
from bbp_common.core.domain.approvals import ApprovalLimits, ApprovalReason, parse_reasons
from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.domain.requests import PAUSABLE, RequestKind, RequestState
from bbp_common.core.domain.schedules import Hold, Schedule
from bbp_common.core.stores import PaymentStore, RequestStore, WalletBreaker
from bbp_common.core.stores.payments import SuccessUnacknowledged
from bbp_common.core.stores.requests import RequestRow
from bbp_common.core.stores.sql import NOW
from bbp_common.platform.db.retry import retry_transaction
from bbp_common.platform.db.tables import bills, bulk_requests, payment_anomalies, payments
from bbp_common.platform.logging import get_correlation_id, get_logger
from bbp_portal import notifications as notices
from bbp_portal.audit_trail import Actor, record
from bbp_portal.bulk.service import (
    Created,
    NothingSelected,
    Relay,
    add_fetch_request,
    relay_now,
    request_changed,
    submit,
)
from bbp_portal.payments import again as pay_again_offer
from bbp_portal.payments import service
from bbp_portal.service_errors import (
    Conflict,
    Forbidden,
    NotFound,
    Refused,
    ServiceError,
    ValidationFailed,
)
from bbp_portal.settings import PortalSettings

log = get_logger(__name__)
S = PaymentState

COMMENT_MAX = 500
RESOLUTIONS = {"paid": S.SUCCEEDED, "not_paid": S.FAILED}


def _require_step_up_to_approve(required: bool, stepped_up: bool) -> None:
    """Every approval (a request, or a scheduled request's new amounts) asks the same
    fresh step-up, refused in the same words."""
    if required and not stepped_up:
        raise Forbidden(
            "step_up_required",
            "Approving needs a step-up: confirm it is you (password and OTP) in the portal, "
            "then approve within a few minutes.",
        )


def _comment(text: str | None, *, required: bool, what: str = "comment") -> str:
    value = " ".join((text or "").split())
    if required and not value:
        raise ValidationFailed("comment_required", f"A {what} is required.", "comment")
    if len(value) > COMMENT_MAX:
        raise ValidationFailed(
            "comment_too_long", f"The {what} is at most {COMMENT_MAX} characters.", "comment"
        )
    return value


def _superadmin(actor: Actor, what: str) -> None:
    """Defence in depth: the views check the role too, this keeps the rule with the change."""
    if actor.role != "superadmin":
        raise Forbidden("superadmin_only", f"Only a superadmin may {what}.")


# --------------------------------------------------------------------------- creating


@dataclass(frozen=True)
class PayPolicy:
    """What the settings say about paying: freshness, maker-checker, step-up, size.

    The defaults here are "off" (for tests of one rule at a time); the settings' defaults
    are on (``from_settings``)."""

    max_bill_age: timedelta
    approval_threshold: Decimal | None = None
    max_bills: int = 20_000
    daily_threshold: Decimal | None = None
    step_up: bool = False

    @classmethod
    def from_settings(cls, settings: PortalSettings) -> PayPolicy:
        return cls(
            max_bill_age=timedelta(seconds=settings.pay_max_bill_age),
            approval_threshold=settings.approval_threshold,
            max_bills=settings.pay_max_bills,
            daily_threshold=settings.approval_daily_threshold,
            step_up=settings.step_up,
        )

    @property
    def limits(self) -> ApprovalLimits:
        return ApprovalLimits(self.approval_threshold, self.daily_threshold)


def idempotency_key(login_id: str, key: str) -> str:
    """The stored key: the person's own key, scoped to them (another person's key, or a key
    guessed from a page, never returns someone else's request), 64 hex characters."""
    return hashlib.sha256(f"{login_id.lower()}\x00{key}".encode()).hexdigest()


def create_payment(
    engine: Engine,
    actor: Actor,
    bill_ids: Sequence[int],
    *,
    key: str,
    policy: PayPolicy,
    selection: str = "",
    via: str = "page",
    relay: Relay | None = None,
    stepped_up: bool = False,
    refuse_without_step_up: bool = False,
    schedule: Schedule | None = None,
    again: int | None = None,
) -> Created:
    """Create a payment request for ``bill_ids`` — once per ``key``.

    The key is minted with the confirmation page (or chosen by the API client): the same key
    returns the request it created (double click, back button, two tabs). Amounts come from
    our database. Over a limit of ``policy`` the request waits for another admin and the
    approvers are e-mailed; the audit entry and those e-mails commit with the request.

    ``stepped_up``: the person made a fresh step-up for this key. Without one (and with
    ``policy.step_up``) a request that would be sent at once waits for approval instead —
    or, with ``refuse_without_step_up`` (the pages, which ask for the step-up first), is
    refused with ``step_up_required`` and nothing is written.

    ``schedule``: it starts at its time (``service.create_payment_request``). ``again``: it
    pays again what failed in that finished request — only bills it offers.
    """
    key = (key or "").strip()
    if not key or len(key) > 200:
        raise ValidationFailed(
            "idempotency_key_required",
            "An idempotency key (1–200 characters) is required to create a payment request.",
            "idempotency_key",
        )
    ids = sorted(set(bill_ids))
    if len(ids) > policy.max_bills:
        raise ValidationFailed(
            "too_many_bills",
            f"At most {policy.max_bills:,} bills in one payment request.",
            "bill_ids",
        )

    def on_created(conn: Connection, request_id: int, awaiting: bool) -> None:
        total = conn.execute(
            select(bulk_requests.c.total_amount).where(bulk_requests.c.id == request_id)
        ).scalar_one()
        reason = conn.execute(
            select(bulk_requests.c.approval_reason).where(bulk_requests.c.id == request_id)
        ).scalar_one()
        record(
            conn,
            actor,
            "request.payment_created",
            target_type="request",
            target_id=request_id,
            payments=len(ids),
            total=str(total),
            awaiting_approval=awaiting,
            approval_reason=reason,
            stepped_up=stepped_up,
            via=via,
            start_at=schedule.start_at.isoformat() if schedule else None,
            days_before_due=schedule.days_before_due if schedule else None,
            pays_again=again,
        )
        if awaiting:
            notices.approval_needed(conn, request_id)

    try:
        return service.create_payment_request(
            engine,
            actor.login_id,
            ids,
            idempotency_key=idempotency_key(actor.login_id, key),
            max_bill_age=policy.max_bill_age,
            limits=policy.limits,
            step_up_missing=policy.step_up and not stepped_up,
            refuse_without_step_up=refuse_without_step_up,
            selection=selection,
            relay=relay,
            on_created=on_created,
            schedule=schedule,
            origin=service.Origin("pay_again", again, pay_again_offer.vet(again))
            if again is not None
            else None,
        )
    except service.StepUpMissing as exc:
        raise Forbidden("step_up_required", str(exc)) from None
    except service.ScheduleInvalid as exc:
        raise ValidationFailed(exc.code, str(exc), "start_at") from None
    except NothingSelected as exc:
        # valid input, but no pending bill matches now: the state, not the value (409)
        raise Conflict("nothing_selected", str(exc), "bill_ids") from None
    except service.BillsUnavailable as exc:
        raise Refused(
            "bills_unavailable",
            str(exc),
            {str(bill_id): problem for bill_id, problem in sorted(exc.problems.items())},
            "bill_ids",
        ) from None


# --------------------------------------------------------------------------- the request


def _lock_request(requests: RequestStore, request_id: int) -> RequestRow:
    row = requests.lock(request_id)
    if row is None:
        raise NotFound(f"There is no request {request_id}.")
    return row


def approval_reasons_of(conn: Connection, request_id: int) -> tuple[ApprovalReason, ...]:
    """Why a payment request waits (or waited) for approval."""
    stored = conn.execute(
        select(bulk_requests.c.approval_reason).where(bulk_requests.c.id == request_id)
    ).scalar()
    return parse_reasons(stored)


def _decide_checks(request: RequestRow, actor: Actor, *, maker_may: bool = False) -> None:
    """``maker_may``: the maker is confirming a request that waited only for their step-up."""
    if request.kind is not RequestKind.PAYMENT:
        raise Conflict("not_a_payment", f"Request {request.id} is not a payment request.")
    if request.state is not RequestState.AWAITING_APPROVAL:
        raise Conflict(
            "not_awaiting_approval",
            f"Request {request.id} is {request.state.value.replace('_', ' ')},"
            " not awaiting approval.",
        )
    if request.created_by.lower() == actor.login_id.lower() and not maker_may:
        raise Forbidden(
            "maker_cannot_approve",
            "You created this request: another admin must approve or reject it.",
        )


def stale_payments(conn: Connection, request_id: int, max_bill_age: timedelta) -> int:
    """Queued payments of the request whose bill was fetched longer ago than allowed."""
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    return int(
        conn.execute(
            select(func.count())
            .select_from(payments.join(bills, bills.c.id == payments.c.bill_id))
            .where(
                payments.c.request_id == request_id,
                payments.c.state == S.QUEUED.value,
                bills.c.fetched_at < now - max_bill_age,
            )
        ).scalar_one()
    )


@retry_transaction
def approve(
    engine: Engine,
    actor: Actor,
    request_id: int,
    comment: str | None,
    *,
    max_bill_age: timedelta | None = None,
    relay: Relay | None = None,
    step_up_required: bool = False,
    stepped_up: bool = False,
) -> None:
    """``awaiting_approval → queued`` by another admin, with ``request.submitted`` — or
    ``→ scheduled`` for a scheduled request, whatever the time (one whose start passed while
    it waited starts at once; the scheduler finds it).

    Refused without a fresh step-up when ``step_up_required`` (``step_up_required``), for
    the maker (unless the request waited only for the maker's step-up and they made one now:
    they confirm it), for a request not awaiting approval, and — with ``max_bill_age`` — when
    any of its bills went stale while it waited (reject it and pay fresh bills). A scheduled
    request skips that check: each bill is fetched again at its due time before it is paid.
    """
    text = _comment(comment, required=True)
    _require_step_up_to_approve(step_up_required, stepped_up)
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        reasons = approval_reasons_of(conn, request_id)
        by_maker = request.created_by.lower() == actor.login_id.lower()
        _decide_checks(
            request, actor, maker_may=stepped_up and reasons == (ApprovalReason.STEP_UP,)
        )
        scheduled = _start_of(conn, request_id) is not None
        if max_bill_age is not None and not scheduled:
            stale = stale_payments(conn, request_id, max_bill_age)
            if stale:
                raise Conflict(
                    "bills_stale",
                    f"{stale:,} of its bills were fetched too long ago and may have been paid "
                    "elsewhere meanwhile: reject it, fetch them again and create a new request.",
                )
        requests.move(
            request,
            RequestState.SCHEDULED if scheduled else RequestState.QUEUED,
            f"approved by {actor.login_id}",
            {"approved_by": actor.login_id, "approved_at": NOW, "approval_comment": text},
        )
        # A scheduled request needs no message: the scheduler looks for due ones itself.
        message_id = None if scheduled else submit(conn, request_id, "payment")
        if not by_maker:
            notices.request_approved(conn, request_id)
        record(
            conn,
            actor,
            "request.approved",
            target_type="request",
            target_id=request_id,
            comment=text,
            maker=request.created_by,
            total=str(request.total_amount),
            approval_reason=",".join(reasons) or None,
            confirmed_by_maker=by_maker,
            stepped_up=stepped_up,
            scheduled=scheduled,
        )
    if message_id is not None:
        relay_now(relay, [message_id])
    log.info("payment_request_approved", request_id=request_id, by=actor.login_id)


def _start_of(conn: Connection, request_id: int) -> Any:
    """A scheduled payment request's start time (None: it pays when it may)."""
    return conn.execute(
        select(bulk_requests.c.start_at).where(bulk_requests.c.id == request_id)
    ).scalar()


@retry_transaction
def reject(engine: Engine, actor: Actor, request_id: int, comment: str | None) -> int:
    """``awaiting_approval → rejected`` by another admin: its payments are cancelled (nothing
    of it was ever dispatched) and their bills are free again. Returns payments cancelled."""
    text = _comment(comment, required=True)
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        _decide_checks(request, actor)
        cancelled, _amount = service.cancel_queued_payments(
            conn, request_id, actor.login_id, cause="request rejected"
        )
        requests.move(
            request,
            RequestState.REJECTED,
            f"rejected by {actor.login_id}",
            {
                "approved_by": actor.login_id,
                "approved_at": NOW,
                "approval_comment": text,
                "finished_at": NOW,
            },
        )
        notices.request_rejected(conn, request_id)
        record(
            conn,
            actor,
            "request.rejected",
            target_type="request",
            target_id=request_id,
            comment=text,
            maker=request.created_by,
            cancelled_payments=cancelled,
        )
    log.info("payment_request_rejected", request_id=request_id, by=actor.login_id)
    return cancelled


@retry_transaction
def pause(
    engine: Engine,
    actor: Actor,
    request_id: int,
    comment: str | None = None,
    *,
    relay: Relay | None = None,
) -> None:
    """``queued | running → paused``: nothing more of it is dispatched; what is in flight
    finishes, and ambiguous payments are still enquired (the money may have moved).

    The scheduler re-reads the request with a shared lock in each dispatch transaction, so
    once this commits no further payment of it is marked dispatched.
    """
    text = _comment(comment, required=False, what="reason")
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        if request.state not in PAUSABLE:
            raise Conflict(
                "not_pausable",
                f"A {request.state.value.replace('_', ' ')} request cannot be paused.",
            )
        reason = f"paused by {actor.login_id}" + (f": {text}" if text else "")
        requests.move(
            request,
            RequestState.PAUSED,
            reason,
            {"paused_by": actor.login_id, "paused_reason": reason[:255]},
        )
        message_id = request_changed(conn, request_id, "paused")
        record(
            conn,
            actor,
            "request.paused",
            target_type="request",
            target_id=request_id,
            comment=text,
            was=request.state,
        )
    relay_now(relay, [message_id])
    log.info("request_paused", request_id=request_id, by=actor.login_id)


@retry_transaction
def resume(
    engine: Engine,
    actor: Actor,
    request_id: int,
    comment: str | None = None,
    *,
    relay: Relay | None = None,
) -> None:
    """``paused → running`` (``queued`` if it never started): dispatch goes on. Clears the
    pause reason, an auto-pause's included; the audit entry keeps what it was."""
    text = _comment(comment, required=False)
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        if request.state is not RequestState.PAUSED:
            raise Conflict(
                "not_paused",
                f"A {request.state.value.replace('_', ' ')} request cannot be resumed.",
            )
        target = RequestState.RUNNING if request.started_at is not None else RequestState.QUEUED
        requests.move(
            request,
            target,
            f"resumed by {actor.login_id}",
            {"paused_by": None, "paused_reason": None},
        )
        message_id = request_changed(conn, request_id, "resumed")
        record(
            conn,
            actor,
            "request.resumed",
            target_type="request",
            target_id=request_id,
            comment=text,
            paused_by=request.paused_by,
            paused_reason=request.paused_reason,
        )
    relay_now(relay, [message_id])
    log.info("request_resumed", request_id=request_id, by=actor.login_id)


# --------------------------------------------------------------------------- changed amounts


def _changed(store: PaymentStore, request_id: int) -> list[Any]:
    return store.lock_where(
        "request_id = %s AND state = %s AND hold = %s",
        (request_id, S.SCHEDULED.value, Hold.CHANGED.value),
        limit=10**9,
    )


@retry_transaction
def approve_changed(
    engine: Engine,
    actor: Actor,
    request_id: int,
    comment: str | None,
    *,
    policy: PayPolicy,
    stepped_up: bool = False,
) -> int:
    """Approve the new amounts of a scheduled request's payments whose bill, fetched again
    at its due time, asked another amount. Each becomes due now and is fetched once more
    before it goes (and goes only if that amount still holds). Returns how many.

    Another admin than the maker approves (the maker may only where maker-checker is off
    altogether), with a fresh step-up when ``policy.step_up`` — the same rules as approving
    a request; a comment is required."""
    text = _comment(comment, required=True)
    _require_step_up_to_approve(policy.step_up, stepped_up)
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        if request.kind is not RequestKind.PAYMENT:
            raise Conflict("not_a_payment", f"Request {request_id} is not a payment request.")
        checked = policy.approval_threshold is not None or policy.daily_threshold is not None
        if checked and request.created_by.lower() == actor.login_id.lower():
            raise Forbidden(
                "maker_cannot_approve",
                "You created this request: another admin must approve the new amounts.",
            )
        store = PaymentStore(conn, actor=f"portal:{actor.login_id}")
        changed = _changed(store, request_id)
        if not changed:
            raise Conflict("nothing_changed", "No payment of this request waits for a person.")
        approved = store.approve_changed(changed, person=actor.login_id)
        record(
            conn,
            actor,
            "request.changed_amounts_approved",
            target_type="request",
            target_id=request_id,
            comment=text,
            maker=request.created_by,
            payments=[p.reference_id for p in approved][:100],
            total=str(sum((p.total for p in approved), Decimal("0"))),
            stepped_up=stepped_up,
        )
    log.info("changed_amounts_approved", request_id=request_id, payments=len(approved))
    return len(approved)


@retry_transaction
def cancel_changed(engine: Engine, actor: Actor, request_id: int, comment: str | None) -> int:
    """Cancel the payments of a scheduled request whose amount changed (their bills are free
    again; pay them later from fresh bills). Any operator. Returns how many."""
    text = _comment(comment, required=False)
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        request = _lock_request(requests, request_id)
        store = PaymentStore(conn, actor=f"portal:{actor.login_id}")
        changed = _changed(store, request_id)
        if not changed:
            raise Conflict("nothing_changed", "No payment of this request waits for a person.")
        cancelled = store.cancel(
            changed, f"amount changed before paying; cancelled by {actor.login_id}"
        )
        record(
            conn,
            actor,
            "request.changed_amounts_cancelled",
            target_type="request",
            target_id=request_id,
            comment=text,
            maker=request.created_by,
            payments=[p.reference_id for p in cancelled][:100],
        )
    # Its other payments may all be done: the scheduler's sweep finishes it then.
    log.info("changed_amounts_cancelled", request_id=request_id, payments=len(cancelled))
    return len(cancelled)


# --------------------------------------------------------------------------- pay again


@retry_transaction
def pay_again(
    engine: Engine, actor: Actor, request_id: int, *, relay: Relay | None = None
) -> Created:
    """ "Pay again" of a finished payment request, step one: a fetch request of the accounts
    of the bills it offers (``again.offer``), made from it (``origin`` pay_again). Its page
    leads, once it finished, to the usual confirmation of a new payment request of those
    bills (``create_payment(again=…)``). Refused (``nothing_to_pay_again``) when it offers
    none."""
    with engine.begin() as conn:
        requests = RequestStore(conn, actor=f"portal:{actor.login_id}")
        _lock_request(requests, request_id)
        found = pay_again_offer.offer(conn, request_id)
        if not found.count:
            raise Conflict(
                "nothing_to_pay_again",
                f"No bill of request {request_id} may be paid again: none failed on Mobiquity's"
                " answer or ended unsent, or every such bill is paid again already or under"
                " an alarm.",
            )
        try:
            fetch_id, items = add_fetch_request(
                conn,
                actor.login_id,
                found.accounts,
                selection=f"pay again: {found.count} bills that failed in payment request"
                f" #{request_id}",
                cause=f"pay again of payment request #{request_id}",
                correlation_id=get_correlation_id(),
                source_request_id=request_id,
                origin="pay_again",
            )
        except NothingSelected:
            raise Conflict(
                "nothing_to_pay_again",
                "The accounts of these bills are all inactive: activate them first.",
            ) from None
        message_id = submit(conn, fetch_id, "fetch")
        record(
            conn,
            actor,
            "request.pay_again_started",
            target_type="request",
            target_id=request_id,
            fetch_request_id=fetch_id,
            bills=found.count,
            accounts=items,
            left_out=found.left_out,
        )
    relay_now(relay, [message_id])
    log.info("pay_again_started", request_id=request_id, fetch_request_id=fetch_id)
    return Created(fetch_id, items)


# --------------------------------------------------------------------------- payments


@retry_transaction
def resolve(
    engine: Engine,
    actor: Actor,
    payment_id: int,
    resolution: str,
    comment: str | None,
    *,
    payment_sms: notifications.PaymentSmsSettings | None = None,
    relay: Relay | None = None,
) -> PaymentState:
    """A superadmin settles an ``uncleared`` payment after checking Mobiquity's reports:
    ``paid`` → succeeded, ``not_paid`` → failed (the bill is free to be paid again).

    Through the payment store: on the locked row, still uncleared, evented with the
    person as actor, tallied. Paid: the payment-submitted SMS to the bill account's mobile
    (worded as paid), when ``payment_sms.notify_payment_sms`` is on — written in the same
    transaction, relayed right after the commit. Returns the new state.
    """
    _superadmin(actor, "resolve an uncleared payment")
    target = RESOLUTIONS.get(resolution)
    if target is None:
        raise ValidationFailed(
            "invalid_resolution", "The resolution is 'paid' or 'not_paid'.", "resolution"
        )
    text = _comment(comment, required=True)
    with engine.begin() as conn:
        store = PaymentStore(conn, actor=f"portal:{actor.login_id}")
        payment = store.lock([payment_id]).get(payment_id)
        if payment is None:
            raise NotFound(f"There is no payment {payment_id}.")
        if payment.state is not S.UNCLEARED:
            raise Conflict(
                "not_uncleared",
                f"Payment {payment.reference_id} is {payment.state}: only an uncleared payment "
                "is resolved by a person.",
            )
        try:
            store.resolve(payment, target is S.SUCCEEDED, person=actor.login_id, comment=text)
        except SuccessUnacknowledged:
            raise Conflict(
                "success_unacknowledged",
                f"Mobiquity answered that payment {payment.reference_id} succeeded, and nobody "
                "has acknowledged that answer yet: look into it on the needs-attention page "
                "before you mark it not paid.",
            ) from None
        record(
            conn,
            actor,
            "payment.resolved",
            target_type="payment",
            target_id=payment.id,
            reference_id=payment.reference_id,
            request_id=payment.request_id,
            resolution=resolution,
            state=target.value,
            total=str(payment.total),
            comment=text,
        )
        queued = None
        if target is S.SUCCEEDED and payment_sms is not None:
            queued = notifications.payment_submitted(conn, payment.id, payment_sms)
    if queued is not None and queued.message_id is not None:
        relay_now(relay, [queued.message_id])
    log.info(
        "payment_resolved",
        reference_id=payment.reference_id,
        state=target.value,
        by=actor.login_id,
    )
    return target


@retry_transaction
def acknowledge_anomaly(engine: Engine, actor: Actor, anomaly_id: int, comment: str | None) -> None:
    """A superadmin acknowledges a result that disagreed with a payment's final state (after
    looking into it), with a comment; it leaves the needs-attention list. Only once."""
    _superadmin(actor, "acknowledge a disagreeing result")
    text = _comment(comment, required=True)
    with engine.begin() as conn:
        row = conn.execute(
            select(payment_anomalies.c.reference_id, payment_anomalies.c.acknowledged_by)
            .where(payment_anomalies.c.id == anomaly_id)
            .with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"There is no result {anomaly_id} to acknowledge.")
        if row.acknowledged_by is not None:
            raise Conflict(
                "already_acknowledged", f"{row.acknowledged_by} acknowledged it already."
            )
        conn.execute(
            update(payment_anomalies)
            .where(
                payment_anomalies.c.id == anomaly_id,
                payment_anomalies.c.acknowledged_by.is_(None),
            )
            .values(
                acknowledged_by=actor.login_id,
                acknowledged_at=func.utc_timestamp(6),
                acknowledgement=text,
            )
        )
        record(
            conn,
            actor,
            "payment.anomaly_acknowledged",
            target_type="anomaly",
            target_id=anomaly_id,
            reference_id=row.reference_id,
            comment=text,
        )


@retry_transaction
def close_wallet_breaker(engine: Engine, actor: Actor, comment: str | None = None) -> None:
    """A superadmin closes the open wallet breaker (after fixing the MPIN): it goes to
    *probing* — one payment at a time until one proves the wallet authenticates."""
    _superadmin(actor, "close the wallet breaker")
    text = _comment(comment, required=False)
    with engine.begin() as conn:
        breaker = WalletBreaker(conn, actor=actor.login_id)
        if breaker.close(person=actor.login_id, comment=text) is None:
            raise Conflict(
                "breaker_not_open", f"The wallet breaker is {breaker.state()}, not open."
            )
    log.warning("wallet_breaker_closed", by=actor.login_id)


__all__ = [
    "RESOLUTIONS",
    "PayPolicy",
    "ServiceError",
    "acknowledge_anomaly",
    "approval_reasons_of",
    "approve",
    "approve_changed",
    "cancel_changed",
    "close_wallet_breaker",
    "create_payment",
    "idempotency_key",
    "pause",
    "pay_again",
    "reject",
    "resolve",
    "resume",
    "stale_payments",
]
