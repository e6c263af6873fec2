"""fetch_pending_bills: the five documented cases, money as Decimal, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import mq_doc
import mq_fake
import pytest
from mq_fake import FakeHttp
from mq_helpers import BASE, SleepRecorder, calls_to

from mobiquity_client import (
    ConsumerIdRequired,
    InvalidInput,
    MobiquityClient,
    MobiquityUnavailable,
    NotApplicableForUtility,
    PendingBill,
    RetryPolicy,
    TokenRejected,
    UnexpectedResponse,
)

pytestmark = pytest.mark.unit

FETCH = "/extensibility/fetchPendingBillsFormAggregator"
TOKEN = "/mobiquitypay/oauth/token"


def _fetch(client: MobiquityClient, consumer_id: str = "17021270") -> list[PendingBill]:
    return client.fetch_pending_bills("DSCO", consumer_id, "9810036587")


def test_request_body_and_bearer(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_NO_BILL, content_type="application/json")
    _fetch(client)
    (call,) = calls_to(rsps, FETCH)
    assert json.loads(call.request.body) == mq_doc.FETCH_REQUEST
    assert call.request.headers["Authorization"] == "Bearer " + mq_doc.TOKEN["access_token"]


def test_several_bills(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_SEVERAL_BILLS, content_type="application/json")
    first, second = _fetch(client)
    assert first.bill_number == "012331291314"
    assert first.due_date == date(2023, 8, 14)
    assert first.amount == Decimal("110.0")
    assert first.service_charge == Decimal("0.0")
    detail = first.detail
    assert detail is not None
    assert detail.account_no == "31291311"
    assert detail.bill_month == 7  # "07"
    assert detail.bill_year == 2023
    assert detail.issue_date == date(2023, 7, 14)  # DD-MM-YYYY
    assert detail.due_date == date(2023, 8, 14)
    assert (detail.amount, detail.lpc, detail.vat) == (
        Decimal("100.0"),
        Decimal("10.0"),
        Decimal("10.0"),
    )
    assert detail.payment_status == "UNPAID"
    assert detail.total_kwh == "333"
    assert second.detail is not None
    assert second.detail.bill_month == 2  # "2"
    assert second.detail.issue_date == date(2023, 2, 14)
    assert first.raw["bill_number"] == "012331291314"


def test_amounts_are_exact_decimals_never_floats(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_SEVERAL_BILLS, content_type="application/json")
    _, second = _fetch(client)
    assert isinstance(second.amount, Decimal)
    assert str(second.amount) == "220.10"  # float would give 220.1
    assert str(second.service_charge) == "5.55"
    assert second.amount + second.service_charge == Decimal("225.65")


def test_one_bill_without_detail_and_due_date(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_ONE_BILL_NO_DETAIL, content_type="application/json")
    (bill,) = _fetch(client)
    assert bill == PendingBill("3265725864641415", None, Decimal("430.0"), Decimal("0.0"), None)


def test_no_bill(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_NO_BILL, content_type="application/json")
    assert _fetch(client) == []


def test_pending_bill_is_frozen(rsps: FakeHttp, token_ok: object, client: MobiquityClient) -> None:
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_ONE_BILL_NO_DETAIL, content_type="application/json")
    (bill,) = _fetch(client)
    with pytest.raises(AttributeError):
        bill.amount = Decimal("1")  # type: ignore[misc]


@pytest.mark.parametrize("http_status", [422, 200])  # open point 0: HTTP status or body only
def test_consumer_id_empty(
    http_status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, json=mq_doc.FETCH_CONSUMER_ID_EMPTY, status=http_status)
    with pytest.raises(ConsumerIdRequired) as err:
        _fetch(client, "")
    assert err.value.user_message == "Consumer Id can not be empty"
    assert err.value.http_status == http_status
    assert len(calls_to(rsps, FETCH)) == 1  # not retried


@pytest.mark.parametrize("http_status", [403, 200])
def test_not_applicable_for_utility(
    http_status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, json=mq_doc.FETCH_NOT_APPLICABLE, status=http_status)
    with pytest.raises(NotApplicableForUtility) as err:
        _fetch(client)
    assert err.value.user_message == "This API is not applicable for the specific utility"
    assert len(calls_to(rsps, FETCH)) == 1


def test_other_422_is_invalid_input(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, json={"message": "Mobile number invalid", "code": 422}, status=422)
    with pytest.raises(InvalidInput) as err:
        _fetch(client)
    assert not isinstance(err.value, ConsumerIdRequired)


def test_plain_403_is_token_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, json={"message": "Forbidden"}, status=403)
    with pytest.raises(TokenRejected):
        _fetch(client)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"message": "OK"}', "bill_list"),
        ('{"bill_list": [{"bill_number": "1", "due_date": null, "detail": null}]}', "amount"),
        (
            '{"bill_list": [{"bill_number": "1", "due_date": null, "amount": "abc", '
            '"detail": null}]}',
            "bill_list[0].amount",
        ),
        (
            '{"bill_list": [{"bill_number": "1", "due_date": "14-08-2023", "amount": 1, '
            '"detail": null}]}',
            "bill_list[0].due_date",
        ),
        (
            '{"bill_list": [{"bill_number": "1", "due_date": null, "amount": 1, '
            '"detail": {"billMonth": "13"}}]}',
            "bill_list[0].detail.billMonth",
        ),
        (
            '{"bill_list": [{"bill_number": "1", "due_date": null, "amount": 1, '
            '"detail": {"dueDate": "2023-08-14"}}]}',
            "bill_list[0].detail.dueDate",
        ),
        (
            '{"bill_list": [{"bill_number": 1234, "due_date": null, "amount": 1, "detail": null}]}',
            "bill_list[0].bill_number",
        ),
        ('{"bill_list": {"bill_number": "1"}}', "bill_list"),
        ("[1, 2]", "$"),
    ],
)
def test_unexpected_shape_names_the_offending_field(
    body: str,
    field: str,
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    rsps.post(BASE + FETCH, body=body, content_type="application/json")
    with pytest.raises(UnexpectedResponse) as err:
        _fetch(client)
    assert err.value.field is not None
    assert field in err.value.field
    assert field in str(err.value)
    assert len(calls_to(rsps, FETCH)) == 1  # a bad body is not retried


def test_blank_detail_values_are_none(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    body = {
        "bill_list": [
            {
                "bill_number": "1",
                "due_date": None,
                "amount": 5,
                "detail": {"lpc": "", "billMonth": "", "issueDate": ""},
            }
        ]
    }
    rsps.post(BASE + FETCH, json=body)
    (bill,) = _fetch(client)
    assert bill.detail is not None
    assert (bill.detail.lpc, bill.detail.bill_month, bill.detail.issue_date) == (None, None, None)
    assert bill.service_charge == Decimal("0")  # absent service charge


# -- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500},
        {"status": 502, "body": "<html/>"},
        {"status": 503},
        {"body": mq_fake.reset()},
        {"body": mq_fake.read_timeout()},
        {"body": mq_fake.connect_timeout()},
    ],
)
def test_transient_failures_are_retried_then_succeed(
    failure: dict[str, Any],
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
    sleeps: SleepRecorder,
) -> None:
    rsps.post(BASE + FETCH, **failure)
    rsps.post(BASE + FETCH, **failure)
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_NO_BILL, content_type="application/json")
    assert _fetch(client) == []
    assert len(calls_to(rsps, FETCH)) == 3
    assert len(sleeps.calls) == 2


def test_retries_are_bounded(
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
    sleeps: SleepRecorder,
) -> None:
    rsps.post(BASE + FETCH, status=500, json={"traceId": "t-1"})
    with pytest.raises(MobiquityUnavailable) as err:
        _fetch(client)
    assert err.value.kind == "http_5xx"
    assert err.value.http_status == 500
    assert err.value.trace_id == "t-1"
    assert len(calls_to(rsps, FETCH)) == 3


def test_backoff_is_jittered_exponential_and_capped(
    rsps: FakeHttp,
    token_ok: object,
    make_client: Callable[..., MobiquityClient],
    sleeps: SleepRecorder,
) -> None:
    rsps.post(BASE + FETCH, status=503)
    policy = RetryPolicy(attempts=8, backoff_initial=0.5, backoff_max=2.0, sleep=sleeps)
    with pytest.raises(MobiquityUnavailable):
        _fetch(make_client(retries=policy))
    assert len(sleeps.calls) == 7
    for n, wait in enumerate(sleeps.calls):
        assert 0 <= wait <= min(2.0, 0.5 * 2**n)
    assert len(set(sleeps.calls)) > 1  # random, not a fixed schedule


def test_retry_policy_none_sends_once(
    rsps: FakeHttp,
    token_ok: object,
    make_client: Callable[..., MobiquityClient],
) -> None:
    rsps.post(BASE + FETCH, status=500)
    with pytest.raises(MobiquityUnavailable):
        _fetch(make_client(retries=RetryPolicy.none()))
    assert len(calls_to(rsps, FETCH)) == 1


@pytest.mark.parametrize("status", [400, 404, 409])
def test_4xx_is_not_retried(
    status: int, rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, json=mq_doc.ERROR_INVALID_VALUE, status=status)
    with pytest.raises(InvalidInput):
        _fetch(client)
    assert len(calls_to(rsps, FETCH)) == 1


def test_401_renews_the_token_and_retries_once(rsps: FakeHttp, client: MobiquityClient) -> None:
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "old-token"})
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "new-token"})
    rsps.post(BASE + FETCH, status=401, json={"error": "invalid_token"})
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_NO_BILL, content_type="application/json")
    assert _fetch(client) == []
    calls = calls_to(rsps, FETCH)
    assert [c.request.headers["Authorization"] for c in calls] == [
        "Bearer old-token",
        "Bearer new-token",
    ]
    assert client.system_token() == "new-token"


def test_401_twice_is_token_rejected(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    rsps.post(BASE + FETCH, status=401)
    with pytest.raises(TokenRejected) as err:
        _fetch(client)
    assert err.value.http_status == 401
    assert len(calls_to(rsps, FETCH)) == 2
    assert len(calls_to(rsps, TOKEN)) == 2


@pytest.mark.parametrize("http_status", [401, 200])
def test_401_with_a_failed_envelope_also_renews_the_token(
    http_status: int, rsps: FakeHttp, client: MobiquityClient
) -> None:
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "old-token"})
    rsps.post(BASE + TOKEN, json={**mq_doc.TOKEN, "access_token": "new-token"})
    rsps.post(BASE + FETCH, status=http_status, json=mq_doc.UNAUTHORIZED_ENVELOPE)
    rsps.post(BASE + FETCH, body=mq_doc.FETCH_NO_BILL, content_type="application/json")
    assert _fetch(client) == []
    assert len(calls_to(rsps, FETCH)) == 2


# -- amounts: exact to the cent or refused (issue 15, defect 4) --------------------------------


def _one_bill(**changes: str) -> str:
    """A fetch answer with two bills, as JSON text (numbers written exactly as given)."""
    fields = {
        "amount": "110.00",
        "service_charge": "5.00",
        "lpc": '"10.00"',
        "vat": '"10.00"',
        "detail_amount": '"100.00"',
    }
    fields.update(changes)
    return (
        '{"message": "OK", "code": 200, "bill_list": ['
        '{"bill_number": "1", "due_date": "2023-08-14", "amount": 50.25, "service_charge": 0,'
        ' "detail": null},'
        f'{{"bill_number": "2", "due_date": null, "amount": {fields["amount"]},'
        f' "service_charge": {fields["service_charge"]},'
        f' "detail": {{"amount": {fields["detail_amount"]}, "lpc": {fields["lpc"]},'
        f' "vat": {fields["vat"]}}}}}]}}'
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "123.456"}, "bill_list[1].amount"),
        ({"amount": '"123.456"'}, "bill_list[1].amount"),
        ({"amount": "0.001"}, "bill_list[1].amount"),
        ({"amount": "12345678901234567890123456789.001"}, "bill_list[1].amount"),  # > 28 digits
        ({"amount": "-5.00"}, "bill_list[1].amount"),
        ({"amount": '"NaN"'}, "bill_list[1].amount"),
        ({"amount": '"Infinity"'}, "bill_list[1].amount"),
        ({"service_charge": "5.555"}, "bill_list[1].service_charge"),
        ({"service_charge": "-1.00"}, "bill_list[1].service_charge"),
        ({"detail_amount": '"100.001"'}, "bill_list[1].detail.amount"),
        ({"lpc": '"10.005"'}, "bill_list[1].detail.lpc"),
        ({"lpc": "10.005"}, "bill_list[1].detail.lpc"),
        ({"vat": '"1.001"'}, "bill_list[1].detail.vat"),
        ({"vat": '"sNaN"'}, "bill_list[1].detail.vat"),
    ],
)
def test_an_amount_that_is_not_exact_to_the_cent_makes_the_answer_malformed(
    changes: dict[str, str],
    field: str,
    rsps: FakeHttp,
    token_ok: object,
    client: MobiquityClient,
) -> None:
    # A third decimal must never be rounded away (the database column keeps two): the whole
    # answer is refused, naming the field, and no bill of it is returned.
    rsps.post(BASE + FETCH, body=_one_bill(**changes), content_type="application/json")
    with pytest.raises(UnexpectedResponse) as err:
        _fetch(client)
    assert err.value.field == field
    assert field in str(err.value)
    assert err.value.endpoint == "fetch"
    assert len(calls_to(rsps, FETCH)) == 1  # a malformed answer is not retried


def test_amounts_exact_to_the_cent_are_kept_as_sent(
    rsps: FakeHttp, token_ok: object, client: MobiquityClient
) -> None:
    body = _one_bill(amount="1234.50", service_charge="1E+1", lpc='"10.000"', vat="2")
    rsps.post(BASE + FETCH, body=body, content_type="application/json")
    first, second = _fetch(client)
    assert str(first.amount) == "50.25"
    assert str(second.amount) == "1234.50"
    assert second.service_charge == Decimal("10")
    assert second.detail is not None
    assert second.detail.lpc == Decimal("10.00")  # trailing zeros change no value: accepted
    assert second.detail.vat == Decimal("2")
