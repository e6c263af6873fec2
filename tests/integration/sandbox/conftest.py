"""The real sandbox (gunicorn, gthread, keep-alive) in a subprocess on a free port."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from sandbox.testing import RunningSandbox
from tests.support.sandbox_calls import billpay_body


@pytest.fixture
def sb(sandbox: RunningSandbox) -> RunningSandbox:
    """The test worker's sandbox (``tests.support.portal``), reset."""
    return sandbox


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
        payer = {"msisdn": self.sb.payer_msisdn, "mpin": self.sb.payer_mpin}
        return billpay_body(utility, consumer_id, bill, reference, **payer)

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
