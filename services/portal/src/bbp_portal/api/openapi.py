"""The OpenAPI 3 document of ``/api/v1``, built from the URL map (nothing is listed twice):
every :func:`~bbp_portal.api.core.endpoint`, with the two ways in — a person's session (the
session cookie, with CSRF) and a machine client's API token (``Authorization: Bearer``) —
and, per operation, which of them may call it.

The document is checked against the portal by schemathesis
(``tests/integration/portal/test_openapi_schemathesis.py``), so what it says is generic
and derived, never listed by hand per operation: the status codes an operation can answer
(from what it takes and whether it changes something), decimal amounts as strings, the
marshmallow validators' limits, a schema's cross-field rules (:func:`json_schema_rules`),
``operationId`` from the endpoint's name, and links from every answer that names a resource
(an ``id``, a page's first item, ``page.next``) to the operations that take it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify
from marshmallow import Schema, fields

from bbp_portal.api.operation import PREFIX, READ_METHODS, Operation
from bbp_portal.api.schemas import ErrorSchema
from bbp_portal.auth import login_required

_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")


#: What an amount looks like on the wire: a decimal string, never a JSON number (binary
#: floating point would round money). ``fields.Decimal`` dumps ``str(Decimal)``.
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

#: Why an operation may answer each error status; which operations list which is decided in
#: :func:`_error_statuses`.
ERRORS: dict[int, str] = {
    400: "The request could not be read: a query parameter given twice, not JSON, a page "
    "cursor we did not make, or (a session's change) no valid X-CSRFToken (bad_request, "
    "repeated_parameter, invalid_json, invalid_cursor, csrf_failed)",
    401: "Not signed in, or the API token is not valid",
    403: "Role may not (or an API token may not: token_not_allowed)",
    404: "What the path or a given id names does not exist (not_found, …_not_found, unknown…)",
    409: "It collides with what is stored now: a duplicate, already done, not in a state "
    "that allows it, nothing (active) to act on",
    413: "The request body is larger than the portal takes (file_too_large, request_too_large)",
    414: "The query string is longer than the portal takes (uri_too_long)",
    422: "Invalid input: a value breaks a rule (invalid, malformed, …; `field` names it)",
    429: "An API token's rate limit is used up (rate_limited)",
}

_S = TypeVar("_S", bound=type[Schema])


def json_schema_rules(**rules: Any) -> Callable[[_S], _S]:
    """Add JSON-schema keywords to a marshmallow schema's component: the cross-field rules
    its ``@validates_schema`` checks (``oneOf`` "exactly one of…", ``anyOf`` "x needs y"),
    which no field can say. The document then states what the code refuses."""

    def mark(schema: _S) -> _S:
        schema.__json_schema_rules__ = rules  # type: ignore[attr-defined]
        return schema

    return mark


SESSION_ONLY = (
    "API tokens: refused (403 token_not_allowed) — a person does this, signed in to the portal."
)


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3 document of every :func:`endpoint` under ``/api/v1``."""
    cookie = str(app.config.get("SESSION_COOKIE_NAME") or "session")
    spec = APISpec(
        title="Bulk bill payment — portal API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": (
                "Two ways in. A person's browser session (the `session` scheme: sign in on the "
                f"portal, the `{cookie}` cookie goes along): mutations then need the "
                "X-CSRFToken header (GET /api/v1/session gives it). A machine client's API "
                "token (the `bearer` scheme: `Authorization: Bearer bbp_…`, made on the "
                "portal's API tokens page): no CSRF token, at most its user's role, "
                "rate-limited per token; it reads, and changes only what an operation's "
                "`security` lists `bearer` for — never an approval, a rejection, a "
                "resolution, closing the breaker or anything that needs a step-up. Errors are "
                '{"error": {"code", "message", "field"?}}. Lists are keyset-paginated: pass '
                "page.next / page.prev / page.last back as `cursor`."
            )
        },
    )
    plugin = spec.plugins[0]
    assert isinstance(plugin, MarshmallowPlugin) and plugin.converter is not None
    plugin.converter.add_attribute_function(_decimal_as_string)
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": cookie,
            "description": "A person's portal session; mutations also need X-CSRFToken.",
        },
    )
    spec.components.security_scheme(
        "bearer",
        {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "bbp_<16 hex>_<43 URL-safe characters>",
            "description": "An API token of a machine client: made by a registered user after "
            "a step-up on the portal's API tokens page, shown once, at most that user's role, "
            "expires within 30 days, revocable. No CSRF token. 401 invalid_token, "
            "token_expired, token_revoked, token_user_disabled, token_role_withdrawn; 429 "
            "rate_limited (per token).",
        },
    )
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX):
            continue
        op: Operation | None = getattr(app.view_functions[rule.endpoint], "__api_operation__", None)
        if op is None:
            continue
        path = _PARAM.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        parameters: list[dict[str, Any]] = [
            {
                "in": "path",
                "name": m["name"],
                "required": True,
                "schema": {"type": "integer"} if m["conv"] == "int" else {"type": "string"},
            }
            for m in _PARAM.finditer(rule.rule)
        ]
        if op.query is not None:
            parameters.append({"in": "query", "schema": op.query})
        methods = sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        spec.path(
            path=path,
            operations={
                m.lower(): _operation(
                    op,
                    m,
                    parameters,
                    _responses(op, m, bool(parameters) and parameters[0]["in"] == "path"),
                    rule.endpoint if len(methods) == 1 else f"{rule.endpoint}.{m.lower()}",
                )
                for m in methods
            },
        )
    doc = spec.to_dict()
    _add_rules(doc, plugin)
    _fix_nullable_refs(doc)
    _add_links(doc)
    return doc


