"""Order lifecycle: a pure state machine over order-created and payment outcome events.

No I/O and no faust here; the order agent feeds events in and writes the returned
Order back to its table. Every function returns a new Order and never raises on an
event it cannot apply: that is recorded as an Anomaly, because a consumer that raised
would stop the partition for every other order behind it.

Ordering: the executor stamps each outcome with a per-order `sequence`. Outcome topics
are separate, so their events can arrive in any interleaving; an early event is held
in `pending` until the gap before it fills, which makes the final state independent
of delivery order and of redelivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas.money import Money
from schemas.orders import OrderAnomaly, OrderCreated
from schemas.outcomes import OutcomeEvent, PaymentOutcome, outcome_event_id
from schemas.pending import PaymentPending
from tables.after_capture import after_capture_view, record_capture
from tables.order_record import (
    MAX_ANOMALIES,
    MAX_HISTORY,
    MAX_PENDING,
    MAX_SEEN_EVENT_IDS,
    Anomaly,
    ApplyResult,
    HistoryEntry,
    Order,
    new_order,
)
from tables.order_state import APPROVABLE_STATES, OrderState, compare_amounts
from tables.pending import PendingOperation

# --------------------------------------------------------------------- order-created


def apply_order_created(order: Order | None, event: OrderCreated) -> Order:
    """Record the order's expected total; creates the order or completes an implicit one.

    Does not touch the state: outcomes may already have moved it on.
    """
    if order is None:
        order = new_order(event.order_id, event.customer_id, event.occurred_at)
    if event.event_id in order.created_event_ids:
        return order
    seen = (*order.created_event_ids, event.event_id)[-MAX_ANOMALIES:]
    if order.announced:
        update_seen = {"created_event_ids": seen}
        if order.expected_amount != event.amount:
            return _with_anomaly(
                order.model_copy(update=update_seen),
                _anomaly(order, event.event_id, event.event_type, event.occurred_at,
                         f"order created again with a different amount {event.amount}",
                         event.correlation_id),
            )
        return order.model_copy(update=update_seen)
    update: dict[str, object] = {
        "customer_id": event.customer_id,
        "merchant_id": event.merchant_id,
        "merchant_reference": event.merchant_reference,
        "expected_amount": event.amount,
        "announced": True,
        "created_event_ids": seen,
        # The order's creation time is the order service's, whatever arrived first.
        "created_at": event.occurred_at,
        "updated_at": max(order.updated_at, event.occurred_at),
    }
    if order.currency is None:
        update["currency"] = event.amount.currency
    updated = order.model_copy(update=update)
    if order.currency is not None and order.currency != event.amount.currency:
        updated = _with_anomaly(
            updated,
            _anomaly(order, event.event_id, event.event_type, event.occurred_at,
                     f"order created in {event.amount.currency} but paid in {order.currency}",
                     event.correlation_id),
        )
    return updated


# ----------------------------------------------------------------- pending operations


def apply_pending(order: Order | None, event: PaymentPending) -> Order:
    """Show that a request is being resolved with the gateway; never moves the state.

    A notice that arrives after its request's outcome (the topics interleave freely)
    is stale and ignored, as is one older than what the order already shows.
    """
    if order is None:
        order = new_order(event.order_id, event.customer_id, event.occurred_at)
    outcome_id = outcome_event_id(event.order_id, event.idempotency_key)
    if (outcome_id in order.seen_event_ids or _pending_has_id(order, outcome_id)
            or _applied_before(order, outcome_id)):
        return order
    current = order.pending_operation
    if (current is not None and current.idempotency_key == event.idempotency_key
            and current.attempts >= event.attempts):
        return order
    return order.model_copy(update={"pending_operation": PendingOperation(
        kind=event.request_kind, idempotency_key=event.idempotency_key, since=event.since,
        attempts=event.attempts, last_error=event.last_error)})


def apply_reported_anomaly(order: Order | None, report: OrderAnomaly) -> Order | None:
    """Record an anomaly another component found (the reconciler's compensations).

    The order agent's own anomalies come back on the same topic; they are already on
    the order, so a known event id is a duplicate.
    """
    if order is None or any(a.event_id == report.event_id for a in order.anomalies):
        return None
    return _with_anomaly(order, Anomaly(
        event_id=report.event_id, event_type=report.event_type, from_state=order.state,
        reason=report.reason, at=report.occurred_at, correlation_id=report.correlation_id))


# -------------------------------------------------------------------------- outcomes


def apply_outcome(order: Order | None, event: OutcomeEvent) -> ApplyResult:
    """Apply one outcome event, in per-order sequence order, idempotently."""
    if order is None:
        order = new_order(event.order_id, event.customer_id, event.occurred_at)
    op = order.pending_operation
    if op is not None and op.idempotency_key == event.idempotency_key:
        order = order.model_copy(update={"pending_operation": None})

    if event.event_id in order.seen_event_ids or _pending_has_id(order, event.event_id):
        return ApplyResult(order=order, duplicate=True)

    if event.sequence <= order.last_sequence or event.sequence in order.pending:
        if _applied_before(order, event.event_id):
            return ApplyResult(order=order, duplicate=True)
        # Same position, different id: the executor produced two outcomes for one
        # slot. Keep the first (it may already have moved money downstream) and say so.
        anomaly = _anomaly(order, event.event_id, event.event_type, event.occurred_at,
                           f"sequence {event.sequence} already taken by another event",
                           event.correlation_id)
        return ApplyResult(order=_with_anomaly(order, anomaly), duplicate=True,
                           anomalies=[anomaly])

    if event.sequence > order.last_sequence + 1:
        held = order.model_copy(update={"pending": {**order.pending, event.sequence: event}})
        if len(held.pending) > MAX_PENDING:
            return skip_gap(held)
        return ApplyResult(order=held, held=True)

    order, anomalies = _step(order, event)
    result = _drain(order)
    return ApplyResult(
        order=result.order,
        applied=[event, *result.applied],
        anomalies=anomalies + result.anomalies,
    )


def skip_gap(order: Order) -> ApplyResult:
    """Give up on the missing sequence(s) before the earliest held event and apply on.

    For operators (or the MAX_PENDING guard) when an outcome is known to be lost.
    """
    if not order.pending:
        return ApplyResult(order=order)
    first = min(order.pending)
    event = order.pending[first]
    anomaly = _anomaly(order, event.event_id, event.event_type, event.occurred_at,
                       f"sequences {order.last_sequence + 1}..{first - 1} never arrived; "
                       "skipped", event.correlation_id)
    order = _with_anomaly(order, anomaly).model_copy(update={"last_sequence": first - 1})
    result = _drain(order)
    return ApplyResult(order=result.order, applied=result.applied,
                       anomalies=[anomaly, *result.anomalies])


def _drain(order: Order) -> ApplyResult:
    applied: list[OutcomeEvent] = []
    anomalies: list[Anomaly] = []
    while order.last_sequence + 1 in order.pending:
        pending = dict(order.pending)
        event = pending.pop(order.last_sequence + 1)
        order, found = _step(order.model_copy(update={"pending": pending}), event)
        applied.append(event)
        anomalies += found
    return ApplyResult(order=order, applied=applied, anomalies=anomalies)


def _step(order: Order, event: OutcomeEvent) -> tuple[Order, list[Anomaly]]:
    """Apply the event that is next in sequence. Always consumes the sequence number."""
    base = order.model_copy(update={
        "last_sequence": event.sequence,
        "seen_event_ids": _remember(order.seen_event_ids, event.event_id),
        "updated_at": max(order.updated_at, event.occurred_at),
        # Until order-created says otherwise, the order began with its earliest event,
        # whichever happened to arrive first.
        "created_at": (order.created_at if order.announced
                       else min(order.created_at, event.occurred_at)),
        "currency": order.currency or _currency_of(event),
        "payment_method_type": order.payment_method_type or event.payment_method_type,
    })
    outcome = _transition(base, event)
    if isinstance(outcome, str):
        anomaly = _anomaly(order, event.event_id, event.event_type, event.occurred_at,
                           outcome, event.correlation_id)
        return _with_anomaly(base, anomaly), [anomaly]
    to_state, changes = outcome
    entry = HistoryEntry(
        event_id=event.event_id, event_type=event.event_type, sequence=event.sequence,
        from_state=order.state, to_state=to_state, at=event.occurred_at,
        correlation_id=event.correlation_id, reason=event.reason,
    )
    changes["state"] = to_state
    changes["history"] = (*base.history, entry)[-MAX_HISTORY:]
    return base.model_copy(update=changes), []


def _transition(order: Order, event: OutcomeEvent) -> tuple[OrderState, dict[str, object]] | str:
    """The new state and field changes, or the reason the event cannot apply."""
    state = order.state
    kind = event.event_type
    if kind == "payment-approved":
        if state not in APPROVABLE_STATES:
            return f"approved while {state}"
        authorized = event.authorized_amount or event.amount
        if authorized is None:
            return "approved without an amount"
        if order.currency is not None and authorized.currency != order.currency:
            return f"approved in {authorized.currency} for an order in {order.currency}"
        return OrderState.AUTHORIZED, {
            "authorized_amount": authorized,
            "authorization_transaction_id": event.transaction_id,
            "payment_method_type": event.payment_method_type or order.payment_method_type,
        }
    if kind == "payment-deposited":
        open_capture = order.still_authorized is not None and not order.still_authorized.is_zero
        if state != OrderState.AUTHORIZED and not (
                open_capture and state in (OrderState.PAID, OrderState.PARTIALLY_REFUNDED)):
            return f"deposited while {state}"
        captured = event.captured_amount or event.amount or order.authorized_amount
        if captured is None or order.authorized_amount is None:
            return "deposited without an amount"
        problem = compare_amounts(captured, order.authorized_amount, "captured", "authorized")
        if problem:
            return problem
        # A final capture of less releases the rest: the outcome's authorized total says so.
        authorized = event.authorized_amount or order.authorized_amount
        # Totals only grow: a capture total below what was already refunded (or an
        # authorized total below the captured one) cannot be true of the gateway.
        problem = compare_amounts(captured, authorized, "captured", "authorized") or (
            compare_amounts(order.refunded_amount, captured, "refunded", "captured")
            if order.refunded_amount is not None else None)
        if problem:
            return problem
        return (OrderState.PAID if state == OrderState.AUTHORIZED else state), {
            "captured_amount": captured, "authorized_amount": authorized,
            "after_capture": record_capture(order.after_capture, event.transaction_id,
                                            event.amount or captured)}
    if kind == "payment-reversed":
        if state not in (OrderState.AUTHORIZED, OrderState.PAID):
            return f"reversed while {state}"
        return OrderState.REVERSED, {}
    if kind == "payment-refunded":
        if state not in (OrderState.PAID, OrderState.PARTIALLY_REFUNDED):
            return f"refunded while {state}"
        captured = order.captured_amount
        remaining = order.remaining_refundable
        if captured is None or remaining is None:
            return "refunded without a captured amount"
        if event.refunded_amount is not None:
            refunded = event.refunded_amount
        elif event.amount is not None:
            refunded = (order.refunded_amount or Money.zero(captured.currency)) + event.amount
        else:
            refunded = captured
        problem = compare_amounts(refunded, captured, "refunded", "captured")
        if problem:
            return problem
        refund_ids = order.refund_transaction_ids
        if event.transaction_id is not None:
            refund_ids = (*refund_ids, event.transaction_id)
        to_state = (OrderState.REFUNDED if refunded.amount == captured.amount
                    else OrderState.PARTIALLY_REFUNDED)
        return to_state, {"refunded_amount": refunded, "refund_transaction_ids": refund_ids}
    if kind == "payment-declined":
        # Only a refused authorization says something about the order itself; a refused
        # capture or refund leaves it where it was (recorded in history for support).
        if event.request_kind == "approve" and state in APPROVABLE_STATES:
            return OrderState.DECLINED, {}
        return state, {}
    if kind == "payment-failed":
        if event.request_kind == "approve" and state in APPROVABLE_STATES:
            return OrderState.FAILED, {}
        return state, {}
    return f"unknown event type {kind}"


def _currency_of(event: PaymentOutcome) -> str | None:
    for money in (event.amount, event.authorized_amount, event.captured_amount,
                  event.refunded_amount):
        if money is not None:
            return money.currency
    return None


def _applied_before(order: Order, event_id: str) -> bool:
    # seen_event_ids is a bounded window; history and anomalies reach further back.
    return any(h.event_id == event_id for h in order.history) or any(
        a.event_id == event_id for a in order.anomalies
    )


def _pending_has_id(order: Order, event_id: str) -> bool:
    return any(e.event_id == event_id for e in order.pending.values())


def _remember(seen: tuple[str, ...], event_id: str) -> tuple[str, ...]:
    return (*seen, event_id)[-MAX_SEEN_EVENT_IDS:]


def _anomaly(order: Order, event_id: str, event_type: str, at: datetime, reason: str,
             correlation_id: str | None) -> Anomaly:
    return Anomaly(event_id=event_id, event_type=event_type, from_state=order.state,
                   reason=reason, at=at, correlation_id=correlation_id)


def _with_anomaly(order: Order, anomaly: Anomaly) -> Order:
    return order.model_copy(
        update={"anomalies": (*order.anomalies, anomaly)[-MAX_ANOMALIES:]}
    )


# ------------------------------------------------------------ follow-up wire events


def anomaly_events(order: Order, anomalies: Iterable[Anomaly]) -> list[OrderAnomaly]:
    """The order-anomalies messages for anomalies found by one apply call."""
    return [
        OrderAnomaly(order_id=order.order_id, event_id=a.event_id, event_type=a.event_type,
                     from_state=a.from_state.value, reason=a.reason,
                     correlation_id=a.correlation_id, occurred_at=a.at)
        for a in anomalies
    ]


def order_view(order: Order) -> dict[str, object]:
    """The JSON an order's web view serves: the model without dedup bookkeeping."""
    body = order.model_dump(mode="json", exclude={"seen_event_ids", "created_event_ids",
                                                  "after_capture"})
    still = order.still_authorized
    body["still_authorized"] = still.model_dump(mode="json") if still is not None else None
    body.update(after_capture_view(order.after_capture))
    # Held events are shown by position only; their content is in the outcome topics.
    body["pending"] = sorted(order.pending)
    return body
