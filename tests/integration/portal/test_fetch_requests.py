"""Fetch requests in the portal: creating (ids, group, filter; API and pages), progress from
the tallies, results with filters and keyset pages, bills per biller, CSV/XLSX export safe
against formula injection, cancel, the request list, roles, metrics, OpenAPI.

The real MariaDB/MySQL and Redis; the scheduler's part (dispatching, results) is played by
``tests.support.requests``, which writes results exactly as the scheduler does. The whole
pipeline with the portal in front runs in ``tests/integration/pipeline/test_portal_fetch.py``.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from openpyxl import load_workbook
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select, update

from bbp_common.core.tallies import bump as bump_tallies
from bbp_common.platform.db.tables import audit_log, bulk_requests, fetch_items
from tests.support.accounts import unique
from tests.support.requests import (
    add_accounts,
    complete,
    dispatch,
    group_id,
    item_ids,
    outbox_statuses,
)

Client = Callable[..., FlaskClient]


def create(client: FlaskClient, **body: object) -> dict:
    answer = client.post("/api/v1/requests/fetch", json=body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def fetching(
    client_as: Client, engine: Engine, accounts: list[tuple[str, str]]
) -> tuple[FlaskClient, dict, list[int]]:
    """An admin's fetch request of these new accounts (utility, consumer id): the admin's
    client, the request as created, and its items' ids."""
    client = client_as("admin")
    made = create(client, ids=add_accounts(engine, accounts))
    return client, made, item_ids(engine, made["id"])


def tallies(client: FlaskClient, request_id: int) -> dict:
    return client.get(f"/api/v1/requests/{request_id}/progress").get_json()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --------------------------------------------------------------------------- creating


def test_create_from_ids_makes_one_item_per_active_account(client_as: Client, engine: Engine):
    stem = unique()
    ids = add_accounts(engine, [("DSCO", f"{stem}{i}") for i in range(5)])
    (inactive,) = add_accounts(engine, [("DESCO", f"{stem}9")], active=False)
    client = client_as("admin", f"fetcher-{stem}")
    before = metric("bbp_portal_requests_created_total", kind="fetch", via="api")

    made = create(client, ids=[*ids, inactive, ids[0]])

    assert made["kind"] == "fetch" and made["state"] == "queued"
    assert made["created_by"] == f"fetcher-{stem}"
    assert made["total_items"] == 5
    assert made["progress"]["counts"] == {"queued": 5}
    assert made["progress"]["done"] == 0 and made["progress"]["percent"] == 0
    with engine.connect() as conn:
        accounts = conn.execute(
            select(fetch_items.c.bill_account_id).where(fetch_items.c.request_id == made["id"])
        ).scalars()
        assert sorted(accounts) == sorted(ids)
        # the outbox row is there (RabbitMQ is unreachable for this app: it waits, pending)
        assert outbox_statuses(engine, made["id"]) == ["pending"]
        audit = conn.execute(
            select(audit_log.c.actor, audit_log.c.details).where(
                audit_log.c.action == "request.fetch_created",
                audit_log.c.target_id == str(made["id"]),
            )
        ).one()
    assert audit.actor == f"fetcher-{stem}" and '"items": 5' in audit.details
    assert metric("bbp_portal_requests_created_total", kind="fetch", via="api") == before + 1


def test_create_from_a_group_and_from_a_filter(client_as: Client, engine: Engine):
    stem = unique()
    group = f"Group {stem}"
    in_group = add_accounts(engine, [("JGDCL", f"{stem}{i}") for i in range(3)], group=group)
    add_accounts(engine, [("JGDCL", f"{stem}x{i}") for i in range(2)], group=group, active=False)
    add_accounts(engine, [("DSCO", f"{stem}7{i}") for i in range(4)])
    client = client_as("superadmin")

    by_group = create(client, group_id=group_id(engine, group))
    assert by_group["total_items"] == 3
    assert by_group["selection"] == f"all:group={group}"

    by_filter = create(client, filter={"q": stem, "utility": "DSCO"})
    assert by_filter["total_items"] == 4
    with engine.connect() as conn:
        fetched = set(
            conn.execute(
                select(fetch_items.c.bill_account_id).where(
                    fetch_items.c.request_id == by_group["id"]
                )
            ).scalars()
        )
    assert fetched == set(in_group)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 422, "invalid"),
        ({"ids": [1], "group_id": 1}, 422, "invalid"),
        ({"ids": ["x"]}, 422, "invalid"),
        ({"group_id": 999_999_999}, 404, "unknown_group"),
        ({"filter": {"q": "no-such-prefix-at-all"}}, 409, "nothing_selected"),
        ({"filter": {"status": "sometimes"}}, 422, "invalid"),
    ],
)
def test_bad_selections_get_clear_errors(client_as: Client, body, status, code):
    answer = client_as("admin").post("/api/v1/requests/fetch", json=body)
    assert answer.status_code == status
    error = answer.get_json()["error"]
    assert error["code"] == code and error["message"]
    assert "Traceback" not in answer.get_data(as_text=True)


