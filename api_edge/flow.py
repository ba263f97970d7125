"""The orchestrator's admission of one payment request: pure, no I/O.

Given who asks (the shopper who owns the order, or the merchant who registered it), what
they ask for and the order as the order table shows it, decide whether the request goes on
to the queue or is refused now, and why. The order table is eventually consistent (it sees
applied outcomes, not requests in flight), so these are early refusals; the executor's
plan (`tables.payment_plan`) applies the same ownership and role rules again when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from schemas.money import Money
from schemas.payment_request import PaymentKind, RequestedBy
from tables.order_record import Order
from tables.order_state import check_request
from tables.roles import role_refusal


@dataclass(frozen=True)
class Actor:
    """Who asks: a shopper (token subject) or a merchant back office (client id)."""

    kind: RequestedBy
    id: str

    @property
    def is_merchant(self) -> bool:
        return self.kind == "merchant"


class Verdict(StrEnum):
    PROCEED = "proceed"
    # Missing, unregistered and foreign orders get the same answer: ids are not probed.
    NOT_FOUND = "not-found"
    # The caller sees the order but its role does not allow this operation.
    FORBIDDEN = "forbidden"
    # A checkout whose amount is not the price the merchant registered.
    PRICE_MISMATCH = "price-mismatch"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    reason: str | None = None

    @property
    def proceeds(self) -> bool:
        return self.verdict is Verdict.PROCEED


def visible_to(actor: Actor, order: Order | None) -> bool:
    """May `actor` see this order at all? Only registered orders are anyone's."""
    if order is None or order.expected_amount is None:
        return False
    if actor.is_merchant:
        return order.merchant_id == actor.id
    return order.customer_id == actor.id


def admit(actor: Actor, kind: PaymentKind, order: Order | None,
          amount: Money | None) -> Admission:
    """Admit a payment request to the queue, or refuse it now."""
    if order is None or not visible_to(actor, order):
        return Admission(Verdict.NOT_FOUND)
    refusal = role_refusal(actor.kind, kind, order.state)
    if refusal is not None:
        return Admission(Verdict.FORBIDDEN, refusal)
    if kind == "approve" and amount != order.expected_amount:
        return Admission(Verdict.PRICE_MISMATCH,
                         f"the order's price is {order.expected_amount}, not {amount}")
    reason = check_request(order, kind, amount)
    if reason is not None:
        return Admission(Verdict.CONFLICT, reason)
    return Admission(Verdict.PROCEED)

