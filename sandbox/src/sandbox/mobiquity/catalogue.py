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


BILLERS: tuple[Biller, ...] = (
    Biller(
        code="DSCO",
        biller_code="DSCO",
        name="DSCO Electricity",
        receiver_msisdn="01788880001",
        product_id=12,
        fetchable=True,
        add_service_charge=False,
        bill_number_digits=12,
    ),
    Biller(
        code="DESCO",
        biller_code="DESCO",
        name="Dhaka Electric Supply Company",
        receiver_msisdn="01788880002",
        product_id=12,
        fetchable=True,
        add_service_charge=True,
        bill_number_digits=12,
    ),
    Biller(
        code="JGDCL",
        biller_code="JGDCL",
        name="Jalalabad Gas T&D",
        receiver_msisdn="01788880003",
        product_id=12,
        fetchable=True,
        add_service_charge=False,
        bill_number_digits=16,
    ),
    # The scope document's billpay example pays TTAS to 01788886666 with productId 12.
    Biller(
        code="TTAS",
        biller_code="TTAS",
        name="Titas Gas T&D",
        receiver_msisdn="01788886666",
        product_id=12,
        fetchable=False,
        add_service_charge=False,
        bill_number_digits=12,
    ),
)

_BY_CODE = {b.code: b for b in BILLERS}
_BY_BILLER_CODE = {b.biller_code: b for b in BILLERS}


def by_utility(code: str | None) -> Biller | None:
    """The biller a fetch's `utility` names, or None."""
    return _BY_CODE.get(code or "")


def by_biller_code(code: str | None) -> Biller | None:
    """The biller a billpay's `partnerData.billerCode` names, or None."""
    return _BY_BILLER_CODE.get(code or "")
