"""The user registry page (superadmins): add, edit role/e-mail/mobile/language, enable/disable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp, ValidationError

from bbp_portal import registry
from bbp_portal.auth.access import ROLES, current_user, role_required
from bbp_portal.auth.forms import LOGIN_ID_MAX, LOGIN_ID_MIN, LOGIN_ID_PATTERN
from bbp_portal.context import services
from bbp_portal.directory import DuplicateUser, UnknownUser
from bbp_portal.i18n import LANGUAGES

bp = Blueprint("users", __name__, url_prefix="/users")


def _mobile(form: FlaskForm, field: StringField) -> None:
    try:
        registry.normalize_mobile(field.data)
    except registry.InvalidUser:
        raise ValidationError(_l("Enter a Bangladeshi mobile number, e.g. 01712345678.")) from None


class UserForm(FlaskForm):
    email = StringField(
        _l("E-mail"),
        validators=[DataRequired(), Email(), Length(max=254)],
        render_kw={"type": "email", "autocomplete": "off"},
    )
    mobile = StringField(
        _l("Mobile number (optional)"),
        validators=[Optional(), _mobile],
        render_kw={"inputmode": "tel", "placeholder": "01712345678"},
    )
    role = SelectField(_l("Role"), choices=[SelectChoice(r, r) for r in ROLES])
    language = SelectField(
        _l("Language"), choices=[SelectChoice(code, name) for code, name in LANGUAGES.items()]
    )


class NewUserForm(UserForm):
    login_id = StringField(
        _l("Login ID (as in Mobiquity)"),
        validators=[
            DataRequired(),
            Length(LOGIN_ID_MIN, LOGIN_ID_MAX),
            Regexp(f"^{LOGIN_ID_PATTERN}$"),
        ],
        render_kw={"pattern": LOGIN_ID_PATTERN, "autocomplete": "off"},
    )


class ToggleForm(FlaskForm):
    """Only the CSRF token: enable/disable is a POST."""


def _actor() -> str:
    user = current_user()
    assert user is not None
    return user.login_id


@bp.get("/")
@role_required("superadmin")
def index() -> Any:
    return render_template("admin/users.html", users=services().users.list(), toggle=ToggleForm())


@bp.route("/new", methods=["GET", "POST"])
@role_required("superadmin")
def new() -> Any:
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = registry.add_user(
                _actor(),
                form.login_id.data or "",
                form.email.data or "",
                form.role.data or "",
                mobile=form.mobile.data,
                language=form.language.data or "en",
            )
        except DuplicateUser:
            form.login_id.errors = [
                *form.login_id.errors,
                _("This login ID is already registered."),
            ]
        except registry.InvalidUser as exc:
            flash(str(exc), "danger")
        else:
            flash(_("%(login_id)s may now sign in.", login_id=user.login_id), "success")
            return redirect(url_for("users.index"))
    return render_template("admin/user_form.html", form=form, editing=None), (
        400 if form.errors else 200
    )


@bp.route("/<login_id>", methods=["GET", "POST"])
@role_required("superadmin")
def edit(login_id: str) -> Any:
    user = services().users.get(login_id)
    if user is None:
        abort(404)
    form = UserForm(obj=user)
    if form.validate_on_submit():
        try:
            registry.update_user(
                _actor(),
                user.login_id,
                email=form.email.data or "",
                role=form.role.data or "",
                mobile=form.mobile.data,
                language=form.language.data or "en",
            )
        except (registry.InvalidUser, UnknownUser) as exc:
            flash(str(exc), "danger")
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("users.index"))
    return render_template("admin/user_form.html", form=form, editing=user), (
        400 if form.errors else 200
    )


@bp.post("/<login_id>/<any(enable,disable):change>")
@role_required("superadmin")
def toggle(login_id: str, change: str) -> Any:
    if not ToggleForm().validate_on_submit():
        abort(400)
    if change == "disable" and login_id.lower() == _actor().lower():
        flash(_("You cannot disable yourself."), "warning")
        return redirect(url_for("users.index"))
    try:
        user = registry.set_active(_actor(), login_id, change == "enable")
    except UnknownUser:
        abort(404)
    if user.active:
        flash(_("%(login_id)s is enabled.", login_id=user.login_id), "success")
    else:
        flash(_("%(login_id)s is disabled.", login_id=user.login_id), "success")
    return redirect(url_for("users.index"))
