"""Deterministic bills (docs/decisions.md) and the five documented fetch answers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from sandbox.mobiquity import catalogue
from sandbox.mobiquity.bills import bill_count, bills_for, find_bill, make_bill

from .conftest import PATH_FETCH, Api

pytestmark = pytest.mark.unit

DSCO = catalogue.by_utility("DSCO")
JGDCL = catalogue.by_utility("JGDCL")


@pytest.mark.parametrize(
    ("consumer_id", "count"),
    [
        ("17021270", 0),
        ("1231", 1),
        ("17021272", 3),
        ("17021273", 1),
        ("17021274", 2),
        ("17021275", 3),
        ("17021276", 1),
        ("17021277", 2),
        ("17021278", 3),
        ("17021279", 1),
    ],
)
def test_bill_count_follows_the_last_digit(consumer_id: str, count: int) -> None:
    assert bill_count(consumer_id) == count
    assert len(bills_for(DSCO, consumer_id)) == count


def test_a_consumer_id_without_a_final_digit_still_gets_a_stable_count() -> None:
    assert bill_count("ACC-X") == bill_count("ACC-X")
    assert bill_count("") == 0


def test_same_inputs_give_the_same_bill_number_and_amounts() -> None:
    first = make_bill(DSCO, "17021272", 1, today=date(2024, 1, 15))
    again = make_bill(DSCO, "17021272", 1, today=date(2025, 6, 3))
    assert (first.bill_number, first.amount, first.service_charge) == (
        again.bill_number,
        again.amount,
        again.service_charge,
    )
    assert first.detail is not None and again.detail is not None
    for key in ("amount", "vat", "lpc", "totalKwh", "accountNo", "billNo"):
        assert first.detail[key] == again.detail[key]


def test_utility_and_index_change_the_bill() -> None:
    a = make_bill(DSCO, "17021272", 0)
    b = make_bill(DSCO, "17021272", 1)
    c = make_bill(catalogue.by_utility("DESCO"), "17021272", 0)
    assert len({a.bill_number, b.bill_number, c.bill_number}) == 3
    assert a.amount != c.amount


def test_one_bill_accounts_have_no_detail_and_no_due_date() -> None:
    (bill,) = bills_for(JGDCL, "1231")
    assert bill.detail is None
    assert bill.due_date is None
    assert bill.to_json()["detail"] is None
    assert len(bill.bill_number) == 16  # like the document's JGDCL example


def test_bills_look_like_the_documented_ones_across_many_accounts() -> None:
    months, service_charges, lpcs = set(), set(), set()
    for n in range(400):
        for bill in bills_for(DSCO, f"1702{n:04d}2"):
            assert Decimal("100.00") <= bill.amount <= Decimal("5000.00")
            assert bill.amount == bill.amount.quantize(Decimal("0.01"))
            assert len(bill.bill_number) == 12 and bill.bill_number.isdigit()
            detail = bill.detail
            assert detail is not None
            assert all(isinstance(v, str) for v in detail.values())
            assert detail["billNo"] == bill.bill_number
            assert detail["paymentStatus"] == "UNPAID"
            issue = datetime.strptime(detail["issueDate"], "%d-%m-%Y").date()
            due = datetime.strptime(detail["dueDate"], "%d-%m-%Y").date()
            assert due == bill.due_date and due > issue
            assert int(detail["billMonth"]) == issue.month
            assert detail["billYear"] == str(issue.year)
            # amount = detail amount + vat; lpc shown but not included (as in the document)
            assert Decimal(detail["amount"]) + Decimal(detail["vat"]) == bill.amount
            months.add(detail["billMonth"])
            service_charges.add(bill.service_charge)
            lpcs.add(Decimal(detail["lpc"]) > 0)
    assert any(m.startswith("0") for m in months), months
    assert any(len(m) == 1 for m in months), months
    assert Decimal("0.00") in service_charges and len(service_charges) > 1
    assert lpcs == {True, False}


def test_bill_numbers_are_unique_within_an_account() -> None:
    numbers = [b.bill_number for b in bills_for(DSCO, "17021275")]
    assert len(numbers) == len(set(numbers)) == 3


def test_find_bill() -> None:
    bill = bills_for(DSCO, "17021275")[2]
    assert find_bill(DSCO, "17021275", bill.bill_number) == bill
    assert find_bill(DSCO, "17021276", bill.bill_number) is None
    assert find_bill(DSCO, "17021275", "000000000000") is None
    assert find_bill(DSCO, "17021275", "AB0000000000") is None
    assert find_bill(DSCO, "17021275", "04" + bill.bill_number[2:]) is None


# ---- the fetch endpoint: the document's five cases ---------------------------------------


def test_fetch_several_bills(api: Api) -> None:
    resp = api.fetch("DSCO", "17021272")
    assert resp.status_code == 200
    body = resp.get_json()
    assert {k: body[k] for k in ("message", "code", "utility", "account_no")} == {
        "message": "OK",
        "code": 200,
        "utility": "DSCO",
        "account_no": "17021272",
    }
    assert len(body["bill_list"]) == 3
    item = body["bill_list"][0]
    assert set(item) == {"bill_number", "due_date", "amount", "service_charge", "detail"}
    assert isinstance(item["amount"], float) and isinstance(item["service_charge"], float)
    date.fromisoformat(item["due_date"])
    expected = make_bill(DSCO, "17021272", 0)
    assert item["bill_number"] == expected.bill_number
    assert Decimal(str(item["amount"])) == expected.amount


def test_fetch_one_bill_without_detail(api: Api) -> None:
    body = api.fetch("JGDCL", "1233").get_json()
    assert body["account_no"] == "1233"
    (item,) = body["bill_list"]
    assert item["detail"] is None and item["due_date"] is None


def test_fetch_no_bill(api: Api) -> None:
    body = api.fetch("JGDCL", "601130400").get_json()
    assert body["code"] == 200 and body["bill_list"] == []


def test_a_numeric_consumer_id_is_read_as_text(api: Api) -> None:
    assert api.fetch("DSCO", 17021272).get_json()["account_no"] == "17021272"


@pytest.mark.parametrize("consumer_id", [None, "", "   "])
def test_fetch_consumer_id_missing_is_422(api: Api, consumer_id: str | None) -> None:
    resp = api.fetch("DSCO", consumer_id)
    assert resp.status_code == 422
    assert resp.get_json() == {"message": "Consumer Id can not be empty", "code": 422}


@pytest.mark.parametrize("utility", ["TTAS", "XXXX", None])
def test_fetch_unsupported_utility_is_403(api: Api, utility: str | None) -> None:
    resp = api.fetch(utility, "17021272")
    assert resp.status_code == 403
    body = resp.get_json()
    assert body["message"] == "This API is not applicable for the specific utility"
    assert body["status"] == 403 and isinstance(body["timestamp"], int)


def test_status_in_body_only_answers_200_with_the_code_in_the_body(api: Api) -> None:
    api.configure(status_in_body_only=True)
    resp = api.fetch("DSCO", "")
    assert resp.status_code == 200 and resp.get_json()["code"] == 422
    resp = api.fetch("TTAS", "17021272")
    assert resp.status_code == 200 and resp.get_json()["status"] == 403


def test_fetch_needs_the_system_token(api: Api, client) -> None:
    resp = client.post(PATH_FETCH, json={"utility": "DSCO", "consumer_id": "17021272"})
    assert resp.status_code == 401
    assert resp.get_json()["errorCode"] == "Authen04"
    api.configure(require_bearer=False)
    resp = client.post(PATH_FETCH, json={"utility": "DSCO", "consumer_id": "17021272"})
    assert resp.status_code == 200
