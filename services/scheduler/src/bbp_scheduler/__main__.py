"""``bbp-scheduler`` / ``python -m bbp_scheduler``: run the scheduler until SIGTERM."""

from __future__ import annotations

import sys

from bbp_common.platform.settings import SettingsError


def main() -> int:
    from bbp_scheduler.bootstrap import bootstrap

    try:
        service = bootstrap()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    service.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
