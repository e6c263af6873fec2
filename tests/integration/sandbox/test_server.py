"""Behaviour that needs the real server: dropped connections, slowness, concurrency, keep-alive."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox.testing import RunningSandbox, run_sandbox

from .conftest import Mobiquity

pytestmark = pytest.mark.integration

CID = "17021272"


def test_drop_after_process_closes_the_connection_without_a_response(
    sb: RunningSandbox, mob: Mobiquity
) -> None:
    bill = mob.fetch("DSCO", CID)[0]
    sb.add_fault(endpoint="billpay", fault="drop_after_process", times=1)
    with pytest.raises(requests.ConnectionError) as caught:
        mob.pay("DSCO", CID, bill, "REFDROP")
    assert "Remote end closed connection without response" in str(caught.value)
    (entry,) = sb.ledger(reference="REFDROP")
    assert entry["outcome"] == "accepted" and entry["answered"] == "dropped"
    assert mob.enquire("REFDROP").json()["orderStatus"] == "SUCCEEDED"
    assert bill["bill_number"] not in [b["bill_number"] for b in mob.fetch("DSCO", CID)]


def test_a_dropped_answer_sends_not_a_single_byte(sb: RunningSandbox, mob: Mobiquity) -> None:
    """Raw socket: after the request, the server closes and nothing was written."""
    bill = mob.fetch("DSCO", "99020002")[0]  # magic: drop after processing
    body = json.dumps(mob.pay_body("DSCO", "99020002", bill, "REFRAW")).encode()
    request = (
        b"POST /jigsaw/v1/order/billpay HTTP/1.1\r\nHost: sandbox\r\n"
        b"Content-Type: application/json\r\n"
        + f"Authorization: {mob.headers['Authorization']}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as conn:
        conn.sendall(request)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    assert received == b""
    assert sb.ledger(reference="REFRAW")[0]["answered"] == "dropped"


def test_slow_answers_beyond_the_callers_timeout(sb: RunningSandbox, mob: Mobiquity) -> None:
    bill = mob.fetch("DSCO", CID)[0]
    sb.add_fault(endpoint="billpay", fault="slow", seconds=2, times=1)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        mob.pay("DSCO", CID, bill, "REFSLOW", timeout=0.5)
    assert time.monotonic() - started < 1.5
    (entry,) = sb.ledger(reference="REFSLOW")
    assert entry["outcome"] == "accepted" and entry["answered"] == "slow"
    # the server keeps serving others meanwhile
    assert mob.fetch("DSCO", "17021285")


def test_magic_9909_enquiry_times_out(sb: RunningSandbox, mob: Mobiquity) -> None:
    sb.configure(slow_seconds=2)
    bill = mob.fetch("DSCO", "99090002")[0]
    assert mob.pay("DSCO", "99090002", bill, "REF9909").status_code == 200
    with pytest.raises(requests.ReadTimeout):
        mob.enquire("REF9909", timeout=0.5)


def test_error_500_after_process_over_http(sb: RunningSandbox, mob: Mobiquity) -> None:
    bill = mob.fetch("DSCO", "99030002")[0]
    resp = mob.pay("DSCO", "99030002", bill, "REF500")
    assert resp.status_code == 500
    assert sb.ledger(reference="REF500")[0]["outcome"] == "accepted"


def test_fifty_parallel_payments_of_one_bill_accept_exactly_one(
    sb: RunningSandbox, mob: Mobiquity
) -> None:
    bill = mob.fetch("DSCO", CID)[0]
    barrier = threading.Barrier(50)

    def pay(i: int) -> requests.Response:
        session = requests.Session()
        barrier.wait()
        return mob.pay("DSCO", CID, bill, f"REFPAR{i:04d}", timeout=30, session=session)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(pay, range(50)))
    codes = [r.json().get("code") or r.json().get("errorCode") for r in responses]
    assert codes.count("process.fulfilment") == 1, codes
    assert codes.count("Bill01") == 49, codes
    ledger = sb.ledger(bill_number=bill["bill_number"])
    assert len(ledger) == 50
    assert [e["outcome"] for e in ledger].count("accepted") == 1
    assert bill["bill_number"] not in [b["bill_number"] for b in mob.fetch("DSCO", CID)]


def test_many_parallel_payments_of_different_bills_all_succeed(
    sb: RunningSandbox, mob: Mobiquity
) -> None:
    sb.configure(base_latency_ms=100)
    accounts = [f"3000{i:03d}2" for i in range(64)]
    bills = {cid: mob.fetch("DSCO", cid)[0] for cid in accounts}

    def pay(cid: str) -> int:
        return mob.pay(
            "DSCO", cid, bills[cid], f"REFMANY{cid}", session=requests.Session(), timeout=10
        ).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(pay, accounts))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 64
    assert len(sb.ledger(outcome="accepted")) == 64
    # 64 calls of 100 ms each, served in parallel (sequentially they would take 6.4 s)
    assert elapsed < 3.0, elapsed


def test_keep_alive_serves_several_requests_on_one_connection(sb: RunningSandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=5)
    conn.connect()
    local = conn.sock.getsockname()
    for _ in range(5):
        conn.request("GET", "/__sandbox__/health")
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Connection", "").lower() != "close"
        resp.read()
    assert conn.sock is not None and conn.sock.getsockname() == local
    conn.close()


def test_status_in_body_only_from_the_environment() -> None:
    with run_sandbox(
        env={
            "SANDBOX_STATUS_IN_BODY_ONLY": "1",
            "SANDBOX_CLIENT_ID": "bbp",
            "SANDBOX_CLIENT_SECRET": "s3cret",
            "SANDBOX_PAYER_MSISDN": "01799999999",
            "SANDBOX_PAYER_MPIN": "2468",
        }
    ) as other:
        assert other.control("GET", "config")["status_in_body_only"] is True
        mob = Mobiquity(other)
        resp = mob.session.post(
            f"{other.base_url}/extensibility/fetchPendingBillsFormAggregator",
            json={"utility": "DSCO", "consumer_id": ""},
            headers=mob.headers,
            timeout=5,
        )
        assert resp.status_code == 200 and resp.json()["code"] == 422
        bill = mob.fetch("DSCO", CID)[0]
        assert mob.pay("DSCO", CID, bill, "REFENV").status_code == 200
        resp = mob.pay("DSCO", CID, bill, "REFENV2")
        assert resp.status_code == 200 and resp.json()["errorCode"] == "Bill01"
