"""The portal's protective layers, each from a maintained library, wired from settings.

* ProxyFix (werkzeug): the client's IP and scheme from the ingress's X-Forwarded-* headers,
  trusting exactly ``trusted_proxy_count`` hops (never headers a client could forge).
* Flask-Session: sessions server-side in Redis, the cookie holding only a random id
  (HttpOnly, SameSite=Lax, Secure unless turned off for http://localhost).
* Flask-WTF's CSRFProtect: every POST/PUT/PATCH/DELETE needs the token, from a form field or
  the ``X-CSRFToken`` header (JSON API; the token is in a ``<meta name="csrf-token">``) —
  except a call made with an API token (``Authorization: Bearer``, checked by
  ``bbp_portal.api_tokens.bearer`` before this runs): a browser never sends that header by
  itself, so such a call cannot be forged by another site, and a machine has no session to
  hold a CSRF token.
* Flask-Talisman: CSP without inline script, frame-ancestors 'none', nosniff, HSTS on
  HTTPS, a strict referrer policy. ``Cache-Control: no-store`` (which Talisman does not
  set) is added here for every page, as every page but the static files is personal or
  carries a CSRF token.
* Flask-Limiter: the per-IP and per-login-id limits of the sign-in steps, counted in Redis so
  that every worker and replica shares them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import redis
from flask import Flask, Response, request, session
from flask_limiter import Limiter
from flask_session import Session
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from bbp_portal.auth.access import current_token
from bbp_portal.device import remember_device
from bbp_portal.settings import PortalSettings

SESSION_COOKIE = "bbp_session"

#: Content-Security-Policy: our own files only; no inline script or style, no framing.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",  # Bootstrap's CSS draws small icons as data: SVGs
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def _client_ip() -> str:
    return request.remote_addr or "unknown"


def _login_id_key() -> str:
    """The login id a sign-in step is about: from the form, else from the pending step."""
    typed = request.form.get("login_id", "")
    if not typed:
        for key in ("pending_login", "pending_reset", "pending_reauth"):
            step = session.get(key)
            if step:
                typed = str(step.get("login_id", ""))
                break
    if not typed:
        user = session.get("user") or {}
        typed = str(user.get("login_id", ""))
    return "login:" + (typed.strip().lower()[:64] or "-")


def init_security(app: Flask, settings: PortalSettings) -> Limiter:
    """Install every layer on ``app``; returns the app's own rate limiter.

    ``app.config`` values set before this call win (tests use that to swap Redis for an
    in-process store); otherwise everything comes from ``settings``.
    """
    if settings.trusted_proxy_count:
        n = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    cfg = app.config
    cfg["SECRET_KEY"] = settings.portal_secret_key.get_secret_value()
    redis_url = settings.redis_url.get_secret_value()
    cfg.setdefault("SESSION_TYPE", "redis")
    if cfg["SESSION_TYPE"] == "redis":
        cfg.setdefault("SESSION_REDIS", redis.Redis.from_url(redis_url))
    cfg.setdefault("SESSION_KEY_PREFIX", settings.redis_key_prefix + "session:")
    cfg["SESSION_PERMANENT"] = False  # the cookie ends with the browser; Redis keeps the TTL
    cfg["SESSION_ID_LENGTH"] = 32  # 256 random bits
    # Redis forgets an idle session a minute after our own check has ended it.
    cfg["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=settings.session_idle_timeout + 60)
    cfg["SESSION_REFRESH_EACH_REQUEST"] = True
    cfg["SESSION_COOKIE_NAME"] = SESSION_COOKIE
    cfg["SESSION_COOKIE_HTTPONLY"] = True
    cfg["SESSION_COOKIE_SAMESITE"] = "Lax"
    cfg["SESSION_COOKIE_SECURE"] = settings.session_cookie_secure
    Session(app)

    cfg.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session is
    # Flask-WTF's own hook would check every request; this one checks every request but an
    # API token's (same check, same exemptions: CSRFProtect.protect).
    cfg["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf() -> None:
        if app.config.get("WTF_CSRF_ENABLED", True) and current_token() is None:
            csrf.protect(apply_exemptions=True)

    Talisman(
        app,
        force_https=False,  # the ingress redirects to HTTPS; make run serves plain HTTP
        strict_transport_security=True,  # sent on HTTPS requests only
        frame_options="DENY",
        content_security_policy=CSP,
        referrer_policy="same-origin",
        session_cookie_secure=settings.session_cookie_secure,
        session_cookie_http_only=True,
        session_cookie_samesite="Lax",
        permissions_policy={"browsing-topics": "()", "camera": "()", "geolocation": "()"},
    )

    cfg.setdefault("RATELIMIT_STORAGE_URI", redis_url)
    cfg.setdefault("RATELIMIT_KEY_PREFIX", settings.redis_key_prefix + "ratelimit")
    cfg.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter = Limiter(key_func=_client_ip, app=app)
    app.extensions["bbp.limiter"] = limiter

    @app.after_request
    def _headers(response: Response) -> Response:
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        if current_token() is not None:  # a machine: no browser to remember
            return response
        return remember_device(response, settings.session_cookie_secure)

    return limiter


def apply_rate_limits(app: Flask, limiter: Limiter, settings: PortalSettings) -> None:
    """Wrap every view marked ``rate_limited`` in the per-IP and per-login-id limits.

    Done per application (not with module-level decorators) so that each app — and each test
    app — has its own limiter, storage and key prefix.
    """
    for endpoint, view in list(app.view_functions.items()):
        if not getattr(view, "__bbp_rate_limited__", False):
            continue
        limited: Any = limiter.limit(
            settings.rate_limit_per_login_id, key_func=_login_id_key, methods=["POST"]
        )(view)
        limited = limiter.limit(settings.rate_limit_per_ip, key_func=_client_ip, methods=["POST"])(
            limited
        )
        app.view_functions[endpoint] = limited
