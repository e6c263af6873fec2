"""The JSON API under ``/api/v1``: one blueprint, one error format, one OpenAPI document.

A feature adds endpoints on its own blueprint (no URL prefix), decorating each view with
:func:`endpoint`, which parses the query and body with marshmallow schemas, dumps the
answer, applies the access rule, and records all of it for the OpenAPI document served at
``/api/v1/openapi.json`` (built from the URL map, so nothing is listed twice)::

    api = Blueprint("things", __name__)

    @api.get("/things/<int:thing_id>")
    @endpoint("Read a thing", response=ThingSchema, tags=["things"])
    def get_thing(thing_id: int) -> Thing: ...

``create_app`` mounts it under ``/api/v1``: ``register_api(app, things.api, ...)``.

Errors are ``{"error": {"code", "message", "field"?}}`` with stable codes (see ``errors``).

The document must tell the truth: schemathesis checks every operation against it in
``make test`` (``tests/integration/portal/test_openapi_schemathesis.py``). Status codes,
decimal amounts, zoned date-times, links and strict JSON types come by themselves; what a
new operation must say: every limit its code enforces as a marshmallow validator (422 for a
bad value), a cross-field rule with ``json_schema_rules`` (``bbp_portal.api.openapi``), an
unknown id as ``NotFound`` (404) and a state that forbids it as ``Conflict`` (409), and any
other success status with ``endpoint(statuses=...)``.
"""

from bbp_portal.api.calls import changing, endpoints, keyset_page, reading
from bbp_portal.api.core import endpoint, page_of, register_api

__all__ = ["changing", "endpoint", "endpoints", "keyset_page", "page_of", "reading", "register_api"]
