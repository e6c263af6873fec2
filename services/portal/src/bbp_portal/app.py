"""The application factory: extensions and blueprints wired from settings, nothing at import.

Read it as the portal's table of contents: the shared machinery first (sessions, the guard,
security, language, navigation, errors), then one blueprint per feature with its part of the
JSON API, registered here and nowhere else — importing a module registers nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from bbp_common.platform.db import make_engine
from bbp_common.platform.logging import configure_logging
from bbp_common.platform.settings import load_settings
from bbp_portal.accounts import api as accounts_api
from bbp_portal.accounts import views as accounts_views
from bbp_portal.admin import audit as audit_views
from bbp_portal.admin import notifications as notifications_views
from bbp_portal.admin import users as users_views
from bbp_portal.api import register_api
from bbp_portal.api_tokens import bearer
from bbp_portal.api_tokens import views as api_tokens_views
from bbp_portal.audit import AuditStore, SqlAuditStore
from bbp_portal.auth import install_guard, sessions
from bbp_portal.auth import views as auth_views
from bbp_portal.billers import api as billers_api
from bbp_portal.billers import views as billers_views
from bbp_portal.billers.cli import billers_cli
from bbp_portal.bulk.kinds import register_kinds
from bbp_portal.bulk.publishing import AfterCommitRelay
from bbp_portal.cli import users_cli
from bbp_portal.context import Services
from bbp_portal.correlation import init_correlation
from bbp_portal.dashboard import views as dashboard_views
from bbp_portal.directory import SqlUserStore, UserStore
from bbp_portal.errors import register_error_handlers
from bbp_portal.health import init_health
from bbp_portal.i18n import init_i18n
from bbp_portal.inputs import init_inputs
from bbp_portal.localtime import dhaka
from bbp_portal.mobiquity import SignInApi, make_client
from bbp_portal.nav import init_nav
from bbp_portal.notices import NoticeStore, SqlNotices
from bbp_portal.payments import api as payments_api
from bbp_portal.payments import live as payments_live
from bbp_portal.payments import resolutions_api
from bbp_portal.payments import views as payments_views
from bbp_portal.reconcile import actions as reconcile_actions
from bbp_portal.reconcile import api as reconcile_api
from bbp_portal.reconcile import views as reconcile_views
from bbp_portal.requests import api as requests_api
from bbp_portal.requests import views as requests_views
from bbp_portal.requests.totals import TotalsCache
from bbp_portal.security import apply_rate_limits, init_security
from bbp_portal.settings import PortalSettings
from bbp_portal.timing import FailureTiming
from bbp_portal.tokens import TokenVault
from bbp_portal.words import init_words


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
    # "/accounts/" as well as "/accounts": a typed or pasted slash is no 404.
    app.url_map.strict_slashes = False
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    # Times people act on (a scheduled start) are shown in Asia/Dhaka.
    app.jinja_env.globals["dhaka"] = dhaka
    app.config.update(overrides)
    # The body limit: the upload limit plus room for the multipart envelope.
    # (Flask's defaults hold the key as None, so setdefault would leave bodies unlimited.)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = settings.upload_max_bytes + 64 * 1024
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
    # The after-commit relay connects on first use, in the worker process that uses it (a
    # connection made before a fork is dead in the child); gunicorn's post_worker_init
    # calls .warm() in each worker (see gunicorn.conf.py).
    app.extensions["bbp.relay"] = AfterCommitRelay(settings, engine)
    app.extensions["bbp.biller_totals"] = TotalsCache()

    # Order matters: the correlation id first (everything after logs with it); expired
    # sessions end, an API token is checked, then the guard refuses anonymous requests,
    # before CSRF protection (not for a token's call) or any view sees them.
    init_correlation(app)
    sessions.install(app)
    bearer.install(app)
    install_guard(app)
    init_inputs(app)  # every page's parameters, before CSRF or any view reads them
    limiter = init_security(app, settings)
    bearer.isolate_sessions(app)  # over Flask-Session's store, which init_security installs
    reconcile_actions.install(app)  # first of all hooks: a report's larger body limit
    init_i18n(app)
    init_words(app)
    init_nav(app)
    register_error_handlers(app)
    init_health(app)

    # One blueprint per feature (pages), then each feature's part of /api/v1.
    for blueprint in (
        auth_views.bp,
        dashboard_views.bp,
        users_views.bp,
        audit_views.bp,
        notifications_views.bp,
        accounts_views.bp,
        billers_views.bp,
        requests_views.bp,
        payments_views.bp,
        payments_live.bp,
        api_tokens_views.bp,
        reconcile_views.bp,
    ):
        app.register_blueprint(blueprint)
    register_api(
        app,
        accounts_api.api,
        billers_api.api,
        requests_api.api,
        payments_api.api,
        resolutions_api.api,
        reconcile_api.api,
    )
    # The request pages every kind shares reach each kind's page, cancel and export here.
    register_kinds(app, requests_views.FETCH, payments_views.PAYMENT)
    app.cli.add_command(users_cli)
    app.cli.add_command(billers_cli)

    # Last: wraps the finished view functions of every blueprint.
    apply_rate_limits(app, limiter, settings)
    bearer.limit_tokens(app, limiter, settings)
    return app
