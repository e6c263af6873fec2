"""The communicator's settings (see the README's settings table)."""

from __future__ import annotations

import os
import socket

from pydantic import Field

from bbp_common.platform.mobiquity import MobiquitySettings, PayerSettings
from bbp_common.platform.settings import (
    AmqpSettings,
    DatabaseSettings,
    HealthSettings,
    LoggingSettings,
    Seconds,
)
from bbp_communicator.notify_settings import NotifySenderSettings


def _default_name() -> str:
    return f"communicator@{socket.gethostname()}:{os.getpid()}"


class CommunicatorSettings(
    DatabaseSettings,
    AmqpSettings,
    LoggingSettings,
    HealthSettings,
    MobiquitySettings,
    PayerSettings,
    NotifySenderSettings,
):
    communicator_name: str = Field(
        default_factory=_default_name,
        description="This replica's name in claims and logs (default host:pid)",
    )
    communicator_fetch_workers: int = Field(
        32, ge=1, description="Fetch-bill calls one replica makes at once"
    )
    communicator_pay_workers: int = Field(
        32, ge=1, description="Billpay calls one replica makes at once"
    )
    communicator_enquiry_workers: int = Field(
        8, ge=1, description="Enquiry calls one replica makes at once"
    )
    pay_send_window: Seconds = Field(
        5,
        description="A claimed payment is sent within this long after its claim or not at "
        "all (reported not sent, queued again with the same reference id)",
    )
    communicator_result_publish_timeout: Seconds = Field(
        60,
        description="How long to keep trying to publish a result before handing the command back",
    )
