"""Input values, settings and helpers: validated early, money never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mq_helpers import payment

from mobiquity_client import (
    AuthPolicy,
    BillpaySettings,
    ConfigurationError,
    DeviceInfo,
    Endpoint,
    EnquiryContract,
    MobiquityClient,
    Paths,
    PayerWallet,
    RetryPolicy,
    Timeouts,
    _json,
    effective_status,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "amount",
    [110.0, Decimal("0"), Decimal("-1"), Decimal("1.001"), Decimal("NaN"), Decimal("Infinity")],
)
def test_bad_amounts_are_refused(amount: Any) -> None:
    with pytest.raises(ConfigurationError):
        payment(amount=amount)


@pytest.mark.parametrize("amount", [Decimal("1"), Decimal("110.5"), Decimal("1E+2")])
def test_good_amounts(amount: Decimal) -> None:
    assert payment(amount=amount).amount == amount


@pytest.mark.parametrize("reference", ["", "has space", "x" * 65, "é"])
def test_bad_references_are_refused(reference: str) -> None:
    with pytest.raises(ConfigurationError):
        payment(reference)


@pytest.mark.parametrize("field", ["biller_code", "consumer_id", "bill_number", "receiver_wallet"])
def test_mandatory_payment_fields(field: str) -> None:
    with pytest.raises(ConfigurationError):
        payment(**{field: ""})


def test_device_info_limits() -> None:
    with pytest.raises(ConfigurationError):
        DeviceInfo(device_id="")
    with pytest.raises(ConfigurationError):
        DeviceInfo(device_id="d", browser="b" * 51)
    assert DeviceInfo(device_id="d", browser="b" * 50).to_body()["browser"] == "b" * 50
    assert DeviceInfo(device_id="d", is_public_device=True).to_body()["isPublicDevice"] == "Y"


def test_payer_wallet_needs_an_mpin() -> None:
    with pytest.raises(ConfigurationError):
        PayerWallet("01755555555", "")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Timeouts(connect=0),
        lambda: RetryPolicy(attempts=0),
        lambda: RetryPolicy(backoff_initial=-1),
        lambda: Paths(fetch="no-slash"),
        lambda: AuthPolicy(system_token_for=frozenset({Endpoint.TOKEN})),
        lambda: EnquiryContract(method="DELETE"),
        lambda: BillpaySettings(amount_format="float"),
        lambda: MobiquityClient("ftp://x", "a", "b"),
        lambda: MobiquityClient("mobiquity.test", "a", "b"),
        lambda: MobiquityClient("http://x", "", "b"),
        lambda: MobiquityClient("http://x", "a", "b", pool_size=0),
    ],
)
def test_bad_settings_are_refused(make: Any) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_retry_policy_none_is_one_attempt() -> None:
    assert RetryPolicy.none().attempts == 1


def test_json_writes_decimals_exactly_and_refuses_floats() -> None:
    assert _json.dumps({"a": Decimal("0.10"), "b": [1, "x", None, True]}) == (
        '{"a":0.10,"b":[1,"x",null,true]}'
    )
    with pytest.raises(TypeError):
        _json.dumps({"a": 0.1})
    with pytest.raises(ValueError):
        _json.dumps(Decimal("NaN"))


def test_json_reads_fractions_as_decimals() -> None:
    assert _json.loads('{"a": 0.1, "b": 2}') == {"a": Decimal("0.1"), "b": 2}
    with pytest.raises(ValueError):
        _json.loads('{"a": NaN}')


@pytest.mark.parametrize(
    ("http_status", "body", "expected"),
    [
        (200, {"code": 422, "message": "Consumer Id can not be empty"}, 422),
        (200, {"status": 403, "message": "not applicable"}, 403),
        (200, {"httpErrorCode": "400", "status": "FAILED"}, 400),
        (200, {"code": "process.fulfilment"}, 200),
        (200, {"code": 200}, 200),
        (200, {"status": True}, 200),
        (200, None, 200),
        (500, {"code": 200}, 500),  # a non-2xx HTTP status is never overridden
        (400, {"httpErrorCode": "500"}, 400),
    ],
)
def test_effective_status(http_status: int, body: Any, expected: int) -> None:
    assert effective_status(http_status, body) == expected


def test_client_repr_shows_no_secret() -> None:
    client = MobiquityClient("http://x", "the-id", "the-secret")
    assert "the-secret" not in repr(client)
    assert "the-id" in repr(client)
