"""SDK response objects -> the gateway port's types (transactions, vaulted methods, results).

Declines are outcomes; validation errors raise (Braintree's codes kept), an idempotency
key still in flight is an unknown outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import braintree

from gateway.errors import (
    GatewayValidationError,
    IdempotencyKeyInFlightError,
    PermanentGatewayError,
)
from gateway.port import (
    Outcome,
    Transaction,
    TransactionResult,
    VaultedPaymentMethod,
)
from schemas.money import Money
from schemas.payment_request import PaymentMethodType

_INSTRUMENT_TYPES: dict[str, PaymentMethodType] = {
    "credit_card": "credit_card",
    "paypal_account": "paypal",
    "apple_pay_card": "apple_pay",
    "android_pay_card": "google_pay",
}
_DECLINE_OUTCOMES: dict[str, Outcome] = {
    "processor_declined": Outcome.PROCESSOR_DECLINED,
    "settlement_declined": Outcome.PROCESSOR_DECLINED,
    "gateway_rejected": Outcome.GATEWAY_REJECTED,
    "failed": Outcome.FAILED,
}
KEY_IN_FLIGHT = "915233"
CUSTOMER_ID_IN_USE = "91609"


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _details(t: Any) -> Any:
    for attr in ("credit_card_details", "apple_pay_details", "android_pay_card_details",
                 "paypal_details"):
        if hasattr(t, attr):
            return getattr(t, attr)
    return None


def to_transaction(t: Any) -> Transaction:
    instrument = _INSTRUMENT_TYPES.get(getattr(t, "payment_instrument_type", "") or "")
    details = _details(t)
    brand = last_4 = token = None
    if details is not None and instrument != "paypal":
        brand = getattr(details, "card_type", None)
        last_4 = getattr(details, "last_4", None)
    if details is not None:
        token = getattr(details, "token", None)
    history: dict[str, datetime | None] = {}
    for event in getattr(t, "status_history", None) or []:
        history.setdefault(event.status, _aware(getattr(event, "timestamp", None)))
    customer = getattr(t, "customer_details", None)
    return Transaction(
        id=t.id,
        type="credit" if t.type == "credit" else "sale",
        status=t.status,
        amount=Money(amount=Decimal(t.amount), currency=t.currency_iso_code),
        order_id=getattr(t, "order_id", None) or None,
        payment_method_type=instrument,
        refunded_transaction_id=getattr(t, "refunded_transaction_id", None) or None,
        refund_ids=list(getattr(t, "refund_ids", None) or []),
        merchant_account_id=getattr(t, "merchant_account_id", None),
        processor_response_code=getattr(t, "processor_response_code", None) or None,
        processor_response_text=getattr(t, "processor_response_text", None) or None,
        gateway_rejection_reason=getattr(t, "gateway_rejection_reason", None) or None,
        card_brand=brand,
        last_4=last_4,
        customer_id=getattr(customer, "id", None) or None,
        payment_method_token=token or None,
        created_at=_aware(getattr(t, "created_at", None)),
        updated_at=_aware(getattr(t, "updated_at", None)),
        authorized_at=history.get("authorized"),
        submitted_for_settlement_at=history.get("submitted_for_settlement"),
        settled_at=history.get("settled"),
        voided_at=history.get("voided"),
    )


def to_payment_method(pm: Any) -> VaultedPaymentMethod:
    kind: PaymentMethodType
    if isinstance(pm, braintree.PayPalAccount):
        kind, brand, last_4 = "paypal", None, None
    elif isinstance(pm, braintree.ApplePayCard):
        kind, brand, last_4 = "apple_pay", pm.card_type, pm.last_4
    elif isinstance(pm, braintree.AndroidPayCard):
        kind, brand, last_4 = "google_pay", pm.card_type, pm.last_4
    elif isinstance(pm, braintree.CreditCard):
        kind, brand, last_4 = "credit_card", pm.card_type, pm.last_4
    else:
        raise PermanentGatewayError(f"unsupported payment method {type(pm).__name__}")
    return VaultedPaymentMethod(
        token=pm.token,
        customer_id=getattr(pm, "customer_id", None),
        type=kind,
        is_default=bool(getattr(pm, "default", False)),
        card_brand=brand,
        last_4=last_4,
        expiration_month=getattr(pm, "expiration_month", None),
        expiration_year=getattr(pm, "expiration_year", None),
        email=getattr(pm, "email", None) if kind == "paypal" else None,
        created_at=_aware(getattr(pm, "created_at", None)),
        updated_at=_aware(getattr(pm, "updated_at", None)),
    )


def validation_errors(result: Any) -> list[GatewayValidationError]:
    return [GatewayValidationError(code=str(e.code), message=str(e.message),
                                   attribute=str(e.attribute))
            for e in result.errors.deep_errors]


def raise_for_errors(result: Any, operation: str) -> None:
    errors = validation_errors(result)
    if any(e.code == KEY_IN_FLIGHT for e in errors):
        raise IdempotencyKeyInFlightError(result.message, operation=operation)
    raise PermanentGatewayError(result.message, errors=errors, operation=operation)


def to_result(result: Any, operation: str) -> TransactionResult:
    """Successful and declined results become outcomes; validation errors raise."""
    if result.is_success:
        t = result.transaction
        return TransactionResult(
            outcome=Outcome.APPROVED, transaction=to_transaction(t),
            processor_response_code=getattr(t, "processor_response_code", None) or None,
            processor_response_text=getattr(t, "processor_response_text", None) or None,
            message="approved",
        )
    t = result.transaction
    if t is None:
        raise_for_errors(result, operation)
    outcome = _DECLINE_OUTCOMES.get(t.status, Outcome.FAILED)
    return TransactionResult(
        outcome=outcome, transaction=to_transaction(t),
        processor_response_code=getattr(t, "processor_response_code", None) or None,
        processor_response_text=getattr(t, "processor_response_text", None) or None,
        gateway_rejection_reason=getattr(t, "gateway_rejection_reason", None) or None,
        message=result.message,
    )
