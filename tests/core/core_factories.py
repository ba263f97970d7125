"""Builders shared by the core tests (plain functions, so property tests can use them)."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.money import Money
from schemas.orders import OrderCreated
from schemas.outcomes import OutcomeEvent, outcome_adapter
from schemas.payment_request import PaymentKind, PaymentRequest
from tables.order_lifecycle import apply_order_created, apply_outcome
from tables.order_record import Order

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ORDER = "order-1"

KIND_OF: dict[str, PaymentKind] = {
    "approved": "approve", "deposited": "deposit", "reversed": "reverse",
    "refunded": "refund",
}


def usd(amount: str | int) -> Money:
    return Money.of(amount, "USD")


def request(kind: PaymentKind, amount: Money | None = None, *, key: str | None = None,
            order_id: str = ORDER, **overrides: Any) -> PaymentRequest:
    data: dict[str, Any] = {
        "payment_id": f"pay-{key or kind}",
        "idempotency_key": key or f"idem-{kind}",
        "order_id": order_id,
        "customer_id": "cust-1",
        "kind": kind,
        "amount": amount,
        "correlation_id": f"corr-{key or kind}",
        "requested_at": T0,
    }
    if kind == "approve":
        data["payment_method_nonce"] = "fake-valid-nonce"
        data["payment_method_type"] = "credit_card"
    data.update(overrides)
    return PaymentRequest(**data)


def event(name: str, sequence: int, amount: Money | None = None, *,
          request_kind: PaymentKind | None = None, order_id: str = ORDER,
          **overrides: Any) -> OutcomeEvent:
    """An outcome as the executor would publish it: one event id per (order, slot)."""
    data: dict[str, Any] = {
        "event_id": f"ev-{order_id}-{sequence}",
        "event_type": f"payment-{name}",
        "order_id": order_id,
        "customer_id": "cust-1",
        "payment_id": f"pay-{sequence}",
        "idempotency_key": f"k{sequence}",
        "request_kind": request_kind or KIND_OF.get(name, "approve"),
        "sequence": sequence,
        "transaction_id": f"tx{sequence}",
        "amount": amount,
        "correlation_id": f"corr-{sequence}",
        "occurred_at": T0 + timedelta(minutes=sequence),
        "reason": "because" if name in ("declined", "failed") else None,
    }
    data.update(overrides)
    return outcome_adapter.validate_python(data)


def created(amount: Money | None = None, *, order_id: str = ORDER,
            event_id: str = "created-1", at: datetime = T0) -> OrderCreated:
    return OrderCreated(event_id=event_id, order_id=order_id, customer_id="cust-1",
                        amount=amount or usd("100"), correlation_id="corr-order",
                        occurred_at=at)


def fold(order: Order | None, events: Iterable[OutcomeEvent | OrderCreated]) -> Order:
    """Apply a batch of events in the given order, as the order agent would one by one."""
    for item in events:
        if isinstance(item, OrderCreated):
            order = apply_order_created(order, item)
        else:
            order = apply_outcome(order, item).order
    if order is None:
        raise ValueError("no events to build an order from")
    return order
