"""The notification consumers' steps over plain-dict tables: the order folds a notification
once and publishes a dispute change once; held refunds run when their capture settles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.notifications import (
    HeldRefunds,
    OrderNotificationHandler,
    dispute_fact,
    hold_for,
)
from agents.orders import OrderEventHandler
from schemas.money import Money
from schemas.notifications import GatewayNotification, notification_id
from schemas.payment_request import PaymentRequest
from streams.channels import GATEWAY_NOTIFICATIONS
from tables.after_capture import DisputeChanged
from tables.model_table import ModelTable
from tables.order_record import Order, new_order
from tables.payment_ledger import PaymentLedgerEntry, with_deferred_refund

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def note(kind: str, *, order_id: str = "o1", at: datetime = T0, **fields: object
         ) -> GatewayNotification:
    subject = str(fields.get("dispute_id") or fields.get("transaction_id") or "t1")
    return GatewayNotification(notification_id=notification_id(kind, subject, at.isoformat()),
                               kind=kind, timestamp=at, received_at=at,  # type: ignore[arg-type]
                               order_id=order_id, **fields)  # type: ignore[arg-type]


def dispute(status: str, at: datetime) -> GatewayNotification:
    return note(f"dispute_{status}" if status != "open" else "dispute_opened", at=at,
                dispute_id="d1", dispute_status=status, transaction_id="t1",
                amount_disputed=Money.of("83.00", "USD"))


async def test_order_folds_each_notification_once_and_publishes_each_change_once() -> None:
    orders = ModelTable({}, Order)
    orders.put("o1", new_order("o1", "c1", T0))
    published: list[DisputeChanged] = []

    async def publish(change: DisputeChanged) -> None:
        published.append(change)

    handler = OrderNotificationHandler(orders, publish)
    opened = dispute("open", T0).model_dump_json().encode()
    await handler.handle(opened)
    await handler.handle(opened)  # at least once: a replay
    lost = dispute("lost", T0 + timedelta(days=3)).model_dump_json().encode()
    await handler.handle(lost)
    await handler.handle(dispute("under_review", T0 + timedelta(days=1))
                         .model_dump_json().encode())  # late and older: ignored
    assert [c.dispute.state for c in published] == ["open", "lost"]
    order = orders.get("o1")
    assert order is not None and order.after_capture.disputes[0].state == "lost"
    assert order.after_capture.disputes[0].chargeback_amount == Money.of("83.00", "USD")
    assert [hold_for(c).action for c in published] == ["hold", "cancel"]
    assert dispute_fact(published[1]).event_type == "dispute-lost"
    # Unknown orders and undecodable records are skipped, never raised.
    assert await handler.handle(note("transaction_settled", order_id="nope")
                                .model_dump_json().encode()) is None
    assert await handler.handle(b"not json") is None


async def test_held_refunds_run_when_their_capture_settles() -> None:
    ledger = ModelTable({}, PaymentLedgerEntry)
    request = PaymentRequest(payment_id="p", idempotency_key="refund-1", order_id="o1",
                             customer_id="c1", kind="refund", amount=Money.of("5.00", "USD"),
                             correlation_id="corr", requested_at=T0, requested_by="merchant")
    entry = with_deferred_refund(PaymentLedgerEntry(order_id="o1", customer_id="c1"),
                                 request, Money.of("5.00", "USD"), "t1", T0)
    ledger.put("o1", entry)
    produced: list[PaymentRequest] = []

    async def produce(again: PaymentRequest) -> None:
        produced.append(again)

    held = HeldRefunds(ledger, produce)
    other = note("transaction_settled", transaction_id="t2", transaction_type="sale")
    assert await held.on_notification(other.model_dump_json().encode()) == 0
    settled = note("transaction_settled", transaction_id="t1", transaction_type="sale")
    assert await held.on_notification(settled.model_dump_json().encode()) == 1
    assert produced == [request]
    assert await held.sweep() == 1 and produced == [request, request]


async def test_the_order_agent_folds_notifications_itself_one_writer_per_row() -> None:
    # A second agent reading the row, awaiting a publish and writing it back would
    # overwrite an outcome the order agent applied in between; the order agent's own
    # handler runs notifications in its sequence instead.
    orders = ModelTable({}, Order)
    orders.put("o1", new_order("o1", "c1", T0))
    published: list[DisputeChanged] = []

    async def publish(change: DisputeChanged) -> None:
        published.append(change)

    async def unexpected(*_: object) -> None:
        raise AssertionError("nothing to publish here")

    handler = OrderEventHandler(orders, unexpected, unexpected,
                                OrderNotificationHandler(orders, publish))
    raw = dispute("open", T0).model_dump_json().encode()
    await handler.handle(GATEWAY_NOTIFICATIONS, b"o1", raw)
    order = orders.get("o1")
    assert order is not None and order.after_capture.disputes[0].state == "open"
    assert [c.dispute.state for c in published] == ["open"]
