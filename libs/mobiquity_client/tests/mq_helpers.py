"""Helpers shared by the unit and contract tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import mq_doc

from mobiquity_client import BillPayment, MobiquityClient

BASE = "http://mobiquity.test"
CLIENT_ID = "bbp-client"
CLIENT_SECRET = "client-secret-XYZ"
MPIN = "97531"

#: contract tests: the sandbox's slow faults sleep SLOW_SECONDS, past the READ_TIMEOUT
SLOW_SECONDS = 3
READ_TIMEOUT = 1.0


class SleepRecorder:
    """Stands in for time.sleep in RetryPolicy: records the waits, never sleeps."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def payment(reference: str = mq_doc.REFERENCE, **kw: Any) -> BillPayment:
    values: dict[str, Any] = {
        "reference": reference,
        "biller_code": "DSCO",
        "biller_name": "DSCO",
        "consumer_id": "17021270",
        "bill_number": "012331291314",
        "amount": Decimal("110.00"),
        "receiver_wallet": "01788886666",
        "receiver_product_id": 12,
    }
    values.update(kw)
    return BillPayment(**values)


def calls_to(rsps: Any, path: str) -> list[Any]:
    """The calls a ``responses`` mock received for a path."""
    return [c for c in rsps.calls if c.request.url.split("?")[0].endswith(path)]


def sent_body(rsps: Any, path: str) -> dict[str, Any]:
    """The JSON body of the one call made to ``path`` (numbers with a fraction as Decimal)."""
    (call,) = calls_to(rsps, path)
    body = json.loads(call.request.body, parse_float=Decimal)
    assert isinstance(body, dict)
    return body


@contextmanager
def client_maker(
    base_url: str, client_id: str, client_secret: str, **defaults: Any
) -> Iterator[Callable[..., MobiquityClient]]:
    """Makes clients of these credentials with ``defaults`` (a test's own keywords, and its
    ``base_url``, win); every client made is closed at the end."""
    made: list[MobiquityClient] = []

    def make(base_url: str = base_url, **kw: Any) -> MobiquityClient:
        client = MobiquityClient(base_url, client_id, client_secret, **{**defaults, **kw})
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
