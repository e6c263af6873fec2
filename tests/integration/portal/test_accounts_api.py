"""Bill accounts, groups and billers through /api/v1 and the pages, on the real database."""

from __future__ import annotations

import uuid

from sqlalchemy import insert, select

from bbp_common.platform.db.tables import audit_log, bill_accounts, bulk_requests, fetch_items
from tests.support.accounts import unique


def new_group(client, name: str | None = None) -> int:
    answer = client.post("/api/v1/groups", json={"name": name or f"G {uuid.uuid4().hex[:8]}"})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def new_account(client, **values) -> dict:
    body = {"utility_code": "DSCO", "consumer_id": unique(), "mobile": "01712345678", **values}
    answer = client.post("/api/v1/accounts", json=body)
    assert answer.status_code == 201, answer.json
    return answer.json


def dsco_account(consumer: str, mobile: str, label: str) -> dict[str, str]:
    """The account form's fields for a DSCO account."""
    return {"utility_code": "DSCO", "consumer_id": consumer, "mobile": mobile, "label": label}


def test_add_read_edit_account(admin):
    """The API takes values in their canonical form (its document's patterns: utility codes
    in capitals, the mobile as digits — forms and uploads tidy them for people); the label's
    inner whitespace is still collapsed."""
    group = new_group(admin)
    created = new_account(
        admin,
        utility_code="DESCO",
        mobile="8801712345678",
        label="  Head   office ",
        group_ids=[group],
    )
    assert created["utility_code"] == "DESCO"
    assert created["mobile"] == "8801712345678"
    assert created["label"] == "Head office"
    assert created["groups"] == [{"id": group, "name": created["groups"][0]["name"]}]
    read = admin.get(f"/api/v1/accounts/{created['id']}").json
    assert read == created
    changed = admin.patch(
        f"/api/v1/accounts/{created['id']}", json={"label": "Branch", "group_ids": []}
    ).json
    assert changed["label"] == "Branch" and changed["groups"] == []
    assert changed["consumer_id"] == created["consumer_id"]


def test_invalid_values_name_their_field(admin):
    """A value not in its canonical form is refused by the schema (422, as the OpenAPI
    document's patterns say); a well-formed value naming nothing is 404, a deactivated
    biller 409 (the stored state is at fault). Forms and uploads keep their finer codes
    (scientific_notation…: tests/unit/portal/test_account_upload_parse.py)."""
    cases = [
        ({"consumer_id": "1.7E+07"}, 422, "consumer_id", "invalid"),
        ({"consumer_id": "17E07"}, 422, "consumer_id", "invalid"),
        ({"consumer_id": ""}, 422, "consumer_id", "invalid"),
        ({"consumer_id": "12 34"}, 422, "consumer_id", "invalid"),
        ({"mobile": "01712ABC678"}, 422, "mobile", "invalid"),
        ({"mobile": "1234"}, 422, "mobile", "invalid"),
        ({"mobile": "+880 1712-345678"}, 422, "mobile", "invalid"),
        ({"utility_code": "dsco"}, 422, "utility_code", "invalid"),
        ({"utility_code": "NOPE"}, 404, "utility_code", "unknown"),
        ({"utility_code": "OLDCO"}, 409, "utility_code", "inactive"),
        ({"group_ids": [987654321]}, 404, "groups", "unknown"),
    ]
    for change, status, field, code in cases:
        body = {"utility_code": "DSCO", "consumer_id": unique(), "mobile": "01712345678", **change}
        answer = admin.post("/api/v1/accounts", json=body)
        assert answer.status_code == status, (change, answer.json)
        assert answer.json["error"]["field"] == field, change
        assert answer.json["error"]["code"] == code, change
        assert answer.json["error"]["message"]
    answer = admin.post("/api/v1/accounts", json={"utility_code": "DSCO"})
    assert answer.status_code == 422 and answer.json["error"]["code"] == "invalid"
    assert answer.json["error"]["field"] in ("consumer_id", "mobile")
    answer = admin.post("/api/v1/accounts", data="not json", content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_json"


def test_duplicate_account_is_a_conflict_whatever_the_case(admin):
    consumer = "AB-" + unique()
    new_account(admin, consumer_id=consumer)
    answer = admin.post(
        "/api/v1/accounts",
        json={"utility_code": "DSCO", "consumer_id": consumer.lower(), "mobile": "01712345678"},
    )
    assert answer.status_code == 409
    assert answer.json["error"] == {
        "code": "duplicate",
        "field": "consumer_id",
        "message": answer.json["error"]["message"],
    }


def test_delete_removes_an_unused_account(admin, engine):
    account = new_account(admin)
    answer = admin.delete(f"/api/v1/accounts/{account['id']}")
    assert answer.json == {"outcome": "deleted", "account": None}
    assert admin.get(f"/api/v1/accounts/{account['id']}").status_code == 404
    with engine.connect() as conn:
        actions = (
            conn.execute(
                select(audit_log.c.action).where(
                    audit_log.c.target_id == str(account["id"]),
                    audit_log.c.target_type == "bill_account",
                )
            )
            .scalars()
            .all()
        )
    assert actions == ["account.create", "account.delete"]


def test_delete_deactivates_an_account_with_fetches(admin, engine):
    account = new_account(admin)
    with engine.begin() as conn:
        request_id = conn.execute(
            insert(bulk_requests).values(kind="fetch", state="finished", created_by="admin1")
        ).inserted_primary_key[0]
        conn.execute(
            insert(fetch_items).values(
                request_id=request_id,
                bill_account_id=account["id"],
                utility_code="DSCO",
                consumer_id=account["consumer_id"],
                mobile=account["mobile"],
            )
        )
    answer = admin.delete(f"/api/v1/accounts/{account['id']}")
    assert answer.status_code == 200
    assert answer.json["outcome"] == "deactivated"
    assert answer.json["account"]["active"] is False
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(bill_accounts.c.active).where(bill_accounts.c.id == account["id"])
            ).scalar_one()
            is False
        )
    # and its identity cannot change any more
    answer = admin.patch(f"/api/v1/accounts/{account['id']}", json={"consumer_id": unique()})
    assert answer.status_code == 409 and answer.json["error"]["code"] == "in_use"
    # reactivating is allowed
    assert (
        admin.patch(f"/api/v1/accounts/{account['id']}", json={"active": True}).json["active"]
        is True
    )


