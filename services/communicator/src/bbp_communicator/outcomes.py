"""From the Mobiquity client's outcomes to result bodies (the ``*.result`` messages)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bbp_common.core.domain.payments import EnquiryOutcome, PayOutcome
from mobiquity_client import (
    Accepted,
    EnquiryFailed,
    EnquiryNotFound,
    EnquiryPending,
    EnquirySucceeded,
    NotSent,
    PendingBill,
    Rejected,
    Unknown,
)


def bill_body(bill: PendingBill) -> dict[str, Any]:
    detail = bill.raw.get("detail") if bill.detail is not None else None
    return {
        "bill_number": bill.bill_number,
        "due_date": bill.due_date,
        "amount": bill.amount,
        "service_charge": bill.service_charge,
        "detail": dict(detail) if isinstance(detail, Mapping) else None,
    }


def pay_result_fields(outcome: Any) -> dict[str, Any]:
    if isinstance(outcome, Accepted):
        return {
            "outcome": PayOutcome.ACCEPTED.value,
            "order_id": outcome.order_id,
            "order_status": outcome.order_status,
            "service_request_id": outcome.service_request_id,
            "http_status": outcome.http_status,
        }
    if isinstance(outcome, Rejected):
        return {
            "outcome": PayOutcome.REJECTED.value,
            "order_id": outcome.order_id,
            "order_status": outcome.order_status,
            "service_request_id": outcome.service_request_id,
            "trace_id": outcome.trace_id,
            "error_code": outcome.error_code,
            "error_detail_code": outcome.error_codes[0] if outcome.error_codes else None,
            "error_message": (outcome.user_message or outcome.reason or "")[:500] or None,
            "http_status": outcome.http_status,
            "reason": outcome.reason[:255] if outcome.reason else None,
        }
    if isinstance(outcome, NotSent):
        return {"outcome": PayOutcome.NOT_SENT.value, "reason": f"not sent ({outcome.kind})"}
    if isinstance(outcome, Unknown):
        return {
            "outcome": PayOutcome.UNKNOWN.value,
            "reason": f"{outcome.kind}: {outcome.reason}"[:255],
            "http_status": outcome.http_status,
            "order_id": outcome.order_id,
            "trace_id": outcome.trace_id,
            "service_request_id": outcome.service_request_id,
        }
    return {
        "outcome": PayOutcome.UNKNOWN.value,
        "reason": f"unexpected outcome {type(outcome).__name__}",
    }


def enquiry_result_fields(answer: Any) -> dict[str, Any]:
    if isinstance(answer, EnquirySucceeded):
        return {
            "outcome": EnquiryOutcome.SUCCEEDED.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
        }
    if isinstance(answer, EnquiryFailed):
        return {
            "outcome": EnquiryOutcome.FAILED.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
            "error_code": answer.error_code,
            "error_message": (answer.user_message or "")[:500] or None,
        }
    if isinstance(answer, EnquiryPending):
        return {
            "outcome": EnquiryOutcome.PENDING.value,
            "order_id": answer.order_id,
            "order_status": answer.order_status,
        }
    if isinstance(answer, EnquiryNotFound):
        return {"outcome": EnquiryOutcome.NOT_FOUND.value, "error_code": answer.error_code}
    reason = getattr(answer, "reason", None) or type(answer).__name__
    return {"outcome": EnquiryOutcome.UNKNOWN.value, "reason": str(reason)[:255]}
