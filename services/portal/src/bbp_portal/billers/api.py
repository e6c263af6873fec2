"""``/api/v1/billers``: read by every role, changed by superadmins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from marshmallow import Schema, fields, post_load, validate

from bbp_portal.api import changing, endpoint, endpoints, reading
from bbp_portal.api.patterns import NOT_BLANK_PATTERN, TRIMMED_PATTERN
from bbp_portal.billers import service
from bbp_portal.view_context import actor, engine

api = Blueprint("billers", __name__)
"""The biller catalogue under ``/api/v1`` (mounted by ``create_app``)."""


# What ``service.BillerInput.check`` accepts, in canonical form (the API does not tidy).
_NAME = [validate.Length(1, 120), validate.Regexp(NOT_BLANK_PATTERN, error="Not blank.")]
_WALLET = validate.Regexp(service.WALLET_PATTERN, error="8–15 digits (an MSISDN).")
_PRODUCT = validate.Range(1, 2**31 - 1)
_CODE = [
    validate.Length(1, 32),
    validate.Regexp(TRIMMED_PATTERN, error="No spaces around it."),
]
superadmin_decides = endpoints(tags=["billers"], roles=("superadmin",), tokens=False)


class BillerSchema(Schema):
    id = fields.Integer(dump_only=True)
    utility_code = fields.String(
        required=True,
        validate=validate.Regexp(service.UTILITY_PATTERN, error="2–16 of A–Z, 0–9, _."),
        metadata={"example": "DSCO"},
    )
    name = fields.String(required=True, validate=_NAME)
    receiver_wallet = fields.String(
        required=True, validate=_WALLET, metadata={"description": "The biller's wallet (MSISDN)"}
    )
    product_id = fields.Integer(
        required=True, validate=_PRODUCT, metadata={"description": "billpay productId"}
    )
    biller_code = fields.String(required=True, validate=_CODE)
    pays_service_charge = fields.Boolean(
        load_default=False, metadata={"description": "Pay the bill's service_charge with it"}
    )
    supports_fetch = fields.Boolean(load_default=True)
    active = fields.Boolean(load_default=True)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> service.BillerInput:
        return service.BillerInput(**data)


class BillerPatchSchema(Schema):
    name = fields.String(validate=_NAME)
    receiver_wallet = fields.String(validate=_WALLET)
    product_id = fields.Integer(validate=_PRODUCT)
    biller_code = fields.String(validate=_CODE)
    pays_service_charge = fields.Boolean()
    supports_fetch = fields.Boolean()
    active = fields.Boolean()


class BillerListQuery(Schema):
    active = fields.Boolean(metadata={"description": "Only active (true) or inactive (false)"})


@api.get("/billers")
@endpoint(
    "List the biller catalogue",
    query=BillerListQuery,
    response=BillerSchema,
    many=True,
    tags=["billers"],
)
def list_billers(query: dict[str, Any]) -> Any:
    found = reading(service.list_billers)
    if "active" in query:
        found = [b for b in found if b.active == query["active"]]
    return found


@api.get("/billers/<utility_code>")
@endpoint("Read one biller", response=BillerSchema, tags=["billers"])
def get_biller(utility_code: str) -> Any:
    return reading(service.get_biller, utility_code)


@api.post("/billers")
@superadmin_decides("Add a biller", body=BillerSchema, response=BillerSchema, status=201)
def create_biller(body: service.BillerInput) -> Any:
    return changing(service.create_biller, body)


@api.patch("/billers/<utility_code>")
@superadmin_decides(
    "Change a biller (its utility code stays); active=false deactivates it",
    body=BillerPatchSchema,
    response=BillerSchema,
)
def update_biller(utility_code: str, body: dict[str, Any]) -> Any:
    with engine().begin() as conn:
        current = service.get_biller(conn, utility_code)
        values = {
            k: getattr(current, k)
            for k in (
                "utility_code",
                "name",
                "receiver_wallet",
                "product_id",
                "biller_code",
                "pays_service_charge",
                "supports_fetch",
                "active",
            )
        }
        values.update(body)
        return service.update_biller(conn, actor(), utility_code, service.BillerInput(**values))
