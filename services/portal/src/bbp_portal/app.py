"""The application factory: extensions and blueprints wired from settings, nothing at import."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template

from bbp_common.db import make_engine, ping
from bbp_common.logging import configure_logging
from bbp_common.settings import load_settings
from bbp_portal.auth import login_required, public
from bbp_portal.settings import PortalSettings


def create_app(settings: PortalSettings | None = None, **overrides: Any) -> Flask:
    """Build the portal. Tests pass ``settings``; gunicorn loads them from the environment."""
    settings = settings or load_settings(PortalSettings)
    configure_logging("portal", settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.config.from_prefixed_env("FLASK")  # FLASK_SECRET_KEY until sign-in owns the secret
    app.config.update(overrides)
    app.extensions["bbp.settings"] = settings
    engine = make_engine(settings)
    app.extensions["bbp.engine"] = engine

    from bbp_portal.auth.views import bp as auth_bp

    app.register_blueprint(auth_bp)
    _register_accounts(app, settings)

    @app.get("/healthz")
    @public
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.get("/readyz")
    @public
    def readyz() -> Any:
        checks: dict[str, str] = {}
        try:
            ping(engine)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"failing: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return jsonify(status="ok" if ok else "unready", **checks), (200 if ok else 503)

    @app.get("/")
    @login_required
    def home() -> Any:
        return render_template("base.html")

    return app


def _register_accounts(app: Flask, settings: PortalSettings) -> None:
    """Billers, bill accounts, groups, uploads: pages, the /api/v1 API, CSRF, the CLI."""
    from flask_wtf.csrf import CSRFProtect

    import bbp_portal.accounts.api
    import bbp_portal.billers.api  # noqa: F401  (routes register on import)
    from bbp_portal.accounts.views import bp as accounts_bp
    from bbp_portal.api import register_api
    from bbp_portal.billers.cli import billers_cli
    from bbp_portal.billers.views import bp as billers_bp

    # The body limit: the upload limit plus room for the multipart envelope.
    app.config.setdefault("MAX_CONTENT_LENGTH", settings.upload_max_bytes + 64 * 1024)
    if "csrf" not in app.extensions:
        CSRFProtect(app)  # forms (csrf_token field) and JSON mutations (X-CSRFToken header)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(billers_bp)
    register_api(app)
    app.cli.add_command(billers_cli)
