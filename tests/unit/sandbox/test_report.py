"""The ledger as Mobiquity's transaction report: `GET /__sandbox__/report` (CSV and XLSX)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from sandbox.mobiquity.report import HEADERS

from .conftest import Api

pytestmark = pytest.mark.unit

CID = "17021272"  # three DSCO bills
DOCUMENTED_HEADERS = [
    "Transaction ID",
    "Service Request ID",
    "Transaction Date",
    "Service Type",
    "Transaction Status",
    "Transaction Amount",
    "Currency",
    "Sender MSISDN",
    "Receiver MSISDN",
    "Biller Code",
    "Bill Account Number",
    "Bill Number",
    "External Reference ID",
    "Remarks",
    "Error Code",
    "Error Message",
]


def _csv(api: Api, **query: str) -> list[dict[str, str]]:
    resp = api.client.get("/__sandbox__/report", query_string=query)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "text/csv"
    text = resp.get_data(as_text=True)
    assert text.splitlines()[0].split(",") == DOCUMENTED_HEADERS
    return list(csv.DictReader(io.StringIO(text)))


def _at(api: Api, seq: int, when: str) -> None:
    """Move a ledger entry in time (entries are made now; the report filters by time)."""
    api.state.ledger[seq - 1]["ts"] = datetime.fromisoformat(when).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def paid(api: Api) -> list[dict]:
    """Three orders: accepted, rejected (wrong MPIN), accepted with only `remarks`."""
    bills = api.bills("DSCO", CID)
    api.pay("DSCO", CID, bills[0], "BBP-REF-1")
    api.pay("DSCO", CID, bills[1], "BBP-REF-2", mpin=1)
    body = api.pay_body("DSCO", CID, bills[2], None)
    body["remarks"] = "BBP-REF-3"
    assert api.post("/jigsaw/v1/order/billpay", body).status_code == 200
    _at(api, 1, "2026-03-01T10:00:00")
    _at(api, 2, "2026-03-01T23:59:59")
    _at(api, 3, "2026-03-02T00:00:00")
    return bills


def test_headers_are_the_documented_columns() -> None:
    assert HEADERS == DOCUMENTED_HEADERS


def test_one_line_per_order_with_our_reference_and_mobiquitys_ids(api: Api, paid) -> None:
    ledger = api.ledger()
    first, second, third = _csv(api)
    assert first == {
        "Transaction ID": ledger[0]["order_id"],
        "Service Request ID": ledger[0]["service_request_id"],
        "Transaction Date": "2026-03-01 10:00:00",
        "Service Type": "BILLPAY",
        "Transaction Status": "SUCCEEDED",
        "Transaction Amount": ledger[0]["amount"],
        "Currency": "BDT",
        "Sender MSISDN": "01755555555",
        "Receiver MSISDN": "01788880001",
        "Biller Code": "DSCO",
        "Bill Account Number": CID,
        "Bill Number": paid[0]["bill_number"],
        "External Reference ID": "BBP-REF-1",
        "Remarks": "BBP-REF-1",
        "Error Code": "",
        "Error Message": "",
    }
    assert second["Transaction Status"] == "FAILED"
    assert (second["Error Code"], second["Error Message"]) == ("Authen01", "Invalid credentials.")
    assert second["External Reference ID"] == "BBP-REF-2"
    assert (third["External Reference ID"], third["Remarks"]) == ("", "BBP-REF-3")
    assert third["Transaction Status"] == "SUCCEEDED"


def test_status_is_what_an_enquiry_answers_now(api: Api, paid) -> None:
    api.configure(fulfilment_delay_seconds=3600)
    api.state.ledger[0]["ts"] = datetime.now(UTC).timestamp()
    statuses = {r["External Reference ID"]: r["Transaction Status"] for r in _csv(api)}
    assert statuses["BBP-REF-1"] == "PENDING"
    assert api.enquire("BBP-REF-1").get_json()["orderStatus"] == "PENDING"


def test_date_range_is_inclusive_and_a_date_covers_its_day(api: Api, paid) -> None:
    def refs(**query: str) -> list[str]:
        return [r["External Reference ID"] or r["Remarks"] for r in _csv(api, **query)]

    assert refs(**{"from": "2026-03-01", "to": "2026-03-01"}) == ["BBP-REF-1", "BBP-REF-2"]
    assert refs(**{"from": "2026-03-02"}) == ["BBP-REF-3"]
    assert refs(to="2026-02-28") == []
    assert refs(**{"from": "2026-03-01T10:00:00", "to": "2026-03-01T10:00:00"}) == ["BBP-REF-1"]
    assert refs(**{"from": "2026-03-01T10:00:01", "to": "2026-03-02T00:00:00"}) == [
        "BBP-REF-2",
        "BBP-REF-3",
    ]


def test_time_zone_moves_the_dates_and_the_bounds(api: Api, paid) -> None:
    rows = _csv(api, tz="Asia/Dhaka", **{"from": "2026-03-02", "to": "2026-03-02"})
    assert [r["Transaction Date"] for r in rows] == ["2026-03-02 05:59:59", "2026-03-02 06:00:00"]


def test_status_filter(api: Api, paid) -> None:
    assert [r["External Reference ID"] for r in _csv(api, status="failed")] == ["BBP-REF-2"]
    assert len(_csv(api, status="SUCCEEDED,FAILED")) == 3


def test_xlsx_has_the_same_lines_as_text_cells(api: Api, paid) -> None:
    body = api.pay_body("DSCO", "17021274", api.bills("DSCO", "17021274")[0], "=1+1")
    api.post("/jigsaw/v1/order/billpay", body)
    resp = api.client.get("/__sandbox__/report", query_string={"format": "xlsx"})
    assert resp.status_code == 200
    assert resp.mimetype.endswith("spreadsheetml.sheet")
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="mobiquity-transactions-all.xlsx"'
    )
    sheet = load_workbook(io.BytesIO(resp.get_data())).active
    lines = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    from_csv = [list(r.values()) for r in _csv(api)]
    assert lines[0] == DOCUMENTED_HEADERS
    assert lines[1:] == from_csv
    assert lines[-1][12] == "=1+1"  # a reference that looks like a formula stays text
    assert all(isinstance(v, str) for row in lines for v in row)


def test_report_is_streamed_and_named_by_its_range(api: Api, paid) -> None:
    resp = api.client.get("/__sandbox__/report", query_string={"from": "2026-03-01"})
    assert resp.is_streamed
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="mobiquity-transactions-2026-03-01.csv"'
    )


def test_an_empty_ledger_gives_the_header_only(api: Api) -> None:
    assert _csv(api) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not a date"),
        ({"to": "2026-13-01"}, "to: '2026-13-01' is not a date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to: must not be before from"),
        ({"format": "pdf"}, "format: 'pdf' is not csv or xlsx"),
        ({"tz": "Mars/Olympus"}, "tz: unknown time zone"),
        ({"status": "PAID"}, "status: PAID is not one of"),
    ],
)
def test_bad_parameters_are_named(api: Api, query: dict[str, str], message: str) -> None:
    resp = api.client.get("/__sandbox__/report", query_string=query)
    assert resp.status_code == 400
    assert resp.get_json()["error"].startswith(message)
