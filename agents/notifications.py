"""Consumers of `gateway-notifications` (verified Braintree webhooks, see api_edge.webhooks).

* orders role (`OrderNotificationHandler`, run by the order agent so the orders table has
  one writer): folds each notification into the order (`tables.after_capture`: capture
  settled / settlement declined, dispute opened ... lost), deduplicated by notification id,
  and publishes each dispute change once to `order-disputes`;
* executor role: when a capture settles (or its settlement is declined), runs the refunds
  held for it again through `payment-requests`, in the order's sequence like any request;
  a periodic pass does the same for every held refund, in case a webhook never came;
* fulfillment role: an open dispute holds the order's shipment (`fulfillment-holds`);
* analytics role: dispute changes are counted with the outcomes (`analytics-facts`).

Effects are published before the table write, so a crash in between replays the record,
which the table then recognises as seen; consumers key on the derived event ids.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Final

import faust
from pydantic import ValidationError

from agents.record_retry import record_key, until_done
from agents.settlement_flow import due_refunds
from schemas.notifications import (
    SETTLEMENT_KINDS,
    FulfillmentHold,
    GatewayNotification,
    HoldAction,
)
from schemas.types import derived_event_id
from streams.logs import get_logger
from streams.publisher import send_and_wait
from streams.topics import declare_notification_topics
from tables.after_capture import CHARGEBACK_STATES, OPEN_DISPUTE, DisputeChanged, apply_notification
from tables.analytics import AnalyticsFact, window_key
from tables.model_table import ModelTable
from tables.order_record import Order
from tables.payment_ledger import PaymentLedgerEntry

log = get_logger("paystream.notifications")

# How often held refunds are tried again without a webhook (the run re-reads the capture).
HELD_REFUND_INTERVAL_S: Final = 60.0


def hold_for(change: DisputeChanged) -> FulfillmentHold:
    """Open: hold. Won or expired: release. Lost or accepted (a chargeback): cancel."""
    state = change.dispute.state
    action: HoldAction = ("hold" if state == OPEN_DISPUTE
                          else "cancel" if state in CHARGEBACK_STATES else "release")
    return FulfillmentHold(
        event_id=derived_event_id("fulfillment-hold", change.event_id), order_id=change.order_id,
        dispute_id=change.dispute.dispute_id, action=action,
        reason=f"dispute {change.dispute.dispute_id} {change.dispute.gateway_status}",
        occurred_at=change.occurred_at)


def dispute_fact(change: DisputeChanged) -> AnalyticsFact:
    amount = change.dispute.amount_disputed
    return AnalyticsFact(
        event_id=change.event_id, event_type=f"dispute-{change.dispute.state}",
        request_kind=None, currency=amount.currency if amount else None,
        amount=amount.amount if amount else None, occurred_at=change.occurred_at)


class OrderNotificationHandler:
    def __init__(self, orders: ModelTable[Order], publish: Any) -> None:
        self.orders = orders
        self.publish = publish

    async def handle(self, raw: bytes) -> Order | None:
        try:
            note = GatewayNotification.model_validate_json(raw)
        except ValidationError as exc:
            log.warning("notification.undecodable", error=type(exc).__name__)
            return None
        if note.order_id is None:
            log.info("notification.without_order", kind=note.kind,
                     notification_id=note.notification_id)
            return None
        order = self.orders.get(note.order_id)
        if order is None:
            log.warning("notification.unknown_order", order_id=note.order_id, kind=note.kind)
            return None
        updated, change = apply_notification(order, note)
        if updated is order:
            return order
        if change is not None:
            await self.publish(change)
            log.info("order.dispute", order_id=note.order_id,
                     dispute_id=change.dispute.dispute_id, state=change.dispute.state)
        self.orders.put(updated.order_id, updated)
        return updated


class HeldRefunds:
    """Runs held refunds again by producing their requests to `payment-requests`."""

    def __init__(self, ledger: ModelTable[PaymentLedgerEntry], produce: Any) -> None:
        self.ledger = ledger
        self.produce = produce

    async def on_notification(self, raw: bytes) -> int:
        try:
            note = GatewayNotification.model_validate_json(raw)
        except ValidationError:
            return 0  # the order agent logs it
        if note.kind not in SETTLEMENT_KINDS or note.order_id is None:
            return 0
        entry = self.ledger.get(note.order_id)
        if entry is None or not entry.deferred_refunds:
            return 0
        return await self._run(due_refunds(entry, note.transaction_id))

    async def sweep(self) -> int:
        count = 0
        for _, entry in list(self.ledger.items()):
            if entry.deferred_refunds:
                count += await self._run(due_refunds(entry))
        return count

    async def _run(self, requests: list[Any]) -> int:
        for request in requests:
            await self.produce(request)
            log.info("refund_released", order_id=request.order_id,
                     correlation_id=request.correlation_id)
        return len(requests)


def register_notifications(app: faust.App, roles: frozenset[str] | set[str] | list[str],
                           partitions: int, *,
                           ledger: ModelTable[PaymentLedgerEntry] | None) -> None:
    """The executor's, fulfillment's and analytics' consumers of notifications; the orders
    role folds them in its own agent (`agents.orders`), the one writer of the orders table."""
    topics = declare_notification_topics(app, partitions)

    if "executor" in roles and ledger is not None:
        async def produce(request: Any) -> None:
            await send_and_wait(topics.payment_requests, request.order_id, request)

        held = HeldRefunds(ledger, produce)

        @app.agent(topics.settlements, name="settlement-refunds", concurrency=1)
        async def settlement_refunds(stream: Any) -> None:
            async for event in stream.events():
                key = record_key(event.key)
                await until_done(partial(held.on_notification, event.value),
                                 agent="settlement-refunds", order_id=key)

        @app.timer(HELD_REFUND_INTERVAL_S)
        async def held_refund_sweep() -> None:
            await held.sweep()

    if "fulfillment" in roles:
        @app.agent(topics.dispute_holds, name="fulfillment-holds", concurrency=1)
        async def fulfillment_holds(stream: Any) -> None:
            async for raw in stream:
                try:
                    change = DisputeChanged.model_validate_json(raw)
                except ValidationError:
                    continue
                hold = hold_for(change)
                await send_and_wait(topics.fulfillment_holds, hold.order_id, hold)
                log.info("fulfillment.hold", order_id=hold.order_id, action=hold.action,
                         dispute_id=hold.dispute_id)

    if "analytics" in roles:
        @app.agent(topics.order_disputes, name="analytics-disputes", concurrency=1)
        async def analytics_disputes(stream: Any) -> None:
            async for raw in stream:
                try:
                    fact = dispute_fact(DisputeChanged.model_validate_json(raw))
                except ValidationError:
                    continue
                await topics.analytics_facts.send(
                    key=window_key(fact.occurred_at).encode("utf-8"),
                    value=fact.model_dump_json().encode("utf-8"))


__all__ = [
    "FulfillmentHold",
    "HeldRefunds",
    "OrderNotificationHandler",
    "dispute_fact",
    "hold_for",
    "register_notifications",
]