def test_the_pages_confirm_the_count_then_create_and_show_the_request(
    client_as: Client, engine: Engine
):
    stem = unique()
    group = f"Page group {stem}"
    ids = add_accounts(engine, [("DSCO", f"{stem}{i}") for i in range(3)], group=group)
    client = client_as("admin")
    gid = group_id(engine, group)

    # the accounts list offers ticking and "all matching"; the groups page a fetch per group
    listing = client.get(f"/accounts?group_id={gid}").get_data(as_text=True)
    assert 'form="fetch-ticked"' in listing and 'id="fetch-all"' in listing
    assert f"scope=group&amp;group_id={gid}" in client.get("/accounts/groups").get_data(
        as_text=True
    )

    # by group: confirmation with the count, then creation → the request page at once
    confirm = client.get(f"/requests/fetch/new?scope=group&group_id={gid}")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "3 active accounts will be asked" in page
    created = client.post("/requests/fetch", data={"scope": "group", "group_id": str(gid)})
    assert created.status_code == 302
    location = created.headers["Location"]
    assert location.startswith("/requests/")
    shown = client.get(location)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert 'id="progress"' in html and "js/requests.js" in html
    assert "Fetching the pending bills of 3 accounts." in html

    # ticked: two of them
    confirm = client.get(f"/requests/fetch/new?scope=ids&ids={ids[0]}&ids={ids[2]}")
    assert "2 active accounts will be asked" in confirm.get_data(as_text=True)
    created = client.post("/requests/fetch", data={"scope": "ids", "ids": [ids[0], ids[2]]})
    request_id = int(created.headers["Location"].rsplit("/", 1)[1])
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(bulk_requests.c.total_items).where(bulk_requests.c.id == request_id)
            ).scalar_one()
            == 2
        )

    # all matching a filter
    confirm = client.get(f"/requests/fetch/new?scope=filter&q={stem}&utility=DSCO")
    assert "3 active accounts will be asked" in confirm.get_data(as_text=True)

    # nothing ticked: back to the accounts with a message, nothing created
    nothing = client.get("/requests/fetch/new?scope=ids", follow_redirects=True)
    assert "Tick at least one bill account." in nothing.get_data(as_text=True)


# --------------------------------------------------------------------------- roles


def test_auditors_read_but_cannot_create_or_cancel(client_as: Client, engine: Engine):
    stem = unique()
    ids = add_accounts(engine, [("DSCO", f"{stem}{i}") for i in range(2)])
    made = create(client_as("admin"), ids=ids)
    auditor = client_as("auditor")

    assert auditor.post("/api/v1/requests/fetch", json={"ids": ids}).status_code == 403
    assert auditor.post(f"/api/v1/requests/{made['id']}/cancel").status_code == 403
    assert auditor.get(f"/requests/fetch/new?scope=ids&ids={ids[0]}").status_code == 403
    assert auditor.post("/requests/fetch", data={"scope": "ids", "ids": ids}).status_code == 403
    assert auditor.post(f"/requests/{made['id']}/cancel").status_code == 403

    for url in (
        "/requests",
        f"/requests/{made['id']}",
        f"/requests/{made['id']}/export.csv",
        "/api/v1/requests",
        f"/api/v1/requests/{made['id']}",
        f"/api/v1/requests/{made['id']}/progress",
        f"/api/v1/requests/{made['id']}/items",
        f"/api/v1/requests/{made['id']}/billers",
    ):
        assert auditor.get(url).status_code == 200, url
    page = auditor.get(f"/requests/{made['id']}").get_data(as_text=True)
    assert "Cancel request" not in page
    assert 'form="fetch-ticked"' not in auditor.get("/accounts").get_data(as_text=True)
    assert tallies(auditor, made["id"])["state"] == "queued"  # nothing changed


