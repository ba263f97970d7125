"""Order states and the one rule for which payment requests an order allows in each.

The order lifecycle (`tables.order_lifecycle`) moves an order between these states; the
edge's advisory check (`check_request`) and the executor's plan
(`tables.payment_plan.plan_request`) both gate a request on `ALLOWED_KINDS`, so the rule
is written once. Pure: no I/O.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Final

from schemas.money import Money
from schemas.payment_request import PaymentKind

if TYPE_CHECKING:
    from tables.order_record import Order


class OrderState(StrEnum):
    CREATED = "CREATED"
    AUTHORIZED = "AUTHORIZED"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    REVERSED = "REVERSED"
    DECLINED = "DECLINED"
    FAILED = "FAILED"


TERMINAL_STATES: Final = frozenset({OrderState.REFUNDED, OrderState.REVERSED})

# A declined or failed authorization leaves the order payable: the customer may retry
# with another payment method, so approve is accepted again from those states.
APPROVABLE_STATES: Final = frozenset({OrderState.CREATED, OrderState.DECLINED,
                                      OrderState.FAILED})

ALLOWED_KINDS: Final[dict[OrderState, frozenset[PaymentKind]]] = {
    OrderState.CREATED: frozenset({"approve"}),
    OrderState.DECLINED: frozenset({"approve"}),
    OrderState.FAILED: frozenset({"approve"}),
    OrderState.AUTHORIZED: frozenset({"deposit", "reverse"}),
    # Reverse of a paid order works only until settlement; a refund before it becomes a
    # void or waits for it (tables.settlement). A deposit is one more shipment of a split
    # capture while the authorization still holds money (`Order.still_authorized`).
    OrderState.PAID: frozenset({"refund", "reverse", "deposit"}),
    OrderState.PARTIALLY_REFUNDED: frozenset({"refund", "deposit"}),
    OrderState.REFUNDED: frozenset(),
    OrderState.REVERSED: frozenset(),
}


def allows(state: OrderState, kind: PaymentKind) -> bool:
    return kind in ALLOWED_KINDS[state]


def compare_amounts(amount: Money, limit: Money, what: str, of: str) -> str | None:
    """Why `amount` cannot be taken against `limit`, or None if it fits."""
    if amount.currency != limit.currency:
        return f"{what} in {amount.currency} but {of} in {limit.currency}"
    if amount.amount > limit.amount:
        return f"{what} {amount} exceeds {of} {limit}"
    return None


# ------------------------------------------------------------- requests (orchestrator)


def check_request(order: Order | None, kind: PaymentKind, amount: Money | None) -> str | None:
    """Why a new request should be refused now (HTTP 409), or None if it may proceed.

    Advisory: it sees only applied outcomes, not requests still in flight; the executor's
    ledger makes the binding decision.
    """
    if order is not None and amount is not None and order.currency is not None \
            and amount.currency != order.currency:
        return f"{kind} in {amount.currency} but the order is in {order.currency}"
    state = order.state if order is not None else OrderState.CREATED
    if not allows(state, kind):
        return _refusal(state, kind)
    if kind == "deposit" and order is not None and state != OrderState.AUTHORIZED:
        still = order.still_authorized
        if still is None or still.is_zero:
            return _refusal(state, kind)
        if amount is not None:
            return compare_amounts(amount, still, "deposit", "the still authorized")
        return None
    if kind == "deposit" and order is not None and amount is not None \
            and order.authorized_amount is not None:
        return compare_amounts(amount, order.authorized_amount, "deposit", "the authorized")
    if kind == "refund" and order is not None and amount is not None:
        remaining = order.remaining_refundable
        if remaining is not None:
            return compare_amounts(amount, remaining, "refund", "the refundable")
    return None


def _refusal(state: OrderState, kind: PaymentKind) -> str:
    if kind == "refund" and (state in APPROVABLE_STATES or state == OrderState.AUTHORIZED):
        return "refund requested but the order was never paid"
    if kind != "approve" and state in APPROVABLE_STATES:
        return f"{kind} requested but the order has no authorization"
    return f"{kind} requested but the order is already {describe(state)}"


def describe(state: OrderState) -> str:
    return {
        OrderState.AUTHORIZED: "authorized",
        OrderState.PAID: "paid",
        OrderState.PARTIALLY_REFUNDED: "partially refunded",
        OrderState.REFUNDED: "fully refunded",
        OrderState.REVERSED: "reversed",
        OrderState.DECLINED: "declined",
        OrderState.FAILED: "failed",
        OrderState.CREATED: "created",
    }[state]
