"""The message envelope every service speaks, and the registry of body schemas.

Every message on the broker is one JSON object::

    {"message_id": "…uuid…", "type": "command.pay", "version": 1,
     "correlation_id": "…", "occurred_at": "2026-11-25T18:50:38.868935Z", "body": {…}}

with the AMQP properties ``message_id``, ``type``, ``correlation_id``,
``content_type=application/json``, ``delivery_mode=2`` and ``headers={"version": N}`` mirroring
it (so tools see them without parsing the body). The JSON is the authority; the properties
are a convenience.

Bodies are validated against a marshmallow schema registered per ``(type, version)``: the
producer validates before the message is written (a bug fails the business transaction,
not a consumer far away), the consumer validates again before its handler runs. Anything
that does not fit raises :class:`InvalidMessage`, which the consumer dead-letters at once —
a message that can never be understood must not loop through redeliveries.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec
from marshmallow import Schema, ValidationError

from bbp_common.platform.logging import get_correlation_id, new_correlation_id

CONTENT_TYPE = "application/json"
#: The one topic exchange every message is published to, and its dead-letter exchange
#: (``docs/messages.md``). Names, not connections: writers of outbox rows need them too.
EXCHANGE = "bbp"
DEAD_LETTER_EXCHANGE = "bbp.dlx"
PERSISTENT = 2
MESSAGE_ID_MAX = 36  # outbox.message_id and processed_messages.message_id are VARCHAR(36)
#: The envelope's fields on the wire, in the order written (every one is required on reading).
_ENVELOPE_FIELDS = ("message_id", "type", "version", "correlation_id", "occurred_at", "body")
_ENVELOPE_KEYS = frozenset(_ENVELOPE_FIELDS)


class InvalidMessage(Exception):
    """A message that can never be handled: bad JSON, unknown type/version, invalid body.

    Raised by :func:`decode`/:meth:`MessageRegistry.load_body`, and by handlers that find a
    message semantically impossible; the consumer dead-letters it without retrying.
    """

    def __init__(self, reason: str, errors: Any = None) -> None:
        self.reason = reason
        self.errors = errors
        super().__init__(reason if errors is None else f"{reason}: {errors}")


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def format_time(value: datetime) -> str:
    """Naive-UTC (or aware) datetime → ``2026-11-25T18:50:38.868935Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def parse_time(value: str) -> datetime:
    """``…Z`` or ``…+00:00`` ISO 8601 → naive UTC datetime (the form our columns hold)."""
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("occurred_at must carry a UTC offset or Z")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _json_default(value: Any) -> Any:
    # A safety net for values a schema left as Python objects; schemas should use
    # ``fields.Decimal(as_string=True)`` so money never becomes a float.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message: identity, type and version, correlation id, time, and its body."""

    message_id: str
    type: str
    version: int
    correlation_id: str
    occurred_at: datetime
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        message_type: str,
        body: Mapping[str, Any],
        *,
        version: int,
        message_id: str | None = None,
        correlation_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Envelope:
        """An envelope with a fresh id; the correlation id defaults to the current one."""
        if not message_type:
            raise ValueError("message_type is required")
        if version < 1:
            raise ValueError("version must be >= 1")
        mid = message_id or str(uuid.uuid4())
        if len(mid) > MESSAGE_ID_MAX:
            raise ValueError(f"message_id longer than {MESSAGE_ID_MAX} characters")
        return cls(
            message_id=mid,
            type=message_type,
            version=version,
            correlation_id=correlation_id or get_correlation_id() or new_correlation_id(),
            occurred_at=occurred_at or _utcnow(),
            body=dict(body),
        )

    def to_dict(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in _ENVELOPE_FIELDS}
        fields["occurred_at"] = format_time(self.occurred_at)
        return fields

    def to_json(self) -> bytes:
        return json.dumps(
            self.to_dict(), default=_json_default, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str) -> Envelope:
        """Parse and check the envelope's structure (not the body's schema)."""
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidMessage("not JSON", str(exc)) from None
        if not isinstance(raw, dict):
            raise InvalidMessage("the envelope is not a JSON object")
        missing = sorted(_ENVELOPE_KEYS - raw.keys())
        if missing:
            raise InvalidMessage("envelope fields missing", missing)
        mid, mtype, version, cid = (
            raw["message_id"],
            raw["type"],
            raw["version"],
            raw["correlation_id"],
        )
        if not isinstance(mid, str) or not mid or len(mid) > MESSAGE_ID_MAX:
            raise InvalidMessage("message_id must be a string of 1–36 characters")
        if not isinstance(mtype, str) or not mtype:
            raise InvalidMessage("type must be a non-empty string")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise InvalidMessage("version must be a positive integer")
        if not isinstance(cid, str) or not cid:
            raise InvalidMessage("correlation_id must be a non-empty string")
        if not isinstance(raw["body"], dict):
            raise InvalidMessage("body must be a JSON object")
        try:
            occurred_at = parse_time(raw["occurred_at"])
        except (TypeError, ValueError, AttributeError):
            raise InvalidMessage("occurred_at must be an ISO 8601 UTC time") from None
        return cls(mid, mtype, version, cid, occurred_at, raw["body"])


