"""Deterministic pending bills: computed from (utility, consumer id, index), never stored.

So 100 000 consumer accounts cost nothing, and a test can know the bills of any account
without asking the sandbox. Rules (docs/decisions.md):

* the consumer id's last digit decides how many bills: `0` → none; `1` → one bill with
  `detail: null` and `due_date: null`; any other digit d → `(d % 3) + 1` bills with `detail`.
  A consumer id that does not end in a digit uses a digit taken from its hash.
* amount, service charge, bill number and the detail figures come from
  sha256("<utility>|<consumer id>|<index>"); they never change.
* dates are counted back from the current month (bill 0 is last month's), so a demo always
  shows recent bills; only they move, once a month.

Amounts are 100.00 to 5000.00 BDT. As in the scope document's example (110 = 100 + 10 VAT, LPC
10 not included), `amount` = detail `amount` + `vat`; `lpc` is shown but not included, so a
client that recomputes the amount from `detail` is caught (open point 10).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox.mobiquity.catalogue import Biller

SERVICE_CHARGES = (Decimal("5.00"), Decimal("10.00"), Decimal("15.00"))


@dataclass(frozen=True)
class Bill:
    """One pending bill as fetchPendingBillsFormAggregator lists it."""

    utility: str
    consumer_id: str
    index: int
    bill_number: str
    amount: Decimal
    service_charge: Decimal
    due_date: date | None
    detail: dict[str, str] | None

    def to_json(self) -> dict[str, Any]:
        """The `bill_list` item, numbers as JSON numbers like the document's example."""
        return {
            "bill_number": self.bill_number,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "amount": float(self.amount),
            "service_charge": float(self.service_charge),
            "detail": dict(self.detail) if self.detail is not None else None,
        }


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _decision_digit(consumer_id: str) -> int:
    last = consumer_id[-1:]
    if last.isdigit() and last.isascii():
        return int(last)
    return _digest("digit", consumer_id)[0] % 10


def bill_count(consumer_id: str) -> int:
    """How many bills the account has in total (paid ones included)."""
    if not consumer_id:
        return 0
    digit = _decision_digit(consumer_id)
    if digit == 0:
        return 0
    if digit == 1:
        return 1
    return digit % 3 + 1


def _months_back(today: date, months: int, day: int) -> date:
    total = today.year * 12 + (today.month - 1) - months
    return date(total // 12, total % 12 + 1, day)


def _dmy(day: date) -> str:
    return f"{day.day:02d}-{day.month:02d}-{day.year}"


def _decimal(paisa: int) -> Decimal:
    return Decimal(paisa).scaleb(-2)


def _number_text(paisa: int) -> str:
    """Detail figures as the document writes them ("100.0"): strings, like Java's Double."""
    return repr(paisa / 100)


def make_bill(biller: Biller, consumer_id: str, index: int, today: date | None = None) -> Bill:
    """Bill `index` of an account; the same inputs give the same bill number and amounts.

    Integer paisa throughout (cheap: fetch is the sandbox's hottest call).
    """
    h = _digest(biller.code, consumer_id, index)
    total = 10_000 + _int(h[0:4]) % 490_001
    vat = (total * 5 * 2 + 105) // (105 * 2)  # total * 5 / 105, rounded half up
    principal = total - vat
    lpc = (principal * 2 + 50) // 100 if h[4] % 3 == 0 else 0
    service_charge = SERVICE_CHARGES[h[6] % 3] if h[5] % 3 == 0 else Decimal("0.00")
    tail_digits = biller.bill_number_digits - 2
    bill_number = f"{index + 1:02d}{_int(h[8:16]) % 10**tail_digits:0{tail_digits}d}"
    amount = _decimal(total)
    if bill_count(consumer_id) == 1:
        return Bill(
            biller.code, consumer_id, index, bill_number, amount, service_charge, None, None
        )
    today = today or datetime.now(UTC).date()
    issue = _months_back(today, index + 1, 1 + h[21] % 28)
    due = issue + timedelta(days=20 + h[22] % 11)
    month = f"{issue.month:02d}" if h[23] % 2 == 0 else str(issue.month)
    account_no = f"{_int(_digest('account', biller.code, consumer_id)[:8]) % 10**8:08d}"
    detail = {
        "accountNo": account_no,
        "billNo": bill_number,
        "billMonth": month,
        "billYear": str(issue.year),
        "totalKwh": str(50 + _int(h[24:26]) % 950),
        "amount": _number_text(principal),
        "lpc": _number_text(lpc),
        "vat": _number_text(vat),
        "issueDate": _dmy(issue),
        "dueDate": _dmy(due),
        "paymentStatus": "UNPAID",
    }
    return Bill(biller.code, consumer_id, index, bill_number, amount, service_charge, due, detail)


def bills_for(biller: Biller, consumer_id: str, today: date | None = None) -> list[Bill]:
    """Every bill of the account, paid or not, newest first."""
    today = today or datetime.now(UTC).date()
    return [make_bill(biller, consumer_id, i, today) for i in range(bill_count(consumer_id))]


def find_bill(biller: Biller, consumer_id: str, bill_number: str) -> Bill | None:
    """The account's bill with that number, or None.

    A bill number starts with its index + 1 ("01", "02", …), so only that bill is built.
    """
    prefix = bill_number[:2]
    if not (prefix.isascii() and prefix.isdigit()):
        return None
    index = int(prefix) - 1
    if not 0 <= index < bill_count(consumer_id):
        return None
    bill = make_bill(biller, consumer_id, index)
    return bill if bill.bill_number == bill_number else None
