"""English and Bangla interface text (Flask-Babel).

The language is the signed-in user's preference (``users.language``), or what the person
chose with the switch on the sign-in page, or English. Catalogues live in
``translations/<lang>/LC_MESSAGES/messages.po`` (compiled ``.mo`` beside them; see the
README for ``pybabel extract/update/compile``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, redirect, request, session, url_for
from flask_babel import Babel

from bbp_portal.auth.access import public, safe_next

LANGUAGES = {"en": "English", "bn": "বাংলা"}

bp = Blueprint("i18n", __name__)


def select_language() -> str:
    user = session.get("user") or {}
    chosen = user.get("language") or session.get("lang")
    return chosen if chosen in LANGUAGES else "en"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_language)
    app.register_blueprint(bp)

    @app.context_processor
    def _languages() -> dict[str, Any]:
        return {"languages": LANGUAGES, "current_language": select_language()}


@bp.get("/language/<code>")
@public
def switch(code: str) -> Any:
    """Switch the interface language for this browser session (and this signed-in user)."""
    if code not in LANGUAGES:
        abort(404)  # a language we do not have: said, not ignored
    session["lang"] = code
    user = session.get("user")
    if user:
        user["language"] = code
        session["user"] = user
    return redirect(safe_next(request.args.get("next")) or url_for("auth.login"))
