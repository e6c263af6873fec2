"""Keyset pages stay index range scans at 1 000 000 accounts: first, last, deep, filtered.

The accounts are made by one ``INSERT … SELECT`` (tests/support/accounts.py). Each page is
checked for correctness (order, no gap, no repeat against an independent query) and for
cost as *rows the server read* (``Handler_read_*``), which does not depend on the machine's
speed; the wall time is asserted loosely (the benchmark measures it).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import insert, select, text

from bbp_common.platform.db.tables import account_groups, bill_accounts, billers
from bbp_portal.accounts.listing import list_accounts
from bbp_portal.accounts.selection import AccountFilter
from bbp_portal.cursor import Cursor
from tests.support.accounts import rows_read, seed_accounts

MILLION = 1_000_000
PREFIX = "55"
MAX_ROWS_READ = 25_000  # a page of 50 with a 10 % group: ~500 index entries + the probes


@pytest.fixture(scope="module")
def million(app):
    engine = app.extensions["bbp.engine"]
    with engine.begin() as conn:
        for code in ("MILA", "MILB"):
            conn.execute(
                insert(billers)
                .values(
                    utility_code=code,
                    name=code,
                    receiver_wallet="01700000000",
                    product_id=1,
                    biller_code=code,
                )
                .prefix_with("IGNORE")
            )
        group_id = conn.execute(
            insert(account_groups).values(name="Million: every tenth")
        ).inserted_primary_key[0]
        seed_accounts(
            conn,
            MILLION,
            utilities=("MILA", "MILB"),
            prefix=PREFIX,
            group_id=group_id,
            group_every=10,
        )
        conn.execute(text("ANALYZE TABLE bill_accounts, bill_account_groups"))
    with engine.connect() as conn:
        ids = (
            conn.execute(
                select(bill_accounts.c.id)
                .where(bill_accounts.c.consumer_id.in_([f"{PREFIX}0500000", f"{PREFIX}0999999"]))
                .order_by(bill_accounts.c.id)
            )
            .scalars()
            .all()
        )
    return {"engine": engine, "group": group_id, "mid": ids[0], "top": ids[1]}


def page(conn, account_filter, **kwargs):
    conn.execute(text("FLUSH STATUS"))
    started = time.perf_counter()
    result = list_accounts(conn, account_filter, limit=50, **kwargs)
    elapsed = time.perf_counter() - started
    read = rows_read(conn)
    assert read < MAX_ROWS_READ, (account_filter, kwargs, read)
    assert elapsed < 1.0, (account_filter, kwargs, elapsed)
    return result


def expected_ids(conn, where, after: int, n: int, desc: bool = False) -> list[int]:
    column = bill_accounts.c.id
    query = select(column).where(*where, column < after if desc else column > after)
    return conn.execute(query.order_by(column.desc() if desc else column).limit(n)).scalars().all()


def test_first_and_last_pages(million):
    with million["engine"].connect() as conn:
        first = page(conn, AccountFilter())
        assert len(first.items) == 50 and first.prev is None and first.next
        ids = [a.id for a in first.items]
        assert ids == sorted(ids)
        last = page(conn, AccountFilter(), cursor=first.last)
        assert last.next is None and last.prev
        assert (
            last.items[-1].id
            == conn.execute(
                select(bill_accounts.c.id).order_by(bill_accounts.c.id.desc()).limit(1)
            ).scalar()
        )
        for sort in ("consumer_id", "label", "utility"):
            first = page(conn, AccountFilter(), sort=sort)
            last = page(conn, AccountFilter(), sort=sort, cursor=first.last)
            assert len(first.items) == 50 and len(last.items) == 50
            back = page(conn, AccountFilter(), cursor=last.prev)
            assert back.next and [a.id for a in back.items][-1] != last.items[0].id


def test_following_next_from_the_middle_of_a_utility(million):
    mila = AccountFilter(utility="MILA")
    where = [bill_accounts.c.utility_code == "MILA"]
    with million["engine"].connect() as conn:
        cursor = Cursor("id", "asc", "after", (million["mid"],)).encode()
        seen: list[int] = []
        for _ in range(20):
            result = page(conn, mila, cursor=cursor)
            seen += [a.id for a in result.items]
            assert all(a.utility_code == "MILA" for a in result.items)
            cursor = result.next
        assert seen == expected_ids(conn, where, million["mid"], 1000)
        # and back again with prev
        result = page(conn, mila, cursor=result.prev)
        assert [a.id for a in result.items] == seen[-100:-50]


def test_following_next_from_the_middle_of_a_group_by_label(million):
    group = AccountFilter(group_id=million["group"])
    with million["engine"].connect() as conn:
        start = page(
            conn,
            group,
            sort="label",
            cursor=Cursor("label", "asc", "after", ("Office 0500000", 0)).encode(),
        )
        labels = [a.label for a in start.items]
        assert labels == sorted(labels) and labels[0] >= "Office 0500000"
        cursor, previous_last = start.next, start.items[-1]
        for _ in range(10):
            result = page(conn, group, sort="label", cursor=cursor)
            assert (result.items[0].label, result.items[0].id) > (
                previous_last.label,
                previous_last.id,
            )
            assert all(g[0] == million["group"] for a in result.items for g in a.groups)
            cursor, previous_last = result.next, result.items[-1]
        last = page(conn, group, sort="label", cursor=start.last)
        assert last.next is None and len(last.items) == 50


def test_deep_pages_in_every_order_with_filters(million):
    cases = [
        (AccountFilter(utility="MILB"), "consumer_id", "desc", (f"{PREFIX}0500001", "MILB")),
        (AccountFilter(), "utility", "asc", ("MILA", f"{PREFIX}0500000")),
        (AccountFilter(utility="MILA"), "label", "desc", ("Office 0500000", million["mid"])),
        (AccountFilter(group_id=million["group"]), "id", "desc", (million["top"],)),
        (
            AccountFilter(group_id=million["group"], utility="MILA"),
            "consumer_id",
            "asc",
            (f"{PREFIX}0500000", "MILA"),
        ),
        (AccountFilter(status="active"), "id", "asc", (million["mid"],)),
    ]
    with million["engine"].connect() as conn:
        for account_filter, sort, order, key in cases:
            cursor = Cursor(sort, order, "after", key).encode()  # type: ignore[arg-type]
            result = page(conn, account_filter, sort=sort, order=order, cursor=cursor)
            assert len(result.items) == 50, (account_filter, sort)
            result = page(conn, account_filter, cursor=result.next)
            assert len(result.items) == 50 and result.prev


def test_the_api_answers_a_deep_page(million, admin):
    cursor = Cursor("id", "asc", "after", (million["mid"],)).encode()
    started = time.perf_counter()
    answer = admin.get(f"/api/v1/accounts?group_id={million['group']}&cursor={cursor}")
    assert answer.status_code == 200 and len(answer.json["items"]) == 50
    assert time.perf_counter() - started < 1.0
    count = admin.post(
        "/api/v1/accounts/selection/count", json={"filter": {"group_id": million["group"]}}
    ).json
    assert count == {"count": 10_000, "capped": True, "description": count["description"]}
