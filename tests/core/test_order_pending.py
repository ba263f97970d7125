"""The order shows a request that waits for a definite gateway answer, without moving."""

from datetime import timedelta

from core_factories import T0, event, usd

from schemas.outcomes import outcome_event_id
from schemas.pending import PaymentPending, pending_event_id
from tables.order_lifecycle import apply_outcome, apply_pending, order_view
from tables.order_state import OrderState


def notice(key: str = "idem-approve", attempts: int = 2, kind: str = "approve") -> PaymentPending:
    return PaymentPending(
        event_id=pending_event_id("order-1", key, attempts), order_id="order-1",
        customer_id="cust-1", idempotency_key=key, request_kind=kind,  # type: ignore[arg-type]
        since=T0, attempts=attempts, last_error="OutcomeUnknownError: read timeout",
        correlation_id="corr-1", occurred_at=T0 + timedelta(seconds=attempts))


def test_a_pending_request_is_shown_and_the_state_does_not_move() -> None:
    order = apply_pending(None, notice())
    assert order.state is OrderState.CREATED
    view = order_view(order)
    assert view["pending_operation"] == {
        "kind": "approve", "idempotency_key": "idem-approve", "since": "2024-05-01T12:00:00Z",
        "attempts": 2, "last_error": "OutcomeUnknownError: read timeout"}


def test_its_outcome_clears_it() -> None:
    order = apply_pending(None, notice(key="k1"))
    approved = apply_outcome(order, event("approved", 1, usd("10"))).order
    assert approved.state is OrderState.AUTHORIZED and approved.pending_operation is None


def test_a_notice_arriving_after_its_outcome_is_stale() -> None:
    outcome = event("approved", 1, usd("10"), event_id=outcome_event_id("order-1", "k1"))
    approved = apply_outcome(None, outcome).order
    assert apply_pending(approved, notice(key="k1")).pending_operation is None


def test_an_older_notice_does_not_replace_a_newer_one() -> None:
    order = apply_pending(apply_pending(None, notice(attempts=8)), notice(attempts=4))
    assert order.pending_operation is not None and order.pending_operation.attempts == 8
