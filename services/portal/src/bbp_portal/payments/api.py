"""``/api/v1``: paying, maker-checker, pause/resume, a payment request's payments and history,
one payment and its resolution, search, needs-attention, the wallet breaker, anomalies.

Thin views over :mod:`~bbp_portal.payments.operations` and the queries
(:mod:`~bbp_portal.payments.queries`…) — the pages call the same functions; the schemas are
in :mod:`~bbp_portal.payments.schemas`. Creating a payment request needs an idempotency key
chosen by the client (``POST /payments/preview`` proposes one): the same key returns the
request it created, with ``existing: true``.

Step-up (on by default; the API never steps up by itself): a payment request made here
without a fresh step-up of this session for its key waits for a person (reason ``step_up``);
approving needs one for that request, else 403 ``step_up_required`` (docs/decisions.md).
API tokens (issue 18) make payment requests as a maker (they always wait for a person) and
pause; approving, rejecting, resuming, resolving, acknowledging and closing the breaker say
``tokens=False``.

Why one module of more than 400 lines: it is one blueprint (``api_v1.payments.*``, the names
the inputs table, the OpenAPI document and the tests use), each operation also saying whether
an API token may call it; split across modules, routes would be added by importing them.
"""

from __future__ import annotations

import secrets
from datetime import UTC
from typing import Any

from flask import Blueprint, jsonify

from bbp_common.core.domain.schedules import Schedule
from bbp_portal.api import endpoints, keyset_page, page_of, reading
from bbp_portal.auth import OPERATORS, step_up_fresh
from bbp_portal.bulk.publishing import relay
from bbp_portal.bulk.queries import get_request
from bbp_portal.bulk.schemas import RequestSchema
from bbp_portal.payments import approvals, operations, queries, selection
from bbp_portal.payments import attention as needs_attention
from bbp_portal.payments import pending as pending_bills
from bbp_portal.payments.schemas import (
    AttentionSchema,
    BillSelectionSchema,
    BreakerSchema,
    CommentSchema,
    CreatedSchema,
    HistorySchema,
    OptionalCommentSchema,
    PaymentCreateSchema,
    PaymentDetailSchema,
    PaymentListQuery,
    PaymentSchema,
    PendingBillSchema,
    PendingQuery,
    ResolveSchema,
    SearchQuery,
    SummarySchema,
)
from bbp_portal.service_errors import NotFound
from bbp_portal.view_context import actor, engine, settings

api = Blueprint("payments", __name__)
"""Payments under ``/api/v1`` (mounted by ``create_app``)."""

TAGS = ["payments"]
reads = endpoints(tags=TAGS)
operator_changes = endpoints(roles=OPERATORS, tags=TAGS, tokens=True)
operator_decides = endpoints(roles=OPERATORS, tags=TAGS, tokens=False)
superadmin_decides = endpoints(roles=("superadmin",), tags=TAGS, tokens=False)


# --------------------------------------------------------------------------- helpers


def _request(request_id: int) -> Any:
    return reading(get_request, request_id)


# --------------------------------------------------------------------------- paying


@api.get("/pending-bills")
@reads(
    "Pending bills: each account's latest successful fetch, not in a live payment",
    query=PendingQuery,
    response=page_of(PendingBillSchema),
)
def list_pending(query: dict[str, Any]) -> Any:
    page = reading(
        pending_bills.list_pending,
        selection.pending_filter_of(query),
        max_bill_age=selection.policy().max_bill_age,
        cursor=query["cursor"],
        limit=query["limit"],
    )
    return keyset_page(page, sort="id")


@api.post("/payments/preview")
@operator_changes(
    "What paying these bills would create: count, total, per biller, or the problems",
    body=BillSelectionSchema,
    response=SummarySchema,
    description="Writes nothing. Amounts are ours (the bill, plus its service charge where "
    "the biller says so). Answers a fresh idempotency_key to create the request with, and "
    "whether the request would wait for approval and why (approval_reasons: request_limit, "
    "daily_limit, step_up — with step-up on, a request made through the API always waits "
    "for a person's confirmation unless this session stepped up for its key).",
)
def preview(body: dict[str, Any]) -> Any:
    ids, _described = selection.from_body(body)
    p = selection.policy()
    key = secrets.token_urlsafe(24)
    with engine().connect() as conn:
        summary = pending_bills.summarise(
            conn, ids, max_bill_age=p.max_bill_age, approval_threshold=p.approval_threshold
        )
        outlook = approvals.outlook(
            conn, actor().login_id, summary.total, p.limits, step_up_missing=p.step_up
        )
    return {
        **summary.__dict__,
        "needs_approval": outlook.needs_approval,
        "approval_reasons": [str(r) for r in outlook.reasons],
        "maker_day": outlook.day,
        "maker_day_total": outlook.counted,
        "payable": summary.payable,
        "payer": queries.mask_label(settings().payer_label),
        "idempotency_key": key,
    }


