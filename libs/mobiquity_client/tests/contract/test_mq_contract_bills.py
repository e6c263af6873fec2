"""Contract: fetch-bill, billpay and enquiry against the sandbox, and the key rule:
pay_bill sends exactly one HTTP request in every fault case, classified correctly, with the
sandbox's ledger and call list as witnesses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from mq_helpers import payment as doc_payment
from mq_sockets import unused_port

from mobiquity_client import (
    Accepted,
    BillPayment,
    ConsumerIdRequired,
    EnquiryFailed,
    EnquiryNotFound,
    EnquiryPending,
    EnquirySucceeded,
    EnquiryUnknown,
    MobiquityClient,
    MobiquityUnavailable,
    NotApplicableForUtility,
    NotSent,
    PayerWallet,
    PendingBill,
    ReferencePlacement,
    Rejected,
    RetryPolicy,
    Unknown,
)
from sandbox.testing import RunningSandbox

pytestmark = pytest.mark.integration

MOBILE = "01710000099"


def new_reference() -> str:
    return uuid.uuid4().hex.upper()[:20]


def _biller(sb: RunningSandbox, utility: str) -> dict[str, Any]:
    return next(b for b in sb.billers() if b["code"] == utility)


def _payment(
    sb: RunningSandbox, utility: str, consumer_id: str, bill: PendingBill, **kw: Any
) -> BillPayment:
    biller = _biller(sb, utility)
    values: dict[str, Any] = {
        "reference": new_reference(),
        "biller_code": biller["biller_code"],
        "biller_name": biller["name"],
        "consumer_id": consumer_id,
        "bill_number": bill.bill_number,
        "amount": bill.amount,
        "receiver_wallet": biller["receiver_msisdn"],
        "receiver_product_id": biller["product_id"],
    }
    values.update(kw)
    return BillPayment(**values)


def _first_bill_payment(
    client: MobiquityClient, sb: RunningSandbox, consumer_id: str, utility: str = "DSCO"
) -> BillPayment:
    bills = client.fetch_pending_bills(utility, consumer_id, MOBILE)
    assert bills, f"{consumer_id} should have pending bills"
    return _payment(sb, utility, consumer_id, bills[0])


# -- fetch ------------------------------------------------------------------------------------


def test_fetch_several_bills(client: MobiquityClient) -> None:
    bills = client.fetch_pending_bills("DSCO", "17021272", MOBILE)  # digit 2 -> 3 bills
    assert len(bills) == 3
    for bill in bills:
        assert isinstance(bill.amount, Decimal)
        assert bill.amount > 0
        assert bill.due_date is not None
        assert bill.detail is not None
        assert bill.detail.bill_month is not None and 1 <= bill.detail.bill_month <= 12
        assert bill.detail.issue_date is not None
        assert bill.detail.due_date == bill.due_date
        # open point 10: the top-level amount is detail amount + vat (lpc not included)
        assert bill.detail.amount is not None and bill.detail.vat is not None
        assert bill.amount == bill.detail.amount + bill.detail.vat
    assert client.fetch_pending_bills("DSCO", "17021272", MOBILE) == bills  # deterministic


def test_fetch_one_bill_without_detail(client: MobiquityClient) -> None:
    (bill,) = client.fetch_pending_bills("JGDCL", "3265725861", MOBILE)
    assert bill.detail is None
    assert bill.due_date is None
    assert len(bill.bill_number) == 16


def test_fetch_no_bill_replays_the_document_consumer(client: MobiquityClient) -> None:
    assert client.fetch_pending_bills("DSCO", "17021270", "9810036587") == []


@pytest.mark.parametrize("body_only", [False, True])
def test_fetch_errors(client: MobiquityClient, sb: RunningSandbox, body_only: bool) -> None:
    sb.configure(status_in_body_only=body_only)
    with pytest.raises(ConsumerIdRequired) as err:
        client.fetch_pending_bills("DSCO", "", MOBILE)
    assert err.value.http_status == (200 if body_only else 422)
    for utility in ("TTAS", "NOPE"):
        with pytest.raises(NotApplicableForUtility):
            client.fetch_pending_bills(utility, "17021272", MOBILE)


def test_fetch_500_before_is_retried_per_policy(
    make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    client = make_client(retries=RetryPolicy(attempts=2, backoff_initial=0.01, backoff_max=0.01))
    with pytest.raises(MobiquityUnavailable) as err:
        client.fetch_pending_bills("DSCO", "99010002", MOBILE)  # magic 9901
    assert err.value.http_status == 500
    assert len(sb.calls(endpoint="fetch")) == 2
    none = make_client(retries=RetryPolicy.none())
    with pytest.raises(MobiquityUnavailable):
        none.fetch_pending_bills("DSCO", "99010002", MOBILE)
    assert len(sb.calls(endpoint="fetch")) == 3


def test_fetch_with_expired_token_renews_once(client: MobiquityClient, sb: RunningSandbox) -> None:
    client.system_token()
    sb.add_fault(endpoint="fetch", fault="token_expired", times=1)
    assert len(client.fetch_pending_bills("DSCO", "17021272", MOBILE)) == 3
    assert [c["status"] for c in sb.calls(endpoint="fetch")] == [401, 200]
    assert len(sb.calls(endpoint="token")) == 2


# -- billpay and enquiry ----------------------------------------------------------------------


def test_pay_a_fetched_bill_then_enquire(client: MobiquityClient, sb: RunningSandbox) -> None:
    payment = _first_bill_payment(client, sb, "17021272")
    outcome = client.pay_bill(payment)
    assert isinstance(outcome, Accepted)
    assert outcome.order_status == "PENDING"
    assert outcome.order_id
    (entry,) = sb.ledger(reference=payment.reference)
    assert entry["outcome"] == "accepted"
    assert entry["amount"] == format(payment.amount.quantize(Decimal("0.01")), "f")
    assert entry["consumer_id"] == "17021272"
    assert entry["bill_number"] == payment.bill_number
    assert entry["order_id"] == outcome.order_id
    # a paid bill is no longer pending
    remaining = client.fetch_pending_bills("DSCO", "17021272", MOBILE)
    assert payment.bill_number not in [b.bill_number for b in remaining]
    enquiry = client.enquire_payment(payment.reference)
    assert isinstance(enquiry, EnquirySucceeded)
    assert enquiry.order_id == outcome.order_id


def test_pending_until_fulfilled(client: MobiquityClient, sb: RunningSandbox) -> None:
    sb.configure(fulfilment_delay_seconds=60)
    payment = _first_bill_payment(client, sb, "17021275")
    assert isinstance(client.pay_bill(payment), Accepted)
    assert isinstance(client.enquire_payment(payment.reference), EnquiryPending)


@pytest.mark.parametrize("body_only", [False, True])
def test_enquiry_not_found(client: MobiquityClient, sb: RunningSandbox, body_only: bool) -> None:
    sb.configure(status_in_body_only=body_only)
    outcome = client.enquire_payment(new_reference())
    assert isinstance(outcome, EnquiryNotFound)
    assert outcome.error_code == "Generic05"


def test_enquiry_that_never_answers_is_unknown(
    make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    payment = _first_bill_payment(make_client(), sb, "99090002")
    client = make_client(retries=RetryPolicy.none())
    assert isinstance(client.pay_bill(payment), Accepted)
    outcome = client.enquire_payment(payment.reference)  # magic 9909: sleeps past read timeout
    assert isinstance(outcome, EnquiryUnknown)
    assert outcome.kind == "read_timeout"
    assert len(sb.calls(endpoint="enquiry")) == 1


def test_reference_in_partner_data_only(
    make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    client = make_client(
        reference_in=ReferencePlacement(
            top_level_field=None, remarks=False, partner_data_other1=True
        )
    )
    payment = _first_bill_payment(client, sb, "17021278")
    assert isinstance(client.pay_bill(payment), Accepted)
    assert len(sb.ledger(reference=payment.reference)) == 1


def test_paying_twice_is_refused_by_mobiquity(client: MobiquityClient, sb: RunningSandbox) -> None:
    payment = _first_bill_payment(client, sb, "17021274")
    assert isinstance(client.pay_bill(payment), Accepted)
    again = client.pay_bill(_payment_like(payment, reference=new_reference()))
    assert isinstance(again, Rejected)
    assert again.error_code == "Bill01"
    assert [e["outcome"] for e in sb.ledger(bill_number=payment.bill_number)] == [
        "accepted",
        "rejected",
    ]


def _payment_like(payment: BillPayment, **changes: Any) -> BillPayment:
    return replace(payment, **changes)


# -- the key rule: exactly one request per payment, whatever happens ---------------------------

# (consumer id or fault, expected outcome, expected kind / error code, in the ledger?,
#  enquiry afterwards)
FAULT_CASES: dict[str, dict[str, Any]] = {
    "drop_after_process": {
        "consumer": "99020002",
        "outcome": Unknown,
        "kind": "connection_lost",
        "ledger": ["accepted"],
        "enquiry": EnquirySucceeded,
    },
    "error_500_after_process": {
        "consumer": "99030002",
        "outcome": Unknown,
        "kind": "http_5xx",
        "ledger": ["accepted"],
        "enquiry": EnquirySucceeded,
    },
    "error_500_before_process": {
        "consumer": "99040002",
        "outcome": Unknown,
        "kind": "http_5xx",
        "ledger": [],
        "enquiry": EnquiryNotFound,
    },
    "malformed_json": {
        "consumer": "99050002",
        "outcome": Unknown,
        "kind": "bad_body",
        "ledger": ["accepted"],
        "enquiry": EnquirySucceeded,
    },
    "slow": {
        "consumer": "99060002",
        "outcome": Unknown,
        "kind": "read_timeout",
        "ledger": ["accepted"],
        "enquiry": EnquirySucceeded,
    },
    "insufficient_balance": {
        "consumer": "99070002",
        "outcome": Rejected,
        "error_code": "TXN01",
        "ledger": ["rejected"],
        "enquiry": EnquiryFailed,
    },
    "wrong_mpin": {
        "consumer": "99080002",
        "outcome": Rejected,
        "error_code": "Authen01",
        "error_codes": ("AUTH03",),
        "ledger": ["rejected"],
        "enquiry": EnquiryFailed,
    },
}


def _check_single_request(
    client: MobiquityClient,
    sb: RunningSandbox,
    payment: BillPayment,
    case: dict[str, Any],
) -> None:
    calls_before = len(sb.calls(endpoint="billpay"))
    outcome = client.pay_bill(payment)
    assert isinstance(outcome, case["outcome"]), outcome
    if "kind" in case:
        assert outcome.kind == case["kind"]  # type: ignore[union-attr]
    if "error_code" in case:
        assert isinstance(outcome, Rejected)
        assert outcome.error_code == case["error_code"]
        assert outcome.user_message
        assert outcome.order_id
    if "error_codes" in case:
        assert outcome.error_codes == case["error_codes"]  # type: ignore[union-attr]
    billpay_calls = sb.calls(endpoint="billpay")[calls_before:]
    assert len(billpay_calls) == 1, billpay_calls  # exactly one HTTP request
    assert billpay_calls[0]["reference"] == payment.reference
    assert [e["outcome"] for e in sb.ledger(reference=payment.reference)] == case["ledger"]
    enquiry = client.enquire_payment(payment.reference)
    assert isinstance(enquiry, case["enquiry"]), enquiry


@pytest.mark.parametrize("name", sorted(FAULT_CASES))
def test_magic_consumer_fault_sends_exactly_once(
    name: str, make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    case = FAULT_CASES[name]
    # generous retries configured: pay_bill must ignore them
    client = make_client(retries=RetryPolicy(attempts=5, backoff_initial=0.01, backoff_max=0.01))
    payment = _first_bill_payment(client, sb, case["consumer"])
    _check_single_request(client, sb, payment, case)


@pytest.mark.parametrize(
    "name",
    [
        "drop_after_process",
        "error_500_after_process",
        "error_500_before_process",
        "slow",
        "malformed_json",
        "wrong_mpin",
        "insufficient_balance",
    ],
)
def test_control_api_fault_sends_exactly_once(
    name: str, make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    case = FAULT_CASES[name]
    client = make_client(retries=RetryPolicy(attempts=5, backoff_initial=0.01, backoff_max=0.01))
    payment = _first_bill_payment(client, sb, "17021272")
    sb.add_fault(endpoint="billpay", fault=name, reference=payment.reference, times=1)
    _check_single_request(client, sb, payment, case)


def test_token_expired_is_rejected_sent_once_and_not_processed(
    client: MobiquityClient, sb: RunningSandbox
) -> None:
    payment = _first_bill_payment(client, sb, "17021272")
    sb.add_fault(endpoint="billpay", fault="token_expired", times=1)
    outcome = client.pay_bill(payment)
    assert isinstance(outcome, Rejected)
    assert outcome.http_status == 401
    assert [c["status"] for c in sb.calls(endpoint="billpay")] == [401]
    assert sb.ledger(reference=payment.reference) == []
    # the refused token was dropped: the next payment of the bill goes through on a new one
    retry = client.pay_bill(_payment_like(payment, reference=new_reference()))
    assert isinstance(retry, Accepted)
    assert len(sb.calls(endpoint="token")) == 2


def test_a_real_wrong_mpin(make_client: Callable[..., MobiquityClient], sb: RunningSandbox) -> None:
    client = make_client(sender=PayerWallet(sb.payer_msisdn, "00000"))
    payment = _first_bill_payment(client, sb, "17021272")
    outcome = client.pay_bill(payment)
    assert isinstance(outcome, Rejected)
    assert (outcome.error_code, outcome.error_codes) == ("Authen01", ("AUTH03",))


def test_wrong_mpin_with_status_in_body_only(client: MobiquityClient, sb: RunningSandbox) -> None:
    sb.configure(status_in_body_only=True)
    payment = _first_bill_payment(client, sb, "99080002")
    outcome = client.pay_bill(payment)
    assert isinstance(outcome, Rejected)
    assert outcome.http_status == 200
    assert outcome.error_code == "Authen01"


def test_sandbox_down_is_not_sent(make_client: Callable[..., MobiquityClient]) -> None:
    client = MobiquityClient(
        f"http://127.0.0.1:{unused_port()}",
        "id",
        "secret",
        sender=PayerWallet("01755555555", "13579"),
        retries=RetryPolicy.none(),
    )
    outcome = client.pay_bill(doc_payment())
    assert isinstance(outcome, NotSent)  # the token call failed: billpay never left
    assert outcome.kind == "token"


def test_one_client_shared_by_many_threads(
    make_client: Callable[..., MobiquityClient], sb: RunningSandbox
) -> None:
    client = make_client(pool_size=8)
    consumers = [f"1702{n:03d}{d}" for n in range(4) for d in (2, 5, 8)]  # 3 bills each
    payments = [
        _payment(sb, "DSCO", consumer, bill)
        for consumer in consumers
        for bill in client.fetch_pending_bills("DSCO", consumer, MOBILE)
    ]
    assert len(payments) == 36
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(client.pay_bill, payments))
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes
    ledger = sb.ledger()
    assert sorted(e["reference"] for e in ledger) == sorted(p.reference for p in payments)
    assert len(sb.calls(endpoint="token")) == 1  # one token for all threads
