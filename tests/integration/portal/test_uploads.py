"""Bulk upload end to end on the real database: report first, then all valid rows or none."""

from __future__ import annotations

import io
import json
import time
import uuid

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bbp_common.platform.db.tables import (
    account_upload_rows,
    account_uploads,
    audit_log,
    bill_account_groups,
    bill_accounts,
)
from tests.integration.portal.conftest import build_app, sign_in
from tests.support.accounts import unique, upload_refusals

HEADER = "utility,consumer_id,mobile,label,groups"


def upload(client, data: bytes | str, name: str = "accounts.csv"):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def problems(client, upload_id: int) -> list[tuple[int, str, str, str]]:
    items, after = [], 0
    while True:
        page = client.get(f"/api/v1/uploads/{upload_id}/problems?after={after}").json
        items += page["items"]
        if page["next_after"] is None:
            return [(p["line"], p["column"], p["field"], p["code"]) for p in items]
        after = page["next_after"]


def stored(engine, stem: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count())
            .select_from(bill_accounts)
            .where(bill_accounts.c.consumer_id.like(stem + "%"))
        ).scalar_one()


def last_audit_id(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.coalesce(func.max(audit_log.c.id), 0))).scalar_one()


def audit(engine, upload_id: int, since: int = 0) -> list[tuple[str, str, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.outcome, audit_log.c.details)
            .where(
                audit_log.c.target_type == "upload",
                audit_log.c.target_id == str(upload_id),
                audit_log.c.id > since,
            )
            .order_by(audit_log.c.id)
        ).all()
    return [(a, o, json.loads(d or "{}")) for a, o, d in rows]


@pytest.fixture()
def group(admin) -> tuple[int, str]:
    name = f"Dhaka offices {uuid.uuid4().hex[:6]}"
    return admin.post("/api/v1/groups", json={"name": name}).json["id"], name


def test_every_kind_of_bad_row_is_reported_and_nothing_is_stored(admin, engine, group):
    since = last_audit_id(engine)
    stem = unique()
    admin.post(
        "/api/v1/accounts",
        json={"utility_code": "DSCO", "consumer_id": f"{stem}99", "mobile": "01712345678"},
    )
    text = (
        "\n".join(
            [
                HEADER,
                f"XYZ,{stem}1,01712345678,,",  # 2 unknown utility
                f"OLDCO,{stem}2,01712345678,,",  # 3 inactive utility
                "DSCO,,01712345678,,",  # 4 empty consumer id
                "DSCO,12 34,01712345678,,",  # 5 malformed consumer id
                "DSCO,1.7E+07,01712345678,,",  # 6 scientific notation
                "DSCO,17021270.0,01712345678,,",  # 7 real
                f"DSCO,{stem}8,0171234567X,,",  # 8 letters in mobile
                f"DSCO,{stem}9,12345,,",  # 9 too short
                f"DSCO,{stem}10,01712345678,,No such group",  # 10 unknown group
                f"DSCO,{stem}11,01712345678,,{group[1]}",  # 11 good
                f"dsco,{stem}11,01712345678,,",  # 12 duplicate of 11
                f"DSCO,{stem}99,01712345678,,",  # 13 already stored
            ]
        )
        + "\n"
    )
    answer = upload(admin, text)
    assert answer.status_code == 201, answer.json
    summary = answer.json
    assert (summary["total_rows"], summary["valid_rows"], summary["error_rows"]) == (12, 1, 11)
    assert problems(admin, summary["id"]) == [
        (2, "A", "utility", "unknown"),
        (3, "A", "utility", "inactive"),
        (4, "B", "consumer_id", "missing"),
        (5, "B", "consumer_id", "malformed"),
        (6, "B", "consumer_id", "scientific_notation"),
        (7, "B", "consumer_id", "excel_number"),
        (8, "C", "mobile", "malformed"),
        (9, "C", "mobile", "malformed"),
        (10, "E", "groups", "unknown"),
        (12, "B", "consumer_id", "duplicate_in_file"),
        (13, "B", "consumer_id", "already_stored"),
    ]
    assert stored(engine, stem) == 1  # only the account made before: validation stores none
    report = admin.get(f"/api/v1/uploads/{summary['id']}/report.csv")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = report.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0] == "line,column,field,code,message,value"
    assert lines[5].startswith("6,B,consumer_id,scientific_notation,") and "1.7E+07" in lines[5]
    assert len(lines) == 12

    # "import none"
    discarded = admin.post(f"/api/v1/uploads/{summary['id']}/discard").json
    assert discarded["state"] == "discarded"
    assert stored(engine, stem) == 1
    assert admin.post(f"/api/v1/uploads/{summary['id']}/import").status_code == 409
    actions = [(a, o) for a, o, _ in audit(engine, summary["id"], since)]
    assert actions == [
        ("accounts.upload.validate", "ok"),
        ("accounts.upload.discard", "ok"),
        ("accounts.upload.import", "refused"),
    ]
    details = audit(engine, summary["id"], since)[0][2]
    assert details["file_name"] == "accounts.csv" and details["valid"] == 1
    assert details["invalid"] == 11 and "rows" in details
    assert not any(stem in json.dumps(d) for _, _, d in audit(engine, summary["id"]))


