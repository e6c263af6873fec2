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
"""

from bbp_portal.api.core import endpoint, page_of, register_api

__all__ = ["endpoint", "page_of", "register_api"]
