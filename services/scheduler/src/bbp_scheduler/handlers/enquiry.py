"""``enquiry.result``: one answer (or none) to an enquiry about an ambiguous payment.

The bookkeeping — count, next due time, uncleared when the schedule is used up, "not found"
believed only after the billpay's answer deadline plus the grace — is the payment store's
(``PaymentStore.enquiry_answered``). Here: which answer counts. A late "no answer" adds
nothing; a late *definitive* answer settles the payment as the current enquiry's would; an
enquiry that never reached Mobiquity is asked again and not counted; an answer about a
payment that is no longer ambiguous is kept for a person when it disagrees. A person's
"check now" (enquiry number ``CHECK_ENQUIRY``) is answered like an enquiry but not counted;
on an uncleared payment its answer is recorded for the person who resolves it, never applied.
"""

from __future__ import annotations

from typing import Any

from bbp_common.core.domain.payments import (
    CHECK_ENQUIRY,
    DEFINITIVE_ENQUIRY,
    EnquiryOutcome,
    PaymentState,
    decide_enquiry_result,
)
from bbp_common.core.messages import ENQUIRY_NOT_SENT
from bbp_common.platform.logging import get_logger
from bbp_scheduler.work import Work

log = get_logger(__name__)
S = PaymentState
DETAILS = ("order_id", "order_status", "error_code", "error_message")


def apply_enquiry_result(work: Work, body: dict[str, Any]) -> None:
    store = work.payments
    row = work.result_payment(body)
    outcome = EnquiryOutcome(body["outcome"])
    metrics = work.metrics
    number = body["enquiry_number"]
    current = row.enquiry_sent_at is not None and number == row.enquiry_number
    if row.state is not S.AMBIGUOUS:
        checked = (
            row.state is S.UNCLEARED
            and number == CHECK_ENQUIRY
            and (current or outcome in DEFINITIVE_ENQUIRY)
        )
        if checked:
            # A person's check of an uncleared payment (or its late but definitive answer):
            # recorded for whoever resolves it, never applied (a definitive answer that
            # disagrees is also kept below, so "not paid" waits for its acknowledgement).
            if current and body.get("reason") == ENQUIRY_NOT_SENT:
                store.enquiry_not_sent(row, why="the check expired before it was sent: asked again")
                return
            store.enquiry_answered(row, outcome, {}, check=True)
            log.info("check_answered", reference_id=row.reference_id, outcome=outcome.value)
        decision = decide_enquiry_result(
            row.state,
            outcome,
            enquiries_done=row.enquiry_count,
            policy=store.policy,
            answer_by=row.answer_by_at,
            now=work.now,
        )
        if decision.anomaly:
            kind = f"enquiry.{outcome.value}"
            work.keep_disagreement(row, kind, body, result=kind)
        if metrics:
            if checked:
                metrics.applied.labels("enquiry", outcome.value).inc()
            else:
                metrics.stale.labels("enquiry").inc()
        return
    if not current and outcome not in DEFINITIVE_ENQUIRY:
        if metrics:
            metrics.stale.labels("enquiry").inc()  # a late "no answer" adds nothing
        return
    if current and body.get("reason") == ENQUIRY_NOT_SENT:
        store.enquiry_not_sent(row, why="the enquiry expired before it was sent: asked again")
        log.info("enquiry_not_sent_asked_again", reference_id=row.reference_id)
        return
    details = {name: body.get(name) for name in DETAILS}
    decision = store.enquiry_answered(row, outcome, details, check=number == CHECK_ENQUIRY)
    if metrics:
        metrics.applied.labels("enquiry", outcome.value).inc()
    if decision.target is None:
        log.info(
            "enquiry_no_answer",
            reference_id=row.reference_id,
            enquiry=number,
            outcome=outcome.value,
        )
        return
    if decision.target in (S.POSTED, S.SUCCEEDED):
        work.submitted.append(row.id)
    work.settle.add(row.request_id)