def test_import_stores_the_valid_rows_with_groups_and_reimport_adds_nothing(admin, engine, group):
    stem = unique()
    text = (
        HEADER
        + "\r\n"
        + "".join(
            f"DESCO,{stem}{n},01712345678,Row {n},{group[1] if n % 2 else ''}\r\n"
            for n in range(10)
        )
        + "XYZ,1,01712345678,,\r\n"
    )
    first = upload(admin, "\ufeff" + text).json
    assert (first["valid_rows"], first["error_rows"]) == (10, 1)
    imported = admin.post(f"/api/v1/uploads/{first['id']}/import").json
    assert imported["state"] == "imported" and imported["imported_rows"] == 10
    assert stored(engine, stem) == 10
    with engine.connect() as conn:
        members = conn.execute(
            select(func.count())
            .select_from(bill_account_groups)
            .where(bill_account_groups.c.group_id == group[0])
        ).scalar_one()
        staged = conn.execute(
            select(func.count())
            .select_from(account_upload_rows)
            .where(account_upload_rows.c.upload_id == first["id"])
        ).scalar_one()
    assert members == 5 and staged == 11
    listed = admin.get(f"/api/v1/accounts?group_id={group[0]}").json["items"]
    assert sorted(a["consumer_id"] for a in listed) == [f"{stem}{n}" for n in (1, 3, 5, 7, 9)]
    assert audit(engine, first["id"])[-1][2]["imported"] == 10

    again = upload(admin, "\ufeff" + text).json
    assert again["valid_rows"] == 0 and again["error_rows"] == 11
    assert {code for *_, code in problems(admin, again["id"])} == {"already_stored", "unknown"}
    assert admin.post(f"/api/v1/uploads/{again['id']}/import").json["imported_rows"] == 0
    assert stored(engine, stem) == 10


def test_import_refuses_when_the_data_changed_since_validation(admin, engine):
    stem = unique()
    text = HEADER + "\n" + "".join(f"DSCO,{stem}{n},01712345678,,\n" for n in range(5))
    summary = upload(admin, text).json
    assert summary["valid_rows"] == 5
    admin.post(
        "/api/v1/accounts",
        json={"utility_code": "DSCO", "consumer_id": f"{stem}3", "mobile": "01712345678"},
    )
    answer = admin.post(f"/api/v1/uploads/{summary['id']}/import")
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "upload_stale"
    assert "Validate the file again" in answer.json["error"]["message"]
    assert stored(engine, stem) == 1  # all or none: none
    assert admin.get(f"/api/v1/uploads/{summary['id']}").json["state"] == "validated"


def test_semicolon_quoted_crlf_and_xlsx(admin, engine, group):
    stem = unique()
    text = (
        f'Utility;Consumer ID;Mobile;Label;Groups\r\nDSCO;{stem}1;"01712 345678";'
        f'"Shop; ""A"" wing";"{group[1]}"\r\n'
    )
    summary = upload(admin, text.encode("utf-8")).json
    assert summary["valid_rows"] == 1, problems(admin, summary["id"])
    admin.post(f"/api/v1/uploads/{summary['id']}/import")
    found = admin.get(f"/api/v1/accounts?q={stem}1").json["items"][0]
    assert found["label"] == 'Shop; "A" wing' and found["mobile"] == "01712345678"

    book = Workbook()
    sheet = book.active
    sheet.append(["utility", "consumer_id", "mobile", "label", "groups"])
    sheet.append(["JGDCL", int(f"{stem}2"), 8801712345678, "xlsx row", group[1]])
    sheet.append(["JGDCL", f"{stem}3", "01712345678", None, None])
    sheet.append(["JGDCL", 1.7e7 + 0.5, "01712345678", None, None])
    out = io.BytesIO()
    book.save(out)
    summary = upload(admin, out.getvalue(), "accounts.xlsx").json
    assert summary["file_format"] == "xlsx"
    assert (summary["valid_rows"], summary["error_rows"]) == (2, 1)
    assert problems(admin, summary["id"]) == [(4, "B", "consumer_id", "excel_number")]
    admin.post(f"/api/v1/uploads/{summary['id']}/import")
    found = admin.get(f"/api/v1/accounts?q={stem}2").json["items"][0]
    assert found["mobile"] == "8801712345678" and found["groups"][0]["id"] == group[0]


def test_refused_files_are_explained_and_audited(admin, engine):
    answer = upload(admin, b"utility,consumer_id\nDSCO,1\n")
    assert answer.status_code == 422
    assert answer.json["error"]["code"] == "missing_column"
    assert "mobile" in answer.json["error"]["message"]
    answer = upload(admin, b"\xd0\xcf\x11\xe0old excel", "accounts.xls")
    assert answer.json["error"]["code"] == "unsupported_format"
    answer = admin.post("/api/v1/uploads", data={}, content_type="multipart/form-data")
    assert answer.status_code == 422 and answer.json["error"]["field"] == "file"
    codes = [refusal["code"] for refusal in upload_refusals(engine, 2)]
    assert codes == ["unsupported_format", "missing_column"]


