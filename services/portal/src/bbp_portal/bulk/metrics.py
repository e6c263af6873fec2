"""The portal's own Prometheus metrics (requests, exports, the after-commit relay).

Under gunicorn every worker is a process of its own: with ``PROMETHEUS_MULTIPROC_DIR`` set
in the environment before gunicorn starts (the image and ``gunicorn.conf.py`` see to it),
prometheus_client keeps each process's values in files there and the master's ``/metrics``
adds them up. Only counters live here — they add up across processes with no
``multiprocess_mode`` to choose — and the module defines them once, at import, in the
global registry, which the worker processes import after the fork (``preload_app = False``).
"""

from __future__ import annotations

from prometheus_client import Counter

REQUESTS_CREATED = Counter(
    "bbp_portal_requests_created_total",
    "Bulk requests created from the portal (pages and API)",
    ["kind", "via"],
)
ITEMS_CREATED = Counter(
    "bbp_portal_request_items_created_total",
    "Items (accounts to fetch, bills to pay) in the requests created",
    ["kind"],
)
REQUESTS_CANCELLED = Counter(
    "bbp_portal_requests_cancelled_total",
    "Requests cancelled from the portal",
    ["kind"],
)
EXPORTS = Counter(
    "bbp_portal_request_exports_total",
    "Result files downloaded",
    ["format"],
)
AFTER_COMMIT_RELAY = Counter(
    "bbp_portal_after_commit_relay_total",
    "Outbox rows the portal tried to publish right after commit: published, or left for "
    "the scheduler's relay (broker down or slow)",
    ["outcome"],
)

__all__ = [
    "AFTER_COMMIT_RELAY",
    "EXPORTS",
    "ITEMS_CREATED",
    "REQUESTS_CANCELLED",
    "REQUESTS_CREATED",
]
