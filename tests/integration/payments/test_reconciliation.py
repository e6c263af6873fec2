"""Reconciliation with Mobiquity's transaction report (issue 18, item 1), on the real
database and the real sandbox: our payments are paid (or refused) in the sandbox under their
own reference ids, the sandbox's ledger is downloaded as its transaction report, a
discrepancy of every class is injected, and the upload classes each reference id — while no
payment moves until a person resolves it.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.core.domain.payments import PaymentState
from bbp_common.platform.db.tables import double_payment_alarms, payments
from bbp_portal.audit_trail import Actor
from bbp_portal.files.limits import REPORTS
from bbp_portal.payments import again, operations
from bbp_portal.reconcile import alarms, service
from bbp_portal.reconcile.reading import ColumnMapping
from sandbox.testing import RunningSandbox, run_sandbox
from tests.integration.sandbox.conftest import Mobiquity
from tests.support.payments import consumer, move, seed_bills

S = PaymentState
D, SE, A, U = S.DISPATCHED, S.SENDING, S.AMBIGUOUS, S.UNCLEARED
POLICY = operations.PayPolicy(max_bill_age=__import__("datetime").timedelta(hours=24))
ADMIN = Actor("rc-admin", "admin")
SUPER = Actor("rc-super", "superadmin")

#: name → (our payment's path, what the sandbox does with our reference id, expected class).
#: ``pay``: billpay with the bill's amount (accepted, SUCCEEDED); ``refuse``: billpay with a
#: wrong amount (FAILED, amount.mismatch); ``none``: never sent to the sandbox.
CASES: dict[str, tuple[tuple[PaymentState, ...], dict[str, Any], str, str]] = {
    "succeeded": ((D, SE, A, S.SUCCEEDED), {}, "pay", "matched"),
    "posted": ((D, SE, S.POSTED), {}, "pay", "matched"),
    "failed_agrees": ((D, SE, S.FAILED), {"failure": "rejected"}, "refuse", "matched"),
    "amount_differs": ((D, SE, S.POSTED), {}, "pay", "amount_differs"),  # line edited
    "missing": ((D, SE, S.POSTED), {}, "none", "missing_from_report"),
    "alarm_failed": ((D, SE, S.FAILED), {"failure": "rejected"}, "pay", "double_payment_alarm"),
    "alarm_unsent": ((D, S.UNSENT), {}, "pay", "double_payment_alarm"),
    "open_paid": ((D, SE, A, U), {}, "pay", "definitive_for_open"),
    "open_not_paid": ((D, SE, A, U), {}, "refuse", "definitive_for_open"),
    "open_pending": ((D, SE, A), {}, "pay", "pending_in_report"),  # line edited to PENDING
    "posted_failed": ((D, SE, S.POSTED), {}, "refuse", "failed_in_report"),
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        running.reset()
        yield running


def one_bill_consumer() -> str:
    return consumer("6")[:-1] + "1"  # ends in 1: the sandbox lists exactly one bill


def paid_world(engine: Engine, sb: RunningSandbox) -> dict[str, Any]:
    """Our payments, one per case, and the sandbox's ledger after paying them as each case
    says; plus one sandbox payment under a reference that is not ours."""
    mob = Mobiquity(sb)
    bills = {}
    for name in CASES:
        cid = one_bill_consumer()
        bills[name] = (cid, mob.fetch("DSCO", cid)[0])
    ids = seed_bills(
        engine,
        [("DSCO", Decimal(str(bill["amount"]))) for _, bill in bills.values()],
        consumer_ids=[cid for cid, _ in bills.values()],
    )
    request_id = operations.create_payment(
        engine, ADMIN, ids, key=f"rc-{uuid.uuid4().hex}", policy=POLICY
    ).request_id
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(payments).where(payments.c.request_id == request_id).order_by(payments.c.id)
        ).all()
    by_bill = {r.bill_id: r for r in rows}
    ours = {}
    for (name, (path, values, action, _)), bill_id in zip(CASES.items(), ids, strict=True):
        row = by_bill[bill_id]
        cid, bill = bills[name]
        if action != "none":
            if action == "refuse":
                bill = {**bill, "amount": float(bill["amount"]) + 1}
            answer = mob.pay("DSCO", cid, bill, row.reference_id)
            assert (answer.status_code == 200) == (action == "pay"), (name, answer.text)
        move(engine, row.id, *path, **values)
        ours[name] = row
    stranger_cid = one_bill_consumer()
    stranger = f"ZZ{uuid.uuid4().hex[:12].upper()}"
    assert mob.pay("DSCO", stranger_cid, mob.fetch("DSCO", stranger_cid)[0], stranger).ok
    return {"ours": ours, "stranger": stranger, "request_id": request_id}


def injected_report(sb: RunningSandbox, world: dict[str, Any]) -> bytes:
    """The sandbox's report of today, with the discrepancies no honest sandbox makes."""
    today = datetime.now(UTC).date().isoformat()
    lines = list(csv.reader(io.StringIO(sb.report(**{"from": today, "to": today}).decode())))
    header, body = lines[0], lines[1:]
    ref, amount, status = (
        header.index("External Reference ID"),
        header.index("Transaction Amount"),
        header.index("Transaction Status"),
    )
    for line in body:
        if line[ref] == world["ours"]["amount_differs"].reference_id:
            line[amount] = f"{Decimal(line[amount]) + Decimal('7.50'):.2f}"
        if line[ref] == world["ours"]["open_pending"].reference_id:
            line[status] = "PENDING"
    # a line without any reference id (not ours by definition)
    blank = list(body[0])
    blank[ref] = ""
    blank[header.index("Remarks")] = ""
    body.append(blank)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *body])
    return out.getvalue().encode()


