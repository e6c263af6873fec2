"""``bbp-scheduler`` / ``python -m bbp_scheduler``: run the scheduler until SIGTERM."""

from __future__ import annotations

import sys

from bbp_common.platform.runtime import run_service


def main() -> int:
    from bbp_scheduler.bootstrap import bootstrap

    return run_service(bootstrap)


if __name__ == "__main__":
    sys.exit(main())
