"""The real sandbox with a data directory: restarts (clean and killed), one holder, reset."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from sandbox.mobiquity.journal import lock_is_free
from sandbox.testing import free_port, run_sandbox

from .conftest import Mobiquity

pytestmark = pytest.mark.integration

CID = "17021272"  # three DSCO bills
DROPPING = "99020002"  # magic: billpay processes, then drops the connection


def _pending(mob: Mobiquity, consumer_id: str = CID) -> list[str]:
    return [b["bill_number"] for b in mob.fetch("DSCO", consumer_id)]


def test_a_restarted_sandbox_no_longer_offers_paid_bills(tmp_path: Path) -> None:
    env = {"SANDBOX_DATA_DIR": str(tmp_path / "sandbox")}
    with run_sandbox(env=env) as first:
        mob = Mobiquity(first)
        bills = mob.fetch("DSCO", CID)
        assert mob.pay("DSCO", CID, bills[0], "REF-PAID").status_code == 200
        dropped = mob.fetch("DSCO", DROPPING)[0]
        with pytest.raises(requests.ConnectionError):
            mob.pay("DSCO", DROPPING, dropped, "REF-NO-ANSWER")
        ledger = first.ledger()
        report = first.report()

    with run_sandbox(env=env) as second:  # stopped with SIGTERM, started again
        mob = Mobiquity(second)
        assert second.ledger() == ledger
        assert second.report() == report
        assert bills[0]["bill_number"] not in _pending(mob)
        assert [b["bill_number"] for b in bills[1:]] == _pending(mob)
        assert dropped["bill_number"] not in _pending(mob, DROPPING)
        answer = mob.enquire("REF-NO-ANSWER").json()
        assert answer["orderStatus"] == "SUCCEEDED"
        assert answer["orderId"] == ledger[1]["order_id"]
        again = mob.pay("DSCO", CID, bills[0], "REF-AGAIN").json()
        assert again["errorCode"] == "Bill01"  # never paid twice, restart or not
        lines = list(csv.DictReader(io.StringIO(report.decode())))
        assert [(r["External Reference ID"], r["Transaction Status"]) for r in lines] == [
            ("REF-PAID", "SUCCEEDED"),
            ("REF-NO-ANSWER", "SUCCEEDED"),
        ]


def test_a_killed_sandbox_loses_no_billpay(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox"
    env = {"SANDBOX_DATA_DIR": str(data_dir)}
    with run_sandbox(env=env) as first:
        mob = Mobiquity(first)
        bills = mob.fetch("DSCO", CID)
        for i, bill in enumerate(bills):
            assert mob.pay("DSCO", CID, bill, f"REF-{i}").status_code == 200
        worker = json.loads((data_dir / "lock").read_text())["pid"]
        # SIGKILL to the gunicorn master (first: it would replace a dead worker), then to its
        # worker, the process that writes the ledger.
        first.process.kill()
        first.process.wait(timeout=10)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not lock_is_free(data_dir) and time.monotonic() < deadline:
            time.sleep(0.05)  # the kernel releases the lock as the worker dies

    with run_sandbox(env=env) as second:
        assert [e["reference"] for e in second.ledger()] == ["REF-0", "REF-1", "REF-2"]
        assert _pending(Mobiquity(second)) == []


def test_a_second_sandbox_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    env = {"SANDBOX_DATA_DIR": str(tmp_path / "sandbox")}
    with run_sandbox(env=env) as first:
        other = subprocess.run(
            [sys.executable, "-m", "sandbox", "--port", str(free_port())],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode == 1
        assert "in use by another sandbox" in other.stderr
        assert first.base_url in other.stderr
        assert first.control("GET", "health")["status"] == "ok"


def test_the_reset_command_resets_the_running_sandbox(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox"
    with run_sandbox(env={"SANDBOX_DATA_DIR": str(data_dir)}) as sb:
        mob = Mobiquity(sb)
        bill = mob.fetch("DSCO", CID)[0]
        assert mob.pay("DSCO", CID, bill, "REF-1").status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "sandbox", "reset", "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert f"reset the running sandbox at {sb.base_url}" in done.stdout
        assert sb.ledger() == []
        assert (data_dir / "ledger.jsonl").read_bytes() == b""
        assert bill["bill_number"] in _pending(mob)  # the old token still works too
    # Stopped: the command empties the file itself.
    with run_sandbox(env={"SANDBOX_DATA_DIR": str(data_dir)}) as sb:
        mob = Mobiquity(sb)
        assert mob.pay("DSCO", CID, bill, "REF-2").status_code == 200
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "reset"],
        env={**os.environ, "SANDBOX_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1 billpay entries forgotten" in done.stdout
    with run_sandbox(env={"SANDBOX_DATA_DIR": str(data_dir)}) as sb:
        assert sb.ledger() == []
