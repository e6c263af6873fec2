"""What the sandbox's own tests send it: the scope document's billpay payload, for one bill.

The sandbox's unit tests (Flask test client) and its integration tests (HTTP) build the same
body; the receivers are the sandbox catalogue's wallets (``sandbox.mobiquity.catalogue``).
"""

from __future__ import annotations

from typing import Any

from sandbox.mobiquity.catalogue import BILLERS

RECEIVERS = {b.code: b.receiver_msisdn for b in BILLERS}


def billpay_body(
    utility: str,
    consumer_id: str,
    bill: dict[str, Any],
    reference: str | None,
    *,
    msisdn: str = "01755555555",
    mpin: Any = 13579,
    amount: Any = None,
) -> dict[str, Any]:
    """The billpay body paying ``bill`` (of a fetch's ``bill_list``) from the wallet
    ``msisdn``; without ``externalReferenceId`` when ``reference`` is None."""
    body: dict[str, Any] = {
        "bearerCode": "MOBILE",
        "currency": 101,
        "initiator": "sender",
        "language": "en",
        "partnerData": {
            "billAccountNumber": consumer_id,
            "billNumber": bill["bill_number"],
            "billerName": utility,
            "billerCode": utility,
        },
        "receiver": {"idType": "mobileNumber", "idValue": RECEIVERS[utility], "productId": 12},
        "remarks": reference,
        "sender": {
            "idType": "mobileNumber",
            "idValue": msisdn,
            "mpin": mpin,
            "paymentInstruments": [
                {
                    "instrumentType": "WALLET",
                    "amount": bill["amount"] if amount is None else amount,
                    "productId": 12,
                }
            ],
            "userRole": "Channel",
        },
        "serviceFlowId": "BILLPAYOAP",
    }
    if reference is not None:
        body["externalReferenceId"] = reference
    return body
