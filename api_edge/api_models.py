"""Request and response bodies of the public API (Payments-A) and the internal one (B).

Amounts are `schemas.money.Money`: `{"amount": "10.00", "currency": "USD"}`, decimal strings,
checked against the currency's minor units; floats are refused. Payment credentials
(nonces, vault tokens) are kept out of reprs and validation errors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from api_edge.after_capture_views import (
    DisputeOnOrderView,
    PendingOperationView,
    SettlementView,
)
from schemas.money import Money
from schemas.orders import MerchantReference
from schemas.payment_request import PaymentKind, PaymentMethodType
from schemas.types import OrderId
from tables.order_state import OrderState
from tables.request_keys import RequestKey
from tables.wallet_state import ExpirationMonth, ExpirationYear, PostalCode

# Vault tokens appear in URL paths, so their alphabet is kept URL- and log-safe.
MethodToken = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]
Nonce = Annotated[str, StringConstraints(min_length=1, max_length=512)]


def _positive(value: Money) -> Money:
    if value.is_zero:
        raise ValueError("amount must be greater than zero")
    return value


PositiveMoney = Annotated[Money, AfterValidator(_positive)]

_REQUEST_CONFIG = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


# A shopper's id as tokens carry it (the `sub` claim): printable ASCII, no spaces.
CustomerId = Annotated[str, StringConstraints(min_length=1, max_length=256,
                                              pattern=r"^[\x21-\x7e]+$")]

# ---------------------------------------------------------------------- public requests


class RegisterOrderRequest(BaseModel):
    """The merchant registers an order and its price before the shopper checks out."""

    model_config = _REQUEST_CONFIG

    customer_id: CustomerId = Field(description="The shopper (token subject) who will pay.")
    amount: PositiveMoney = Field(description="The order's price; checkout must match it.")
    merchant_reference: MerchantReference | None = Field(
        default=None, description="Your own reference for the order.")


class CheckoutRequest(BaseModel):
    """Authorize (approve) a registered order's payment with a saved method or a nonce.

    `amount` must equal the price the merchant registered (else 422); it is a check, the
    price charged is always the registered one.
    """

    model_config = _REQUEST_CONFIG

    order_id: OrderId
    amount: PositiveMoney
    payment_method_token: MethodToken | None = Field(
        default=None, repr=False, description="A method saved in your wallet."
    )
    payment_method_nonce: Nonce | None = Field(
        default=None, repr=False, validate_default=True,
        description="A one-time nonce from the client SDK (guest-style payment).",
    )
    payment_method_type: PaymentMethodType | None = Field(
        default=None, validate_default=True,
        description="Required with a nonce; with a saved method it must match the wallet.",
    )

    @field_validator("payment_method_nonce")
    @classmethod
    def _exactly_one_credential(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "payment_method_token" in info.data and (
            (info.data["payment_method_token"] is None) == (value is None)
        ):
            raise ValueError("give exactly one of payment_method_token or payment_method_nonce")
        return value

    @field_validator("payment_method_type")
    @classmethod
    def _type_with_nonce(
        cls, value: PaymentMethodType | None, info: ValidationInfo
    ) -> PaymentMethodType | None:
        if info.data.get("payment_method_nonce") is not None and value is None:
            raise ValueError("payment_method_type is required with payment_method_nonce")
        return value


class DepositRequest(BaseModel):
    """Capture an authorized order; without an amount, everything still authorized.

    Less than that is one shipment of a split capture and leaves the rest authorized for
    the next one, unless `final_capture` releases it."""

    model_config = _REQUEST_CONFIG
    amount: PositiveMoney | None = None
    final_capture: bool | None = None


class RefundRequest(BaseModel):
    """Refund a paid order; without an amount, what remains refundable."""

    model_config = _REQUEST_CONFIG
    amount: PositiveMoney | None = None


class ReverseRequest(BaseModel):
    """Void an authorization (or a capture not yet settled). All or nothing."""

    model_config = _REQUEST_CONFIG


class AddPaymentMethodRequest(BaseModel):
    model_config = _REQUEST_CONFIG
    nonce: Nonce = Field(repr=False, description="A one-time nonce from the client SDK.")
    make_default: bool = False


class UpdatePaymentMethodRequest(BaseModel):
    model_config = _REQUEST_CONFIG
    make_default: bool | None = None
    expiration_month: ExpirationMonth | None = None
    expiration_year: ExpirationYear | None = None
    billing_postal_code: PostalCode | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# -------------------------------------------------------------------------- responses


class OrderRegistered(BaseModel):
    order_id: str = Field(description="Issued by paystream; the shopper checks out with it.")
    customer_id: str
    amount: Money
    merchant_reference: str | None = None
    status_url: str


class PaymentAccepted(BaseModel):
    payment_id: str
    order_id: str
    kind: PaymentKind
    status: Literal["accepted"] = "accepted"
    status_url: str = Field(description="Poll this for the order's state and history.")


class HistoryEntryView(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_type: str
    from_state: OrderState
    to_state: OrderState
    at: datetime
    reason: str | None = None


class AnomalyView(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_type: str
    from_state: OrderState
    reason: str
    at: datetime


class OrderView(BaseModel):
    """An order as the order table holds it."""

    model_config = ConfigDict(extra="ignore")
    order_id: str
    customer_id: str
    state: OrderState
    currency: str | None = None
    expected_amount: Money | None = None
    authorized_amount: Money | None = None
    captured_amount: Money | None = None
    refunded_amount: Money | None = None
    merchant_id: str | None = None
    merchant_reference: str | None = None
    history: list[HistoryEntryView] = Field(default_factory=list)
    anomalies: list[AnomalyView] = Field(default_factory=list)
    # After capture: what the authorization still holds for more shipments, settlement,
    # disputes, and a request still waiting (api_edge.after_capture_views).
    still_authorized: Money | None = None
    pending_operation: PendingOperationView | None = None
    settlement: SettlementView = Field(default_factory=SettlementView)
    disputes: list[DisputeOnOrderView] = Field(default_factory=list)
    open_dispute: bool = False
    # Read from the worker for idempotent replays; never shown to clients.
    request_keys: dict[str, RequestKey] = Field(default_factory=dict, exclude=True)


class PaymentMethodView(BaseModel):
    """A saved payment method; display data only."""

    model_config = ConfigDict(extra="ignore")
    token: str
    type: PaymentMethodType
    is_default: bool = False
    card_brand: str | None = None
    last_4: str | None = None
    expiration_month: str | None = None
    expiration_year: str | None = None
    email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class WalletView(BaseModel):
    methods: list[PaymentMethodView]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class PublicReadiness(BaseModel):
    status: Literal["ready", "not ready"]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(
        description="Each dependency's state: 'ok' or why it is not."
    )


# ------------------------------------------------------------------ internal (A -> B)


class PaymentCommand(BaseModel):
    """What A sends B for any payment operation; the shopper comes from a header."""

    model_config = _REQUEST_CONFIG
    kind: PaymentKind
    order_id: OrderId
    amount: PositiveMoney | None = None
    payment_method_token: MethodToken | None = Field(default=None, repr=False)
    payment_method_nonce: Nonce | None = Field(default=None, repr=False)
    payment_method_type: PaymentMethodType | None = None
    final_capture: bool | None = None

    @field_validator("payment_method_token", "payment_method_nonce")
    @classmethod
    def _credentials_only_for_approve(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") != "approve":
            raise ValueError(f"{info.field_name} is only accepted for approve")
        return value