@api.post("/requests/payment")
@operator_changes(
    "Create a payment request (once per idempotency key)",
    body=PaymentCreateSchema,
    response=CreatedSchema,
    status=201,
    description="Refused whole (409 bills_unavailable, details per bill) when a bill is "
    "unknown, fetched too long ago, of an inactive biller or already in a live payment. The "
    "request is awaiting_approval, and nothing is sent until a person approves it, when its "
    "total is above the per-request limit, when it takes its maker's requests of the day "
    "(Asia/Dhaka) above the daily limit, or — with step-up on — when this session made no "
    "fresh step-up for its idempotency_key (approval_reasons says which). A request that "
    "waits only for the step-up may be confirmed in the portal by its maker, with a step-up.",
    statuses={200: "This idempotency_key had created it already (existing: true)"},
)
def create_payment(body: dict[str, Any]) -> Any:
    ids, described = selection.from_body(body)
    key = body["idempotency_key"]
    start = body.get("start_at")
    created = selection.create_payment(
        ids,
        described,
        key,
        "api",
        schedule=Schedule(start.astimezone(UTC).replace(tzinfo=None), body.get("days_before_due"))
        if start is not None
        else None,
        again=body.get("pay_again_of"),
    )
    payload = CreatedSchema().dump(
        {
            "existing": created.existing,
            "awaiting_approval": created.awaiting_approval,
            "approval_reasons": list(created.approval_reasons),
            "request": _request(created.request_id),
        }
    )
    answer = jsonify(payload)
    answer.status_code = 200 if created.existing else 201
    return answer


# --------------------------------------------------------------------------- the request


@api.post("/requests/<int:request_id>/approve")
@operator_decides(
    "Approve a payment request awaiting approval (never the maker's own)",
    body=CommentSchema,
    response=RequestSchema,
    description="→ queued, and the scheduler starts it. 403 step_up_required unless this "
    "session made a fresh step-up for this request (on the portal's step-up page; step-up is "
    "on by default: in practice, approve in the portal); 403 maker_cannot_approve for the "
    "maker; 409 bills_stale when its bills were fetched too long ago meanwhile.",
)
def approve(request_id: int, body: dict[str, Any]) -> Any:
    operations.approve(
        engine(),
        actor(),
        request_id,
        body["comment"],
        max_bill_age=selection.policy().max_bill_age,
        relay=relay(),
        step_up_required=selection.policy().step_up,
        stepped_up=step_up_fresh("approve", str(request_id)),
    )
    return _request(request_id)


@api.post("/requests/<int:request_id>/pay-again")
@operator_changes(
    "Pay again what failed in a finished payment request: step one, fetch those bills again",
    response=RequestSchema,
    status=201,
    description="Its bills whose payment Mobiquity refused (billpay rejected, an enquiry's "
    "FAILED) or that ended unsent — never one posted, succeeded, ambiguous, uncleared, failed "
    "on a believed 'not found' or by a person, cancelled, paid again meanwhile or under a "
    "double-payment alarm — are fetched again: the answer is that fetch request (origin "
    "pay_again). Once it finished, create the payment request from its bills "
    "(GET /pending-bills?fetch_request_id=…, then POST /requests/payment with "
    "pay_again_of; made with a token, it waits for a person like any). 409 "
    "nothing_to_pay_again, not_finished.",
)
def pay_again(request_id: int) -> Any:
    created = operations.pay_again(engine(), actor(), request_id, relay=relay())
    answer = jsonify(RequestSchema().dump(_request(created.request_id)))
    answer.status_code = 201
    return answer


@api.post("/requests/<int:request_id>/reject")
@operator_decides(
    "Reject a payment request awaiting approval (never the maker's own)",
    body=CommentSchema,
    response=RequestSchema,
    description="→ rejected; its payments are cancelled and their bills are free again.",
)
def reject(request_id: int, body: dict[str, Any]) -> Any:
    operations.reject(engine(), actor(), request_id, body["comment"])
    return _request(request_id)


@api.post("/requests/<int:request_id>/pause")
@operator_changes(
    "Pause a queued or running request: nothing more is dispatched, in-flight finishes",
    body=OptionalCommentSchema,
    response=RequestSchema,
)
def pause(request_id: int, body: dict[str, Any]) -> Any:
    operations.pause(engine(), actor(), request_id, body["comment"], relay=relay())
    return _request(request_id)


