"""Pieces of JSON schema the features' API schemas share: text patterns written so that
ECMA regex (the OpenAPI document's clients, schemathesis) and Python's ``re`` (marshmallow's
``validate.Regexp``, which anchors at the start) read them alike, and "null or absent" for
the cross-field rules of :func:`~bbp_portal.api.openapi.json_schema_rules`.
"""

from __future__ import annotations

#: What Python's ``str.split()`` / ``str.strip()`` count as whitespace (wider than ``\s``):
#: the services tidy text with them, so "blank" must mean what they mean.
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Text with something in it besides whitespace (a name the service collapses and trims).
NOT_BLANK_PATTERN = f"^[\\s\\S]*[^{WHITESPACE}]"
#: Text that begins and ends with a visible character (a code the service trims).
TRIMMED_PATTERN = f"^[^{WHITESPACE}]([\\s\\S]*[^{WHITESPACE}])?$"

#: A nullable field given as null or left out: "not this one" in a ``oneOf`` branch.
NULL_OBJECT = {"type": "object", "nullable": True, "enum": [None]}
NULL_INTEGER = {"type": "integer", "nullable": True, "enum": [None]}

__all__ = ["NOT_BLANK_PATTERN", "NULL_INTEGER", "NULL_OBJECT", "TRIMMED_PATTERN", "WHITESPACE"]
