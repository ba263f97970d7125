"""Braintree transaction statuses and the sets the payment rules are written against.

The one home for these sets: the executor's core, the adapter and the simulator all
import them from here, so Braintree's rules are spelled once.
"""

from __future__ import annotations

from typing import Final, Literal

TransactionStatus = Literal[
    "authorizing",
    "authorized",
    "submitted_for_settlement",
    "settlement_pending",
    "settling",
    "settled",
    "settlement_confirmed",
    "settlement_declined",
    "voided",
    "authorization_expired",
    "processor_declined",
    "gateway_rejected",
    "failed",
]

# An authorization that still holds or has moved funds; a new approve must not stack on it.
LIVE_STATUSES: Final[frozenset[str]] = frozenset({
    "authorizing", "authorized", "submitted_for_settlement", "settlement_pending",
    "settling", "settled", "settlement_confirmed",
})
# Braintree captures only from these (else 91507).
CAPTURABLE_STATUSES: Final[frozenset[str]] = frozenset({"authorized"})
# Braintree voids only these (else 91504); PayPal also voids a pending settlement.
VOIDABLE_STATUSES: Final[frozenset[str]] = frozenset({"authorized", "submitted_for_settlement"})
VOIDABLE_PAYPAL_EXTRA_STATUSES: Final[frozenset[str]] = frozenset({"settlement_pending"})
# Braintree refunds only these (else 91506).
REFUNDABLE_STATUSES: Final[frozenset[str]] = frozenset({"settled", "settling"})
# A capture has been submitted: money has moved or will move without another call.
CAPTURED_STATUSES: Final[frozenset[str]] = frozenset({
    "submitted_for_settlement", "settling", "settled", "settlement_pending",
    "settlement_confirmed",
})
# Statuses that settlement moves on without a call of ours.
IN_SETTLEMENT_STATUSES: Final[frozenset[str]] = frozenset({
    "submitted_for_settlement", "settlement_pending", "settling",
})
# Statuses a settlement batch (or the testing gateway's settle call) acts on.
SETTLEABLE_STATUSES: Final[frozenset[str]] = IN_SETTLEMENT_STATUSES
# The transaction did not (or no longer will) move money.
UNSUCCESSFUL_STATUSES: Final[frozenset[str]] = frozenset({
    "processor_declined", "gateway_rejected", "failed", "settlement_declined",
})
# Refunds in these statuses no longer count against the refundable balance.
DEAD_REFUND_STATUSES: Final[frozenset[str]] = frozenset({
    "voided", "failed", "processor_declined", "gateway_rejected", "settlement_declined",
})
