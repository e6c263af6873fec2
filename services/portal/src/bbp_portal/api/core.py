"""API infrastructure: the blueprint, :func:`endpoint`, the error handlers, the OpenAPI build.

Why a home-made decorator rather than a framework (flask-smorest, APIFlask): it is ~100
lines over marshmallow and apispec, which we use anyway, it composes with the portal's own
access decorators and CSRF, and it keeps pages and API on the same session and rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge

from bbp_common.platform.logging import get_logger
from bbp_portal.api.schemas import ErrorSchema, PageInfoSchema
from bbp_portal.audit_trail import record
from bbp_portal.auth import current_token, current_user, login_required, role_required
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, engine

log = get_logger(__name__)

PREFIX = "/api/v1"

#: Methods that read. An API token may call every operation that reads (its role allowing);
#: an operation that changes something only when it says so (``endpoint(tokens=True)``).
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def error_response(
    status: int, code: str, message: str, field_name: str | None = None, details: Any = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field_name:
        body["field"] = field_name
    if details:
        body["details"] = details
    return jsonify(error=body), status


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
    content_type: str | None = None
    multipart: dict[str, str] = field(default_factory=dict)
    description: str = ""
    tokens: bool | None = None

    def takes_tokens(self, method: str) -> bool:
        """Whether an API token may call this operation with ``method``: reads unless
        ``tokens=False``, changes only with ``tokens=True``."""
        if self.tokens is not None:
            return self.tokens
        return method.upper() in READ_METHODS


def endpoint(
    summary: str,
    *,
    query: type[Schema] | None = None,
    body: type[Schema] | None = None,
    response: type[Schema] | None = None,
    many: bool = False,
    status: int = 200,
    tags: Sequence[str] = (),
    roles: Sequence[str] = (),
    content_type: str | None = None,
    multipart: dict[str, str] | None = None,
    description: str = "",
    tokens: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a view an API operation.

    The view receives ``query=`` (the loaded query string) and/or ``body=`` (the loaded JSON
    body) when those schemas are given; it returns an object to dump with ``response`` (or a
    ``Response`` as is). ``roles`` limits who may call it (default: anyone signed in).

    ``tokens``: whether an API token (a machine client) may call it. By default a token may
    read (GET) but change nothing — a new operation that changes something is refused to
    tokens (403 ``token_not_allowed``) until it says ``tokens=True``; ``tokens=False`` marks
    what only a person in the portal may do (approve, reject, resolve, close the breaker…),
    and refuses tokens whatever the method (``bbp_portal.api_tokens.bearer`` applies it).
    """
    op = Operation(
        summary,
        query,
        body,
        response,
        many,
        status,
        tags,
        tuple(roles),
        content_type,
        dict(multipart or {}),
        description,
        tokens,
    )

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = query().load(request.args.to_dict(flat=True))
            if body is not None:
                data = request.get_json(silent=True)
                if not isinstance(data, dict):
                    raise ServiceError("invalid_json", "Send a JSON object as the body.")
                kwargs["body"] = body().load(data)
            result = view(*args, **kwargs)
            if isinstance(result, Response):
                return result
            payload = response(many=many).dump(result) if response is not None else result
            return jsonify(payload), status

        guarded = role_required(*roles)(run) if roles else login_required(run)
        guarded.__api_operation__ = op  # type: ignore[attr-defined]
        return guarded

    return decorate


_PAGE_SCHEMAS: dict[type[Schema], type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """The page envelope ``{"items": [...], "page": {...cursors}}`` of an item schema."""
    if item not in _PAGE_SCHEMAS:
        name = item.__name__.removesuffix("Schema") + "PageSchema"
        _PAGE_SCHEMAS[item] = type(
            name,
            (Schema,),
            {
                "items": fields.List(fields.Nested(item), required=True),
                "page": fields.Nested(PageInfoSchema, required=True),
            },
        )
    return _PAGE_SCHEMAS[item]


# --------------------------------------------------------------------------- errors


def _wants_json() -> bool:
    return request.path == PREFIX or request.path.startswith(PREFIX + "/")


def _install_error_handlers(app: Flask) -> None:
    """What the portal's generic handlers (``bbp_portal.errors``) do not know: service errors
    (code, message, field), marshmallow's validation errors, and a too-large upload."""

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError) -> Any:
        if _wants_json():
            details = getattr(exc, "details", None)
            return error_response(exc.status, exc.code, exc.message, exc.field, details)
        return render_template("service_error.html", error=exc), exc.status

    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError) -> Any:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        name, problem = next(iter(messages.items()))
        while isinstance(problem, dict):  # nested: {"filter": {"group_id": [...]}}
            inner, problem = next(iter(problem.items()))
            name = f"{name}.{inner}"
        text = problem[0] if isinstance(problem, list) and problem else str(problem)
        field_name = None if name == "_" else name
        return error_response(422, "invalid", f"{name}: {text}", field_name, messages)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Any:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = f"The request is larger than {limit:,} bytes: split the file into smaller ones."
        _audit_too_large()
        if _wants_json():
            return error_response(413, "file_too_large", message, "file")
        error = ServiceError("file_too_large", message, "file")
        return render_template("service_error.html", error=error), 413


def _audit_too_large() -> None:
    """Refused before any view code ran: still audited, as every upload must be."""
    if current_user() is None:
        return
    upload = "upload" in (request.endpoint or "")
    try:
        with engine().begin() as conn:
            record(
                conn,
                actor(),
                "accounts.upload.validate" if upload else "request.too_large",
                target_type="upload" if upload else None,
                outcome="refused",
                size=request.content_length,
                code="file_too_large",
                endpoint=request.endpoint,
            )
    except Exception:  # the refusal itself must still reach the user
        log.warning("audit_of_refused_request_failed", exc_info=True)


# --------------------------------------------------------------------------- OpenAPI

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


@endpoint(
    "Who is signed in, and the CSRF token for mutations (an API token: which token)",
    tags=["session"],
    description="Through an API token: `via` is `token`, `token` names it and `csrf_token` is "
    "null (a token needs none); through a session: `via` is `session`.",
)
def session_info() -> Any:
    from flask_wtf.csrf import generate_csrf

    user = current_user()
    assert user is not None
    token = current_token()
    return {
        "login_id": user.login_id,
        "role": user.role,
        "language": user.language,
        "via": "token" if token else "session",
        "token": {"id": token.token_id, "name": token.name} if token else None,
        "csrf_token": None if token else generate_csrf(),
    }


def register_api(app: Flask, *features: Blueprint) -> None:
    """Mount ``/api/v1`` on ``app``: the session and OpenAPI routes, each feature's API
    blueprint under it (its endpoints are ``api_v1.<feature>.<view>``), and the JSON errors.

    The ``api_v1`` blueprint is made here, once per app: nothing is added to it at import.
    """
    api = Blueprint("api_v1", __name__, url_prefix=PREFIX)
    api.add_url_rule("/openapi.json", view_func=openapi)
    api.add_url_rule("/session", view_func=session_info)
    for feature in features:
        api.register_blueprint(feature)
    app.register_blueprint(api)
    _install_error_handlers(app)


__all__ = [
    "PREFIX",
    "READ_METHODS",
    "Operation",
    "build_spec",
    "endpoint",
    "error_response",
    "page_of",
    "register_api",
]