def classes_of(engine: Engine, reconciliation_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        found, after = service.items(conn, reconciliation_id, limit=100_000)
    assert after is None
    return {
        **{it["reference_id"]: it for it in found if it["reference_id"]},
        **{f"line{it['line_no']}": it for it in found if not it["reference_id"]},
    }


def states(engine: Engine, world: dict[str, Any]) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            name: conn.execute(
                sa.select(payments.c.state).where(payments.c.id == row.id)
            ).scalar_one()
            for name, row in world["ours"].items()
        }


def upload(engine: Engine, data: bytes) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    return service.reconcile(
        engine,
        ADMIN,
        io.BytesIO(data),
        "report.csv",
        mapping=ColumnMapping(),
        limits=REPORTS,
        period=service.Period(today, today),
    )


def test_every_class_from_the_sandboxs_report_and_only_a_person_moves_a_payment(
    engine: Engine, sandbox: RunningSandbox
) -> None:
    world = paid_world(engine, sandbox)
    before = states(engine, world)
    done = upload(engine, injected_report(sandbox, world))

    found = classes_of(engine, done["id"])
    for name, (_, _, _, expected) in CASES.items():
        if expected == "matched":  # counted, not listed: nothing to do
            assert world["ours"][name].reference_id not in found, name
            continue
        item = found[world["ours"][name].reference_id]
        assert item["class"] == expected, name
        assert item["payment_id"] == world["ours"][name].id
    assert found[world["stranger"]]["class"] == "not_ours"
    assert found[world["stranger"]]["payment_id"] is None
    assert any(k.startswith("line") and v["class"] == "not_ours" for k, v in found.items())
    assert found[world["ours"]["amount_differs"].reference_id]["report_amount"] == (
        world["ours"]["amount_differs"].total + Decimal("7.50")
    )
    assert found[world["ours"]["open_paid"].reference_id]["outcome"] == "paid"
    assert found[world["ours"]["open_not_paid"].reference_id]["outcome"] == "not_paid"
    assert found[world["ours"]["missing"].reference_id]["report_lines"] == 0
    for klass in service.CLASSES:
        assert done["counts"].get(klass, 0) >= 1, klass

    # matching moved nothing: not the open ones, not the missing one, not the alarmed ones
    assert states(engine, world) == before

    # the alarms stand, and "pay again" refuses their bills
    with engine.connect() as conn:
        alarmed = set(
            conn.execute(
                sa.select(double_payment_alarms.c.payment_id).where(
                    double_payment_alarms.c.cleared_at.is_(None),
                    double_payment_alarms.c.reconciliation_id == done["id"],
                )
            ).scalars()
        )
        assert alarmed == {world["ours"]["alarm_failed"].id, world["ours"]["alarm_unsent"].id}
        under = again.alarmed_bills(conn, [world["ours"]["alarm_failed"]])
    assert under == {again._key(world["ours"]["alarm_failed"])}

    # the bulk-resolution form gets the open payments, by outcome
    with engine.connect() as conn:
        assert service.open_payment_ids(conn, done["id"], "paid") == [world["ours"]["open_paid"].id]
        assert service.open_payment_ids(conn, done["id"], "not_paid") == [
            world["ours"]["open_not_paid"].id
        ]

    # a person resolves what the report settled; only then do those payments move
    operations.resolve(engine, SUPER, world["ours"]["open_paid"].id, "paid", "report line")
    operations.resolve(engine, SUPER, world["ours"]["open_not_paid"].id, "not_paid", "report")
    after = states(engine, world)
    assert after == {**before, "open_paid": "succeeded", "open_not_paid": "failed"}

    # the same report again: those two now agree; the alarms are not raised twice
    again_done = upload(engine, injected_report(sandbox, world))
    found = classes_of(engine, again_done["id"])
    assert world["ours"]["open_paid"].reference_id not in found  # matched now
    assert world["ours"]["open_not_paid"].reference_id not in found
    assert again_done["alarms"] == 0

    # a superadmin clears an alarm with a comment (audited); "pay again" may offer it then
    with engine.connect() as conn:
        standing = [a for a in alarms.list_alarms(conn) if a["payment_id"] in alarmed]
    assert len(standing) == 2
    cleared = alarms.clear_alarm(engine, SUPER, standing[0]["id"], "checked with GP: refunded")
    assert cleared["cleared_by"] == SUPER.login_id
    with pytest.raises(alarms.Conflict):
        alarms.clear_alarm(engine, SUPER, standing[0]["id"], "again")
    with engine.connect() as conn:
        entry = conn.execute(
            sa.text(
                "SELECT actor, details FROM audit_log WHERE action = 'reconciliation.alarm_clear'"
                " AND target_id = :p ORDER BY id DESC LIMIT 1"
            ),
            {"p": str(standing[0]["payment_id"])},
        ).one()
    assert entry.actor == SUPER.login_id and "refunded" in entry.details


