"""JSON in and out without ever passing money through a binary float."""

from __future__ import annotations

import json
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

_CONSTANTS = {True: "true", False: "false", None: "null"}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def loads(data: bytes | str) -> Any:
    """Parse JSON; every number with a fraction or exponent becomes a ``Decimal``."""
    return json.loads(data, parse_float=Decimal, parse_constant=_reject_constant)


def dumps(value: Any) -> str:
    """Serialise to compact JSON; a ``Decimal`` is written as a plain JSON number.

    The standard encoder cannot write a ``Decimal`` as a number, and converting it to ``float``
    first could change the amount. Our bodies are small trees of dict/list/str/int/bool/None/
    Decimal, so a short recursive writer is exact and clear. Strings go through the standard
    encoder's own escaping (``ensure_ascii``), as ``json.dumps`` writes them.
    """
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(encode_basestring_ascii(value))
    elif kind is dict:
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            out.append(encode_basestring_ascii(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif value is None or kind is bool:
        out.append(_CONSTANTS[value])
    elif kind is int:
        out.append(int.__repr__(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("a non-finite Decimal cannot be sent")
        out.append(format(value, "f"))
    elif isinstance(value, float):
        raise TypeError("floats are not sent to Mobiquity; use Decimal or int")
    elif isinstance(value, list | tuple):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, dict):
        _write(dict(value), out)
    else:  # str and int subclasses (enums), anything else json knows
        out.append(json.dumps(value))
