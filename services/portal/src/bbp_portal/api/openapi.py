"""The OpenAPI 3 document of ``/api/v1``, built from the URL map (nothing is listed twice):
every :func:`~bbp_portal.api.core.endpoint`, with the two ways in — a person's session (the
session cookie, with CSRF) and a machine client's API token (``Authorization: Bearer``) —
and, per operation, which of them may call it.
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app, jsonify

from bbp_portal.api.operation import PREFIX, Operation
from bbp_portal.api.schemas import ErrorSchema
from bbp_portal.auth import login_required

_PARAM = re.compile(r"<(?:(?P<conv>[a-z]+):)?(?P<name>\w+)>")


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
                "schema": {"type": "integer" if m["conv"] == "int" else "string"},
            }
            for m in _PARAM.finditer(rule.rule)
        ]
        if op.query is not None:
            parameters.append({"in": "query", "schema": op.query})
        responses: dict[str, Any] = {}
        if op.content_type:
            responses[str(op.status)] = {
                "description": "the file",
                "content": {op.content_type: {}},
            }
        elif op.response is not None:
            schema: Any = op.response
            if op.many:
                schema = {"type": "array", "items": op.response}
            responses[str(op.status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": schema}},
            }
        else:
            responses[str(op.status)] = {"description": "OK"}
        for status, what in (
            (401, "Not signed in, or the API token is not valid"),
            (403, "Role may not (or an API token may not: token_not_allowed)"),
            (422, "Invalid input"),
        ):
            responses[str(status)] = {
                "description": what,
                "content": {"application/json": {"schema": "Error"}},
            }
        methods = sorted(m for m in (rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        spec.path(
            path=path,
            operations={m.lower(): _operation(op, m, parameters, responses) for m in methods},
        )
    return spec.to_dict()


def _operation(
    op: Operation, method: str, parameters: list[dict[str, Any]], responses: dict[str, Any]
) -> dict[str, Any]:
    """One operation of the document: which schemes may call it, and how."""
    tokens = op.takes_tokens(method)
    if tokens:
        responses = {
            **responses,
            "429": {
                "description": "An API token's rate limit is used up (rate_limited)",
                "content": {"application/json": {"schema": "Error"}},
            },
        }
    operation: dict[str, Any] = {
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


__all__ = ["SESSION_ONLY", "build_spec", "openapi"]
