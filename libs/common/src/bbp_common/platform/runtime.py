"""Running a worker process: signals, the health server, and a clean stop.

SIGTERM (Kubernetes) and SIGINT (Ctrl-C) both ask for a graceful stop: stop taking work,
finish or hand back what is in hand, close connections. A second signal exits at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

from bbp_common.platform.logging import get_logger
from bbp_common.platform.settings import SettingsError

log = get_logger(__name__)


def install_stop_signals(stop: threading.Event) -> None:
    """Set ``stop`` on the first SIGTERM/SIGINT; exit on the second."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            log.warning("second_signal_exiting_now", signal=signum)
            os._exit(1)
        log.info("stop_requested", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_until_stopped(
    stop: threading.Event, tick: Callable[[], None], interval: float = 1.0
) -> None:
    """Call ``tick`` every ``interval`` s until ``stop`` is set (a stuck tick shows in /healthz)."""
    while not stop.is_set():
        tick()
        stop.wait(interval)


class Runnable(Protocol):
    def run(self) -> None: ...


def run_service(bootstrap: Callable[[], Runnable]) -> int:
    """A worker process's ``main``: build the service from its settings and run it until it is
    asked to stop; exit status 2, with the reason on stderr, when the settings are wrong."""
    try:
        service = bootstrap()
    except SettingsError as exc:
        print(str(exc), file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    service.run()
    return 0
