"""The portal's settings (see the README's settings table)."""

from __future__ import annotations

from pydantic import Field

from bbp_common.settings import AmqpSettings, DatabaseSettings, LoggingSettings, OutboxSettings


class PortalSettings(DatabaseSettings, AmqpSettings, LoggingSettings, OutboxSettings):
    portal_metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description="Port of the portal's /metrics (not exposed by the ingress)",
    )
