"""Helpers for the request tests and benchmarks: accounts to fetch, and results written the
way the scheduler writes them (item row, bills and tallies in one transaction), for tests
that exercise the portal's reading side without running the whole pipeline."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Engine, insert, select, update

from bbp_common.core.tallies import bump as bump_tallies
from bbp_common.platform.db.tables import account_groups, bill_account_groups, bill_accounts, bills
from bbp_common.platform.db.tables import fetch_items as items_table


def add_accounts(
    engine: Engine,
    accounts: Sequence[tuple[str, str]],
    *,
    group: str | None = None,
    active: bool = True,
    mobile: str = "01711000000",
) -> list[int]:
    """Insert (utility, consumer id) accounts straight into the table (no field rules, so a
    test can store what an attacker might); returns their ids in order."""
    with engine.begin() as conn:
        ids = []
        for utility, consumer in accounts:
            ids.append(
                conn.execute(
                    insert(bill_accounts).values(
                        utility_code=utility,
                        consumer_id=consumer,
                        mobile=mobile,
                        label=f"{utility} {consumer}"[:120],
                        active=active,
                        created_by="tests",
                    )
                ).inserted_primary_key[0]
            )
        if group is not None:
            group_id = conn.execute(
                select(account_groups.c.id).where(account_groups.c.name == group)
            ).scalar()
            if group_id is None:
                group_id = conn.execute(
                    insert(account_groups).values(name=group)
                ).inserted_primary_key[0]
            conn.execute(
                insert(bill_account_groups),
                [{"bill_account_id": i, "group_id": group_id} for i in ids],
            )
    return ids


def group_id(engine: Engine, name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(account_groups.c.id).where(account_groups.c.name == name)
            ).scalar_one()
        )


def item_ids(engine: Engine, request_id: int) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(items_table.c.id)
                .where(items_table.c.request_id == request_id)
                .order_by(items_table.c.id)
            ).scalars()
        )


def dispatch(engine: Engine, item_id: int) -> None:
    """Queued → dispatched, as the dispatcher does."""
    with engine.begin() as conn:
        request_id = conn.execute(
            select(items_table.c.request_id).where(items_table.c.id == item_id)
        ).scalar_one()
        conn.execute(
            update(items_table)
            .where(items_table.c.id == item_id)
            .values(state="dispatched", attempts=items_table.c.attempts + 1)
        )
        bump_tallies(conn, request_id, {"queued": (-1, Decimal(0)), "in_flight": (1, Decimal(0))})


def complete(
    engine: Engine,
    item_id: int,
    outcome: str,
    found: Sequence[tuple[str, date | None, Decimal, Decimal]] = (),
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    from_bucket: str = "queued",
) -> None:
    """Give an item its result as the scheduler's result handler does: the item row, its
    bills, and the tallies (``from_bucket`` → the outcome) in one transaction."""
    now = datetime.utcnow().replace(microsecond=0)
    with engine.begin() as conn:
        item = conn.execute(select(items_table).where(items_table.c.id == item_id)).one()
        if found:
            conn.execute(
                insert(bills),
                [
                    {
                        "fetch_item_id": item.id,
                        "bill_account_id": item.bill_account_id,
                        "utility_code": item.utility_code,
                        "consumer_id": item.consumer_id,
                        "bill_number": number,
                        "due_date": due,
                        "amount": amount,
                        "service_charge": charge,
                        "detail": json.dumps({"bill_number": number}),
                        "fetched_at": now,
                    }
                    for number, due, amount, charge in found
                ],
            )
        total = sum((f[2] for f in found), Decimal("0"))
        conn.execute(
            update(items_table)
            .where(items_table.c.id == item_id)
            .values(
                state="done",
                outcome=outcome,
                completed_at=now,
                attempts=max(item.attempts, 1),
                bill_count=len(found) if outcome != "failed" else None,
                bills_amount=total if outcome != "failed" else None,
                error_code=error_code,
                error_message=error_message,
            )
        )
        bump_tallies(conn, item.request_id, {from_bucket: (-1, Decimal(0)), outcome: (1, total)})


def outbox_statuses(
    engine: Engine, request_id: int, message_type: str = "request.submitted"
) -> list[str]:
    """Statuses of the outbox rows of this type about this request (pending, sent, failed)."""
    from bbp_common.platform.db.tables import outbox

    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.status, outbox.c.body).where(outbox.c.message_type == message_type)
        ).all()
    return [r.status for r in rows if json.loads(r.body)["body"].get("request_id") == request_id]


__all__ = ["add_accounts", "complete", "dispatch", "group_id", "item_ids", "outbox_statuses"]
