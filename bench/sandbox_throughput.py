"""Throughput of the Mobiquity sandbox: fetch and billpay at concurrency 64, ±50 ms latency.

    .venv/bin/python bench/sandbox_throughput.py                 # starts its own sandbox
    .venv/bin/python bench/sandbox_throughput.py --calls 5000 --base-url http://127.0.0.1:8090

Each worker thread keeps one HTTP/1.1 keep-alive connection (http.client: the lightest
client in the standard library, so the numbers say more about the server than the client).
The client runs on the same machine and competes for the same cores.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sandbox.mobiquity.bills import make_bill
from sandbox.mobiquity.catalogue import by_utility
from sandbox.mobiquity.settings import DEMO_PAYER_MPIN, DEMO_PAYER_MSISDN
from sandbox.testing import run_sandbox

FETCH = "/extensibility/fetchPendingBillsFormAggregator"
BILLPAY = "/jigsaw/v1/order/billpay"


class Target:
    """The sandbox under test: address, token, control calls."""

    def __init__(self, base_url: str, client_id: str, secret: str) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        creds = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        status, body = self.call(
            "POST",
            "/mobiquitypay/oauth/token",
            "grant_type=client_credentials",
            {
                "Authorization": f"Basic {creds}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert status == 200, body
        self.auth = {
            "Authorization": f"Bearer {json.loads(body)['access_token']}",
            "Content-Type": "application/json",
        }

    def call(
        self, method: str, path: str, body: str | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        status, data = self.call(
            method,
            f"/__sandbox__/{path}",
            None if body is None else json.dumps(body),
            {"Content-Type": "application/json"},
        )
        assert status < 300, data
        return json.loads(data)


def fetch_body(i: int) -> tuple[str, str]:
    return FETCH, json.dumps(
        {
            "utility": "DSCO",
            "consumer_id": f"4{i:07d}2",
            "thirdParty": "aggregator",
            "params": {"MOB_NO": "01700000000"},
        }
    )


def billpay_body(i: int) -> tuple[str, str]:
    consumer_id = f"5{i:07d}2"
    bill = make_bill(by_utility("DSCO"), consumer_id, 0)
    return BILLPAY, json.dumps(
        {
            "bearerCode": "MOBILE",
            "currency": 101,
            "externalReferenceId": f"BENCH{i:015d}",
            "remarks": f"BENCH{i:015d}",
            "initiator": "sender",
            "language": "en",
            "partnerData": {
                "billAccountNumber": consumer_id,
                "billNumber": bill.bill_number,
                "billerName": "DSCO",
                "billerCode": "DSCO",
            },
            "receiver": {"idType": "mobileNumber", "idValue": "01788880001", "productId": 12},
            "sender": {
                "idType": "mobileNumber",
                "idValue": DEMO_PAYER_MSISDN,
                "mpin": DEMO_PAYER_MPIN,  # the sandbox's public demo wallet
                "paymentInstruments": [
                    {"instrumentType": "WALLET", "amount": str(bill.amount), "productId": 12}
                ],
                "userRole": "Channel",
            },
            "serviceFlowId": "BILLPAYOAP",
        }
    )


def run(
    target: Target, make: Callable[[int], tuple[str, str]], calls: int, concurrency: int
) -> dict[str, float]:
    """`calls` requests over `concurrency` keep-alive connections; returns the figures."""
    bodies = [make(i) for i in range(calls)]
    counter = iter(range(calls))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(concurrency + 1)

    def worker() -> None:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
        mine: list[float] = []
        start.wait()
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            path, body = bodies[i]
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=target.auth)
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(f"{resp.status} {data[:120]!r}")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
            mine.append(time.perf_counter() - t0)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "calls_per_s": calls / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


@contextmanager
def sandbox(base_url: str | None) -> Iterator[tuple[str, str, str]]:
    if base_url:
        with nullcontext():
            yield base_url, "CoreWeb", "sandbox-secret"
        return
    with run_sandbox() as sb:
        yield sb.base_url, sb.client_id, sb.client_secret


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per scenario")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--base-url", help="an already running sandbox (it will be reset)")
    args = parser.parse_args()
    with sandbox(args.base_url) as (base_url, client_id, secret):
        target = Target(base_url, client_id, secret)
        print(
            f"sandbox {base_url}, {args.calls} calls per scenario, concurrency {args.concurrency}"
        )
        print(f"{'endpoint':8} {'latency':>8} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} errors")
        for latency in (0, args.latency_ms):
            for name, make in (("fetch", fetch_body), ("billpay", billpay_body)):
                target.control("POST", "reset?keep_tokens=1")
                target.control("PATCH", "config", {"base_latency_ms": latency})
                result = run(target, make, args.calls, args.concurrency)
                if name == "billpay":
                    ledger = target.control("GET", "ledger?outcome=accepted")
                    assert len(ledger) == args.calls - result["errors"], len(ledger)
                print(
                    f"{name:8} {latency:>6}ms {result['calls_per_s']:>9.0f} "
                    f"{result['p50_ms']:>8.1f} {result['p99_ms']:>8.1f} {result['errors']:>6} "
                    f"{result['first_error']}"
                )
        target.control("POST", "reset")


if __name__ == "__main__":
    main()
