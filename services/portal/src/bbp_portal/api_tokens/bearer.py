"""``Authorization: Bearer …`` on ``/api/v1``: the Flask wiring of API tokens.

``create_app`` installs, in this order:

* :func:`isolate_sessions` — a call under ``/api/`` that carries a bearer token gets an
  empty session of its own, never read from nor written to the session store: a token's
  call cannot borrow a browser session's step-up or identity even if a cookie comes along,
  and it leaves no cookie and no session behind;
* :func:`install` — before the guard: the token is checked (``service.check``: its hash, its
  expiry, revocation, its user active, the role it may act with now). A token that does not
  pass gets 401 with its reason in JSON, and nothing else runs. One that passes becomes the
  request's caller (``auth.access.current_token``; ``current_user`` is its user, with the
  token's present role); then the operation must take tokens for this method
  (``api.endpoint(tokens=…)``: reads yes, changes only where the operation says so, never
  what stays with a person), else 403 ``token_not_allowed``. After the view, every call that
  changes (or tries to change) something is audited under the user and the token's name
  (``api_token.call``); the change's own audit entry names the token too
  (``audit_trail.record``);
* :func:`limit_tokens` — last, with the rate limits: every ``/api/v1`` view gets the shared
  per-token limit ``BBP_API_TOKEN_RATE_LIMIT`` (Flask-Limiter, counted in Redis; a browser
  session is not counted by it).

CSRF: ``bbp_portal.security`` checks it for every caller but a token's (a browser never
sends an ``Authorization`` header on its own, so a token's call cannot be forged by a page).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionMixin
from flask_limiter import Limiter

from bbp_common.platform.logging import get_logger
from bbp_portal.api.core import READ_METHODS, Operation, error_response
from bbp_portal.api_tokens import service
from bbp_portal.audit_trail import record
from bbp_portal.auth.access import TOKEN_KEY, current_token
from bbp_portal.device import client_ip
from bbp_portal.settings import PortalSettings
from bbp_portal.view_context import actor, engine

log = get_logger(__name__)

API_PATH = "/api/"
REFUSED = (
    "An API token cannot do this: it stays with a person signed in to the portal (approving, "
    "rejecting, resolving, resuming, closing the breaker, anything that needs a step-up, and "
    "changing the biller catalogue)."
)


def bearer_text(req: Request) -> str | None:
    """The token of a bearer call under ``/api/`` (``""`` if the header names none), or
    ``None`` when this is no bearer call."""
    if not req.path.startswith(API_PATH):
        return None
    header = req.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


# --------------------------------------------------------------------------- sessions


class TokenSession(dict[str, Any], SessionMixin):
    """The session of a bearer call: empty, in memory, dropped with the request."""

    modified = False
    accessed = False
    new = True


class TokenAwareSessions:
    """The app's session interface, except that a bearer call gets a :class:`TokenSession`
    (nothing read from the store, nothing saved, no cookie)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_session(self, app: Flask, req: Request) -> Any:
        if bearer_text(req) is not None:
            return TokenSession()
        return self._inner.open_session(app, req)

    def is_null_session(self, obj: object) -> bool:
        return isinstance(obj, TokenSession) or bool(self._inner.is_null_session(obj))

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        if isinstance(session, TokenSession):
            return
        self._inner.save_session(app, session, response)


def isolate_sessions(app: Flask) -> None:
    """After Flask-Session is installed: bearer calls get sessions of their own."""
    app.session_interface = TokenAwareSessions(app.session_interface)  # type: ignore[assignment]


# --------------------------------------------------------------------------- the check


def _operation(app: Flask) -> Operation | None:
    view = app.view_functions.get(request.endpoint or "")
    return getattr(view, "__api_operation__", None)


def _unauthorised(refusal: service.Refusal) -> Any:
    response, status = error_response(401, refusal.code, refusal.message)
    response.headers["WWW-Authenticate"] = (
        f'Bearer realm="bbp", error="invalid_token", error_description="{refusal.code}"'
    )
    return response, status


def install(app: Flask) -> None:
    """Check bearer tokens before the guard; audit what they change after the view."""

    @app.before_request
    def _check_bearer() -> Any:
        text = bearer_text(request)
        if text is None:
            return None
        found = service.check(engine(), text, ip=client_ip())
        if isinstance(found, service.Refusal):
            log.warning(
                "api_token_refused",
                reason=found.code,
                token_id=found.token_id,
                path=request.path,
                ip=client_ip(),
            )
            return _unauthorised(found)
        setattr(g, TOKEN_KEY, found)
        if request.endpoint is None:  # 404/405: the error handlers answer
            return None
        op = _operation(app)
        allowed = op.takes_tokens(request.method) if op else request.method in READ_METHODS
        if not allowed:
            log.info("api_token_not_allowed", token_id=found.token_id, endpoint=request.endpoint)
            return error_response(403, "token_not_allowed", REFUSED)
        return None

    @app.after_request
    def _audit_call(response: Response) -> Response:
        token = current_token()
        if token is None or request.method in READ_METHODS or response.status_code == 429:
            return response
        status = response.status_code
        outcome = "ok" if status < 400 else "denied" if status in (401, 403) else "failed"
        code = None
        if status >= 400 and response.is_json:
            body = response.get_json(silent=True) or {}
            code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
        try:
            with engine().begin() as conn:
                record(
                    conn,
                    actor(),
                    "api_token.call",
                    target_type="api_token",
                    target_id=token.token_id,
                    outcome=outcome,
                    method=request.method,
                    path=request.path,
                    endpoint=request.endpoint,
                    status=status,
                    code=code,
                )
        except Exception:  # the answer the client gets must not depend on the audit write
            log.exception("api_token_call_audit_failed", token_id=token.token_id)
        return response


# --------------------------------------------------------------------------- rate limit


def _token_key() -> str:
    token = current_token()
    return "api-token:" + (token.token_id if token else "-")


def limit_tokens(app: Flask, limiter: Limiter, settings: PortalSettings) -> None:
    """Every ``/api/v1`` view: ``BBP_API_TOKEN_RATE_LIMIT`` per token, shared by all of them
    (one budget per token, whatever it calls); calls without a token are not counted."""
    shared: Any = limiter.shared_limit(
        settings.api_token_rate_limit,
        scope="api-token",
        key_func=_token_key,
        exempt_when=lambda: current_token() is None,
    )
    for name, view in list(app.view_functions.items()):
        if name.startswith("api_v1."):
            app.view_functions[name] = shared(view)


__all__ = [
    "TokenAwareSessions",
    "TokenSession",
    "bearer_text",
    "install",
    "isolate_sessions",
    "limit_tokens",
]