def _responses(op: Operation, method: str, has_path_params: bool) -> dict[str, Any]:
    """The success answer(s) and every error status the operation can give."""
    responses: dict[str, Any] = {}
    if op.content_type:
        types = [op.content_type] if isinstance(op.content_type, str) else op.content_type
        ok: dict[str, Any] = {"description": "the file", "content": {t: {} for t in types}}
    elif op.response is not None:
        schema: Any = op.response
        if op.many:
            schema = {"type": "array", "items": op.response}
        ok = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    else:
        ok = {"description": "OK"}
    responses[str(op.status)] = ok
    for status, what in op.statuses.items():
        responses[str(status)] = {**ok, "description": what}
    for status in _error_statuses(op, method, has_path_params):
        responses[str(status)] = {
            "description": ERRORS[status],
            "content": {"application/json": {"schema": "Error"}},
        }
    return responses


def _error_statuses(op: Operation, method: str, has_path_params: bool) -> list[int]:
    """Which of :data:`ERRORS` an operation can answer, from what it takes and does: 400,
    401, 403, 414 and 422 any (``bbp_portal.inputs`` checks every query string), 404 when a
    path parameter or an input field names a thing by id, 409 when it changes something,
    413 with a body, 429 when a token may call it."""
    changes = method.upper() not in READ_METHODS
    statuses = [400, 401, 403, 414, 422]
    if has_path_params or any(_names_an_id(s) for s in (op.query, op.body) if s is not None):
        statuses.append(404)
    if changes:
        statuses.append(409)
    if op.body is not None or op.multipart:
        statuses.append(413)
    if op.takes_tokens(method):
        statuses.append(429)
    return sorted(statuses)


def _names_an_id(schema: type[Schema]) -> bool:
    """Whether a field of ``schema`` (nested too) refers to a stored thing by its id."""
    return any(name == "ids" or name.endswith(("_id", "_ids")) for name in _field_names(schema()))


def _field_names(schema: Schema) -> Iterator[str]:
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        yield name
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested) and isinstance(inner.schema, Schema):
            yield from _field_names(inner.schema)