def test_groups_filter_search_and_selection(admin):
    dhaka, ctg = new_group(admin), new_group(admin)
    stem = unique()
    ids = {}
    for n, groups in enumerate([[dhaka], [dhaka, ctg], [ctg], []]):
        ids[n] = new_account(
            admin, consumer_id=f"{stem}{n}", label=f"Shop {stem} {n}", group_ids=groups
        )["id"]
    listed = admin.get(f"/api/v1/accounts?group_id={dhaka}").json["items"]
    assert [a["id"] for a in listed] == [ids[0], ids[1]]
    listed = admin.get(f"/api/v1/accounts?group_id={ctg}&sort=consumer_id&order=desc").json
    assert [a["id"] for a in listed["items"]] == [ids[2], ids[1]]
    assert listed["page"]["next"] is None and listed["page"]["prev"] is None
    by_prefix = admin.get(f"/api/v1/accounts?q={stem}").json["items"]
    assert [a["id"] for a in by_prefix] == [ids[n] for n in range(4)]
    by_label = admin.get(f"/api/v1/accounts?q=Shop {stem} 3").json["items"]
    assert [a["id"] for a in by_label] == [ids[3]]
    wildcard = admin.get("/api/v1/accounts?q=%25").json["items"]  # "%" is literal
    assert wildcard == []
    count = admin.post(
        "/api/v1/accounts/selection/count", json={"filter": {"group_id": dhaka}}
    ).json
    assert count["count"] == 2 and count["capped"] is False
    admin.patch(f"/api/v1/accounts/{ids[0]}", json={"active": False})
    count = admin.post(
        "/api/v1/accounts/selection/count", json={"filter": {"group_id": dhaka}}
    ).json
    assert count["count"] == 1  # deactivated accounts are never selected
    answer = admin.post("/api/v1/accounts/selection/count", json={})
    assert answer.status_code == 422
    # deleting a group keeps its accounts
    assert admin.delete(f"/api/v1/groups/{dhaka}").status_code == 204
    assert admin.get(f"/api/v1/accounts/{ids[1]}").json["groups"][0]["id"] == ctg


def test_selection_service_resolves_ids_and_filters(admin, engine):
    from bbp_portal.accounts.selection import (
        AccountFilter,
        AccountSelection,
        resolve_selection,
        selection_query,
    )

    group = new_group(admin)
    a = new_account(admin, group_ids=[group])["id"]
    b = new_account(admin, group_ids=[group])["id"]
    c = new_account(admin)["id"]
    with engine.connect() as conn:
        assert resolve_selection(conn, AccountSelection(ids=(c, a, a))) == [a, c]
        by_group = AccountSelection(filter=AccountFilter(group_id=group))
        assert resolve_selection(conn, by_group) == [a, b]
        assert "group_id=" in by_group.describe()
        sql = str(selection_query(by_group))
        assert "bill_accounts.id" in sql


