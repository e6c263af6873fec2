"""Benchmark: CPU milliseconds per call of ``MobiquityClient`` (client side only).

fetch-bill, billpay and enquiry against the sandbox (``python -m sandbox``, no latency), one
thread, ``RetryPolicy.none()`` and a keep-alive pool as the communicator uses them. The
measure is ``time.process_time()`` of the process making the calls over N calls of each
kind: the sandbox runs in a process of its own, so only the client's CPU is counted.

``--before REF`` also measures the client of a git ref (``git archive REF
libs/mobiquity_client/src`` into a temporary folder, put first on ``PYTHONPATH`` of the
measuring process): both sides run in the same run, interleaved round by round, against the
same sandbox. ``--logging json`` routes the client's log lines through the services' JSON
logging (``bbp_common.platform.logging``, to /dev/null), as in the communicator; ``none`` leaves
logging unconfigured (INFO lines are dropped at the level check). Not run by CI::

    .venv/bin/python bench/client_cpu.py [--calls 1000] [--rounds 3] [--before main]
        [--logging none,json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MOBILE = "01710000099"
KINDS = ("fetch", "billpay", "enquiry")
#: the same enquiry GET through the transport alone (urllib3 and http.client, no parsing,
#: no logging): the part of a call left to the libraries; this tree only
FLOOR = "enquiry, HTTP only"


# -- the measuring process ----------------------------------------------------------------------


def _billers(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/__sandbox__/billers", timeout=10) as resp:
        return {b["code"]: b for b in json.loads(resp.read())}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Runs in the child process: N fetches, N billpays of fetched bills, N enquiries."""
    if args.logging == "json":
        from bbp_common.platform.logging import configure_logging

        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the log lines go nowhere
        configure_logging("bench", "INFO", "json")
    import mobiquity_client
    from mobiquity_client import (
        Accepted,
        BillPayment,
        EnquirySucceeded,
        MobiquityClient,
        PayerWallet,
        RetryPolicy,
        Timeouts,
    )

    client = MobiquityClient(
        args.base_url,
        args.client_id,
        args.client_secret,
        sender=PayerWallet(args.payer_msisdn, args.payer_mpin),
        retries=RetryPolicy.none(),
        timeouts=Timeouts(connect=3, read=15),
        pool_size=8,
    )
    biller = _billers(args.base_url)["DSCO"]
    tag = uuid.uuid4().int % 10**6
    # The last digit 2 gives 3 bills with detail; "5…" is no fault-injecting prefix.
    consumers = [f"5{tag:06d}{n:05d}2" for n in range(args.calls + args.warmup)]
    for consumer in consumers[: args.warmup]:  # token, connection, imports, caches
        client.fetch_pending_bills("DSCO", consumer, MOBILE)
    consumers = consumers[args.warmup :]
    results: dict[str, Any] = {"module": mobiquity_client.__file__}

    def timed(kind: str, calls: list[Any]) -> list[Any]:
        cpu, wall = time.process_time(), time.perf_counter()
        out = [call() for call in calls]
        results[kind] = {
            "cpu_ms": (time.process_time() - cpu) * 1000 / len(calls),
            "wall_ms": (time.perf_counter() - wall) * 1000 / len(calls),
        }
        return out

    fetched = timed(
        "fetch",
        [
            lambda c=consumer: client.fetch_pending_bills("DSCO", c, MOBILE)
            for consumer in consumers
        ],
    )
    payments = [
        BillPayment(
            reference=f"B{tag:06d}{n:07d}",
            biller_code=biller["biller_code"],
            biller_name=biller["name"],
            consumer_id=consumer,
            bill_number=bills[0].bill_number,
            amount=bills[0].amount,
            receiver_wallet=biller["receiver_msisdn"],
            receiver_product_id=biller["product_id"],
        )
        for n, (consumer, bills) in enumerate(zip(consumers, fetched, strict=True))
    ]
    outcomes = timed("billpay", [lambda p=p: client.pay_bill(p) for p in payments])
    assert all(isinstance(o, Accepted) for o in outcomes), outcomes[:3]
    answers = timed("enquiry", [lambda p=p: client.enquire_payment(p.reference) for p in payments])
    assert all(isinstance(a, EnquirySucceeded) for a in answers), answers[:3]
    transport = getattr(client, "_transport", None)
    if transport is not None:
        headers = {
            "Accept": "application/json",
            "Authorization": f"Bearer {client.system_token()}",
        }
        timed(
            FLOOR,
            [
                lambda p=p: transport.request(
                    "GET", f"/jigsaw/v1/order/enquiry/{p.reference}", None, headers
                )
                for p in payments
            ],
        )
    client.close()
    return results


