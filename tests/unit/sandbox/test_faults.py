"""Each fault's effect, its scope, and the magic consumer ids (Flask test client)."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.mobiquity.http import ConnectionDropped

from .conftest import PATH_LOGIN, Api, login_body

pytestmark = pytest.mark.unit

CID = "17021272"


def first_bill(api: Api, consumer_id: str = CID, utility: str = "DSCO") -> dict:
    return api.bills(utility, consumer_id)[0]


def test_latency_fault_delays_the_answer(api: Api) -> None:
    api.add_fault(endpoint="fetch", fault="latency", latency_ms=300)
    started = time.perf_counter()
    assert api.fetch("DSCO", CID).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_base_latency_applies_to_every_mobiquity_call_but_not_control(api: Api) -> None:
    api.configure(base_latency_ms=200)
    started = time.perf_counter()
    api.client.get("/__sandbox__/ledger")
    assert time.perf_counter() - started < 0.2
    started = time.perf_counter()
    api.fetch("DSCO", CID)
    assert time.perf_counter() - started >= 0.2


def test_slow_fault_sleeps_then_answers_normally(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="slow", seconds=0.3)
    started = time.perf_counter()
    resp = api.pay("DSCO", CID, bill)
    assert time.perf_counter() - started >= 0.3
    assert resp.status_code == 200 and resp.get_json()["code"] == "process.fulfilment"
    (entry,) = api.ledger()
    assert entry["outcome"] == "accepted" and entry["answered"] == "slow"


def test_drop_after_process_records_the_payment_but_answers_nothing(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="drop_after_process")
    with pytest.raises(ConnectionDropped):
        api.pay("DSCO", CID, bill, "REFDROP")
    (entry,) = api.ledger()
    assert entry["outcome"] == "accepted" and entry["answered"] == "dropped"
    assert entry["http_status"] is None
    call = api.calls(endpoint="billpay")[-1]
    assert call["status"] is None and call["answered"] == "dropped"
    assert bill["bill_number"] not in [b["bill_number"] for b in api.bills("DSCO", CID)]
    assert api.enquire("REFDROP").get_json()["orderStatus"] == "SUCCEEDED"


def test_error_500_after_process_pays_and_answers_500(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="error_500_after_process")
    resp = api.pay("DSCO", CID, bill)
    assert resp.status_code == 500
    assert resp.get_json()["status"] == 500 and resp.get_json()["error"]
    (entry,) = api.ledger()
    assert entry["outcome"] == "accepted" and entry["answered"] == "500_after"
    assert entry["http_status"] == 500
    assert len(api.bills("DSCO", CID)) == 2


def test_error_500_before_process_pays_nothing(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="error_500_before_process")
    assert api.pay("DSCO", CID, bill).status_code == 500
    assert api.ledger() == []
    assert api.calls(endpoint="billpay")[-1]["status"] == 500
    assert len(api.bills("DSCO", CID)) == 3


def test_malformed_json_after_processing(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="malformed_json")
    resp = api.pay("DSCO", CID, bill)
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.get_data(as_text=True))
    (entry,) = api.ledger()
    assert entry["outcome"] == "accepted" and entry["answered"] == "malformed"


def test_token_expired_refuses_tokens_issued_before_the_fault(api: Api) -> None:
    old = api.token()
    api.add_fault(endpoint="fetch", fault="token_expired")
    resp = api.client.post(
        "/extensibility/fetchPendingBillsFormAggregator",
        json={"utility": "DSCO", "consumer_id": CID},
        headers=api.headers(old),
    )
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["errors"][0]["code"] == "AUTH_TOKEN_EXPIRED" and body["status"] == "FAILED"
    api.token(fresh=True)
    assert api.fetch("DSCO", CID).status_code == 200


def test_token_expired_on_every_endpoint_with_times(api: Api) -> None:
    api.token()
    api.add_fault(endpoint="*", fault="token_expired", times=1)
    assert api.fetch("DSCO", CID).status_code == 401
    assert api.fetch("DSCO", CID).status_code == 200  # used up
    assert api.client.get("/__sandbox__/faults").get_json() == []


def test_token_expired_also_hits_login(api: Api) -> None:
    api.token()
    api.add_fault(endpoint="login", fault="token_expired")
    assert api.post(PATH_LOGIN, login_body("Aman01", "Com@1357")).status_code == 401


def test_wrong_mpin_fault(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="wrong_mpin", times=1)
    resp = api.pay("DSCO", CID, bill)
    assert resp.status_code == 400 and resp.get_json()["errors"][0]["code"] == "AUTH03"
    assert api.pay("DSCO", CID, bill, "REF2").status_code == 200


def test_insufficient_balance_fault(api: Api) -> None:
    bill = first_bill(api)
    api.add_fault(endpoint="billpay", fault="insufficient_balance")
    assert api.pay("DSCO", CID, bill).get_json()["errorCode"] == "TXN01"


def test_faults_are_scoped_by_consumer_id(api: Api) -> None:
    other = "17021285"
    bill, other_bill = first_bill(api), first_bill(api, other)
    api.add_fault(endpoint="billpay", fault="error_500_before_process", consumer_id=other)
    assert api.pay("DSCO", CID, bill, "A").status_code == 200
    assert api.pay("DSCO", other, other_bill, "B").status_code == 500


def test_faults_are_scoped_by_reference(api: Api) -> None:
    bills = api.bills("DSCO", CID)
    api.add_fault(endpoint="billpay", fault="error_500_after_process", reference="BAD")
    assert api.pay("DSCO", CID, bills[0], "GOOD").status_code == 200
    assert api.pay("DSCO", CID, bills[1], "BAD").status_code == 500


def test_faults_are_scoped_by_endpoint(api: Api) -> None:
    api.add_fault(endpoint="billpay", fault="error_500_before_process")
    assert api.fetch("DSCO", CID).status_code == 200


def test_fault_times_counts_down_then_the_fault_is_gone(api: Api) -> None:
    fid = api.add_fault(endpoint="fetch", fault="error_500_before_process", times=2)
    faults = api.client.get("/__sandbox__/faults").get_json()
    assert [f["id"] for f in faults] == [fid] and faults[0]["times"] == 2
    assert [api.fetch("DSCO", CID).status_code for _ in range(3)] == [500, 500, 200]
    assert api.client.get("/__sandbox__/faults").get_json() == []


def test_fault_probability(api: Api) -> None:
    api.add_fault(endpoint="fetch", fault="error_500_before_process", probability=0)
    assert all(api.fetch("DSCO", CID).status_code == 200 for _ in range(20))
    api.client.delete("/__sandbox__/faults")
    api.add_fault(endpoint="fetch", fault="error_500_before_process", probability=0.5)
    statuses = [api.fetch("DSCO", CID).status_code for _ in range(200)]
    assert 40 < statuses.count(500) < 160


def test_faults_are_removed_by_delete_and_by_reset(api: Api) -> None:
    fid = api.add_fault(endpoint="fetch", fault="error_500_before_process")
    keep = api.add_fault(endpoint="fetch", fault="latency", latency_ms=1)
    assert api.client.delete(f"/__sandbox__/faults/{fid}").status_code == 200
    assert api.client.delete(f"/__sandbox__/faults/{fid}").status_code == 404
    assert [f["id"] for f in api.client.get("/__sandbox__/faults").get_json()] == [keep]
    api.add_fault(endpoint="fetch", fault="error_500_before_process")
    assert api.client.delete("/__sandbox__/faults").get_json() == {"removed": 2}
    assert api.fetch("DSCO", CID).status_code == 200
    api.add_fault(endpoint="fetch", fault="error_500_before_process")
    api.client.post("/__sandbox__/reset")
    api.token(fresh=True)
    assert api.fetch("DSCO", CID).status_code == 200


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "nope", "fault": "latency", "latency_ms": 5},
        {"endpoint": "fetch", "fault": "explode"},
        {"endpoint": "fetch", "fault": "wrong_mpin"},
        {"endpoint": "token", "fault": "token_expired"},
        {"endpoint": "fetch", "fault": "latency"},
        {"endpoint": "fetch", "fault": "slow", "probability": 1.5},
        {"endpoint": "fetch", "fault": "slow", "times": 0},
        {"endpoint": "fetch", "fault": "slow", "consumer_id": 17021272},
        {"endpoint": "fetch", "fault": "slow", "colour": "red"},
    ],
)
def test_invalid_faults_are_refused(api: Api, fault: dict) -> None:
    resp = api.client.post("/__sandbox__/faults", json=fault)
    assert resp.status_code == 400 and resp.get_json()["error"]
    assert api.client.get("/__sandbox__/faults").get_json() == []


def test_faults_on_auth_endpoints(api: Api) -> None:
    api.add_fault(endpoint="token", fault="error_500_after_process", times=1)
    resp = api.client.post(
        "/mobiquitypay/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic Q29yZVdlYjpzYW5kYm94LXNlY3JldA=="},
    )
    assert resp.status_code == 500
    api.add_fault(endpoint="login", fault="malformed_json", times=1)
    resp = api.post(PATH_LOGIN, login_body("Aman01", "Com@1357"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.get_data(as_text=True))


# ---- magic consumer ids -------------------------------------------------------------------


def test_magic_9901_fetch_500_before_processing(api: Api) -> None:
    resp = api.fetch("DSCO", "99010002")
    assert resp.status_code == 500
    assert api.calls(endpoint="fetch")[-1]["status"] == 500


def test_magic_9902_drops_after_processing(api: Api) -> None:
    bill = make_bill_json("DSCO", "99020002")
    with pytest.raises(ConnectionDropped):
        api.pay("DSCO", "99020002", bill)
    assert api.ledger()[0]["answered"] == "dropped"
    assert api.ledger()[0]["outcome"] == "accepted"


def test_magic_9903_500_after_processing(api: Api) -> None:
    bill = first_bill(api, "99030002")
    assert api.pay("DSCO", "99030002", bill).status_code == 500
    assert api.ledger()[0]["outcome"] == "accepted"
    assert api.ledger()[0]["answered"] == "500_after"


def test_magic_9904_500_before_processing(api: Api) -> None:
    bill = first_bill(api, "99040002")
    assert api.pay("DSCO", "99040002", bill).status_code == 500
    assert api.ledger() == []


def test_magic_9905_malformed_json(api: Api) -> None:
    bill = first_bill(api, "99050002")
    resp = api.pay("DSCO", "99050002", bill)
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.get_data(as_text=True))
    assert api.ledger()[0]["answered"] == "malformed"


def test_magic_9906_processes_then_answers_slowly(api: Api) -> None:
    api.configure(slow_seconds=0.3)
    bill = first_bill(api, "99060002")
    started = time.perf_counter()
    assert api.pay("DSCO", "99060002", bill).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert api.ledger()[0]["answered"] == "slow"


def test_magic_9909_enquiry_answers_slowly(api: Api) -> None:
    api.configure(slow_seconds=0.3)
    bill = first_bill(api, "99090002")
    started = time.perf_counter()
    assert api.pay("DSCO", "99090002", bill, "REF9909").status_code == 200
    assert time.perf_counter() - started < 0.3
    started = time.perf_counter()
    assert api.enquire("REF9909").get_json()["orderStatus"] == "SUCCEEDED"
    assert time.perf_counter() - started >= 0.3


def test_magic_ids_still_follow_the_bill_rules(api: Api) -> None:
    assert len(api.bills("DSCO", "99020000")) == 0
    assert len(api.bills("DSCO", "99020002")) == 3


def make_bill_json(utility: str, consumer_id: str) -> dict:
    from sandbox.mobiquity.bills import make_bill
    from sandbox.mobiquity.catalogue import by_utility

    return make_bill(by_utility(utility), consumer_id, 0).to_json()
