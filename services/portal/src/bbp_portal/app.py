"""The application factory: extensions and blueprints wired from settings, nothing at import."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy import Engine

from bbp_common.db import make_engine, ping
from bbp_common.logging import configure_logging
from bbp_common.settings import load_settings
from bbp_portal import dashboard
from bbp_portal.audit import AuditStore, SqlAuditStore
from bbp_portal.auth import install_guard, login_required, public
from bbp_portal.context import Services
from bbp_portal.correlation import init_correlation
from bbp_portal.directory import SqlUserStore, UserStore
from bbp_portal.errors import register_error_handlers
from bbp_portal.i18n import init_i18n
from bbp_portal.inputs import init_inputs
from bbp_portal.mobiquity import SignInApi, make_client
from bbp_portal.nav import init_nav
from bbp_portal.notices import NoticeStore, SqlNotices
from bbp_portal.security import apply_rate_limits, init_security
from bbp_portal.settings import PortalSettings
from bbp_portal.timing import FailureTiming
from bbp_portal.tokens import TokenVault


def create_app(
    settings: PortalSettings | None = None,
    *,
    mobiquity: SignInApi | None = None,
    users: UserStore | None = None,
    audit: AuditStore | None = None,
    notices: NoticeStore | None = None,
    **overrides: Any,
) -> Flask:
    """Build the portal. Tests pass ``settings`` (and fakes); gunicorn loads the environment.

    ``overrides`` go into ``app.config`` before the extensions read it.
    """
    settings = settings or load_settings(PortalSettings)
    configure_logging("portal", settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update(overrides)
    app.extensions["bbp.settings"] = settings
    engine = make_engine(settings)
    app.extensions["bbp.engine"] = engine
    app.extensions["bbp.services"] = Services(
        settings=settings,
        users=users or SqlUserStore(engine),
        audit=audit or SqlAuditStore(engine),
        mobiquity=mobiquity or make_client(settings),
        vault=TokenVault(settings.session_encryption_key.get_secret_value()),
        timing=FailureTiming(settings.signin_failure_min_duration),
        reset_timing=FailureTiming(settings.signin_failure_min_duration),
        notices=notices or SqlNotices(engine),
    )

    # Order matters: the correlation id first (everything after logs with it); expired
    # sessions end, then the guard refuses anonymous requests, before CSRF protection or any
    # view sees them.
    from bbp_portal.auth import sessions

    init_correlation(app)
    sessions.install(app)
    install_guard(app)
    init_inputs(app)  # every page's parameters, before CSRF or any view reads them
    limiter = init_security(app, settings)
    init_i18n(app)
    init_nav(app)
    register_error_handlers(app)

    from bbp_portal.admin.audit import bp as audit_bp
    from bbp_portal.admin.notifications import bp as notifications_bp
    from bbp_portal.admin.users import bp as users_bp
    from bbp_portal.auth.views import bp as auth_bp
    from bbp_portal.cli import users_cli

    app.register_blueprint(auth_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(notifications_bp)
    app.cli.add_command(users_cli)
    _register_accounts(app, settings)
    _register_requests(app, settings, engine)
    from bbp_portal.api import register_api

    register_api(app)  # after every feature added its /api/v1 routes

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
        store = app.config.get("SESSION_REDIS")
        if store is not None:
            try:
                store.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"failing: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        # RabbitMQ is reported, not required: while it is down the portal still takes requests
        # (they wait in the outbox, and the scheduler relays them), so taking the portal out
        # of service would only make a broker outage worse.
        relay = app.extensions.get("bbp.relay")
        if relay is not None:
            checks["rabbitmq"] = "ok" if relay.connected else "not connected (outbox holds work)"
        return jsonify(status="ok" if ok else "unready", **checks), (200 if ok else 503)

    @app.get("/")
    @login_required
    def home() -> Any:
        return dashboard.home()

    # Last: wraps the finished view functions of every blueprint.
    apply_rate_limits(app, limiter, settings)
    return app


def _register_accounts(app: Flask, settings: PortalSettings) -> None:
    """Billers, bill accounts, groups, uploads: pages, the /api/v1 API, the billers CLI."""
    import bbp_portal.accounts.api
    import bbp_portal.billers.api  # noqa: F401  (routes register on import)
    from bbp_portal.accounts.views import bp as accounts_bp
    from bbp_portal.billers.cli import billers_cli
    from bbp_portal.billers.views import bp as billers_bp

    # The body limit: the upload limit plus room for the multipart envelope.
    # (Flask's defaults hold the key as None, so setdefault would leave bodies unlimited.)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = settings.upload_max_bytes + 64 * 1024
    app.register_blueprint(accounts_bp)
    app.register_blueprint(billers_bp)
    app.cli.add_command(billers_cli)


def _register_requests(app: Flask, settings: PortalSettings, engine: Engine) -> None:
    """Bulk requests: pages, and the after-commit relay (it connects on first use, in the
    worker process that uses it: a connection made before a fork is dead in the child)."""
    import bbp_portal.payments.api
    import bbp_portal.requests.api  # noqa: F401  (routes register on import)
    from bbp_portal.payments.views import bp as payments_bp
    from bbp_portal.requests.publishing import AfterCommitRelay
    from bbp_portal.requests.queries import TotalsCache
    from bbp_portal.requests.views import bp as requests_bp

    # gunicorn's post_worker_init calls .warm() in each worker (see gunicorn.conf.py).
    app.extensions["bbp.relay"] = AfterCommitRelay(settings, engine)
    app.extensions["bbp.biller_totals"] = TotalsCache()
    app.register_blueprint(requests_bp)
    app.register_blueprint(payments_bp)