@api.post("/requests/<int:request_id>/resume")
@operator_decides(
    "Resume a paused request (an auto-pause's reason is cleared)",
    body=OptionalCommentSchema,
    response=RequestSchema,
)
def resume(request_id: int, body: dict[str, Any]) -> Any:
    operations.resume(engine(), actor(), request_id, body["comment"], relay=relay())
    return _request(request_id)


@api.get("/requests/<int:request_id>/payments")
@reads(
    "A payment request's payments in dispatch order (filter by state, or a reference id, "
    "orderId, consumer id or bill number), keyset pages",
    query=PaymentListQuery,
    response=page_of(PaymentSchema),
)
def list_payments(request_id: int, query: dict[str, Any]) -> Any:
    found = _request(request_id)
    if found.kind != "payment":
        # The sub-resource does not exist for a request of the other kind: 404.
        raise NotFound(
            f"Request {request_id} is a {found.kind} request, not a payment.", "not_a_payment"
        )
    page = reading(
        queries.list_payments,
        request_id,
        queries.PaymentFilter(state=query["state"], q=query["q"]),
        cursor=query["cursor"],
        limit=query["limit"],
    )
    return keyset_page(page, sort="position")


@api.get("/requests/<int:request_id>/history")
@reads(
    "What was done to a request: created, approved/rejected, paused (auto-pauses too), "
    "resumed, cancelled, its payments resolved — from the audit log",
    response=HistorySchema,
    many=True,
)
def history(request_id: int) -> Any:
    _request(request_id)
    return reading(queries.history, request_id)


# --------------------------------------------------------------------------- payments


@api.get("/payments/search")
@reads(
    "Find payments across all requests by reference id, orderId, consumer id or bill number",
    query=SearchQuery,
    response=PaymentSchema,
    many=True,
    description=f"Exact matches, newest first, at most {queries.SEARCH_LIMIT}.",
)
def search(query: dict[str, Any]) -> Any:
    return reading(queries.search, query["q"])


@api.get("/payments/<int:payment_id>")
@reads(
    "One payment with its state changes and any disagreeing results", response=PaymentDetailSchema
)
def get_payment(payment_id: int) -> Any:
    return _payment_detail(payment_id)


def _payment_detail(payment_id: int) -> dict[str, Any]:
    detail = reading(queries.get_payment, payment_id)
    return {
        **detail.payment._mapping,
        "events": detail.events,
        "anomalies": detail.anomalies,
    }


@api.post("/payments/<int:payment_id>/resolve")
@superadmin_decides(
    "Resolve an uncleared payment after checking Mobiquity's reports",
    body=ResolveSchema,
    response=PaymentDetailSchema,
    description="paid → succeeded; not_paid → failed and the bill can be paid again (a new "
    "payment, a new reference id). 409 not_uncleared for any other state.",
)
def resolve(payment_id: int, body: dict[str, Any]) -> Any:
    operations.resolve(
        engine(),
        actor(),
        payment_id,
        body["resolution"],
        body["comment"],
        payment_sms=settings(),
        relay=relay(),
    )
    return _payment_detail(payment_id)


@api.post("/anomalies/<int:anomaly_id>/acknowledge")
@superadmin_decides(
    "Acknowledge a result that disagreed with a payment's final state", body=CommentSchema
)
def acknowledge(anomaly_id: int, body: dict[str, Any]) -> Any:
    operations.acknowledge_anomaly(engine(), actor(), anomaly_id, body["comment"])
    return {"id": anomaly_id, "acknowledged": True}


# --------------------------------------------------------------------------- attention, wallet


@api.get("/attention")
@reads(
    "Needs attention: the wallet breaker, requests with ambiguous or uncleared payments, "
    "unacknowledged disagreeing results, paused (auto and manual) and awaiting approval",
    response=AttentionSchema,
)
def attention() -> Any:
    return reading(needs_attention.attention)


@api.get("/wallet-breaker")
@reads("The paying wallet's breaker: state and why", response=BreakerSchema)
def get_breaker() -> Any:
    return _breaker()


def _breaker() -> needs_attention.Breaker:
    return reading(needs_attention.breaker)


@api.post("/wallet-breaker/close")
@superadmin_decides(
    "Close the open wallet breaker (→ probing: one payment at a time until one proves it)",
    body=OptionalCommentSchema,
    response=BreakerSchema,
)
def close_breaker(body: dict[str, Any]) -> Any:
    operations.close_wallet_breaker(engine(), actor(), body["comment"])
    return _breaker()


__all__ = ["api"]
