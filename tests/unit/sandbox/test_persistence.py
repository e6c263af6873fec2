"""The ledger kept in a data directory: read back at start, reset, crash-safe, one holder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import sandbox.__main__ as cli
from sandbox.mobiquity import create_app, journal
from sandbox.mobiquity.journal import DataDirInUse, Journal, JournalError
from sandbox.mobiquity.settings import Settings

from .conftest import Api

pytestmark = pytest.mark.unit

CID = "17021272"  # three DSCO bills


class Sandboxes:
    """Start and stop in-process sandboxes on one data directory, like restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.apps: list[Flask] = []

    def start(self) -> Api:
        app = create_app(Settings(data_dir=str(self.data_dir)))
        app.testing = True
        self.apps.append(app)
        return Api(app.test_client(), app)

    def stop(self, api: Api) -> None:
        api.state.close()

    def restart(self, api: Api) -> Api:
        self.stop(api)
        return self.start()

    def close_all(self) -> None:
        for app in self.apps:
            app.extensions["sandbox_state"].close()


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    boxes = Sandboxes(tmp_path / "sandbox")
    yield boxes
    boxes.close_all()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_restarted_sandbox_remembers_paid_bills_references_and_enquiry_answers(
    sandboxes: Sandboxes,
) -> None:
    api = sandboxes.start()
    bills = api.bills("DSCO", CID)
    assert api.pay("DSCO", CID, bills[0], "REF-PAID").status_code == 200
    assert api.pay("DSCO", CID, bills[1], "REF-WRONG-MPIN", mpin=1).status_code == 400
    before = api.ledger()

    api = sandboxes.restart(api)

    assert api.ledger() == before
    pending = [b["bill_number"] for b in api.bills("DSCO", CID)]
    assert bills[0]["bill_number"] not in pending  # paid before the restart: not offered again
    assert bills[1]["bill_number"] in pending  # the rejected one still is
    assert api.enquire("REF-PAID").get_json()["orderStatus"] == "SUCCEEDED"
    assert api.enquire("REF-PAID").get_json()["orderId"] == before[0]["order_id"]
    failed = api.enquire("REF-WRONG-MPIN").get_json()
    assert failed["orderStatus"] == "FAILED" and failed["errorCode"] == "Authen01"
    # The same bill again, or the same reference for another bill: refused as before.
    again = api.pay("DSCO", CID, bills[0], "REF-OTHER").get_json()
    assert again["errors"][0]["code"] == "bill.already.paid"
    reused = api.pay("DSCO", CID, bills[2], "REF-PAID").get_json()
    assert reused["errors"][0]["code"] == "duplicate.reference"
    # The ledger goes on where it stopped; order ids stay unique.
    entries = api.ledger()
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]
    assert len({e["order_id"] for e in entries}) == 4
    assert len(api.ledger(reference="REF-PAID")) == 2  # billpay count per reference id
    query = {"utility": "DSCO", "consumer_id": CID}
    paid = api.client.get("/__sandbox__/bills", query_string=query)
    assert [b["paid"] for b in paid.get_json()] == [True, False, False]


def test_the_file_is_one_ledger_entry_a_line(sandboxes: Sandboxes) -> None:
    api = sandboxes.start()
    api.pay("DSCO", CID, api.bills("DSCO", CID)[0], "REF-1")
    shown = api.ledger()
    written = _lines(sandboxes.data_dir / "ledger.jsonl")
    assert [dict(e, enquiry_status=shown[0]["enquiry_status"]) for e in written] == shown
    assert "13579" not in (sandboxes.data_dir / "ledger.jsonl").read_text()  # never the MPIN


def test_reset_empties_the_file_too(sandboxes: Sandboxes) -> None:
    api = sandboxes.start()
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill, "REF-1")
    assert api.client.post("/__sandbox__/reset").status_code == 200
    assert (sandboxes.data_dir / "ledger.jsonl").read_bytes() == b""
    api.token(fresh=True)
    api.pay("DSCO", CID, bill, "REF-2")  # payable again, recorded as seq 1
    api = sandboxes.restart(api)
    assert [(e["seq"], e["reference"]) for e in api.ledger()] == [(1, "REF-2")]


def test_a_line_cut_short_by_a_crash_is_dropped_and_the_rest_kept(
    sandboxes: Sandboxes, caplog: pytest.LogCaptureFixture
) -> None:
    api = sandboxes.start()
    bills = api.bills("DSCO", CID)
    api.pay("DSCO", CID, bills[0], "REF-1")
    sandboxes.stop(api)
    path = sandboxes.data_dir / "ledger.jsonl"
    whole = path.read_bytes()
    with open(path, "ab") as handle:  # a crash in the middle of writing seq 2
        handle.write(b'{"seq":2,"received_at":"2026-')

    api = sandboxes.start()

    assert [e["reference"] for e in api.ledger()] == ["REF-1"]
    assert "cut short by a crash" in caplog.text
    assert path.read_bytes() == whole  # repaired on disk
    api.pay("DSCO", CID, bills[1], "REF-2")
    assert [e["seq"] for e in _lines(path)] == [1, 2]


