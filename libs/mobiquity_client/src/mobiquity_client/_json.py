"""JSON in and out without ever passing money through a binary float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def loads(data: bytes | str) -> Any:
    """Parse JSON; every number with a fraction or exponent becomes a ``Decimal``."""
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)


def dumps(value: Any) -> str:
    """Serialise to compact JSON; a ``Decimal`` is written as a plain JSON number.

    The standard encoder cannot write a ``Decimal`` as a number, and converting it to ``float``
    first could change the amount. Our bodies are small trees of dict/list/str/int/bool/None/
    Decimal, so a short recursive writer is exact and clear.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a non-finite Decimal cannot be sent")
        return format(value, "f")
    if isinstance(value, float):
        raise TypeError("floats are not sent to Mobiquity; use Decimal or int")
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(json.dumps(str(key)) + ":" + dumps(item) for key, item in value.items())
            + "}"
        )
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)
