"""Sign-in and password forms, with Mobiquity's length rules (scope §1.2).

Flask-WTF adds the CSRF token to each; WTForms renders the ``Length`` rules as
``minlength``/``maxlength`` so the browser checks them before the server does again.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

LOGIN_ID_MIN, LOGIN_ID_MAX = 3, 20
PASSWORD_MIN, PASSWORD_MAX = 5, 10
OTP_LENGTH = 6
LOGIN_ID_PATTERN = r"[A-Za-z0-9._@\-]+"


def _login_id_field() -> StringField:
    return StringField(
        _l("Login ID"),
        validators=[
            DataRequired(),
            Length(LOGIN_ID_MIN, LOGIN_ID_MAX),
            Regexp(
                f"^{LOGIN_ID_PATTERN}$",
                message=_l("Use letters, digits and . _ @ - only."),
            ),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={
            "autocomplete": "username",
            "autocapitalize": "none",
            "spellcheck": "false",
            "pattern": LOGIN_ID_PATTERN,
        },
    )


def _password_field(label: str, autocomplete: str) -> PasswordField:
    return PasswordField(
        label,
        validators=[DataRequired(), Length(PASSWORD_MIN, PASSWORD_MAX)],
        render_kw={"autocomplete": autocomplete},
    )


class LoginForm(FlaskForm):
    login_id = _login_id_field()
    password = _password_field(_l("Password"), "current-password")


class OtpForm(FlaskForm):
    otp = StringField(
        _l("One-time password (OTP)"),
        validators=[
            DataRequired(),
            Regexp(rf"^\d{{{OTP_LENGTH}}}$", message=_l("The OTP has 6 digits.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "pattern": rf"\d{{{OTP_LENGTH}}}",
            "minlength": OTP_LENGTH,
            "maxlength": OTP_LENGTH,
        },
    )


class ForgotPasswordForm(FlaskForm):
    login_id = _login_id_field()


class NewPasswordForm(FlaskForm):
    new_password = _password_field(_l("New password"), "new-password")
    confirm_password = PasswordField(
        _l("Confirm the new password"),
        validators=[
            DataRequired(),
            Length(PASSWORD_MIN, PASSWORD_MAX),
            EqualTo("new_password", message=_l("The two new passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ChangePasswordForm(NewPasswordForm):
    old_password = _password_field(_l("Current password"), "current-password")


class StepUpForm(FlaskForm):
    """A step-up: the password of the signed-in person (the login id is the session's)."""

    password = _password_field(_l("Password"), "current-password")
