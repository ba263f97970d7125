"""Fulfillment hand-off: on `payment-deposited`, publish `fulfillment-requested` once per order,
once the captured total covers the order's price.

A downstream consumer of the outcome topic, independent of the order table: a deposit
means money was captured, whatever order the other outcomes arrive in. A small table
(order id -> the request sent) makes it idempotent under redelivery. The request's event
id derives from the deposit's, and the request is published before it is recorded, so
a crash in between re-sends the very same event, which consumers de-duplicate by id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import faust
from pydantic import ValidationError

from agents.record_retry import record_key, until_done
from schemas.money import Money
from schemas.orders import FulfillmentRequested
from schemas.outcomes import parse_outcome
from schemas.types import derived_event_id
from streams.logs import get_logger
from streams.publisher import send_and_wait
from streams.settings import WorkerSettings
from streams.topics import Topics
from tables.model_table import ModelTable
from tables.worker_tables import fulfillment_table

log = get_logger("paystream.fulfillment")

PublishRequest = Callable[[FulfillmentRequested], Awaitable[None]]


def fulfillment_request_for(raw: bytes) -> FulfillmentRequested | None:
    """The request a deposit calls for, or None if the record is not a usable deposit."""
    event = parse_outcome(raw)
    if event.event_type != "payment-deposited":
        return None
    captured = event.captured_amount or event.amount
    if captured is None or not covers(captured, event.authorized_amount):
        return None
    return FulfillmentRequested(
        event_id=derived_event_id("fulfillment", event.order_id, event.event_id),
        order_id=event.order_id, customer_id=event.customer_id, captured_amount=captured,
        correlation_id=event.correlation_id, occurred_at=event.occurred_at,
    )


def covers(captured: Money, due: Money | None) -> bool:
    """Ship only when the captured total covers the order's price. The authorization is
    that price (the orchestrator authorizes the merchant's registered amount, never the
    shopper's), so a partial capture ships nothing until the captures add up to it."""
    return (due is not None and captured.currency == due.currency
            and captured.amount >= due.amount)


class FulfillmentHandler:
    def __init__(self, table: ModelTable[FulfillmentRequested],
                 publish: PublishRequest) -> None:
        self.table = table
        self.publish = publish

    async def handle(self, raw: bytes) -> FulfillmentRequested | None:
        """The request published for this record, or None (duplicate or unusable)."""
        try:
            request = fulfillment_request_for(raw)
        except ValidationError as exc:
            # The order agent dead-letters undecodable outcomes; one copy is enough.
            log.warning("fulfillment.undecodable", error=type(exc).__name__)
            return None
        if request is None:
            return None
        if request.order_id in self.table:
            log.debug("fulfillment.already_requested", order_id=request.order_id)
            return None
        await self.publish(request)
        self.table.put(request.order_id, request)
        log.info("fulfillment.requested", order_id=request.order_id,
                 event_id=request.event_id, correlation_id=request.correlation_id)
        return request


def register_fulfillment(app: faust.App, topics: Topics,
                         settings: WorkerSettings) -> ModelTable[FulfillmentRequested]:
    """Declare the fulfillment table and agent; returns the table."""
    table = fulfillment_table(app, settings.partitions)

    async def publish(request: FulfillmentRequested) -> None:
        await send_and_wait(topics.fulfillment_requested, request.order_id, request)

    handler = FulfillmentHandler(table, publish)

    @app.agent(topics.deposits, name="fulfillment", concurrency=1)
    async def fulfillment(stream: Any) -> None:
        async for event in stream.events():
            raw, key = event.value, event.key
            await until_done(partial(handler.handle, raw), agent="fulfillment",
                             order_id=record_key(key))

    return table
