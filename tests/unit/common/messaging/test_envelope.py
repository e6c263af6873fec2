"""The envelope and the schema registry, without a broker."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import pytest
from marshmallow import Schema, fields

from bbp_common.platform.envelope import (
    Envelope,
    InvalidMessage,
    MessageRegistry,
    build,
    decode,
    format_time,
    message_schema,
    parse_time,
)
from bbp_common.platform.logging import correlation
from bbp_common.platform.messaging.publisher import properties_of


@pytest.fixture()
def registry() -> MessageRegistry:
    reg = MessageRegistry()

    @message_schema("command.pay", 1, into=reg)
    class PayV1(Schema):
        reference_id = fields.String(required=True)
        amount = fields.Decimal(as_string=True, places=2, required=True)

    return reg


def pay(registry: MessageRegistry, **kwargs: object) -> Envelope:
    body = {"reference_id": "REF1", "amount": Decimal("1250.50")}
    return build("command.pay", body, version=1, registry=registry, **kwargs)  # type: ignore[arg-type]


def test_an_envelope_round_trips_through_json_with_money_as_a_string(
    registry: MessageRegistry,
) -> None:
    envelope = pay(registry)
    wire = json.loads(envelope.to_json())
    assert set(wire) == {"message_id", "type", "version", "correlation_id", "occurred_at", "body"}
    assert wire["body"] == {"reference_id": "REF1", "amount": "1250.50"}
    assert wire["occurred_at"].endswith("Z")

    received = decode(envelope.to_json(), registry)
    assert received.body == {"reference_id": "REF1", "amount": Decimal("1250.50")}
    assert (received.message_id, received.type, received.version) == (
        envelope.message_id,
        "command.pay",
        1,
    )
    assert received.occurred_at == envelope.occurred_at
    assert received.occurred_at.tzinfo is None  # naive UTC, like the columns


def test_the_amqp_properties_mirror_the_envelope(registry: MessageRegistry) -> None:
    envelope = pay(registry, correlation_id="c-1")
    props = properties_of(envelope)
    assert props.message_id == envelope.message_id
    assert props.type == "command.pay"
    assert props.correlation_id == "c-1"
    assert props.content_type == "application/json"
    assert props.delivery_mode == 2
    assert props.headers == {"version": 1}


def test_the_correlation_id_comes_from_the_context_or_is_new(registry: MessageRegistry) -> None:
    with correlation("from-the-request"):
        assert pay(registry).correlation_id == "from-the-request"
    first, second = pay(registry), pay(registry)
    assert first.correlation_id and first.correlation_id != second.correlation_id
    assert first.message_id != second.message_id


def test_an_invalid_body_is_refused_on_the_producer_side(registry: MessageRegistry) -> None:
    with pytest.raises(InvalidMessage, match="invalid body") as err:
        build("command.pay", {"reference_id": "REF1"}, version=1, registry=registry)
    assert "amount" in err.value.errors
    with pytest.raises(InvalidMessage, match="unknown message type"):
        build("command.pay", {}, version=2, registry=registry)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"type": "command.unknown"}, "unknown message type"),
        ({"version": 2}, "unknown message type"),
        ({"body": {"reference_id": "REF1", "amount": "lots"}}, "invalid body"),
        ({"body": {"reference_id": "REF1", "amount": "1.00", "extra": 1}}, "invalid body"),
        ({"body": []}, "body must be a JSON object"),
        ({"version": "1"}, "version"),
        ({"version": True}, "version"),
        ({"version": 0}, "version"),
        ({"message_id": ""}, "message_id"),
        ({"message_id": "x" * 37}, "message_id"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-25T10:00:00"}, "occurred_at"),  # no zone: ambiguous
        ({"correlation_id": None}, "correlation_id"),
    ],
)
def test_what_a_consumer_cannot_understand_is_invalid(
    registry: MessageRegistry, change: dict[str, object], reason: str
) -> None:
    wire = {**json.loads(pay(registry).to_json()), **change}
    with pytest.raises(InvalidMessage, match=reason):
        decode(json.dumps(wire).encode(), registry)


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'{"type": "command.pay"}', b"\xff"])
def test_malformed_envelopes_are_invalid(registry: MessageRegistry, data: bytes) -> None:
    with pytest.raises(InvalidMessage):
        decode(data, registry)


def test_registering_the_same_schema_twice_is_harmless_another_one_is_an_error(
    registry: MessageRegistry,
) -> None:
    class Other(Schema):
        x = fields.Integer()

    schema_class = type(registry.schema_for("command.pay", 1))
    registry.register("command.pay", 1, schema_class)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("command.pay", 1, Other)
    registry.register("command.pay", 2, Other)
    assert registry.known() == [("command.pay", 1), ("command.pay", 2)]
    assert ("command.pay", 2) in registry


def test_times_are_utc_with_a_z() -> None:
    assert format_time(datetime(2026, 11, 25, 18, 50, 38, 868935)) == "2026-11-25T18:50:38.868935Z"
    assert parse_time("2026-11-25T20:50:38.868935+02:00") == datetime(
        2026, 11, 25, 18, 50, 38, 868935
    )


def test_envelope_new_checks_its_arguments() -> None:
    with pytest.raises(ValueError):
        Envelope.new("", {}, version=1)
    with pytest.raises(ValueError):
        Envelope.new("t", {}, version=0)
    with pytest.raises(ValueError):
        Envelope.new("t", {}, version=1, message_id="m" * 37)