@pytest.mark.parametrize(
    "damage",
    [b"not json\n", b'{"seq": 7, "ts": 1, "outcome": "accepted", "order_id": "x"}\n', b"[]\n"],
)
def test_a_damaged_line_stops_the_start_with_its_number(
    sandboxes: Sandboxes, damage: bytes
) -> None:
    api = sandboxes.start()
    api.pay("DSCO", CID, api.bills("DSCO", CID)[0], "REF-1")
    sandboxes.stop(api)
    path = sandboxes.data_dir / "ledger.jsonl"
    path.write_bytes(path.read_bytes() + damage + path.read_bytes())
    with pytest.raises(JournalError, match=r"line 2 of .*ledger\.jsonl"):
        sandboxes.start()
    assert journal.lock_is_free(sandboxes.data_dir)  # a failed start holds nothing


def test_one_sandbox_per_data_directory(sandboxes: Sandboxes) -> None:
    api = sandboxes.start()
    with pytest.raises(DataDirInUse, match="in use by another sandbox") as caught:
        sandboxes.start()
    assert caught.value.holder["pid"] == os.getpid()
    assert caught.value.holder["url"] == "http://127.0.0.1:8090"
    assert not journal.lock_is_free(sandboxes.data_dir)
    sandboxes.stop(api)
    assert journal.lock_is_free(sandboxes.data_dir)


def test_a_ledger_write_that_fails_answers_500_and_records_nothing(
    sandboxes: Sandboxes, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = sandboxes.start()
    bill = api.bills("DSCO", CID)[0]
    path = sandboxes.data_dir / "ledger.jsonl"
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        return real_write(fd, data[:10])  # a short write, as on a full disk

    monkeypatch.setattr(journal.os, "write", disk_full)
    resp = api.pay("DSCO", CID, bill, "REF-1")
    assert resp.status_code == 500 and resp.get_json()["error"] == "Internal Server Error"
    assert path.read_bytes() == b""  # the partial line was cut back off
    assert api.ledger() == []
    monkeypatch.setattr(journal.os, "write", real_write)
    assert bill["bill_number"] in [b["bill_number"] for b in api.bills("DSCO", CID)]
    assert api.pay("DSCO", CID, bill, "REF-1").status_code == 200  # not marked paid
    assert [e["seq"] for e in _lines(path)] == [1]


def test_without_a_data_directory_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SANDBOX_PORT", "8090")
    monkeypatch.delenv("SANDBOX_DATA_DIR", raising=False)
    assert Settings.from_env().data_dir == ""
    app = create_app(Settings())
    api = Api(app.test_client(), app)
    api.pay("DSCO", CID, api.bills("DSCO", CID)[0], "REF-1")
    assert api.state.journal is None
    assert list(tmp_path.iterdir()) == []


def test_data_dir_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_DATA_DIR", " var/sandbox ")
    assert Settings.from_env().data_dir == "var/sandbox"


# ---- the reset command ----------------------------------------------------------------------


def test_reset_command_empties_a_data_directory_nobody_holds(
    sandboxes: Sandboxes, capsys: pytest.CaptureFixture[str]
) -> None:
    api = sandboxes.start()
    bill = api.bills("DSCO", CID)[0]
    api.pay("DSCO", CID, bill, "REF-1")
    sandboxes.stop(api)
    assert cli.main(["reset", "--data-dir", str(sandboxes.data_dir)]) == 0
    assert "1 billpay entries forgotten" in capsys.readouterr().out
    api = sandboxes.start()
    assert api.ledger() == []
    assert bill["bill_number"] in [b["bill_number"] for b in api.bills("DSCO", CID)]


def test_reset_command_reads_the_data_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SANDBOX_DATA_DIR", raising=False)
    assert cli.main(["reset"]) == 2
    assert "no data directory" in capsys.readouterr().err
    monkeypatch.setenv("SANDBOX_DATA_DIR", str(tmp_path / "never-used"))
    assert cli.main(["reset"]) == 0
    assert "0 billpay entries forgotten" in capsys.readouterr().out


def test_reset_command_refuses_a_holder_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = Journal(tmp_path)
    held.open(holder_url="http://127.0.0.1:9")  # nothing listens on port 9 (discard)
    try:
        assert cli.main(["reset", "--data-dir", str(tmp_path)]) == 1
        assert "did not answer the reset" in capsys.readouterr().err
    finally:
        held.close()


def test_the_sandbox_refuses_to_start_on_a_data_directory_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[Any] = []
    monkeypatch.setattr("sandbox.server.serve", lambda factory, **kw: served.append(factory))
    held = Journal(tmp_path)
    held.open(holder_url="http://127.0.0.1:8090")
    try:
        assert cli.main(["--data-dir", str(tmp_path)]) == 1
    finally:
        held.close()
    assert served == []
    assert "in use by another sandbox" in capsys.readouterr().err
    assert cli.main(["--data-dir", str(tmp_path)]) == 0 and len(served) == 1
