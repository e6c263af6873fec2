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
    app.config.update(overrides)
    app.extensions["bbp.settings"] = settings
    engine = make_engine(settings)
    app.extensions["bbp.engine"] = engine

    from bbp_portal.auth.views import bp as auth_bp

    app.register_blueprint(auth_bp)

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
