"""What an API operation is: its path prefix, its parameters and answer, who may call it —
a person's session, and whether an API token may (``bbp_portal.api_tokens``).

:func:`~bbp_portal.api.core.endpoint` makes one per view; the OpenAPI document
(:mod:`~bbp_portal.api.openapi`) and the bearer check read it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from marshmallow import Schema

PREFIX = "/api/v1"

#: What a ``format=csv|xlsx`` download answers (``endpoint(content_type=CSV_OR_XLSX)``).
CSV_OR_XLSX = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

#: Methods that read. An API token may call every operation that reads (its role allowing);
#: an operation that changes something only when it says so (``endpoint(tokens=True)``).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Operation:
    """What :func:`endpoint` knows about a view, for the OpenAPI document."""

    summary: str
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    response: type[Schema] | None = None
    many: bool = False
    status: int = 200
    tags: Sequence[str] = ()
    roles: Sequence[str] = ()
    #: A file answer's media type(s) (``"text/csv"``, or one per ``format=``).
    content_type: str | Sequence[str] | None = None
    multipart: dict[str, str] = field(default_factory=dict)
    description: str = ""
    tokens: bool | None = None
    #: Other success statuses it answers with the same body, and when (``{200: "…"}``).
    statuses: Mapping[int, str] = field(default_factory=dict)

    def takes_tokens(self, method: str) -> bool:
        """Whether an API token may call this operation with ``method``: reads unless
        ``tokens=False``, changes only with ``tokens=True``."""
        if self.tokens is not None:
            return self.tokens
        return method.upper() in READ_METHODS


__all__ = ["CSV_OR_XLSX", "PREFIX", "READ_METHODS", "Operation"]
