"""A payment request's results file: every payment in dispatch order (the request's kind
hands these rows to ``requests/export.py``, which writes the CSV or XLSX)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from bbp_common.platform.db.tables import payments
from bbp_portal.payments.queries import PAYMENT_COLUMNS

P = payments.c

EXPORT_HEADER = (
    "request_id",
    "payment_id",
    "position",
    "reference_id",
    "utility",
    "consumer_id",
    "bill_number",
    "due_date",
    "amount",
    "service_charge",
    "total",
    "state",
    "order_id",
    "service_request_id",
    "order_status",
    "error_code",
    "error_detail_code",
    "mobiquity_message",
    "reason",
    "enquiries",
    "sent_at_utc",
    "answered_at_utc",
    "resolved_by",
    "resolved_at_utc",
    "resolution_comment",
)


def export_rows(
    conn_factory: Any, request_id: int, *, chunk: int = 2000
) -> Iterator[tuple[Any, ...]]:
    """Every payment of the request in dispatch order, in keyset chunks each on a short-lived
    connection (a long download holds no transaction open)."""
    after = -1
    while True:
        with conn_factory() as conn:
            rows = conn.execute(
                select(*PAYMENT_COLUMNS)
                .where(P.request_id == request_id, P.dispatch_order > after)
                .order_by(P.dispatch_order)
                .limit(chunk)
            ).all()
        if not rows:
            return
        for r in rows:
            yield (
                r.request_id,
                r.id,
                r.dispatch_order + 1,
                r.reference_id,
                r.utility_code,
                r.consumer_id,
                r.bill_number,
                r.due_date,
                r.amount,
                r.service_charge,
                r.total,
                r.state,
                r.order_id,
                r.service_request_id,
                r.order_status,
                r.error_code,
                r.error_detail_code,
                r.error_message,
                r.reason,
                r.enquiry_count,
                r.sending_at,
                r.answered_at,
                r.resolved_by,
                r.resolved_at,
                r.resolution_comment,
            )
        after = rows[-1].dispatch_order


__all__ = ["EXPORT_HEADER", "export_rows"]
