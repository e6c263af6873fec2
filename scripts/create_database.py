"""Create the database named by BBP_DATABASE_URL if it does not exist (for `make run`).

Says what to do when the server cannot be reached, instead of a stack trace.
"""

from __future__ import annotations

import os
import sys

import sqlalchemy as sa
from sqlalchemy.engine import make_url


def main() -> int:
    raw = os.environ.get("BBP_DATABASE_URL")
    if not raw:
        print("BBP_DATABASE_URL is not set (see dev.env).", file=sys.stderr)
        return 2
    url = make_url(raw)
    name = url.database
    server = sa.create_engine(url.set(database=""), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as conn:
            conn.execute(
                sa.text(
                    f"CREATE DATABASE IF NOT EXISTS `{name}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
            )
    except sa.exc.OperationalError as exc:
        print(
            f"Cannot reach MySQL/MariaDB at {url.host}:{url.port or 3306} ({exc.orig}).\n"
            "Start it (e.g. `make services`, or `start-stop-daemon --start --oknodo --background "
            "--exec /usr/sbin/mariadbd`), or point BBP_DATABASE_URL at a running server.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
