"""Helpers for the payment-operations tests: fetched bills written as a finished fetch writes
them, payments moved along the state machine as the scheduler and communicator move them.

Everything goes through the real tables (and the payment store for state
changes), so what the portal reads is exactly what the pipeline would have left.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from bbp_common.core.domain.payments import PaymentState
from bbp_common.core.stores import PaymentStore
from bbp_common.platform.db.tables import (
    account_groups,
    bill_account_groups,
    bill_accounts,
    billers,
    bills,
    bulk_requests,
    fetch_items,
    payments,
)

S = PaymentState

#: Billers of the payment tests (DESCO charges its service charge to the payer): utility
#: code, name, receiver wallet, product id (the biller code is the utility code).
BILLERS = [
    ("DSCO", "Dhaka Supply", "01700000001", 11, False),
    ("DESCO", "Dhaka Electric", "01700000002", 12, True),
    ("JGDCL", "Jalalabad Gas", "01700000003", 13, False),
]


def seed_billers(engine: Engine) -> None:
    with engine.begin() as conn:
        for code, name, wallet, product_id, pays_service_charge in BILLERS:
            values = {
                "utility_code": code,
                "name": name,
                "receiver_wallet": wallet,
                "product_id": product_id,
                "biller_code": code,
                "pays_service_charge": pays_service_charge,
            }
            conn.execute(sa.dialects.mysql.insert(billers).values(values).prefix_with("IGNORE"))


def consumer(prefix: str = "7") -> str:
    """A consumer id no other test uses (the run's database is shared)."""
    return prefix + str(uuid.uuid4().int)[:11]


def done_fetch_item(
    conn: sa.Connection,
    request_id: int,
    account_id: int,
    account: tuple[str, str],
    completed_at: Any,
    bill_count: int,
    bills_amount: Decimal | None = None,
) -> int:
    """A fetch item as a finished fetch leaves it: its account (utility, consumer id) asked
    once, ``bill_count`` bills found; returns its id."""
    utility, consumer_id = account
    return int(
        conn.execute(
            sa.insert(fetch_items).values(
                request_id=request_id,
                bill_account_id=account_id,
                utility_code=utility,
                consumer_id=consumer_id,
                mobile="01711000000",
                state="done",
                outcome="bills" if bill_count else "no_bills",
                attempts=1,
                completed_at=completed_at,
                bill_count=bill_count,
                bills_amount=bills_amount,
            )
        ).inserted_primary_key[0]
    )


def fetched_bill(
    conn: sa.Connection,
    item_id: int,
    account_id: int,
    account: tuple[str, str],
    fetched_at: Any,
    **bill: Any,
) -> int:
    """A bill as a finished fetch stores it, found by the fetch item ``item_id`` for the
    account (utility, consumer id); ``bill``: its number, due date, amounts, detail. Returns
    its id."""
    utility, consumer_id = account
    return int(
        conn.execute(
            sa.insert(bills).values(
                fetch_item_id=item_id,
                bill_account_id=account_id,
                utility_code=utility,
                consumer_id=consumer_id,
                fetched_at=fetched_at,
                **bill,
            )
        ).inserted_primary_key[0]
    )


def seed_bills(
    engine: Engine,
    specs: Sequence[tuple[str, Decimal | str]],
    *,
    fetched_ago: timedelta = timedelta(0),
    group: str | None = None,
    due: date | None = None,
    service_charge: Decimal = Decimal("10.00"),
    consumer_ids: Sequence[str] | None = None,
) -> list[int]:
    """One account, one finished fetch item and one bill per ``(utility, amount)``; returns
    the bill ids in order. ``fetched_ago`` ages the bills (freshness tests)."""
    ids: list[int] = []
    with engine.begin() as conn:
        now = conn.execute(sa.text("SELECT UTC_TIMESTAMP(6)")).scalar_one()
        fetched = now - fetched_ago
        request_id = conn.execute(
            sa.insert(bulk_requests).values(
                kind="fetch",
                state="finished",
                created_by="seed",
                total_items=len(specs),
                finished_at=fetched,
            )
        ).inserted_primary_key[0]
        group_id = None
        if group is not None:
            group_id = conn.execute(
                sa.select(account_groups.c.id).where(account_groups.c.name == group)
            ).scalar()
            if group_id is None:
                group_id = conn.execute(
                    sa.insert(account_groups).values(name=group)
                ).inserted_primary_key[0]
        for index, (utility, amount) in enumerate(specs):
            cid = consumer_ids[index] if consumer_ids else consumer()
            account_id = conn.execute(
                sa.select(bill_accounts.c.id).where(
                    bill_accounts.c.utility_code == utility, bill_accounts.c.consumer_id == cid
                )
            ).scalar()
            if account_id is None:
                account_id = conn.execute(
                    sa.insert(bill_accounts).values(
                        utility_code=utility,
                        consumer_id=cid,
                        mobile="01711000000",
                        label=f"office {cid[-4:]}",
                        created_by="seed",
                    )
                ).inserted_primary_key[0]
            if group_id is not None:
                conn.execute(
                    sa.insert(bill_account_groups)
                    .values(bill_account_id=account_id, group_id=group_id)
                    .prefix_with("IGNORE")
                )
            item_id = done_fetch_item(
                conn, request_id, account_id, (utility, cid), fetched, 1, Decimal(amount)
            )
            ids.append(
                fetched_bill(
                    conn,
                    item_id,
                    account_id,
                    (utility, cid),
                    fetched,
                    bill_number=f"BN{cid[-6:]}{index}",
                    due_date=due or date(2030, 1, 1) + timedelta(days=index),
                    amount=Decimal(amount),
                    service_charge=service_charge,
                )
            )
    return ids


def payment_rows(engine: Engine, request_id: int) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(payments).where(payments.c.request_id == request_id).order_by(payments.c.id)
        ).all()


def move(engine: Engine, payment_id: int, *path: PaymentState, **values: Any) -> None:
    """Walk a payment along ``path`` as the pipeline would (each step a real transition)."""
    with engine.begin() as conn:
        store = PaymentStore(conn, actor="test")
        store.lock([payment_id])
        for target in path:
            extra = values if target is path[-1] else {}
            store.move(payment_id, target, "test", extra)
        store.flush()


def make_uncleared(engine: Engine, payment_id: int) -> None:
    move(engine, payment_id, S.DISPATCHED, S.SENDING, S.AMBIGUOUS, S.UNCLEARED)


def request_state(engine: Engine, request_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(bulk_requests).where(bulk_requests.c.id == request_id)).one()


def outbox_messages(engine: Engine, message_type: str, request_id: int) -> list[dict[str, Any]]:
    """The outbox messages of a type about one request (their bodies)."""
    import json

    from bbp_common.platform.db.tables import outbox

    with engine.connect() as conn:
        bodies = conn.execute(
            sa.select(outbox.c.body).where(outbox.c.message_type == message_type)
        ).scalars()
        found = []
        for raw in bodies:
            envelope = json.loads(raw)
            body = envelope.get("body", envelope)
            if body.get("request_id") == request_id:
                found.append(body)
    return found
