"""The live parts of the payment pages, and the halts that must speak up.

* A payment request's page (``requests.show`` hands it to :func:`render_request_page` via
  ``views``) and its live fragment (:func:`render_request_live`, polled every 1.5 s by htmx
  through ``/requests/<id>/live``): its rows with "waiting for Mobiquity's answer — next
  check at 14:05 (2 of 5)", its progress, and why it waits (the wallet breaker, enquiries).
* One payment's enquiry status (:func:`payment_enquiry`), live while an answer is awaited
  (``/payments/<id>/enquiry``), and a superadmin's "check now" (``POST
  /payments/<id>/check``, :mod:`~bbp_portal.payments.checks`).
* The wallet banner on every page for operators while the breaker is open, or resuming after
  a person closed it (:func:`wallet_banner`, read only by ``base.html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from bbp_common.platform.logging import get_logger
from bbp_portal.auth import current_user, login_required, role_required
from bbp_portal.bulk.kinds import LIVE_HEADER, live_url
from bbp_portal.bulk.queries import RequestRow
from bbp_portal.localtime import clock
from bbp_portal.payments import attention, checks, enquiries, queries
from bbp_portal.service_errors import NotFound, ServiceError
from bbp_portal.view_context import actor, engine

bp = Blueprint("payments_live", __name__)
log = get_logger(__name__)


def db_now(conn: Connection) -> datetime:
    """The database's clock (what the scheduler judges due times by)."""
    return conn.execute(text("SELECT UTC_TIMESTAMP(6)")).scalar_one()  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- a payment request


def request_context(found: RequestRow, *, live: bool = False) -> dict[str, Any]:
    """What a payment request's live part shows: one keyset page of its payments (the
    page's filters and cursor), its progress, the wallet breaker, and the enquiry words.
    ``live`` (the polled fragment): a bad filter was told once by the page; a background
    poll never writes to the session (no flash)."""
    args = request.args
    tell = (lambda message, category: None) if live else flash
    state = args.get("state", "")
    try:
        payment_filter = queries.PaymentFilter(
            state=state if state in queries.STATES else "", q=args.get("q", "")[:64]
        )
    except ServiceError as exc:
        tell(exc.message, "warning")
        payment_filter = queries.PaymentFilter()
    with engine().connect() as conn:
        try:
            page = queries.list_payments(conn, found.id, payment_filter, cursor=args.get("cursor"))
        except ServiceError as exc:
            tell(exc.message, "warning")
            page = queries.list_payments(conn, found.id, payment_filter)
        breaker = attention.breaker(conn)
        now = db_now(conn)
    user = current_user()
    keep = {k: v for k, v in payment_filter.as_dict().items() if v}
    return {
        "req": found,
        "progress": found.progress,
        "page": page,
        "filter": payment_filter,
        "keep": keep,
        "live_url": live_url(found.id, keep),
        "states": queries.STATES,
        "buckets": queries.PAYMENT_BUCKETS,
        "breaker": breaker,
        "enquiry": lambda p: enquiries.status(p, now),
        "clock": lambda moment: clock(moment, now),
        "can_resolve": bool(user and user.is_superadmin),
    }


def render_request_live(found: RequestRow) -> Any:
    """The payment request's live fragment: rows, and out of band state, notes, progress."""
    return render_template(
        "requests/payment_live.html", oob=True, **request_context(found, live=True)
    )


# --------------------------------------------------------------------------- one payment


def payment_enquiry(p: Any, conn: Connection) -> enquiries.EnquiryStatus:
    return enquiries.status(p, db_now(conn))


@bp.get("/payments/<int:payment_id>/enquiry")
@login_required
def enquiry(payment_id: int) -> Any:
    """The payment page's enquiry part, polled while an answer is awaited; ``shown`` is the
    state the page was drawn in (a change is pointed out: the page's actions depend on it)."""
    with engine().connect() as conn:
        try:
            detail = queries.get_payment(conn, payment_id)
        except NotFound:
            abort(404)
        status = payment_enquiry(detail.payment, conn)
    user = current_user()
    answer = make_response(
        render_template(
            "payments/_enquiry.html",
            p=detail.payment,
            enquiry=status,
            shown=request.args.get("shown", detail.payment.state),
            can_check=bool(user and user.is_superadmin) and status.can_check,
            oob=True,
        )
    )
    answer.headers[LIVE_HEADER] = "1"
    return answer


@bp.post("/payments/<int:payment_id>/check")
@role_required("superadmin")
def check(payment_id: int) -> Any:
    """A superadmin's "check now": one extra enquiry through the normal pace."""
    try:
        row = checks.check_now(engine(), actor(), payment_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(_refused(exc.code), "warning")
    else:
        if row.state.value == "uncleared":
            flash(
                _(
                    "Asked: Mobiquity is asked once more about this payment. Its answer is "
                    "shown here for you to decide; nothing is changed by itself."
                ),
                "success",
            )
        else:
            flash(
                _(
                    "Asked: Mobiquity is asked once more about this payment within seconds. "
                    "It is an extra check, not one of the scheduled ones."
                ),
                "success",
            )
    return redirect(url_for("payments.show", payment_id=payment_id))


def _refused(code: str) -> str:
    return {
        "already_asked": _("A check of this payment is already on its way."),
        "enquiry_out": _(
            "Mobiquity is being asked about this payment right now: its answer comes within "
            "a minute or two."
        ),
        "not_enquirable": _(
            "This payment does not wait for Mobiquity's answer: there is nothing to check."
        ),
        "superadmin_only": _("Only a superadmin may ask Mobiquity again."),
    }.get(code, _("This payment cannot be checked now."))


# --------------------------------------------------------------------------- the wallet banner


@dataclass(frozen=True)
class WalletBanner:
    """The breaker as the banner tells it: ``stopped`` (open) or resuming (probing after a
    person closed it); ``since``: when it opened, in Dhaka time."""

    stopped: bool
    since: str
    closed_by: str | None


def wallet_banner() -> WalletBanner | None:
    """The banner every page shows operators while payments are held by the wallet breaker;
    None otherwise (and for auditors, and when the database cannot be read: a page never
    fails for its banner)."""
    user = current_user()
    if user is None or not user.can_operate:
        return None
    try:
        with engine().connect() as conn:
            found = attention.breaker(conn)
    except SQLAlchemyError as exc:
        log.warning("wallet_banner_unavailable", error=type(exc).__name__)
        return None
    if not found.needs_attention:
        return None
    since = clock(found.opened_at, datetime.now(UTC)) if found.opened_at else ""
    return WalletBanner(found.stops_payments, since, found.closed_by)


@bp.app_context_processor
def _banner() -> dict[str, Any]:
    # A function, called by base.html only: fragments and e-mails never read the breaker.
    return {"wallet_banner": wallet_banner}


__all__ = [
    "WalletBanner",
    "bp",
    "db_now",
    "payment_enquiry",
    "render_request_live",
    "request_context",
    "wallet_banner",
]