def test_limits_are_settings(database_url, redis_url):
    small = build_app(database_url, redis_url, upload_max_rows=3, upload_max_bytes=2048)
    client = sign_in(small.test_client(), "admin")
    rows = "".join(f"DSCO,{n},01712345678,,\n" for n in range(4))
    answer = upload(client, HEADER + "\n" + rows)
    assert answer.status_code == 413
    assert (
        answer.json["error"]["code"] == "too_many_rows" and "3" in answer.json["error"]["message"]
    )
    answer = upload(client, HEADER + "\n" + "DSCO,1,01712345678," + "x" * 3000 + ",\n")
    assert answer.status_code == 413 and answer.json["error"]["code"] == "file_too_large"
    answer = upload(client, HEADER + "\n" + "DSCO,1,01712345678," + "x" * 80_000 + ",\n")
    assert answer.status_code == 413 and answer.json["error"]["code"] == "file_too_large"
    # Refused by the body limit (upload limit + 64 KiB) before the upload code ran: audited
    # all the same.
    answer = upload(client, HEADER + "\n" + "DSCO,1,01712345678," + "x" * 200_000 + ",\n")
    assert answer.status_code == 413 and answer.json["error"]["code"] == "file_too_large"
    engine = small.extensions["bbp.engine"]
    with engine.connect() as conn:
        last = conn.execute(
            select(audit_log.c.action, audit_log.c.outcome, audit_log.c.details)
            .order_by(audit_log.c.id.desc())
            .limit(1)
        ).one()
    assert (last.action, last.outcome) == ("accounts.upload.validate", "refused")
    assert json.loads(last.details)["size"] > 200_000
    small.extensions["bbp.engine"].dispose()


def test_an_upload_belongs_to_its_uploader_and_expires(client_as, engine):
    owner, other = client_as("admin", "owner1"), client_as("admin", "other1")
    summary = upload(owner, HEADER + f"\nDSCO,{unique()},01712345678,,\n").json
    assert other.get(f"/api/v1/uploads/{summary['id']}").status_code == 404
    assert other.post(f"/api/v1/uploads/{summary['id']}/import").status_code == 404
    assert other.get(f"/api/v1/uploads/{summary['id']}/report.csv").status_code == 404
    with engine.begin() as conn:
        conn.execute(
            account_uploads.update()
            .where(account_uploads.c.id == summary["id"])
            .values(expires_at=func.utc_timestamp(6))
        )
    answer = owner.post(f"/api/v1/uploads/{summary['id']}/import")
    assert answer.status_code == 404 and answer.json["error"]["code"] == "upload_not_found"


def test_upload_pages_show_the_report_and_import(admin, engine):
    stem = unique()
    data = HEADER + f"\nDSCO,{stem}1,01712345678,,\nDSCO,1.7E+07,01712345678,,\n"
    answer = admin.post(
        "/accounts/upload",
        data={"file": (io.BytesIO(data.encode()), "a.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302
    report = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert 'data-line="3" data-column="B" data-code="scientific_notation"' in report
    assert "Import the 1 valid row<" in report
    upload_id = int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    answer = admin.post(f"/accounts/uploads/{upload_id}/import")
    assert answer.status_code == 302 and stored(engine, stem) == 1
    answer = admin.post(
        "/accounts/upload",
        data={"file": (io.BytesIO(b"nonsense"), "a.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "unknown column" in answer.get_data(as_text=True)
    for fmt in ("csv", "xlsx"):
        template = admin.get(f"/accounts/template.{fmt}")
        assert template.status_code == 200 and len(template.data) > 20


def test_fifty_thousand_good_rows(admin, engine, group):
    stem = unique()
    lines = [HEADER] + [
        f"DSCO,{stem}{n:05d},017{n:08d},Account {n},{group[1] if n % 10 == 0 else ''}"
        for n in range(50_000)
    ]
    started = time.perf_counter()
    summary = upload(admin, "\r\n".join(lines) + "\r\n").json
    validated = time.perf_counter() - started
    assert summary["valid_rows"] == 50_000 and summary["error_rows"] == 0
    result = admin.post(f"/api/v1/uploads/{summary['id']}/import").json
    total = time.perf_counter() - started
    assert result["imported_rows"] == 50_000
    assert stored(engine, stem) == 50_000
    count = admin.post(
        "/api/v1/accounts/selection/count", json={"filter": {"group_id": group[0]}}
    ).json
    assert count["count"] == 5_000
    print(f"50 000 rows: validated in {validated:.1f} s, imported in {total:.1f} s")
    assert total < 60  # the benchmark holds the real goal (10 s); this only catches collapse
