"""Connection parameters for pika, built from the one ``BBP_AMQP_URL`` setting.

The URL carries a password: only :func:`describe_url` (host, port, vhost) ever reaches a log.
pika's own retries are turned off (``connection_attempts=1``): the publisher and the consumer
runner reconnect themselves, with capped backoff, so one policy governs every retry.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pika
from pydantic import SecretStr


def secret_value(url: str | SecretStr) -> str:
    return url.get_secret_value() if isinstance(url, SecretStr) else url


def describe_url(url: str | SecretStr) -> str:
    """``amqp://host:port/vhost`` — the URL without its credentials, safe to log."""
    parts = urlsplit(secret_value(url))
    host = parts.hostname or "localhost"
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    return f"{parts.scheme or 'amqp'}://{host}:{port}/{vhost}"


def amqp_parameters(
    url: str | SecretStr,
    *,
    heartbeat: float | None = None,
    connection_name: str | None = None,
    blocked_connection_timeout: float | None = None,
) -> pika.URLParameters:
    """pika parameters for ``url``; ``heartbeat`` (seconds) overrides the URL's own."""
    params = pika.URLParameters(secret_value(url))
    if heartbeat is not None:
        params.heartbeat = max(0, round(heartbeat))
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.stack_timeout = 20
    if blocked_connection_timeout is not None:
        params.blocked_connection_timeout = blocked_connection_timeout
    if connection_name:
        # Shown by `rabbitmqctl list_connections client_properties` and the management UI.
        params.client_properties = {"connection_name": connection_name}
    return params
