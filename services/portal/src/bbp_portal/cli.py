"""``flask --app bbp_portal.wsgi:create_app users ...``: the user registry from a shell.

For the first superadmin of a deployment, for scripted provisioning (``ensure`` is
idempotent) and for emergencies (``disable``). Every change is audited with the actor
``cli:<os user>``.
"""

from __future__ import annotations

import getpass

import click
from flask.cli import AppGroup

from bbp_portal import registry
from bbp_portal.auth.access import ROLES
from bbp_portal.context import services
from bbp_portal.directory import DuplicateUser, UnknownUser
from bbp_portal.i18n import LANGUAGES

users_cli = AppGroup("users", help="Manage who may use the portal.")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "cli"


_role = click.option("--role", type=click.Choice(ROLES), default="admin", show_default=True)
_mobile = click.option("--mobile", default=None, help="Bangladeshi mobile number (01XXXXXXXXX)")
_language = click.option(
    "--language", type=click.Choice(list(LANGUAGES)), default="en", show_default=True
)


@users_cli.command("add")
@click.argument("login_id")
@click.argument("email")
@_role
@_mobile
@_language
def add(login_id: str, email: str, role: str, mobile: str | None, language: str) -> None:
    """Register LOGIN_ID (as in Mobiquity) with EMAIL."""
    try:
        user = registry.add_user(_actor(), login_id, email, role, mobile=mobile, language=language)
    except registry.InvalidUser as exc:
        raise click.BadParameter(str(exc)) from None
    except DuplicateUser:
        raise click.ClickException(f"{login_id} is already registered") from None
    click.echo(f"added {user.login_id} ({user.role})")


@users_cli.command("ensure")
@click.argument("login_id")
@click.argument("email")
@_role
@_mobile
@_language
def ensure(login_id: str, email: str, role: str, mobile: str | None, language: str) -> None:
    """Add LOGIN_ID, or bring it to these values and enable it (idempotent)."""
    try:
        user, added = registry.ensure_user(
            _actor(), login_id, email, role, mobile=mobile, language=language
        )
    except registry.InvalidUser as exc:
        raise click.BadParameter(str(exc)) from None
    click.echo(f"{'added' if added else 'ensured'} {user.login_id} ({user.role})")


def _set_active(login_id: str, active: bool) -> None:
    try:
        user = registry.set_active(_actor(), login_id, active)
    except UnknownUser:
        raise click.ClickException(f"{login_id} is not registered") from None
    click.echo(f"{user.login_id} {'enabled' if user.active else 'disabled'}")


@users_cli.command("disable")
@click.argument("login_id")
def disable(login_id: str) -> None:
    """Stop LOGIN_ID from signing in (their open sessions end at their next request)."""
    _set_active(login_id, False)


@users_cli.command("enable")
@click.argument("login_id")
def enable(login_id: str) -> None:
    """Let LOGIN_ID sign in again."""
    _set_active(login_id, True)


@users_cli.command("list")
def list_users() -> None:
    """Every registered user, one a line."""
    rows = services().users.list()
    click.echo(f"{'LOGIN ID':<21}{'ROLE':<11}{'ACTIVE':<7}{'LANG':<5}{'MOBILE':<12}E-MAIL")
    for u in rows:
        click.echo(
            f"{u.login_id:<21}{u.role:<11}{'yes' if u.active else 'no':<7}{u.language:<5}"
            f"{u.mobile or '-':<12}{u.email}"
        )
