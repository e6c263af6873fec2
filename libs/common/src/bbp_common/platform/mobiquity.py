"""Mobiquity settings and the one place that turns them into a ``MobiquityClient``.

The portal (sign-in, passwords) and the communicator (bills, payments, enquiries) build
their clients here, so both read the same variables and the same open-point decisions.
Only services that depend on ``mobiquity-client`` themselves import this module, so
``bbp-common`` does not (the scheduler and the migration image do without it).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from bbp_common.platform.settings import Seconds, _Base
from mobiquity_client import (
    AuthPolicy,
    EnquiryContract,
    MobiquityClient,
    OnCall,
    Paths,
    PayerWallet,
    ReferencePlacement,
    RetryPolicy,
    Timeouts,
)
from mobiquity_client.config import Endpoint


class MobiquitySettings(_Base):
    mobiquity_base_url: str = Field(
        description="Mobiquity base URL, e.g. https://mfsbaastest.grameenphone.com"
    )
    mobiquity_client_id: str = Field(description="OAuth client id for the system token")
    mobiquity_client_secret: SecretStr = Field(description="OAuth client secret (a secret)")
    mobiquity_connect_timeout: Seconds = Field(3, description="Seconds to connect to Mobiquity")
    mobiquity_read_timeout: Seconds = Field(
        15, description="Seconds to wait for Mobiquity's answer before it counts as no answer"
    )
    mobiquity_bearer_on_bill_calls: bool = Field(
        True, description="Send the system token on fetch-bill, billpay and enquiry (open point 3)"
    )
    mobiquity_reference_field: str = Field(
        "externalReferenceId",
        description="Top-level billpay field carrying our reference id ('' for none; open point 2)",
    )
    mobiquity_reference_in_remarks: bool = Field(
        True, description="Also send the reference id as billpay 'remarks'"
    )
    mobiquity_reference_in_other1: bool = Field(
        False, description="Also send the reference id as billpay 'partnerData.other1'"
    )
    mobiquity_enquiry_path: str = Field(
        "/jigsaw/v1/order/enquiry/{reference}",
        description="Path of the enquiry call; {reference} is our reference id (open point 1)",
    )
    mobiquity_enquiry_method: str = Field(
        "GET", pattern="^(GET|POST)$", description="HTTP method of the enquiry call"
    )
    mobiquity_token_renew_margin: Seconds = Field(
        30, description="Renew the cached system token this long before it expires"
    )

    @field_validator("mobiquity_base_url")
    @classmethod
    def _absolute_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")


class PayerSettings(_Base):
    payer_msisdn: str = Field(description="The paying wallet's mobile number (billpay sender)")
    payer_mpin: SecretStr = Field(
        description="The paying wallet's MPIN (a secret; communicator only)"
    )
    payer_product_id: int = Field(12, description="productId of the paying wallet's instrument")


def make_client(
    settings: MobiquitySettings,
    *,
    retries: RetryPolicy | None = None,
    sender: PayerWallet | None = None,
    pool_size: int = 20,
    on_call: OnCall | None = None,
    **kwargs: Any,
) -> MobiquityClient:
    """A client configured from settings. Pass ``RetryPolicy.none()`` where calls are paced."""
    system_token_for = set(AuthPolicy().system_token_for)
    if not settings.mobiquity_bearer_on_bill_calls:
        system_token_for -= {Endpoint.FETCH, Endpoint.BILLPAY, Endpoint.ENQUIRY}
    return MobiquityClient(
        settings.mobiquity_base_url,
        settings.mobiquity_client_id,
        settings.mobiquity_client_secret.get_secret_value(),
        timeouts=Timeouts(
            connect=settings.mobiquity_connect_timeout, read=settings.mobiquity_read_timeout
        ),
        paths=Paths(enquiry=settings.mobiquity_enquiry_path),
        retries=retries,
        sender=sender,
        auth=AuthPolicy(
            system_token_for=frozenset(system_token_for),
            renew_margin_seconds=settings.mobiquity_token_renew_margin,
        ),
        reference_in=ReferencePlacement(
            top_level_field=settings.mobiquity_reference_field or None,
            remarks=settings.mobiquity_reference_in_remarks,
            partner_data_other1=settings.mobiquity_reference_in_other1,
        ),
        enquiry=EnquiryContract(method=settings.mobiquity_enquiry_method),
        pool_size=pool_size,
        on_call=on_call,
        **kwargs,
    )


def payer_wallet(settings: PayerSettings) -> PayerWallet:
    return PayerWallet(
        msisdn=settings.payer_msisdn,
        mpin=settings.payer_mpin.get_secret_value(),
        product_id=settings.payer_product_id,
    )
