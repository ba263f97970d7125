"""PaymentRequest: the command carried from the orchestrator through SQS to the executor."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from schemas.money import Money
from schemas.types import IdempotencyKey, NonEmptyStr, OrderId, SchemaVersion, UtcDatetime

PaymentKind = Literal["approve", "deposit", "reverse", "refund"]
RequestedBy = Literal["customer", "merchant"]
PaymentMethodType = Literal["credit_card", "paypal", "apple_pay", "google_pay"]

PAYMENT_KINDS: tuple[PaymentKind, ...] = ("approve", "deposit", "reverse", "refund")
PAYMENT_METHOD_TYPES: tuple[PaymentMethodType, ...] = (
    "credit_card", "paypal", "apple_pay", "google_pay",
)


class PaymentRequest(BaseModel):
    """One payment operation on one order.

    approve = authorize (amount, method type and exactly one of token/nonce required);
    deposit = capture (amount omitted = capture everything authorized);
    reverse = void (never an amount);
    refund = refund a settled capture (amount omitted = refund the remainder).

    The per-kind rules are field validators (not one model validator) so that an
    error's location names the offending field, which the HTTP edge returns as is.
    They depend on `kind` being declared before the fields they check.
    """

    # hide_input_in_errors: a validation error would otherwise echo a nonce or token
    # back into whatever logs the error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    schema_version: SchemaVersion = 1
    payment_id: NonEmptyStr
    idempotency_key: IdempotencyKey
    order_id: OrderId
    customer_id: NonEmptyStr
    kind: PaymentKind
    amount: Money | None = Field(default=None, validate_default=True)
    # repr=False: these are payment credentials and must never reach a log line,
    # which is where reprs of failed messages end up.
    payment_method_token: NonEmptyStr | None = Field(
        default=None, repr=False, validate_default=True
    )
    payment_method_nonce: NonEmptyStr | None = Field(
        default=None, repr=False, validate_default=True
    )
    payment_method_type: PaymentMethodType | None = Field(default=None, validate_default=True)
    correlation_id: NonEmptyStr
    requested_at: UtcDatetime
    # Who asked: the order's customer, or the merchant that registered it (capture,
    # refund, reverse after capture are merchant operations; the executor checks). The
    # orchestrator always says; None (internal tools, replays of older records) leaves
    # only the ownership check to the executor.
    requested_by: RequestedBy | None = None
    # SHA-256 of the public request (method, route, body) the idempotency key was first
    # used for, so a replay on another orchestrator instance can tell "same" from "other".
    request_fingerprint: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    # deposit only: this capture is the last of a split shipment and releases the rest of
    # the authorization. None: final when it takes everything still authorized.
    final_capture: bool | None = None

    @field_validator("amount")
    @classmethod
    def _amount_per_kind(cls, value: Money | None, info: ValidationInfo) -> Money | None:
        kind = info.data.get("kind")
        if value is not None and value.is_zero:
            raise ValueError("amount must be greater than zero")
        if kind == "approve" and value is None:
            raise ValueError("amount is required for approve")
        if kind == "reverse" and value is not None:
            raise ValueError("amount must be omitted for reverse (a void is all or nothing)")
        return value

    @field_validator("payment_method_token", "payment_method_nonce")
    @classmethod
    def _credentials_per_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        # Only an authorization charges a payment method; carrying credentials on
        # later operations would only widen where they travel.
        if kind is not None and kind != "approve" and value is not None:
            raise ValueError(f"{info.field_name} must be omitted for {kind}")
        if (
            kind == "approve"
            and info.field_name == "payment_method_nonce"
            and "payment_method_token" in info.data
            and (info.data["payment_method_token"] is None) == (value is None)
        ):
            raise ValueError(
                "approve needs exactly one of payment_method_token or payment_method_nonce"
            )
        return value

    @field_validator("payment_method_type")
    @classmethod
    def _method_type_per_kind(
        cls, value: PaymentMethodType | None, info: ValidationInfo
    ) -> PaymentMethodType | None:
        if info.data.get("kind") == "approve" and value is None:
            raise ValueError("payment_method_type is required for approve")
        return value

    @field_validator("final_capture")
    @classmethod
    def _final_only_for_deposit(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        if value is not None and info.data.get("kind") != "deposit":
            raise ValueError("final_capture is only for deposit")
        return value

    @property
    def credential_kind(self) -> Literal["token", "nonce"] | None:
        """Which credential an approve carries, without exposing its value."""
        if self.payment_method_token is not None:
            return "token"
        if self.payment_method_nonce is not None:
            return "nonce"
        return None
