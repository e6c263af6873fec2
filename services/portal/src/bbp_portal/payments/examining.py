"""The checks of paying a set of bills, without writing: which bills are payable now (of
their account's latest successful fetch, fresh enough, of an active biller, in no live
payment, chosen once) and what each would cost under the one service-charge rule. Creating
a payment request runs them in its transaction; the confirmation page runs them read-only
(``pending.summarise``), so it shows exactly what the confirm button will create.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from bbp_common.core.domain.charges import bill_total
from bbp_common.core.domain.payments import live_bill_key
from bbp_common.platform.db.tables import billers, bills, fetch_items, payments
from bbp_portal.bulk.service import chunks


@dataclass(frozen=True)
class Examined:
    """What paying a set of bills would do: the bills found, each one's live-bill key and total
    (from our database), and the reason each bill that cannot be paid now cannot."""

    rows: list[Any]
    keys: dict[int, str]
    totals: dict[int, Decimal]
    problems: dict[int, str]

    @property
    def total_amount(self) -> Decimal:
        return sum(self.totals.values(), Decimal("0"))


def latest_successful_fetch(account_id: Any) -> Any:
    """The account's latest fetch item that got an answer (bills or "no bills"), as a
    correlated scalar subquery (served by ``fetch_items (bill_account_id, completed_at)``).
    Only its bills are payable: an older fetch's bill may have been paid since."""
    return (
        select(fetch_items.c.id)
        .where(
            fetch_items.c.bill_account_id == account_id,
            fetch_items.c.outcome.in_(["bills", "no_bills"]),
        )
        .order_by(fetch_items.c.completed_at.desc(), fetch_items.c.id.desc())
        .limit(1)
        .correlate(bills)
        .scalar_subquery()
    )


def examine(conn: Connection, ids: Sequence[int], max_bill_age: timedelta | None) -> Examined:
    """The checks of :func:`create_payment_request`, without writing: the confirmation page
    shows exactly what the confirm button will create, or why it will refuse."""
    now = conn.execute(select(func.utc_timestamp(6))).scalar_one()
    rows: list[Any] = []
    for chunk in chunks(sorted(set(ids))):
        rows.extend(
            conn.execute(
                select(
                    bills.c.id,
                    bills.c.bill_account_id,
                    bills.c.utility_code,
                    bills.c.consumer_id,
                    bills.c.bill_number,
                    bills.c.due_date,
                    bills.c.amount,
                    bills.c.service_charge,
                    bills.c.fetched_at,
                    bills.c.fetch_item_id,
                    latest_successful_fetch(bills.c.bill_account_id).label("latest_fetch_item"),
                    billers.c.pays_service_charge,
                    billers.c.active.label("biller_active"),
                )
                .select_from(bills.join(billers, billers.c.utility_code == bills.c.utility_code))
                .where(bills.c.id.in_(chunk))
            ).all()
        )
    problems: dict[int, str] = {}
    found_ids = {row.id for row in rows}
    for bill_id in ids:
        if bill_id not in found_ids:
            problems[bill_id] = "unknown bill"
    for row in rows:
        if not row.biller_active:
            problems[row.id] = f"biller {row.utility_code} is inactive"
        elif max_bill_age is not None and row.fetched_at < now - max_bill_age:
            problems[row.id] = "fetched too long ago: fetch it again"
        elif row.fetch_item_id != row.latest_fetch_item:
            problems[row.id] = "a newer fetch of this account no longer lists it: fetch it again"
    keys = {
        row.id: live_bill_key(row.utility_code, row.consumer_id, row.bill_number) for row in rows
    }
    by_key: dict[str, list[int]] = {}
    for bill_id, key in keys.items():
        by_key.setdefault(key, []).append(bill_id)
    for key_chunk in chunks(list(by_key)):
        for taken in conn.execute(
            select(payments.c.live_bill_key, payments.c.reference_id).where(
                payments.c.live_bill_key.in_(key_chunk)
            )
        ):
            for bill_id in by_key.get(taken.live_bill_key, ()):
                problems[bill_id] = f"already in live payment {taken.reference_id}"
    for same in by_key.values():
        for bill_id in sorted(same)[1:]:
            problems[bill_id] = "the same bill is selected twice"
    totals = {
        row.id: bill_total(row.amount, row.service_charge, row.pays_service_charge) for row in rows
    }
    return Examined(rows, keys, totals, problems)


__all__ = ["Examined", "examine", "latest_successful_fetch"]
