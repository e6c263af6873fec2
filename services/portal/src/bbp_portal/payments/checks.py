"""A superadmin's "check now": ask Mobiquity once more about a payment waiting for an answer.

The payment store does the work (``PaymentStore.ask_check``): the payment is marked for one
extra enquiry, due now, which the scheduler's dispatcher sends through the normal pace — an
enquiry, never a resend, and not one of the N the schedule allows. On an ambiguous payment
its answer settles the payment like any enquiry's; on an uncleared one it is only recorded
and shown on the payment's page, for the person who resolves it. Here: who may ask, the
audit entry, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import Engine

from bbp_common.core.stores import PaymentStore
from bbp_common.core.stores.payments import CheckRefused, PaymentRow
from bbp_common.platform.logging import get_logger
from bbp_portal.audit_trail import Actor, record
from bbp_portal.service_errors import Conflict, Forbidden, NotFound

log = get_logger(__name__)


def check_now(engine: Engine, actor: Actor, payment_id: int) -> PaymentRow:
    """Ask for one extra enquiry about an ambiguous or uncleared payment (superadmins).

    :class:`Conflict` with code ``not_enquirable`` (its state has no question left),
    ``already_asked`` or ``enquiry_out`` (an answer is on its way)."""
    if actor.role != "superadmin":
        raise Forbidden("superadmin_only", "Only a superadmin may ask Mobiquity again.")
    with engine.begin() as conn:
        store = PaymentStore(conn, actor=f"portal:{actor.login_id}")
        row = store.lock([payment_id]).get(payment_id)
        if row is None:
            raise NotFound(f"There is no payment {payment_id}.")
        try:
            asked = store.ask_check(row, person=actor.login_id)
        except CheckRefused as exc:
            raise Conflict(
                exc.why, f"Payment {row.reference_id} cannot be checked now ({exc.why})."
            ) from None
        record(
            conn,
            actor,
            "payment.check_requested",
            target_type="payment",
            target_id=row.id,
            reference_id=row.reference_id,
            request_id=row.request_id,
            state=row.state.value,
            enquiries_done=row.enquiry_count,
        )
    log.info("payment_check_requested", reference_id=row.reference_id, by=actor.login_id)
    return asked


__all__ = ["check_now"]
