"""The order's record in the orders table: its model and the bounds that keep it small.

The state machine that changes it is `tables.order_lifecycle`; this module only says what
an order holds, so views, agents and the edge can read it without the rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.money import Money
from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PaymentMethodType
from tables.after_capture import AfterCapture
from tables.order_state import APPROVABLE_STATES, OrderState
from tables.pending import PendingOperation
from tables.request_keys import RequestKey

# Enough to recognise any realistic redelivery of an order's events, small enough
# that a table value stays a few KiB.
MAX_SEEN_EVENT_IDS: Final = 256
# A gap that has not filled after this many later events is treated as lost:
# the held events are applied with an anomaly rather than waiting forever.
MAX_PENDING: Final = 32
MAX_ANOMALIES: Final = 100
# History is for support and the shopper's status page; the oldest entries go first so a
# record stays far below Kafka's message limit however many requests an order sees.
MAX_HISTORY: Final = 200


class HistoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str
    sequence: int
    from_state: OrderState
    to_state: OrderState
    at: datetime
    correlation_id: str
    reason: str | None = None


class Anomaly(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str
    from_state: OrderState
    reason: str
    at: datetime
    correlation_id: str | None = None


class Order(BaseModel):
    """One order's lifecycle. Immutable: every change is a new Order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    customer_id: str
    state: OrderState = OrderState.CREATED
    # None until an order-created or an outcome with an amount names the currency.
    currency: str | None = None
    expected_amount: Money | None = None
    authorized_amount: Money | None = None
    captured_amount: Money | None = None
    refunded_amount: Money | None = None
    authorization_transaction_id: str | None = None
    refund_transaction_ids: tuple[str, ...] = ()
    payment_method_type: PaymentMethodType | None = None
    last_sequence: int = Field(default=0, ge=0)
    seen_event_ids: tuple[str, ...] = ()
    pending: dict[int, OutcomeEvent] = Field(default_factory=dict)
    # A request the gateway has not answered definitely yet; the state does not move
    # until its one outcome arrives.
    pending_operation: PendingOperation | None = None
    history: tuple[HistoryEntry, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    # Whether order-created has been seen; an order can exist from outcomes alone.
    announced: bool = False
    # Kept apart from seen_event_ids so that window holds outcomes in sequence order
    # only, whatever moment order-created happened to arrive.
    created_event_ids: tuple[str, ...] = ()
    # The merchant that registered the order (its back-office client id) and its reference.
    merchant_id: str | None = None
    merchant_reference: str | None = None
    # Idempotency-Keys of the order's payment requests (tables.request_keys).
    request_keys: dict[str, RequestKey] = Field(default_factory=dict)
    # Captures' settlement and disputes, from outcomes and webhooks (tables.after_capture).
    after_capture: AfterCapture = Field(default_factory=AfterCapture)
    created_at: datetime
    updated_at: datetime

    @property
    def still_authorized(self) -> Money | None:
        """What the authorization still holds for more captures (split shipments)."""
        if self.authorized_amount is None or self.state in APPROVABLE_STATES \
                or self.state == OrderState.REVERSED:
            return None
        captured = self.captured_amount or Money.zero(self.authorized_amount.currency)
        return self.authorized_amount - captured

    @property
    def remaining_refundable(self) -> Money | None:
        if self.captured_amount is None:
            return None
        if self.refunded_amount is None:
            return self.captured_amount
        return self.captured_amount - self.refunded_amount


@dataclass(frozen=True)
class ApplyResult:
    order: Order
    applied: list[OutcomeEvent] = field(default_factory=list)
    duplicate: bool = False
    held: bool = False
    anomalies: list[Anomaly] = field(default_factory=list)


def new_order(order_id: str, customer_id: str, at: datetime) -> Order:
    return Order(order_id=order_id, customer_id=customer_id, created_at=at, updated_at=at)
