"""The orchestrator's admission of one payment request: pure, no I/O.

Given who asks, what they ask for and the order as the order table shows it, admit
whether the request goes on to the queue or is refused now, and why. The order table is
eventually consistent (it sees applied outcomes, not requests in flight), so these are
early refusals of what cannot succeed; the executor's ledger makes the binding decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.money import Money
from schemas.payment_request import PaymentKind
from tables.order_lifecycle import Order
from tables.order_state import check_request


class Verdict(StrEnum):
    PROCEED = "proceed"
    # Missing and foreign orders get the same answer: order ids are not to be probed.
    FORBIDDEN = "forbidden"
    # The shopper's own checkout was accepted, but the order table has not caught up.
    NOT_YET_VISIBLE = "not-yet-visible"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    reason: str | None = None
    # Whether this request creates the order (publish order-created first).
    creates_order: bool = False

    @property
    def proceeds(self) -> bool:
        return self.verdict is Verdict.PROCEED


def can_view(customer_id: str, order: Order | None, accepted_here: bool) -> Verdict:
    """May the shopper see this order? (GET of the order status.)"""
    if order is None:
        return Verdict.NOT_YET_VISIBLE if accepted_here else Verdict.FORBIDDEN
    return Verdict.PROCEED if order.customer_id == customer_id else Verdict.FORBIDDEN


def admit(
    customer_id: str,
    kind: PaymentKind,
    order: Order | None,
    amount: Money | None,
    *,
    accepted_here: bool = False,
) -> Admission:
    """Admit a payment request to the queue, or refuse it now.

    `accepted_here`: this orchestrator accepted a checkout of this order for this shopper
    recently, so an order missing from the table is the table lagging, not a probe.
    """
    if order is not None and order.customer_id != customer_id:
        return Admission(Verdict.FORBIDDEN)
    if order is None and kind != "approve":
        if not accepted_here:
            return Admission(Verdict.FORBIDDEN)
        return Admission(
            Verdict.CONFLICT,
            f"{kind} requested but the order's authorization has not been recorded yet; "
            "retry once the order status shows AUTHORIZED",
        )
    reason = check_request(order, kind, amount)
    if reason is not None:
        return Admission(Verdict.CONFLICT, reason)
    creates = kind == "approve" and (order is None or order.expected_amount is None)
    return Admission(Verdict.PROCEED, creates_order=creates)