# -- the driver ---------------------------------------------------------------------------------


def _extract(ref: str, into: Path) -> Path:
    """The client's source of a git ref, as a folder to put on PYTHONPATH."""
    archive = into / "src.tar"
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "-o", str(archive), ref, "libs/mobiquity_client/src"],
        check=True,
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "libs" / "mobiquity_client" / "src"


def _run_side(args: argparse.Namespace, sb: Any, logging_mode: str, src: Path | None) -> Any:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    command = [
        sys.executable,
        __file__,
        "--measure",
        f"--calls={args.calls}",
        f"--warmup={args.warmup}",
        f"--logging={logging_mode}",
        f"--base-url={sb.base_url}",
        f"--client-id={sb.client_id}",
        f"--client-secret={sb.client_secret}",
        f"--payer-msisdn={sb.payer_msisdn}",
        f"--payer-mpin={sb.payer_mpin}",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring process failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])


def drive(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT / "sandbox" / "src"))
    from sandbox.testing import run_sandbox

    sides: dict[str, Path | None] = {"this tree": None}
    with tempfile.TemporaryDirectory(prefix="client-cpu-") as tmp:
        if args.before:
            sides = {f"before ({args.before})": _extract(args.before, Path(tmp)), **sides}
        load = os.getloadavg()
        print(
            f"machine: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} "
            f"{load[2]:.1f}; Python {sys.version.split()[0]}; {args.calls} calls of each kind "
            f"per run, {args.rounds} runs per side (interleaved)"
        )
        with run_sandbox() as sb:
            for logging_mode in args.logging.split(","):
                runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
                for _ in range(args.rounds):
                    for side, src in sides.items():
                        runs[side].append(_run_side(args, sb, logging_mode, src))
                print(f"\nlogging: {logging_mode} — CPU ms per call, median (min–max)")
                print(f"{'':24}" + "".join(f"{kind:>22}" for kind in (*KINDS, FLOOR)))
                medians: dict[str, dict[str, float]] = {}
                for side, results in runs.items():
                    row, medians[side] = f"{side:24}", {}
                    for kind in (*KINDS, FLOOR):
                        if kind not in results[0]:
                            row += f"{'—':>22}"
                            continue
                        values = [r[kind]["cpu_ms"] for r in results]
                        medians[side][kind] = statistics.median(values)
                        row += f"{medians[side][kind]:>9.3f} ({min(values):.3f}–{max(values):.3f})"
                    print(row)
                if len(sides) == 2:
                    before, after = (medians[s] for s in sides)
                    print(
                        f"{'before ÷ this tree':24}"
                        + "".join(f"{before[k] / after[k]:>21.2f}×" for k in KINDS)
                    )
        load = os.getloadavg()
        print(f"\nload average at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls of each kind per run")
    parser.add_argument("--warmup", type=int, default=20, help="fetches before measuring")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each side")
    parser.add_argument("--before", help="also measure the client of this git ref (e.g. main)")
    parser.add_argument("--logging", default="none,json", help="none, json or both")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    for name in ("base-url", "client-id", "client-secret", "payer-msisdn", "payer-mpin"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        results = measure(args)
        print(json.dumps(results), file=sys.stderr)  # stdout may be /dev/null (logging)
    else:
        drive(args)


if __name__ == "__main__":
    main()