def test_group_names_are_unique_and_checked(admin):
    name = f"Team {uuid.uuid4().hex[:6]}"
    new_group(admin, name)
    answer = admin.post("/api/v1/groups", json={"name": name.upper()})
    assert answer.status_code == 409 and answer.json["error"]["field"] == "name"
    answer = admin.post("/api/v1/groups", json={"name": "a|b"})
    assert answer.status_code == 422 and answer.json["error"]["field"] == "name"
    groups = admin.get("/api/v1/groups?counts=true").json
    assert any(g["name"] == name and g["accounts"] == 0 for g in groups)


def test_sorting_by_every_key_and_invalid_cursor(admin):
    group = new_group(admin)
    stem = unique()
    made = [
        new_account(admin, utility_code=u, consumer_id=f"{stem}{c}", label=lab, group_ids=[group])
        for u, c, lab in [("JGDCL", "2", "b"), ("DESCO", "3", "a"), ("DSCO", "1", "c")]
    ]
    ids = [m["id"] for m in made]
    expect = {
        "id": ids,
        "consumer_id": [ids[2], ids[0], ids[1]],
        "label": [ids[1], ids[0], ids[2]],
        "utility": [ids[1], ids[2], ids[0]],
    }
    for sort, order in expect.items():
        got = admin.get(f"/api/v1/accounts?group_id={group}&sort={sort}").json["items"]
        assert [a["id"] for a in got] == order, sort
        got = admin.get(f"/api/v1/accounts?group_id={group}&sort={sort}&order=desc").json
        assert [a["id"] for a in got["items"]] == order[::-1], sort
    # pages of one: walk forward, then back
    page = admin.get(f"/api/v1/accounts?group_id={group}&sort=label&limit=1").json
    seen = [page["items"][0]["id"]]
    while page["page"]["next"]:
        page = admin.get(
            f"/api/v1/accounts?group_id={group}&limit=1&cursor={page['page']['next']}"
        ).json
        seen.append(page["items"][0]["id"])
    assert seen == expect["label"]
    back = admin.get(
        f"/api/v1/accounts?group_id={group}&limit=1&cursor={page['page']['prev']}"
    ).json
    assert [a["id"] for a in back["items"]] == [expect["label"][1]]
    last = admin.get(
        f"/api/v1/accounts?group_id={group}&limit=2&cursor={page['page']['last']}"
    ).json
    assert [a["id"] for a in last["items"]] == expect["label"][1:]
    assert last["page"]["next"] is None and last["page"]["prev"]
    answer = admin.get("/api/v1/accounts?cursor=garbage")
    assert answer.status_code == 400 and answer.json["error"]["code"] == "invalid_cursor"
    answer = admin.get("/api/v1/accounts?sort=mobile")
    assert answer.status_code == 422 and answer.json["error"]["field"] == "sort"


def test_list_page_shows_filters_and_pages(admin):
    group = new_group(admin)
    account = new_account(admin, label="Visible on the page", group_ids=[group])
    html = admin.get(f"/accounts?group_id={group}").get_data(as_text=True)
    assert account["consumer_id"] in html and "Visible on the page" in html
    assert "1 accounts match" in html
    html = admin.get("/accounts?cursor=garbage").get_data(as_text=True)
    assert "not valid" in html


def test_account_form_shows_errors_and_saves(admin):
    answer = admin.post(
        "/accounts/new",
        data={"utility_code": "DSCO", "consumer_id": "1.7E+07", "mobile": "01712345678"},
    )
    assert answer.status_code == 422
    assert "scientific notation" in answer.get_data(as_text=True)
    consumer = unique()
    answer = admin.post("/accounts/new", data=dsco_account(consumer, "01712345678", "Form"))
    assert answer.status_code == 302
    found = admin.get(f"/api/v1/accounts?q={consumer}").json["items"]
    assert len(found) == 1
    account_id = found[0]["id"]
    assert admin.get(f"/accounts/{account_id}/edit").status_code == 200
    answer = admin.post(
        f"/accounts/{account_id}/edit", data=dsco_account(consumer, "01812345678", "X")
    )
    assert answer.status_code == 302
    assert admin.get(f"/api/v1/accounts/{account_id}").json["mobile"] == "01812345678"
    assert admin.post(f"/accounts/{account_id}/deactivate").status_code == 302
    assert admin.get(f"/api/v1/accounts/{account_id}").json["active"] is False
    assert admin.post(f"/accounts/{account_id}/delete").status_code == 302
    assert admin.get(f"/api/v1/accounts/{account_id}").status_code == 404
    assert admin.get("/accounts/999999999/edit").status_code == 404


def test_groups_page(admin):
    name = f"Page group {uuid.uuid4().hex[:6]}"
    assert admin.post("/accounts/groups", data={"name": name}).status_code == 302
    html = admin.get("/accounts/groups").get_data(as_text=True)
    assert name in html
    answer = admin.post("/accounts/groups", data={"name": name}, follow_redirects=True)
    assert "exists" in answer.get_data(as_text=True)
