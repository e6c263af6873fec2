"""Error answers: a page for people, JSON under ``/api/``; never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from bbp_common.platform.logging import get_logger

log = get_logger(__name__)


def _texts() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood.")),
        401: (_("Sign in first"), _("Please sign in to continue.")),
        403: (_("Not allowed"), _("Your role may not open this page.")),
        404: (_("Not found"), _("There is no such page.")),
        405: (_("Not allowed"), _("This page does not accept that kind of request.")),
        429: (
            _("Too many attempts"),
            _("Too many attempts in a short time. Please wait a minute and try again."),
        ),
        500: (_("Something went wrong"), _("The portal could not complete the request.")),
    }


def _answer(status: int, code: str, message: str | None = None) -> Any:
    title, text = _texts().get(status, _texts()[500])
    text = message or text
    if request.path.startswith("/api/"):
        return jsonify(error={"code": code, "message": text}), status
    return render_template("errors/error.html", status=status, title=title, text=text), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        log.warning("csrf_refused", path=request.path, reason=exc.description)
        return _answer(
            400,
            "csrf_failed",
            _("The form had expired or was not sent by this portal. Please go back and try again."),
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status == 429:
            log.warning("rate_limited", path=request.path, limit=str(exc.description))
        code = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            429: "rate_limited",
        }.get(status, "error")
        answer = _answer(status, code)
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:  # RFC 9110: a 405 lists the methods the URL takes
            body, _status = answer
            return body, status, {"Allow": ", ".join(sorted(allowed))}
        return answer

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return _http(exc)
        log.exception("unhandled_error", path=request.path)
        return _answer(InternalServerError.code, "internal_error")