S = TypeVar("S", bound=type[Schema])


class MessageRegistry:
    """Body schemas by ``(type, version)``; both ends of a queue use the same registration.

    A schema is a marshmallow ``Schema`` or a msgspec ``Struct`` type (the hot batch
    messages: validated and converted in C). Either way a handler gets a plain dict whose
    values have their Python types (``datetime``, ``Decimal``, enums).
    """

    def __init__(self) -> None:
        self._schemas: dict[tuple[str, int], Any] = {}
        self._lock = threading.Lock()

    def register(self, message_type: str, version: int, schema: Any) -> None:
        """Add a schema; the same class again is harmless, a different one is an error."""
        if isinstance(schema, type) and issubclass(schema, msgspec.Struct):
            key = (message_type, version)
            with self._lock:
                existing = self._schemas.get(key)
                if existing is not None and existing is not schema:
                    raise ValueError(f"{message_type} v{version} is already registered")
                self._schemas[key] = schema
            return
        instance = schema() if isinstance(schema, type) else schema
        key = (message_type, version)
        with self._lock:
            existing = self._schemas.get(key)
            if existing is not None and type(existing) is not type(instance):
                raise ValueError(f"{message_type} v{version} is already registered")
            self._schemas[key] = instance

    def __contains__(self, key: tuple[str, int]) -> bool:
        return key in self._schemas

    def known(self) -> list[tuple[str, int]]:
        return sorted(self._schemas)

    def schema_for(self, message_type: str, version: int) -> Any:
        try:
            return self._schemas[(message_type, version)]
        except KeyError:
            raise InvalidMessage(
                f"unknown message type {message_type!r} version {version}"
            ) from None

    def load_body(self, message_type: str, version: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and deserialise a received body (consumer side)."""
        schema = self.schema_for(message_type, version)
        if isinstance(schema, type):
            try:
                return _plain(msgspec.convert(body, schema))  # type: ignore[no-any-return]
            except msgspec.ValidationError as exc:
                raise InvalidMessage(
                    f"invalid body for {message_type} v{version}", str(exc)
                ) from None
        try:
            return dict(schema.load(body))
        except ValidationError as exc:
            raise InvalidMessage(
                f"invalid body for {message_type} v{version}", exc.messages
            ) from None

    def dump_body(self, message_type: str, version: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """Serialise a body for the wire and prove the consumer will load it (producer side)."""
        schema = self.schema_for(message_type, version)
        if isinstance(schema, type):
            try:
                data = msgspec.to_builtins(msgspec.convert(body, schema, from_attributes=True))
            except (msgspec.ValidationError, TypeError, ValueError) as exc:
                raise InvalidMessage(
                    f"invalid body for {message_type} v{version}", str(exc)
                ) from None
            return data  # type: ignore[no-any-return]
        try:
            data = dict(schema.dump(body))
            schema.load(data)
        except ValidationError as exc:
            raise InvalidMessage(
                f"invalid body for {message_type} v{version}", exc.messages
            ) from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidMessage(
                f"body of {message_type} v{version} cannot be dumped", str(exc)
            ) from None
        return data


def _plain(value: Any) -> Any:
    """A converted Struct as nested dicts and lists, field values kept as they are."""
    if isinstance(value, msgspec.Struct):
        return {f: _plain(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


default_registry = MessageRegistry()
"""The process-wide registry; message modules register their schemas here at import."""


def message_schema(
    message_type: str, version: int, *, into: MessageRegistry | None = None
) -> Callable[[S], S]:
    """Class decorator: ``@message_schema("command.pay", 1) class PayV1(Schema): …``."""

    def decorate(cls: S) -> S:
        (into or default_registry).register(message_type, version, cls)
        return cls

    return decorate


def build(
    message_type: str,
    body: Mapping[str, Any],
    *,
    version: int,
    message_id: str | None = None,
    correlation_id: str | None = None,
    registry: MessageRegistry | None = None,
) -> Envelope:
    """A validated envelope ready to publish (or to store in the outbox)."""
    data = (registry or default_registry).dump_body(message_type, version, body)
    return Envelope.new(
        message_type, data, version=version, message_id=message_id, correlation_id=correlation_id
    )


def decode(data: bytes | str, registry: MessageRegistry | None = None) -> Envelope:
    """A received message → envelope with its body validated and deserialised."""
    envelope = Envelope.from_json(data)
    body = (registry or default_registry).load_body(envelope.type, envelope.version, envelope.body)
    return Envelope(
        envelope.message_id,
        envelope.type,
        envelope.version,
        envelope.correlation_id,
        envelope.occurred_at,
        body,
    )
