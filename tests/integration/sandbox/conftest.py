"""The real sandbox (gunicorn, gthread, keep-alive) in a subprocess on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.testing import RunningSandbox, run_sandbox

RECEIVERS = {"DSCO": "01788880001", "DESCO": "01788880002", "JGDCL": "01788880003"}


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[RunningSandbox]:
    with run_sandbox() as running:
        yield running


@pytest.fixture
def sb(sandbox_server: RunningSandbox) -> RunningSandbox:
    sandbox_server.reset()
    return sandbox_server


class Mobiquity:
    """A minimal requests-based caller (the real client library lives in libs/)."""

    def __init__(self, sb: RunningSandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        resp = self.session.post(
            f"{sb.base_url}/mobiquitypay/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(sb.client_id, sb.client_secret),
            timeout=5,
        )
        resp.raise_for_status()
        self.headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def fetch(self, utility: str, consumer_id: str) -> list[dict[str, Any]]:
        resp = self.session.post(
            f"{self.sb.base_url}/extensibility/fetchPendingBillsFormAggregator",
            json={
                "utility": utility,
                "consumer_id": consumer_id,
                "thirdParty": "aggregator",
                "params": {"MOB_NO": "9810036587"},
            },
            headers=self.headers,
            timeout=5,
        )
        resp.raise_for_status()
        return list(resp.json()["bill_list"])

    def pay_body(
        self, utility: str, consumer_id: str, bill: dict[str, Any], reference: str
    ) -> dict[str, Any]:
        return {
            "bearerCode": "MOBILE",
            "currency": 101,
            "externalReferenceId": reference,
            "remarks": reference,
            "initiator": "sender",
            "language": "en",
            "partnerData": {
                "billAccountNumber": consumer_id,
                "billNumber": bill["bill_number"],
                "billerName": utility,
                "billerCode": utility,
            },
            "receiver": {"idType": "mobileNumber", "idValue": RECEIVERS[utility], "productId": 12},
            "sender": {
                "idType": "mobileNumber",
                "idValue": self.sb.payer_msisdn,
                "mpin": self.sb.payer_mpin,
                "paymentInstruments": [
                    {"instrumentType": "WALLET", "amount": bill["amount"], "productId": 12}
                ],
                "userRole": "Channel",
            },
            "serviceFlowId": "BILLPAYOAP",
        }

    def pay(
        self,
        utility: str,
        consumer_id: str,
        bill: dict[str, Any],
        reference: str,
        timeout: float = 5,
        session: requests.Session | None = None,
    ) -> requests.Response:
        return (session or self.session).post(
            f"{self.sb.base_url}/jigsaw/v1/order/billpay",
            json=self.pay_body(utility, consumer_id, bill, reference),
            headers=self.headers,
            timeout=timeout,
        )

    def enquire(self, reference: str, timeout: float = 5) -> requests.Response:
        return self.session.get(
            f"{self.sb.base_url}/jigsaw/v1/order/enquiry/{reference}",
            headers=self.headers,
            timeout=timeout,
        )


@pytest.fixture
def mob(sb: RunningSandbox) -> Mobiquity:
    return Mobiquity(sb)
