"""API infrastructure: the blueprint, :func:`endpoint`, the error handlers (the operation it
records: ``operation``; the OpenAPI document built from them: ``openapi``).

Why a home-made decorator rather than a framework (flask-smorest, APIFlask): it is ~100
lines over marshmallow and apispec, which we use anyway, it composes with the portal's own
access decorators and CSRF, and it keeps pages and API on the same session and rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from flask_babel import gettext
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge

from bbp_common.platform.logging import get_logger
from bbp_portal.api.openapi import DECIMAL_PATTERN, build_spec, openapi
from bbp_portal.api.operation import PREFIX, READ_METHODS, Operation
from bbp_portal.api.schemas import PageInfoSchema
from bbp_portal.audit_trail import record
from bbp_portal.auth import current_token, current_user, login_required, role_required
from bbp_portal.service_errors import ServiceError
from bbp_portal.view_context import actor, engine

log = get_logger(__name__)


def error_response(
    status: int, code: str, message: str, field_name: str | None = None, details: Any = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field_name:
        body["field"] = field_name
    if details:
        body["details"] = details
    return jsonify(error=body), status


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
    content_type: str | Sequence[str] | None = None,
    multipart: dict[str, str] | None = None,
    description: str = "",
    tokens: bool | None = None,
    statuses: Mapping[int, str] | None = None,
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

    ``statuses``: other success statuses the view answers with the same body (``{200: "the
    key had created it already"}``), for the document. Every date-time the answer holds
    carries its zone (:func:`zone_datetimes`).
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
        dict(statuses or {}),
    )
    if response is not None:
        zone_datetimes(response)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = query().load(request.args.to_dict(flat=True))
            if body is not None:
                data = request.get_json(silent=True)
                if not isinstance(data, dict):
                    raise ServiceError("invalid_json", "Send a JSON object as the body.")
                kwargs["body"] = json_strict(body()).load(data)
            result = view(*args, **kwargs)
            if isinstance(result, Response):
                return result
            payload = response(many=many).dump(result) if response is not None else result
            return jsonify(payload), status

        guarded = role_required(*roles)(run) if roles else login_required(run)
        guarded.__api_operation__ = op  # type: ignore[attr-defined]
        return guarded

    return decorate


def json_strict(schema: Schema) -> Schema:
    """A JSON body's types as its document says: an integer is an integer (not ``2.5`` or
    ``"7"``), a boolean ``true``/``false`` (not ``0`` or ``"yes"``), an amount a decimal
    string (not a binary-rounded JSON number), where marshmallow would take any of them
    (as it must from a query string). Set on this schema instance's own field copies: the same
    schema classes parse query strings, where everything is text."""
    for field in schema.fields.values():
        _strict_field(field)
    return schema


def _strict_field(field: fields.Field) -> None:
    if isinstance(field, fields.Integer):
        _only(field, int)
    elif isinstance(field, fields.Boolean):
        _only(field, bool)
    elif isinstance(field, fields.Decimal):
        _only(field, str, DECIMAL_PATTERN)  # an amount: a decimal string, as documented
    elif isinstance(field, fields.List):
        _strict_field(field.inner)
    elif isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        json_strict(field.schema)


def _only(field: fields.Field, kind: type, pattern: str | None = None) -> None:
    """Refuse any JSON value of another type (``True`` is no integer, ``0`` no boolean) or,
    for text, not matching ``pattern`` (``1e5`` is no decimal string)."""
    parse = field._deserialize

    def deserialize(value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if (
            not isinstance(value, kind)
            or (kind is int and isinstance(value, bool))
            or (pattern is not None and not re.match(pattern, str(value)))
        ):
            raise field.make_error("invalid", input=value)
        return parse(value, attr, data, **kwargs)

    field._deserialize = deserialize  # type: ignore[method-assign]


class ZonedDateTime(fields.DateTime):
    """A date-time that always says its zone: the database keeps UTC without one, so a
    naive value is UTC (``2026-12-06T05:37:23.741523+00:00``, a valid RFC 3339
    ``date-time``; without the zone it is not one)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def zone_datetimes(schema: type[Schema], seen: set[type[Schema]] | None = None) -> None:
    """Make every plain ``fields.DateTime`` of an answer's schema (nested ones too) a
    :class:`ZonedDateTime`, so no operation can answer a date-time without its zone —
    whoever writes the schema. Done once, when the operation is declared."""
    seen = set() if seen is None else seen
    if schema in seen:
        return
    seen.add(schema)
    for field in schema._declared_fields.values():
        inner = field.inner if isinstance(field, fields.List) else field
        if type(inner) is fields.DateTime:
            inner.__class__ = ZonedDateTime
        elif isinstance(inner, fields.Nested):
            nested = inner.nested
            if isinstance(nested, type) and issubclass(nested, Schema):
                zone_datetimes(nested, seen)


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
        limit = request.max_content_length or current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = f"The request is larger than {limit:,} bytes: split the file into smaller ones."
        _audit_too_large()
        code, field_name = "file_too_large", "file"  # type: tuple[str, str | None]
        if "upload" not in (request.endpoint or ""):  # a form field over the form's limit
            code, field_name = "request_too_large", None
            message = gettext("A field of the form is too long: shorten it and send it again.")
        if _wants_json():
            return error_response(413, code, message, field_name)
        error = ServiceError(code, message, field_name)
        return render_template("service_error.html", error=error), 413


def _audit_too_large() -> None:
    """Refused before any view code ran: still audited, as every upload must be."""
    if current_user() is None:
        return
    upload = "upload" in (request.endpoint or "")
    action = "accounts.upload.validate" if upload else "request.too_large"
    if (request.endpoint or "").startswith(("reconcile.", "api_v1.reconcile.")):
        action = "reconciliation.upload"  # a transaction report, not bill accounts
    try:
        with engine().begin() as conn:
            record(
                conn,
                actor(),
                action,
                target_type="upload" if upload else None,
                outcome="refused",
                size=request.content_length,
                code="file_too_large",
                endpoint=request.endpoint,
            )
    except Exception:  # the refusal itself must still reach the user
        log.warning("audit_of_refused_request_failed", exc_info=True)


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
    "json_strict",
    "page_of",
    "register_api",
    "zone_datetimes",
]
