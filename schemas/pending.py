"""PaymentPending: a request whose gateway outcome is not known yet.

Not an outcome: it consumes no sequence number and changes no order state. It tells the
order view (and operators) that a payment is being resolved with the gateway, since
when and after how many attempts, until its one outcome event arrives.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.payment_request import PaymentKind
from schemas.types import (
    IdempotencyKey,
    NonEmptyStr,
    OrderId,
    ReasonText,
    SchemaVersion,
    UtcDatetime,
    derived_event_id,
)


class PaymentPending(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    event_id: NonEmptyStr
    event_type: Literal["payment-pending"] = "payment-pending"
    order_id: OrderId
    customer_id: NonEmptyStr
    idempotency_key: IdempotencyKey
    request_kind: PaymentKind
    since: UtcDatetime = Field(description="When the first attempt started")
    attempts: int = Field(ge=1, description="Gateway attempts without a definite answer")
    last_error: ReasonText
    correlation_id: NonEmptyStr
    occurred_at: UtcDatetime


def pending_event_id(order_id: str, idempotency_key: str, attempts: int) -> str:
    """Stable per (request, attempt count), so a re-published notice is a duplicate."""
    return derived_event_id("pending", order_id, idempotency_key, str(attempts))