def test_anonymous_callers_are_refused(client_as: Client):
    anonymous = client_as(None)
    assert anonymous.get("/api/v1/requests").status_code == 401
    assert anonymous.get("/requests").status_code == 302


# --------------------------------------------------------------------------- progress


def test_progress_reads_the_tallies(client_as: Client, engine: Engine):
    stem = unique()
    accounts = [("DSCO", f"{stem}{i}") for i in range(4)]
    client, made, items = fetching(client_as, engine, accounts)

    dispatch(engine, items[0])
    complete(engine, items[1], "bills", [("B1", None, Decimal("120.50"), Decimal("0"))])
    complete(engine, items[2], "no_bills")
    progress = tallies(client, made["id"])
    assert progress["counts"] == {"queued": 1, "in_flight": 1, "bills": 1, "no_bills": 1}
    assert progress["done"] == 2 and progress["total"] == 4 and progress["percent"] == 50.0
    assert progress["amounts"]["bills"] == "120.50"
    assert progress["settled"] is False

    # the page shows the tallies, not a count of item rows: move a tally by hand and see it
    with engine.begin() as conn:
        bump_tallies(conn, made["id"], {"queued": (-1, Decimal(0)), "failed": (1, Decimal(0))})
    progress = tallies(client, made["id"])
    assert progress["counts"]["failed"] == 1 and progress["done"] == 3
    html = client.get(f"/requests/{made['id']}").get_data(as_text=True)
    assert 'data-bucket="failed">1<' in html

    assert client.get("/api/v1/requests/999999999/progress").status_code == 404


# --------------------------------------------------------------------------- results


@pytest.fixture()
def finished_request(client_as: Client, engine: Engine) -> dict:
    """A fetch of 30 accounts (DSCO and DESCO) with every kind of result."""
    stem = unique()
    accounts = [("DSCO" if i % 3 else "DESCO", f"{stem}{i:02d}") for i in range(30)]
    client, made, items = fetching(client_as, engine, accounts)
    for n, item in enumerate(items):
        if n % 5 == 0:
            complete(engine, item, "failed", error_code="MBQ-500", error_message="Server busy")
        elif n % 2:
            due = date(2026, 12, 1) + timedelta(days=n)
            complete(
                engine,
                item,
                "bills",
                [
                    (f"{stem}-{n}-a", due, Decimal("100.00") + n, Decimal("5.00")),
                    (f"{stem}-{n}-b", None, Decimal("10.25"), Decimal("0.00")),
                ],
            )
        else:
            complete(engine, item, "no_bills")
    with engine.begin() as conn:
        conn.execute(
            update(bulk_requests).where(bulk_requests.c.id == made["id"]).values(state="finished")
        )
    return {"id": made["id"], "stem": stem, "client": client, "items": items}


