"""``flask billers seed-from URL``: add the sandbox's billers to the catalogue (idempotent).

For ``make run``, once the sandbox answers::

    flask --app 'bbp_portal.wsgi:create_app()' billers seed-from http://127.0.0.1:8090 --wait 30
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from bbp_portal.audit_trail import SYSTEM
from bbp_portal.billers.service import fetch_catalogue, seed_billers

billers_cli = AppGroup("billers", help="The biller catalogue.")


@billers_cli.command("seed-from")
@click.argument("url")
@click.option("--wait", default=0.0, help="Seconds to keep retrying while the sandbox starts.")
def seed_from(url: str, wait: float) -> None:
    """Add the billers of the sandbox at URL that the catalogue lacks; change none."""
    try:
        entries = fetch_catalogue(url, wait_seconds=wait)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read the biller catalogue at {url}: {exc}") from None
    with current_app.extensions["bbp.engine"].begin() as conn:
        added = seed_billers(conn, SYSTEM, entries)
    click.echo(
        f"billers: {len(entries)} in the catalogue at {url}, added "
        f"{', '.join(added) if added else 'none (all present)'}"
    )
