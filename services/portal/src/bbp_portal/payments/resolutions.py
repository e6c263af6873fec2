"""Bulk resolution of uncleared payments (issue 18): a superadmin settles many at once, with
one comment, after reading Mobiquity's report (or a reconciliation against it).

The rules are the single resolve's (``operations.resolve``), applied to each payment:

* only a superadmin, and only an ``uncleared`` payment: the others in the selection are
  refused *by name* (their reference id and why) — on the confirmation page before, and in
  the resolution's record after — never silently skipped;
* "not paid" is refused for a payment whose "succeeded" answer waits unacknowledged (the
  payment store's own guard, ``SuccessUnacknowledged``): the money may have moved;
* each payment moves through :class:`~bbp_common.core.stores.PaymentStore` (locked, evented,
  tallied) and gets its own ``payment.resolved`` audit entry carrying the comment, the bulk
  resolution's id and, when given, the reconciliation it was read from.

Above ``BBP_BULK_RESOLVE_SECOND_APPROVAL_ABOVE`` (the total of the payments it would
resolve) nothing changes when it is confirmed: the resolution waits (``awaiting_approval``)
for a second superadmin — never the one who made it, the maker-checker rule of payment
requests — who approves (it is applied then, each payment checked again under its lock) or
rejects it. A payment can be in one waiting resolution only. An ambiguous payment is refused
too: the enquiries still settle it by themselves, and a person's word on it would race with
Mobiquity's answer (``PaymentStore.resolve`` is for uncleared payments).

No Flask here: the pages (``resolving``) and the API (``resolutions_api``) call these. The
list and the preview are ``uncleared``'s, the records ``resolution_records``'.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from bbp_common.core import notifications
from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.stores import PaymentStore
from bbp_common.core.stores.payments import PaymentRow, SuccessUnacknowledged
from bbp_common.platform.db.retry import retry_transaction
from bbp_common.platform.db.tables import bulk_resolution_payments, bulk_resolutions
from bbp_common.platform.logging import get_logger
from bbp_portal.audit_trail import Actor, record, record_many
from bbp_portal.bulk.service import Relay, relay_now
from bbp_portal.payments.resolution_records import (
    Done,
    chosen_ids,
    comment_of,
    existing,
    note_of,
    superadmin,
)
from bbp_portal.payments.uncleared import (
    RESOLVED,
    Preview,
    check_outcome,
    judge,
    pending_in,
    read_payments,
    unacknowledged,
)
from bbp_portal.service_errors import Conflict, Forbidden, NotFound, Refused, ValidationFailed

log = get_logger(__name__)
S = PaymentState


@retry_transaction
def confirm(
    engine: Engine,
    actor: Actor,
    ids: Sequence[int],
    outcome: str,
    comment: str | None,
    *,
    key: str,
    threshold: Decimal | None,
    reconciliation_id: int | None = None,
    step_up_required: bool = False,
    stepped_up: bool = False,
    payment_sms: notifications.PaymentSmsSettings | None = None,
    relay: Relay | None = None,
) -> Done:
    """A superadmin confirms resolving ``ids`` as ``outcome`` with one ``comment``.

    In one transaction, on the payments' locks: each chosen payment is judged (uncleared, not
    in another waiting resolution, no unacknowledged "succeeded" for "not paid"); the
    resolution is recorded with every chosen payment (the refused ones with why); at or
    below ``threshold`` it is applied at once, above it waits for a second superadmin.
    Refused (``Refused``, each payment's reason) when none of them can be resolved. The same
    ``key`` returns what it did the first time (a double click)."""
    superadmin(actor, "resolve uncleared payments")
    paid = check_outcome(outcome)
    text = comment_of(comment)
    wanted = chosen_ids(ids)
    if not key or len(key) > 64:
        raise ValidationFailed("invalid_key", "The confirmation's key is missing.", "key")
    if step_up_required and not stepped_up:
        raise Forbidden(
            "step_up_required", "Confirm it is you (step-up) before resolving payments."
        )
    queued: list[str] = []
    with engine.begin() as conn:
        # The locks first: the reads after them (the key, the waiting resolutions) then see
        # what a concurrent confirmation of the same payments committed.
        found = read_payments(conn, wanted, lock=True)
        done = existing(conn, key)
        if done is not None:
            return done
        chosen = judge(
            found, wanted, paid, unacknowledged(conn, list(found)), pending_in(conn, list(found))
        )
        plan = Preview(outcome, chosen, threshold)
        if not plan.eligible:
            raise Refused(
                "nothing_to_resolve",
                "None of the chosen payments can be resolved now.",
                {c.reference_id: c.refusal or "" for c in plan.refused},
                "ids",
            )
        waits = plan.needs_second_approval
        inserted = conn.execute(
            insert(bulk_resolutions).values(
                idempotency_key=key,
                outcome=outcome,
                comment=text,
                reconciliation_id=reconciliation_id,
                payment_count=len(plan.eligible),
                total=plan.total,
                state="awaiting_approval" if waits else "applied",
                created_by=actor.login_id,
            )
        )
        resolution_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(
            insert(bulk_resolution_payments),
            [
                {
                    "resolution_id": resolution_id,
                    "payment_id": c.id,
                    "reference_id": c.reference_id,
                    "total": c.total,
                    "result": c.refusal,
                }
                for c in chosen
                if c.refusal != "not_found"
            ],
        )
        refused = [(c.reference_id, c.refusal or "") for c in plan.refused]
        record(
            conn,
            actor,
            "payments.bulk_resolution_requested" if waits else "payments.bulk_resolved",
            target_type="bulk_resolution",
            target_id=resolution_id,
            resolution=outcome,
            payments=len(plan.eligible),
            total=str(plan.total),
            comment=text,
            reconciliation_id=reconciliation_id,
            refused=dict(refused),
        )
        if waits:
            return Done(resolution_id, "awaiting_approval", [], refused)
        resolved, late, queued = _apply(
            conn,
            actor,
            resolution_id,
            [c.id for c in plan.eligible],
            paid=paid,
            maker=actor.login_id,
            note=note_of(text, resolution_id, reconciliation_id),
            reconciliation_id=reconciliation_id,
            payment_sms=payment_sms,
        )
    relay_now(relay, queued)
    log.info(
        "bulk_resolved", resolution_id=resolution_id, resolved=len(resolved), by=actor.login_id
    )
    return Done(resolution_id, "applied", resolved, refused + late)


def _apply(
    conn: Connection,
    actor: Actor,
    resolution_id: int,
    ids: Sequence[int],
    *,
    paid: bool,
    maker: str,
    note: str,
    reconciliation_id: int | None,
    payment_sms: notifications.PaymentSmsSettings | None,
    approved_by: str | None = None,
) -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """Resolve each payment through the store (already judged; judged again on its lock),
    one ``payment.resolved`` audit entry each; the payment-submitted SMS for "paid". Returns
    (resolved reference ids, refused (reference id, why), outbox ids to relay)."""
    store = PaymentStore(conn, actor=f"portal:{actor.login_id}", autoflush=False)
    locked = store.lock(ids)
    alarmed = set() if paid else unacknowledged(conn, list(locked))
    resolved: list[PaymentRow] = []
    refused: list[tuple[str, str]] = []
    results: dict[int, str] = {}
    for payment_id in ids:
        row = locked[payment_id]
        if row.state is not S.UNCLEARED:
            results[row.id] = "not_uncleared"
        elif row.id in alarmed:
            results[row.id] = "success_unacknowledged"
        else:
            try:
                store.resolve(row, paid, person=maker, comment=note)
            except SuccessUnacknowledged:  # pragma: no cover - read just above, same lock
                results[row.id] = "success_unacknowledged"
                continue
            results[row.id] = RESOLVED
            resolved.append(row)
            continue
        refused.append((row.reference_id, results[row.id]))
    store.flush()
    target = S.SUCCEEDED if paid else S.FAILED
    outcome = "paid" if paid else "not_paid"
    record_many(
        conn,
        actor,
        "payment.resolved",
        [
            (
                "payment",
                row.id,
                {
                    "reference_id": row.reference_id,
                    "request_id": row.request_id,
                    "resolution": outcome,
                    "state": target.value,
                    "total": str(row.total),
                    "comment": note,
                    "bulk_resolution_id": resolution_id,
                    "reconciliation_id": reconciliation_id,
                    "resolved_by": maker,
                    "approved_by": approved_by,
                },
            )
            for row in resolved
        ],
    )
    by_result: dict[str, list[int]] = {}
    for payment_id, result in results.items():
        by_result.setdefault(result, []).append(payment_id)
    for result, payment_ids in by_result.items():
        for start in range(0, len(payment_ids), 1000):
            conn.execute(
                update(bulk_resolution_payments)
                .where(
                    bulk_resolution_payments.c.resolution_id == resolution_id,
                    bulk_resolution_payments.c.payment_id.in_(payment_ids[start : start + 1000]),
                )
                .values(result=result)
            )
    conn.execute(
        update(bulk_resolutions)
        .where(bulk_resolutions.c.id == resolution_id)
        .values(resolved_count=len(resolved))
    )
    queued: list[str] = []
    if paid and payment_sms is not None:
        for row in resolved:
            sent = notifications.payment_submitted(conn, row.id, payment_sms)
            if sent is not None and sent.message_id is not None:
                queued.append(sent.message_id)
    return [row.reference_id for row in resolved], refused, queued


# --------------------------------------------------------------------------- the second person


def _waiting(conn: Connection, resolution_id: int) -> Any:
    row = conn.execute(
        select(bulk_resolutions).where(bulk_resolutions.c.id == resolution_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"There is no bulk resolution {resolution_id}.")
    if row.state != "awaiting_approval":
        raise Conflict("not_awaiting_approval", f"Bulk resolution #{resolution_id} is {row.state}.")
    return row


@retry_transaction
def approve(
    engine: Engine,
    actor: Actor,
    resolution_id: int,
    comment: str | None = None,
    *,
    step_up_required: bool = False,
    stepped_up: bool = False,
    payment_sms: notifications.PaymentSmsSettings | None = None,
    relay: Relay | None = None,
) -> Done:
    """A second superadmin — never its maker — approves a waiting bulk resolution: it is
    applied now, each payment judged again on its lock (one resolved by hand meanwhile, or
    with a "succeeded" answer that arrived since, is refused by name)."""
    superadmin(actor, "approve a bulk resolution")
    text = " ".join((comment or "").split())[:500] or None
    with engine.begin() as conn:
        row = _waiting(conn, resolution_id)
        if actor.login_id.lower() == row.created_by.lower():
            raise Forbidden(
                "maker_cannot_approve",
                "You made this bulk resolution: another superadmin must approve it.",
            )
        if step_up_required and not stepped_up:
            raise Forbidden("step_up_required", "Confirm it is you (step-up) before approving it.")
        ids = [
            r[0]
            for r in conn.execute(
                select(bulk_resolution_payments.c.payment_id)
                .where(
                    bulk_resolution_payments.c.resolution_id == resolution_id,
                    bulk_resolution_payments.c.result.is_(None),
                )
                .order_by(bulk_resolution_payments.c.payment_id)
            )
        ]
        paid = row.outcome == "paid"
        resolved, refused, queued = _apply(
            conn,
            actor,
            resolution_id,
            ids,
            paid=paid,
            maker=row.created_by,
            note=note_of(row.comment, resolution_id, row.reconciliation_id),
            reconciliation_id=row.reconciliation_id,
            payment_sms=payment_sms,
            approved_by=actor.login_id,
        )
        _decided(
            conn,
            actor,
            resolution_id,
            "applied",
            text,
            made_by=row.created_by,
            resolved=len(resolved),
            refused=dict(refused),
        )
    relay_now(relay, queued)
    log.info("bulk_resolution_approved", resolution_id=resolution_id, by=actor.login_id)
    return Done(resolution_id, "applied", resolved, refused)


#: The audit action of each decision on a waiting bulk resolution.
_DECISIONS = {
    "applied": "payments.bulk_resolution_approved",
    "rejected": "payments.bulk_resolution_rejected",
}


def _decided(
    conn: Connection, actor: Actor, resolution_id: int, state: str, text: str | None, **details: Any
) -> None:
    """Write the decision on a waiting bulk resolution (``applied`` or ``rejected``: who,
    when, the comment) and its audit entry (``details`` before the comment)."""
    conn.execute(
        update(bulk_resolutions)
        .where(bulk_resolutions.c.id == resolution_id)
        .values(
            state=state,
            decided_by=actor.login_id,
            decided_at=func.utc_timestamp(6),
            decision_comment=text,
        )
    )
    record(
        conn,
        actor,
        _DECISIONS[state],
        target_type="bulk_resolution",
        target_id=resolution_id,
        **details,
        comment=text,
    )


@retry_transaction
def reject(engine: Engine, actor: Actor, resolution_id: int, comment: str | None) -> None:
    """A superadmin rejects a waiting bulk resolution (its maker too: withdrawing it), with a
    comment; its payments stay uncleared and may be chosen again."""
    superadmin(actor, "reject a bulk resolution")
    text = comment_of(comment, limit=500)
    with engine.begin() as conn:
        row = _waiting(conn, resolution_id)
        _decided(conn, actor, resolution_id, "rejected", text, made_by=row.created_by)


__all__ = ["approve", "confirm", "reject"]