def _decimal_as_string(self: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
    """Amounts travel as decimal strings (``"1250.00"``): say so, not ``type: number``."""
    if isinstance(field, fields.Decimal):
        return {"type": "string", "format": "decimal", "pattern": DECIMAL_PATTERN}
    return {}


def _add_rules(doc: dict[str, Any], plugin: MarshmallowPlugin) -> None:
    """Merge each schema's :func:`json_schema_rules` into its component."""
    assert plugin.converter is not None
    components = doc.get("components", {}).get("schemas", {})
    for key, name in plugin.converter.refs.items():
        rules = getattr(key[0], "__json_schema_rules__", None)
        if rules and name in components:
            components[name].update(rules)


def _fix_nullable_refs(node: Any) -> None:
    """apispec writes a nullable nested schema as ``anyOf: [{$ref}, {type: object,
    nullable: true}]``, whose second branch admits *any* object: make it null only."""
    if isinstance(node, dict):
        branches = node.get("anyOf")
        if (
            isinstance(branches, list)
            and len(branches) == 2
            and "$ref" in branches[0]
            and branches[1] == {"type": "object", "nullable": True}
        ):
            branches[1] = {"type": "object", "nullable": True, "enum": [None]}
        for value in node.values():
            _fix_nullable_refs(value)
    elif isinstance(node, list):
        for value in node:
            _fix_nullable_refs(value)


def _add_links(doc: dict[str, Any]) -> None:
    """OpenAPI links, so a client (and schemathesis' stateful phase) can follow what an
    answer names: a resource's ``id`` (or a page's first item's) to every operation whose
    path takes ``{<resource>_id}``, a top-level field to a path parameter of that name
    (an account's ``utility_code`` → its biller), and ``page.next`` back as ``cursor``."""
    schemas = doc.get("components", {}).get("schemas", {})
    takers: list[tuple[str, str]] = []  # (path parameter, operationId)
    for item in doc["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    takers.append((parameter["name"], operation["operationId"]))

    def component(ref: Any) -> tuple[str, dict[str, Any]] | None:
        if isinstance(ref, dict) and "$ref" in ref:
            name = ref["$ref"].rsplit("/", 1)[-1]
            return name, schemas.get(name, {})
        return None

    for item in doc["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                content = response.get("content", {}).get("application/json", {})
                found = component(content.get("schema"))
                if found is None:
                    continue
                name, body = found
                links = _links_of(name, body, "", takers, component, operation["operationId"])
                if links:
                    response["links"] = links


def _links_of(
    name: str,
    body: dict[str, Any],
    pointer: str,
    takers: list[tuple[str, str]],
    component: Callable[[Any], tuple[str, dict[str, Any]] | None],
    source: str,
) -> dict[str, Any]:
    properties = body.get("properties", {})
    links: dict[str, Any] = {}
    resource = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    for parameter, target in takers:
        if parameter == f"{resource}_id" and "id" in properties:
            expression = f"$response.body#{pointer}/id"
        elif parameter in properties and properties[parameter].get("type") == "string":
            expression = f"$response.body#{pointer}/{parameter}"
        else:
            continue
        links[f"{target}.{parameter}"] = {
            "operationId": target,
            "parameters": {parameter: expression},
        }
    if not pointer and "items" in properties and "page" in properties:
        item = component(properties["items"].get("items"))
        if item is not None:
            links.update(_links_of(*item, "/items/0", takers, component, source))
        links["next_page"] = {
            "operationId": source,
            "parameters": {"cursor": "$response.body#/page/next"},
        }
    return links


def _operation(
    op: Operation,
    method: str,
    parameters: list[dict[str, Any]],
    responses: dict[str, Any],
    operation_id: str,
) -> dict[str, Any]:
    """One operation of the document: which schemes may call it, and how."""
    tokens = op.takes_tokens(method)
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": op.summary,
        "tags": list(op.tags),
        "parameters": parameters,
        "responses": responses,
        "security": [{"session": []}, {"bearer": []}] if tokens else [{"session": []}],
    }
    roles = f"Roles: {', '.join(op.roles)}." if op.roles else "Any signed-in role."
    words = [op.description, roles] if op.description or op.roles else []
    if not tokens:
        words.append(SESSION_ONLY)
    if words:
        operation["description"] = " ".join(w for w in words if w).strip()
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": op.body}},
        }
    if op.multipart:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            name: {"type": "string", "format": fmt}
                            for name, fmt in op.multipart.items()
                        },
                        "required": sorted(op.multipart),
                        "additionalProperties": False,
                    }
                }
            },
        }
    return operation


@login_required
def openapi() -> Any:
    """The OpenAPI document. Signed-in only: the portal shows nothing to anonymous users but
    sign-in and health, and the document is built once per process."""
    app = current_app
    if "bbp.openapi" not in app.extensions:
        app.extensions["bbp.openapi"] = build_spec(app)  # type: ignore[attr-defined]
    return jsonify(app.extensions["bbp.openapi"])


__all__ = [
    "DECIMAL_PATTERN",
    "ERRORS",
    "SESSION_ONLY",
    "build_spec",
    "json_schema_rules",
    "openapi",
]
