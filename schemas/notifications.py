"""Gateway notifications: what Braintree's webhooks said, as one wire model on Kafka.

The edge verifies and parses each webhook with the SDK and produces one
`GatewayNotification` to `gateway-notifications`, keyed by order id (or by dispute id for
a dispute whose transaction names no order, or by the disbursement id). Webhooks are
delivered at least once and in any order, so every consumer deduplicates by
`notification_id`, derived from what Braintree says identifies the notification: its
kind, its subject's id and its timestamp.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from schemas.money import Money
from schemas.types import NonEmptyStr, SchemaVersion, UtcDatetime, derived_event_id

NotificationKind = Literal[
    "transaction_settled",
    "transaction_settlement_declined",
    "dispute_opened",
    "dispute_under_review",
    "dispute_accepted",
    "dispute_disputed",
    "dispute_won",
    "dispute_lost",
    "dispute_expired",
    "disbursement",
]
NOTIFICATION_KINDS: Final[tuple[str, ...]] = NotificationKind.__args__  # type: ignore[attr-defined]
SETTLEMENT_KINDS: Final = frozenset({"transaction_settled", "transaction_settlement_declined"})
DISPUTE_KINDS: Final = frozenset(k for k in NOTIFICATION_KINDS if k.startswith("dispute_"))


class GatewayNotification(BaseModel):
    """One verified webhook. Carries no card data: ids, statuses and amounts only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    notification_id: NonEmptyStr
    kind: NotificationKind
    # When Braintree says it happened (webhooks can arrive late and out of order).
    timestamp: UtcDatetime
    received_at: UtcDatetime
    order_id: str | None = None
    # The transaction the notification is about (for a dispute: the disputed sale).
    transaction_id: str | None = None
    transaction_type: Literal["sale", "credit"] | None = None
    # For a refund: the sale it refunds; for a split capture: the authorization.
    refunded_transaction_id: str | None = None
    authorized_transaction_id: str | None = None
    transaction_status: str | None = None
    amount: Money | None = None
    settlement_response_code: str | None = None
    settlement_response_text: str | None = None
    dispute_id: str | None = None
    dispute_status: str | None = None
    dispute_reason: str | None = None
    amount_disputed: Money | None = None
    amount_won: Money | None = None
    reply_by: UtcDatetime | None = None
    disbursement_id: str | None = None
    # The disbursement's net was taken from the merchant (`amount` is then its size).
    disbursement_debit: bool = False

    @property
    def partition_key(self) -> str:
        return self.order_id or self.dispute_id or self.disbursement_id or self.notification_id


HoldAction = Literal["hold", "release", "cancel"]


class FulfillmentHold(BaseModel):
    """Hold, release or cancel an order's shipments because of a dispute
    (`fulfillment-holds`, keyed by order id; event id derived from the dispute change)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: NonEmptyStr
    event_type: Literal["fulfillment-hold"] = "fulfillment-hold"
    order_id: NonEmptyStr
    dispute_id: NonEmptyStr
    action: HoldAction
    reason: NonEmptyStr
    occurred_at: UtcDatetime


def notification_id(kind: str, subject_id: str, timestamp: str) -> str:
    """The one identity of a notification: a replay (same kind, subject, time) gets it again."""
    return derived_event_id("gateway-notification", kind, subject_id, timestamp)


__all__ = [
    "DISPUTE_KINDS",
    "NOTIFICATION_KINDS",
    "SETTLEMENT_KINDS",
    "FulfillmentHold",
    "GatewayNotification",
    "HoldAction",
    "NotificationKind",
    "notification_id",
]
