"""Braintree webhooks in: verify and parse with the SDK, map to `GatewayNotification`.

Verification is the SDK's own (`gateway.webhook_notification.parse`: the signature pair for
our public key, HMAC-SHA1 under the private key); nothing here re-implements it. Parsing
needs no HTTP, so the SDK is called directly on the caller's thread.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import braintree
from braintree.exceptions.invalid_signature_error import InvalidSignatureError

from gateway.braintree_adapter import build_environment
from gateway.settings import GatewaySettings
from schemas.money import Money
from schemas.notifications import (
    NOTIFICATION_KINDS,
    GatewayNotification,
    NotificationKind,
    notification_id,
)


class InvalidNotification(ValueError):
    """The webhook is not Braintree's (bad signature) or not one we understand."""

    def __init__(self, message: str, *, forged: bool) -> None:
        super().__init__(message)
        # Forged or tampered (403) as opposed to well signed but unusable (400).
        self.forged = forged


class NotificationParser:
    """Verifies and parses webhooks with the merchant's key pair."""

    def __init__(self, settings: GatewaySettings | None = None) -> None:
        settings = settings or GatewaySettings()
        self._sdk = braintree.BraintreeGateway(braintree.Configuration(
            environment=build_environment(settings), merchant_id=settings.merchant_id,
            public_key=settings.public_key,
            private_key=settings.private_key.get_secret_value()))

    def parse(self, signature: str, payload: str, *,
              received_at: datetime | None = None) -> GatewayNotification:
        try:
            parsed = self._sdk.webhook_notification.parse(signature, payload)
        except InvalidSignatureError as exc:
            raise InvalidNotification(str(exc), forged=True) from None
        except Exception as exc:  # malformed XML inside a valid signature
            raise InvalidNotification(f"unreadable payload ({type(exc).__name__})",
                                      forged=False) from None
        try:
            return to_notification(parsed, received_at or datetime.now(UTC))
        except InvalidNotification:
            raise
        except (ValueError, TypeError, AttributeError, ArithmeticError) as exc:
            # Signed by Braintree but not what we can map: a clear 400 (Braintree keeps
            # it and delivers it again), never a crash.
            raise InvalidNotification(f"unusable {parsed.kind} notification "
                                      f"({type(exc).__name__})", forged=False) from None


def to_notification(parsed: Any, received_at: datetime) -> GatewayNotification:
    kind = str(parsed.kind)
    if kind not in NOTIFICATION_KINDS:
        raise InvalidNotification(f"notification kind {kind!r} is not handled", forged=False)
    timestamp = _aware(parsed.timestamp) or received_at
    fields: dict[str, Any] = {}
    subject_id: str
    if kind.startswith("transaction_"):
        t = parsed.transaction
        subject_id = t.id
        fields = {
            "order_id": getattr(t, "order_id", None) or None,
            "transaction_id": t.id,
            "transaction_type": "credit" if t.type == "credit" else "sale",
            "refunded_transaction_id": getattr(t, "refunded_transaction_id", None) or None,
            "authorized_transaction_id": getattr(t, "authorized_transaction_id", None) or None,
            "transaction_status": t.status,
            "amount": _money(t.amount, t.currency_iso_code),
            "settlement_response_code":
                getattr(t, "processor_settlement_response_code", None) or None,
            "settlement_response_text":
                getattr(t, "processor_settlement_response_text", None) or None,
        }
    elif kind.startswith("dispute_"):
        d = parsed.dispute
        subject_id = d.id
        txn = getattr(d, "transaction", None)
        currency = getattr(d, "currency_iso_code", None) or "USD"
        fields = {
            "order_id": getattr(txn, "order_id", None) or None,
            "transaction_id": getattr(txn, "id", None),
            "dispute_id": d.id,
            "dispute_status": d.status,
            "dispute_reason": getattr(d, "reason", None),
            "amount_disputed": _money(getattr(d, "amount_disputed", None), currency),
            "amount_won": _money(getattr(d, "amount_won", None), currency),
            "reply_by": _aware(getattr(d, "reply_by_date", None)),
        }
    else:
        b = parsed.disbursement
        subject_id = b.id
        raw = getattr(b, "amount", None)
        net = None if raw in (None, "") else Decimal(str(raw))
        # A disbursement is a net: when refunds and chargebacks exceed the sales it
        # settles, Braintree debits the merchant and the amount is negative.
        debit = net is not None and net < 0
        fields = {"disbursement_id": b.id, "disbursement_debit": debit,
                  "amount": _money(abs(net) if net is not None else None,
                                   getattr(getattr(b, "merchant_account", None),
                                           "currency_iso_code", None) or "USD")}
    return GatewayNotification(
        notification_id=notification_id(kind, subject_id, timestamp.isoformat()),
        kind=cast(NotificationKind, kind), timestamp=timestamp, received_at=received_at,
        **fields)


def _money(value: Any, currency: str) -> Money | None:
    if value is None or value == "":
        return None
    return Money(amount=Decimal(str(value)), currency=currency)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return None


__all__ = ["InvalidNotification", "NotificationParser", "to_notification"]