def test_a_bad_report_is_refused_with_its_line_and_leaves_nothing(engine: Engine) -> None:
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT COUNT(*) FROM reconciliations")).scalar_one()
    bad = (
        b"Transaction ID,Transaction Date,Transaction Status,Transaction Amount,"
        b"External Reference ID,Remarks\r\n"
        b"1,2026-12-01 10:00:00,SUCCEEDED,12.00,BBPX,\r\n"
        b"2,2026-12-01 10:00:00,SUCCEEDED,twelve,BBPY,\r\n"
    )
    with pytest.raises(service.UploadRefused) as refused:
        upload(engine, bad)
    assert refused.value.code == "bad_amount" and refused.value.params["line"] == "3"
    with pytest.raises(service.UploadRefused) as refused:
        upload(engine, b"Something,Else\r\n1,2\r\n")
    assert refused.value.code == "missing_column"
    with pytest.raises(service.ValidationFailed) as invalid:
        service.reconcile(
            engine,
            ADMIN,
            io.BytesIO(bad),
            "report.csv",
            mapping=ColumnMapping(tz="Mars/Olympus_Mons"),
            limits=REPORTS,
        )
    assert invalid.value.code == "bad_time_zone"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM reconciliations")).scalar_one() == count


def test_the_page_and_the_api_upload_show_export_and_clear(
    engine: Engine, sandbox: RunningSandbox, client_as: Any
) -> None:
    world = paid_world(engine, sandbox)
    report = injected_report(sandbox, world)
    admin = client_as("admin")
    today = datetime.now(UTC).date().isoformat()
    answer = admin.post(
        "/reconciliations/",
        data={
            "file": (io.BytesIO(report), "mobiquity.csv"),
            "period_from": today,
            "period_to": today,
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    page_url = answer.headers["Location"]
    reconciliation_id = int(page_url.rstrip("/").rsplit("/", 1)[1])
    html = admin.get(page_url).get_data(as_text=True)
    assert "Double-payment alarm" in html and 'data-class="definitive_for_open"' in html
    # each payment links its own page
    assert f'/payments/{world["ours"]["open_paid"].id}"' in html

    filtered = admin.get(f"{page_url}?class=amount_differs").get_data(as_text=True)
    assert world["ours"]["amount_differs"].reference_id in filtered
    assert world["ours"]["posted"].reference_id not in filtered
    assert admin.get(f"{page_url}?class=nonsense").status_code == 400

    export = admin.get(f"/reconciliations/{reconciliation_id}/export.csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert lines[0] == list(service.EXPORT_HEADERS)
    by_ref = {line[1]: line for line in lines[1:]}
    assert world["ours"]["posted"].reference_id not in by_ref  # matched: counted only
    assert by_ref[world["ours"]["alarm_failed"].reference_id][0] == "double_payment_alarm"

    # the API: the same reconciliation, its items by class, an upload by machine clients too
    api = admin.get(f"/api/v1/reconciliations/{reconciliation_id}").json
    assert api["counts"]["double_payment_alarm"] >= 2  # the module's sandbox keeps its ledger
    items = admin.get(
        f"/api/v1/reconciliations/{reconciliation_id}/items?class=definitive_for_open"
    ).json["items"]
    assert {i["payment_id"] for i in items} >= {
        world["ours"]["open_paid"].id,
        world["ours"]["open_not_paid"].id,
    }
    uploaded = admin.post(
        "/api/v1/reconciliations",
        data={"file": (io.BytesIO(report), "again.csv"), "period_from": today},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201 and uploaded.json["alarms"] == 0
    # the same report as XLSX (small: Werkzeug keeps it in memory, not in a file)
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Transactions")
    for line in csv.reader(io.StringIO(report.decode())):
        sheet.append(line)
    xlsx = io.BytesIO()
    book.save(xlsx)
    as_xlsx = admin.post(
        "/api/v1/reconciliations",
        data={"file": (io.BytesIO(xlsx.getvalue()), "report.xlsx"), "period_from": today},
        content_type="multipart/form-data",
    )
    assert as_xlsx.status_code == 201, as_xlsx.json
    assert as_xlsx.json["counts"] == uploaded.json["counts"]
    refused = admin.post(
        "/api/v1/reconciliations",
        data={"file": (io.BytesIO(b"a,b\r\n1,2\r\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422 and refused.json["error"]["code"] == "missing_column"

    # alarms: an admin may not clear one; a superadmin does, with a comment, on the page
    standing = admin.get("/api/v1/alarms").json
    mine = [a for a in standing if a["reconciliation_id"] == reconciliation_id]
    assert len(mine) == 2
    assert (
        admin.post(f"/api/v1/alarms/{mine[0]['id']}/clear", json={"comment": "checked"}).status_code
        == 403
    )
    superadmin = client_as("superadmin")
    assert "Clear the alarm" in superadmin.get("/reconciliations/alarms").get_data(as_text=True)
    done = superadmin.post(
        f"/reconciliations/alarms/{mine[0]['id']}/clear", data={"comment": "refunded by GP"}
    )
    assert done.status_code == 303
    cleared = superadmin.get("/api/v1/alarms?cleared=true").json
    assert any(a["id"] == mine[0]["id"] and a["comment"] == "refunded by GP" for a in cleared)
    answer = superadmin.post(f"/api/v1/alarms/{mine[1]['id']}/clear", json={"comment": "ok!"})
    assert answer.status_code == 200 and answer.json["cleared_by"] == "pay-superadmin"


def test_a_report_over_its_limit_is_refused_before_it_is_read(
    database_url: str, redis_url: str
) -> None:
    from tests.integration.payments.conftest import _app
    from tests.support.accounts import sign_in

    small = _app(database_url, redis_url, report_max_bytes=4096)
    try:
        client = sign_in(small.test_client(), "admin", "rc-small")
        big = b"Transaction ID,Remarks\r\n" + b"1,BBPX\r\n" * 10_000  # 80 kB: over the body limit
        answer = client.post(
            "/api/v1/reconciliations",
            data={"file": (io.BytesIO(big), "big.csv")},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 413
        assert answer.json["error"]["code"] == "file_too_large"
        assert f"{4096 + 64 * 1024:,}" in answer.json["error"]["message"]
        with small.extensions["bbp.engine"].connect() as conn:
            audited = conn.execute(
                sa.text(
                    "SELECT outcome FROM audit_log WHERE actor = 'rc-small'"
                    " AND action = 'reconciliation.upload' ORDER BY id DESC LIMIT 1"
                )
            ).scalar_one()
        assert audited == "refused"
        # under the body limit (its envelope's room), over the file's: refused by the reader
        answer = client.post(
            "/api/v1/reconciliations",
            data={"file": (io.BytesIO(big[:8000]), "big.csv")},
            content_type="multipart/form-data",
        )
        assert answer.status_code == 413
        assert answer.json["error"]["code"] == "file_too_large"
    finally:
        small.extensions["bbp.engine"].dispose()


def test_the_page_hands_bulk_resolution_the_open_payments_preselected(
    engine: Engine, sandbox: RunningSandbox, client_as: Any
) -> None:
    """The page's form posts bulk resolution (``POST /payments/resolve-many``) the uncleared
    payments a definitive line settles (``ids``), the reconciliation and the outcome; its page
    shows them chosen. Nothing moves until the superadmin confirms there."""
    world = paid_world(engine, sandbox)
    done = upload(engine, injected_report(sandbox, world))
    superadmin = client_as("superadmin", "rc-bulk")
    html = superadmin.get(f"/reconciliations/{done['id']}").get_data(as_text=True)
    paid_form = html[html.index('id="resolve-paid"') :]
    paid_form = paid_form[: paid_form.index("</form>")]
    assert 'action="/payments/resolve-many" class="d-inline" id="resolve-paid"' in html
    assert 'name="outcome" value="paid"' in paid_form
    assert f'name="reconciliation" value="{done["id"]}"' in paid_form
    assert f'name="ids" value="{world["ours"]["open_paid"].id}"' in paid_form
    assert f'value="{world["ours"]["open_not_paid"].id}"' not in paid_form
    assert 'id="resolve-not_paid"' in html

    before = states(engine, world)
    chosen = superadmin.post(
        "/payments/resolve-many",
        data={
            "ids": [str(world["ours"]["open_paid"].id)],
            "reconciliation": str(done["id"]),
            "outcome": "paid",
        },
    )
    assert chosen.status_code == 200
    assert world["ours"]["open_paid"].reference_id in chosen.get_data(as_text=True)
    assert states(engine, world) == before
