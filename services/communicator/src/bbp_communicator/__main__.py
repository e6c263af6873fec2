"""``bbp-communicator`` / ``python -m bbp_communicator``: run the communicator until SIGTERM."""

from __future__ import annotations

import sys

from bbp_common.platform.runtime import run_service


def main() -> int:
    from bbp_communicator.bootstrap import bootstrap

    return run_service(bootstrap)


if __name__ == "__main__":
    sys.exit(main())