def all_pages(client: FlaskClient, url: str, limit: int) -> tuple[list[dict], int]:
    found, pages, cursor = [], 0, None
    while True:
        sep = "&" if "?" in url else "?"
        answer = client.get(f"{url}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        found += body["items"]
        pages += 1
        cursor = body["page"]["next"]
        if not cursor:
            return found, pages


def test_results_filter_and_page(finished_request: dict):
    client, rid, stem = finished_request["client"], finished_request["id"], finished_request["stem"]
    url = f"/api/v1/requests/{rid}/items"

    everything, pages = all_pages(client, url, 7)
    assert [i["id"] for i in everything] == finished_request["items"]
    assert pages == 5

    failed, _ = all_pages(client, f"{url}?status=failed", 2)
    assert len(failed) == 6
    assert {(i["error_code"], i["error_message"]) for i in failed} == {("MBQ-500", "Server busy")}
    with_bills, _ = all_pages(client, f"{url}?status=bills", 4)
    assert len(with_bills) == 12
    assert all(len(i["bills"]) == 2 and i["bill_count"] == 2 for i in with_bills)
    assert with_bills[0]["bills"][0]["due_date"] is not None  # dated bills first

    desco, _ = all_pages(client, f"{url}?utility=DESCO", 3)
    assert len(desco) == 10 and {i["utility_code"] for i in desco} == {"DESCO"}
    desco_no_bills, _ = all_pages(client, f"{url}?utility=desco&status=no_bills", 3)
    assert {i["status"] for i in desco_no_bills} == {"no_bills"}

    one, _ = all_pages(client, f"{url}?q={stem}07", 50)
    assert [i["consumer_id"] for i in one] == [f"{stem}07"]
    assert all_pages(client, f"{url}?q={stem}0", 50)[0].__len__() == 10
    assert all_pages(client, f"{url}?q=nobody-has-this", 50)[0] == []

    # backwards: the last page, then previous pages, give the same rows
    last = client.get(f"{url}?limit=7&cursor=" + client.get(url).get_json()["page"]["last"])
    body = last.get_json()
    assert [i["id"] for i in body["items"]] == finished_request["items"][-7:]
    assert body["page"]["next"] is None and body["page"]["prev"]
    prev = client.get(f"{url}?limit=7&cursor={body['page']['prev']}").get_json()
    assert [i["id"] for i in prev["items"]] == finished_request["items"][-14:-7]

    bad = client.get(f"{url}?cursor=not-a-cursor")
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_cursor"
    assert client.get(f"{url}?status=maybe").status_code == 422

    # the page: filters and rows
    html = client.get(f"/requests/{rid}?status=failed").get_data(as_text=True)
    assert html.count("Server busy") == 6
    assert client.get(f"/requests/{rid}?cursor=garbage").status_code == 200  # told, not 500


def test_bills_are_totalled_per_biller(finished_request: dict):
    client, rid = finished_request["client"], finished_request["id"]
    totals = client.get(f"/api/v1/requests/{rid}/billers").get_json()
    assert totals["settled"] is True
    by_biller = {b["utility_code"]: b for b in totals["billers"]}
    # odd n with n % 5 != 0 have bills: 1 3 7 9 11 13 17 19 21 23 27 29; DESCO where n % 3 == 0
    desco = [n for n in (1, 3, 7, 9, 11, 13, 17, 19, 21, 23, 27, 29) if n % 3 == 0]
    dsco = [n for n in (1, 3, 7, 9, 11, 13, 17, 19, 21, 23, 27, 29) if n % 3]
    for code, ns in (("DESCO", desco), ("DSCO", dsco)):
        assert by_biller[code]["accounts"] == len(ns)
        assert by_biller[code]["bills"] == 2 * len(ns)
        expected = sum(Decimal("110.25") + n for n in ns)
        assert Decimal(by_biller[code]["amount"]) == expected
        # the one rule: DESCO takes its bills' service charge, DSCO none (issue 17, item 6)
        charged = Decimal("5.00") * len(ns) if code == "DESCO" else Decimal("0")
        assert Decimal(by_biller[code]["service_charge"]) == charged
    assert totals["bills"] == 24


def test_the_live_fragment_offers_to_pay_the_bills_found(finished_request: dict):
    """A page opened while the fetch ran gets "Pay the bills found" without a reload."""
    client, rid = finished_request["client"], finished_request["id"]
    live = client.get(f"/requests/{rid}/live").get_data(as_text=True)
    assert '<span id="pay-found-slot" hx-swap-oob="true">' in live
    assert f'href="/payments/pending?request={rid}" id="pay-found"' in live


# --------------------------------------------------------------------------- export

EVIL = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.fixture()
def evil_request(client_as: Client, engine: Engine) -> dict:
    """Consumer ids and Mobiquity reasons that a spreadsheet would run as formulas."""
    stem = unique()
    accounts = [("DSCO", f"{evil}{stem}") for evil in EVIL[:4]] + [("DSCO", f"{stem}ok")]
    client, made, items = fetching(client_as, engine, accounts)
    complete(
        engine, items[0], "bills", [("=1+2", date(2026, 12, 31), Decimal("99.99"), Decimal(1))]
    )
    complete(engine, items[1], "failed", error_code="-X", error_message=EVIL[4])
    complete(engine, items[2], "failed", error_code="@Y", error_message=EVIL[5])
    complete(engine, items[3], "no_bills")
    return {"id": made["id"], "client": client, "stem": stem}


def test_csv_export_is_one_row_per_bill_and_neutralises_formulas(evil_request: dict):
    client, rid = evil_request["client"], evil_request["id"]
    before = metric("bbp_portal_request_exports_total", format="csv")
    answer = client.get(f"/requests/{rid}/export.csv")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert f"fetch-request-{rid}-results.csv" in answer.headers["Content-Disposition"]
    text = answer.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, data = rows[0], rows[1:]
    assert header[:6] == ["request_id", "item_id", "utility", "consumer_id", "mobile", "status"]
    col = {name: i for i, name in enumerate(header)}
    assert len(data) == 5  # one bill, two failures, one no-bill, one still queued
    assert [r[col["status"]] for r in data] == ["bills", "failed", "failed", "no_bills", "queued"]
    # every cell that starts like a formula starts with an apostrophe instead
    for row in data:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert data[0][col["consumer_id"]] == "'" + EVIL[0] + evil_request["stem"]
    assert data[0][col["bill_number"]] == "'=1+2"
    assert data[0][col["amount"]] == "99.99" and data[0][col["due_date"]] == "2026-12-31"
    assert data[1][col["error_code"]] == "'-X" and data[1][col["error_message"]] == "'\tcmd"
    assert data[2][col["error_message"]] == "'\rcmd"
    assert data[4][col["consumer_id"]] == evil_request["stem"] + "ok"
    assert metric("bbp_portal_request_exports_total", format="csv") == before + 1


def test_xlsx_export_has_no_formula_cells(evil_request: dict, tmp_path):
    client, rid = evil_request["client"], evil_request["id"]
    answer = client.get(f"/api/v1/requests/{rid}/export?format=xlsx")
    assert answer.status_code == 200
    assert answer.mimetype.endswith("spreadsheetml.sheet")
    path = tmp_path / "results.xlsx"
    path.write_bytes(answer.get_data())
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    col = {name: i for i, name in enumerate(header)}
    assert len(rows) == 6
    for row in rows[1:]:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert not cell.value.startswith(("=", "+", "-", "@", "\t", "\r"))
    first = rows[1]
    assert first[col["bill_number"]].value == "'=1+2"
    assert first[col["amount"]].data_type == "n" and float(first[col["amount"]].value) == 99.99
    assert client.get(f"/api/v1/requests/{rid}/export?format=pdf").status_code == 422


# --------------------------------------------------------------------------- cancel


def test_cancel_stops_queued_items_and_lets_dispatched_ones_finish(
    client_as: Client, engine: Engine
):
    stem = unique()
    ids = add_accounts(engine, [("DSCO", f"{stem}{i}") for i in range(5)])
    client = client_as("admin")
    made = create(client, ids=ids)
    items = item_ids(engine, made["id"])
    dispatch(engine, items[0])
    complete(engine, items[1], "no_bills")
    before = metric("bbp_portal_requests_cancelled_total", kind="fetch")

    answer = client.post(f"/api/v1/requests/{made['id']}/cancel")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["cancelled_items"] == 3
    assert body["request"]["state"] == "cancelled"
    assert body["request"]["progress"]["counts"] == {"in_flight": 1, "no_bills": 1, "cancelled": 3}
    assert body["request"]["progress"]["settled"] is False  # one is still asking Mobiquity

    # the dispatched one finishes afterwards, as the scheduler would record it
    complete(
        engine, items[0], "bills", [("Z1", None, Decimal("5"), Decimal(0))], from_bucket="in_flight"
    )
    progress = tallies(client, made["id"])
    assert progress["settled"] is True and progress["percent"] == 100.0
    assert progress["counts"] == {"bills": 1, "no_bills": 1, "cancelled": 3}

    again = client.post(f"/api/v1/requests/{made['id']}/cancel")
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_cancellable"
    assert client.post("/api/v1/requests/999999999/cancel").status_code == 404
    assert metric("bbp_portal_requests_cancelled_total", kind="fetch") == before + 1

    # the page: cancel button, then a message
    other = create(client, ids=ids[:2])
    assert "Cancel request" in client.get(f"/requests/{other['id']}").get_data(as_text=True)
    done = client.post(f"/requests/{other['id']}/cancel", follow_redirects=True)
    assert "Request cancelled: 2 items" in done.get_data(as_text=True)
    assert "Cancel request" not in done.get_data(as_text=True)


# --------------------------------------------------------------------------- the list


def test_the_request_list_filters_and_pages(client_as: Client, engine: Engine):
    stem = unique()
    ids = add_accounts(engine, [("DSCO", f"{stem}{i}") for i in range(3)])
    mine = f"lister-{uuid.uuid4().hex[:8]}"
    client = client_as("admin", mine)
    made = [create(client, ids=ids[: n + 1]) for n in range(3)]
    client.post(f"/api/v1/requests/{made[1]['id']}/cancel")

    listed = client.get(f"/api/v1/requests?created_by={mine}&limit=2").get_json()
    assert [r["id"] for r in listed["items"]] == [made[2]["id"], made[1]["id"]]
    assert listed["items"][0]["progress"]["total"] == 3
    rest = client.get(f"/api/v1/requests?created_by={mine}&limit=2&cursor={listed['page']['next']}")
    assert [r["id"] for r in rest.get_json()["items"]] == [made[0]["id"]]
    assert rest.get_json()["page"]["next"] is None

    cancelled = client.get(f"/api/v1/requests?created_by={mine}&state=cancelled").get_json()
    assert [r["id"] for r in cancelled["items"]] == [made[1]["id"]]
    assert client.get(f"/api/v1/requests?created_by={mine}&kind=payment").get_json()["items"] == []
    today = date.today()
    in_range = client.get(
        f"/api/v1/requests?created_by={mine}&created_from={today - timedelta(days=1)}"
        f"&created_to={today + timedelta(days=1)}"
    ).get_json()
    assert len(in_range["items"]) == 3
    past = client.get(f"/api/v1/requests?created_by={mine}&created_to=2020-01-01").get_json()
    assert past["items"] == []
    backwards = client.get("/api/v1/requests?created_from=2026-02-01&created_to=2026-01-01")
    assert backwards.status_code == 422
    assert client.get("/api/v1/requests?state=sleeping").status_code == 422

    html = client.get(f"/requests?created_by={mine}").get_data(as_text=True)
    assert html.count('<tr data-id="') == 3 and mine in html
    assert 'href="/requests"' in client.get("/").get_data(as_text=True)  # the nav entry


def test_the_openapi_document_lists_the_request_endpoints(client_as: Client):
    spec = client_as("auditor").get("/api/v1/openapi.json").get_json()
    for path, method in (
        ("/api/v1/requests/fetch", "post"),
        ("/api/v1/requests", "get"),
        ("/api/v1/requests/{request_id}", "get"),
        ("/api/v1/requests/{request_id}/progress", "get"),
        ("/api/v1/requests/{request_id}/items", "get"),
        ("/api/v1/requests/{request_id}/billers", "get"),
        ("/api/v1/requests/{request_id}/cancel", "post"),
        ("/api/v1/requests/{request_id}/export", "get"),
    ):
        assert method in spec["paths"][path], path
    assert "requestBody" in spec["paths"]["/api/v1/requests/fetch"]["post"]


def test_api_mutations_need_the_csrf_token(database_url: str, redis_url: str, engine: Engine):
    from bbp_portal.app import create_app
    from tests.integration.portal.conftest import make_settings
    from tests.support.accounts import sign_in

    app = create_app(make_settings(database_url, redis_url), TESTING=True)  # CSRF on
    try:
        client = sign_in(app.test_client(), "admin", "csrf-checker")
        ids = add_accounts(engine, [("DSCO", f"{unique()}1")])
        refused = client.post("/api/v1/requests/fetch", json={"ids": ids})
        assert refused.status_code == 400
        assert refused.get_json()["error"]["code"] == "csrf_failed"
        token = client.get("/api/v1/session").get_json()["csrf_token"]
        made = client.post(
            "/api/v1/requests/fetch", json={"ids": ids}, headers={"X-CSRFToken": token}
        )
        assert made.status_code == 201
        cancel = client.post(f"/api/v1/requests/{made.get_json()['id']}/cancel")
        assert cancel.status_code == 400
    finally:
        app.extensions["bbp.relay"].close()
        app.extensions["bbp.engine"].dispose()
