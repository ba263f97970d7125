"""Who may ask for which payment operation: the one rule the edge and the executor share.

Shoppers check out their own orders and may cancel (reverse) them until money is
captured; capturing, refunding and reversing after capture are merchant operations, and
only the shopper checks out. Pure: no I/O.
"""

from __future__ import annotations

from typing import Final

from schemas.payment_request import PaymentKind, RequestedBy
from tables.order_state import OrderState

# Once money was captured, only the merchant may give it back (refund, or a void of an
# unsettled capture): a shopper's own reversal would cancel a payment for shipped goods.
CAPTURED_STATES: Final = frozenset({OrderState.PAID, OrderState.PARTIALLY_REFUNDED,
                                    OrderState.REFUNDED})
MERCHANT_KINDS: Final[frozenset[PaymentKind]] = frozenset({"deposit", "refund"})


def role_refusal(actor: RequestedBy, kind: PaymentKind, state: OrderState) -> str | None:
    """Why this role may not ask for `kind` on an order in `state`, or None."""
    if actor == "merchant":
        if kind == "approve":
            return "checkout is the shopper's operation"
        return None
    if kind in MERCHANT_KINDS:
        return f"{kind} is a merchant operation"
    if kind == "reverse" and state in CAPTURED_STATES:
        return "after capture only the merchant can reverse or refund the order"
    return None


def owner_refusal(owner: str | None, customer_id: str) -> str | None:
    """Why a request for `customer_id` may not act on an order owned by `owner`, or None."""
    if owner is not None and owner != customer_id:
        return "the request's customer is not the order's owner"
    return None
