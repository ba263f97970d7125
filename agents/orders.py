"""The order lifecycle agent: folds `order-created` and the outcome topics into the orders table.

One agent over all its topics (co-partitioned, keyed by order id), at concurrency 1,
so the events of one order are applied one at a time by the worker that owns its row.
It is the table's only writer: gateway notifications (settlement, disputes) are folded
here too, since a second agent's read-await-write would overwrite what this one wrote
in between.
The state machine (sequencing, duplicates, anomalies) is the pure core in
`tables.order_lifecycle`; this module only decodes, applies, publishes and stores.

Effects are ordered for at-least-once delivery: anomalies are published (and acked by
the broker) before the new order is written to the table. A crash in between replays
the record; the replay publishes the same anomaly again (consumers key on the event id),
and once the row is written the record is recognised as a duplicate and does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import faust
from pydantic import ValidationError

from agents import metrics
from agents.notifications import OrderNotificationHandler
from agents.record_retry import record_key, until_done
from schemas.dead_letter import DeadLetter
from schemas.orders import OrderAnomaly, OrderCreated
from schemas.outcomes import parse_outcome
from schemas.payment_request import PaymentRequest
from schemas.pending import PaymentPending
from schemas.validation import describe_validation_error
from streams.channels import (
    GATEWAY_NOTIFICATIONS,
    ORDER_ANOMALIES,
    ORDER_CREATED,
    PAYMENT_PENDING,
    PAYMENT_REQUESTS,
)
from streams.logs import get_logger
from streams.publisher import send_and_wait
from streams.settings import WorkerSettings
from streams.topics import Topics
from tables.after_capture import DisputeChanged
from tables.model_table import ModelTable
from tables.order_lifecycle import (
    anomaly_events,
    apply_order_created,
    apply_outcome,
    apply_pending,
    apply_reported_anomaly,
)
from tables.order_record import Order
from tables.request_keys import record_request
from tables.worker_tables import orders_table

log = get_logger("paystream.orders")

PublishAnomaly = Callable[[OrderAnomaly], Awaitable[None]]
PublishDeadLetter = Callable[[DeadLetter, str | None], Awaitable[None]]


class OrderEventHandler:
    """Applies one raw record from an order topic; never raises for a bad record."""

    def __init__(self, store: ModelTable[Order], publish_anomaly: PublishAnomaly,
                 dead_letter: PublishDeadLetter,
                 notifications: OrderNotificationHandler | None = None) -> None:
        self.store = store
        self.publish_anomaly = publish_anomaly
        self.dead_letter = dead_letter
        self.notifications = notifications

    async def handle(self, topic: str, key: bytes | None, raw: bytes) -> Order | None:
        key_text = record_key(key)
        if topic == PAYMENT_REQUESTS:
            return self._remember_key(raw)
        if topic == GATEWAY_NOTIFICATIONS:
            return await self.notifications.handle(raw) if self.notifications else None
        try:
            if topic == ORDER_CREATED:
                created = OrderCreated.model_validate_json(raw)
                order = apply_order_created(self.store.get(created.order_id), created)
                self.store.put(order.order_id, order)
                return order
            if topic == ORDER_ANOMALIES:
                report = OrderAnomaly.model_validate_json(raw)
                recorded = apply_reported_anomaly(self.store.get(report.order_id), report)
                if recorded is not None:
                    self.store.put(recorded.order_id, recorded)
                return recorded
            if topic == PAYMENT_PENDING:
                notice = PaymentPending.model_validate_json(raw)
                order = apply_pending(self.store.get(notice.order_id), notice)
                self.store.put(order.order_id, order)
                return order
            event = parse_outcome(raw)
        except ValidationError as exc:
            await self._park(topic, key_text, raw, exc)
            return None
        if event.event_type != topic:
            log.warning("order.event_on_wrong_topic", topic=topic, event_type=event.event_type,
                        order_id=event.order_id, event_id=event.event_id)
        try:
            result = apply_outcome(self.store.get(event.order_id), event)
        except Exception as exc:  # a bug in the core must not stop every order behind it
            log.exception("order.apply_failed", order_id=event.order_id,
                          event_id=event.event_id)
            await self._park(topic, key_text, raw, exc)
            return None
        if result.duplicate and not result.anomalies:
            log.debug("order.duplicate", order_id=event.order_id, event_id=event.event_id)
            return result.order
        for anomaly in anomaly_events(result.order, result.anomalies):
            metrics.ORDER_ANOMALIES.labels(event_type=anomaly.event_type).inc()
            log.warning("order.anomaly", order_id=anomaly.order_id, event_id=anomaly.event_id,
                        event_type=anomaly.event_type, from_state=anomaly.from_state,
                        reason=anomaly.reason, correlation_id=anomaly.correlation_id)
            await self.publish_anomaly(anomaly)
        if result.held:
            log.info("order.event_held", order_id=event.order_id, event_id=event.event_id,
                     sequence=event.sequence, last_sequence=result.order.last_sequence)
        self.store.put(result.order.order_id, result.order)
        return result.order

    def _remember_key(self, raw: bytes) -> Order | None:
        """Keep the request's Idempotency-Key with its order, for replays on any
        orchestrator (`tables.request_keys`). Malformed requests are the executor's to
        dead-letter; unregistered orders have no record to keep keys in."""
        try:
            request = PaymentRequest.model_validate_json(raw)
        except ValidationError:
            return None
        order = self.store.get(request.order_id)
        if order is None:
            return None
        updated = record_request(order, request)
        if updated is not order:
            self.store.put(updated.order_id, updated)
        return updated

    async def _park(self, topic: str, key: str | None, raw: bytes, exc: Exception) -> None:
        # A record nobody can decode would otherwise be skipped without a trace.
        log.error("order.undecodable", topic=topic, order_id=key, error=type(exc).__name__)
        metrics.DEAD_LETTERS.labels(source=topic).inc()
        await self.dead_letter(DeadLetter(
            source=topic, reason=_short(exc), payload=raw.decode("utf-8", errors="replace"),
            error_type=type(exc).__name__, first_seen_at=datetime.now(UTC), attempts=1,
            order_id=key,
        ), key)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Locations and messages only: the input itself belongs in the payload field.
        text = describe_validation_error(exc, whole="record")
    else:
        text = str(exc).strip() or type(exc).__name__
    return text[:250]


def register_orders(app: faust.App, topics: Topics,
                    settings: WorkerSettings) -> ModelTable[Order]:
    """Declare the orders table and its agent; returns the table."""
    table = orders_table(app, settings.partitions)

    async def publish_anomaly(anomaly: OrderAnomaly) -> None:
        await send_and_wait(topics.order_anomalies, anomaly.order_id, anomaly)

    async def dead_letter(letter: DeadLetter, key: str | None) -> None:
        await send_and_wait(topics.dead_letters, key, letter)

    async def publish_dispute(change: DisputeChanged) -> None:
        await send_and_wait(topics.order_disputes, change.order_id, change)

    handler = OrderEventHandler(table, publish_anomaly, dead_letter,
                                OrderNotificationHandler(table, publish_dispute))

    @app.agent(topics.order_events, name="order-lifecycle", concurrency=1)
    async def order_lifecycle(stream: Any) -> None:
        async for event in stream.events():
            topic, key, raw = event.message.topic, event.key, event.value
            await until_done(partial(handler.handle, topic, key, raw), agent="orders",
                             order_id=record_key(key))

    return table
