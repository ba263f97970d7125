"""Order-side events: the order's creation, lifecycle anomalies, and the fulfillment hand-off."""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas.money import Money
from schemas.types import NonEmptyStr, OrderId, ReasonText, SchemaVersion, UtcDatetime, new_event_id

# Mirrors tables.order_lifecycle.OrderState (a test keeps them equal); spelled out here
# because wire schemas must not depend on the state machine's module.
OrderStateName = Literal[
    "CREATED",
    "AUTHORIZED",
    "PAID",
    "PARTIALLY_REFUNDED",
    "REFUNDED",
    "REVERSED",
    "DECLINED",
    "FAILED",
]


# The merchant's own order number or similar: printable, short, never parsed by us.
MerchantReference = Annotated[str, StringConstraints(min_length=1, max_length=128,
                                                     pattern=r"^[\x20-\x7e]+$")]


class OrderCreated(BaseModel):
    """An order exists and expects `amount` to be paid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    event_id: NonEmptyStr = Field(default_factory=new_event_id)
    event_type: Literal["order-created"] = "order-created"
    order_id: OrderId
    customer_id: NonEmptyStr
    amount: Money = Field(description="Expected order total")
    merchant_id: NonEmptyStr | None = Field(
        default=None, description="The merchant back office that registered the order")
    merchant_reference: MerchantReference | None = Field(
        default=None, description="The merchant's own reference for the order")
    correlation_id: NonEmptyStr
    occurred_at: UtcDatetime


class OrderAnomaly(BaseModel):
    """An event the order lifecycle could not apply (e.g. a refund of an unpaid order)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    order_id: OrderId
    event_id: NonEmptyStr = Field(description="Id of the event that could not be applied")
    event_type: NonEmptyStr = Field(description="Type of the event that could not be applied")
    from_state: OrderStateName
    reason: ReasonText
    correlation_id: str | None = None
    occurred_at: UtcDatetime


class FulfillmentRequested(BaseModel):
    """The order is paid: fulfillment may ship."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: SchemaVersion = 1
    event_id: NonEmptyStr = Field(default_factory=new_event_id)
    event_type: Literal["fulfillment-requested"] = "fulfillment-requested"
    order_id: OrderId
    customer_id: NonEmptyStr
    captured_amount: Money
    correlation_id: str | None = None
    occurred_at: UtcDatetime


ORDER_CREATED_TOPIC: Final = "order-created"
ORDER_ANOMALIES_TOPIC: Final = "order-anomalies"
FULFILLMENT_REQUESTED_TOPIC: Final = "fulfillment-requested"
