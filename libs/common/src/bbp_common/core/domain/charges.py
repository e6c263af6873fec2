"""The service charge paid with a bill: one rule for every page, export, e-mail and the
scheduler (issue 17, item 6; decisions.md, open point 10). Free of I/O."""

from __future__ import annotations

from decimal import Decimal

#: No service charge, in money's two places (an API answer says "0.00", as the pages do).
NONE = Decimal("0.00")


def service_charge_paid(service_charge: Decimal, biller_pays: bool) -> Decimal:
    """The service charge paid with a bill: **the one rule** every page, export, e-mail and
    the scheduler use (decisions.md, open point 10).

    Mobiquity's fetch reports a ``service_charge`` for some bills, but only a biller whose
    catalogue row says ``pays_service_charge`` takes it with the bill; for the others it is
    not charged to the payer (the biller charges none, or it is included in the amount), so
    we pay — and every page shows — 0.00. Linear in the charge, so it may be applied to a
    biller's sum of charges as well as to one bill's."""
    return service_charge if biller_pays else NONE


def bill_total(amount: Decimal, service_charge: Decimal, biller_pays: bool) -> Decimal:
    """What paying a bill sends: its amount plus :func:`service_charge_paid`."""
    return amount + service_charge_paid(service_charge, biller_pays)


__all__ = ["NONE", "bill_total", "service_charge_paid"]
