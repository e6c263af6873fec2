"""The forms of the API-token pages (Flask-WTF adds the CSRF token to each)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from bbp_portal.api_tokens.service import MAX_DAYS, NAME_MAX

#: How roles are named on these pages.
ROLE_LABELS = {
    "superadmin": _l("Superadmin"),
    "admin": _l("Admin"),
    "auditor": _l("Auditor (reads only)"),
}


class NewTokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(), Length(max=NAME_MAX)],
        render_kw={"autocomplete": "off", "maxlength": NAME_MAX},
    )
    expires_in_days = IntegerField(
        _l("Expires after (days, 1 to %(days)s)", days=MAX_DAYS),
        default=7,
        validators=[
            InputRequired(),
            NumberRange(1, MAX_DAYS, message=_l("From 1 to %(days)s days.", days=MAX_DAYS)),
        ],
        render_kw={"type": "number", "min": 1, "max": MAX_DAYS, "inputmode": "numeric"},
    )
    role = SelectField(_l("Role"), choices=[])


class RevokeForm(FlaskForm):
    """Only the CSRF token: revoking is a POST."""
