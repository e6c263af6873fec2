"""The biller catalogue: the one place where the sandbox's billers are defined.

`GET /__sandbox__/billers` serves this data so that `make run` can seed our own biller table
from the same rows the sandbox validates billpay calls against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Biller:
    """One biller as Mobiquity knows it (open point 4: deployment data, invented here)."""

    code: str
    """The `utility` of fetchPendingBillsFormAggregator."""
    biller_code: str
    """`partnerData.billerCode` of billpay."""
    name: str
    receiver_msisdn: str
    """The biller's wallet: billpay `receiver.idValue`."""
    product_id: int
    """Billpay `receiver.productId` (and the payment instrument's `productId`)."""
    fetchable: bool
    """False: fetch answers 403 and billpay takes any bill number and amount (open amount)."""
    add_service_charge: bool
    """Suggestion for our own catalogue: pay `amount + service_charge` for this biller."""
    bill_number_digits: int

    def to_json(self) -> dict[str, Any]:
        """The catalogue row as served by the control API."""
        return asdict(self)


#: One biller a row, the fields in Biller's order: code, biller code, name, receiver wallet,
#: product id, fetchable, add service charge, bill number digits.
BILLERS: tuple[Biller, ...] = (
    Biller("DSCO", "DSCO", "DSCO Electricity", "01788880001", 12, True, False, 12),
    Biller("DESCO", "DESCO", "Dhaka Electric Supply Company", "01788880002", 12, True, True, 12),
    Biller("JGDCL", "JGDCL", "Jalalabad Gas T&D", "01788880003", 12, True, False, 16),
    # The scope document's billpay example pays TTAS to 01788886666 with productId 12.
    Biller("TTAS", "TTAS", "Titas Gas T&D", "01788886666", 12, False, False, 12),
)

_BY_CODE = {b.code: b for b in BILLERS}
_BY_BILLER_CODE = {b.biller_code: b for b in BILLERS}


def by_utility(code: str | None) -> Biller | None:
    """The biller a fetch's `utility` names, or None."""
    return _BY_CODE.get(code or "")


def by_biller_code(code: str | None) -> Biller | None:
    """The biller a billpay's `partnerData.billerCode` names, or None."""
    return _BY_BILLER_CODE.get(code or "")
