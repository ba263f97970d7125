"""Captures after authorization: split captures and settlement-aware refunds. Pure, no I/O.

An authorization is captured in one or more *legs*. A single capture
(`submit_for_settlement`) is a leg whose transaction is the authorization itself; a split
shipment captures with `submit_for_partial_settlement`, and each call creates its own child
transaction, settled and refunded on its own (Braintree refunds per transaction). The
captures together never exceed the authorization; a final capture releases the rest.

Refunds follow the leg's settlement (Braintree refuses a refund before settlement, 91506):

* a settled leg is refunded;
* a FULL refund of an unsettled leg becomes a void of that leg, which returns the money
  before it ever moved (Braintree's own advice); for a single capture that voids the
  authorization, so the order ends REVERSED, not REFUNDED;
* a PARTIAL refund of an unsettled leg waits (a deferred refund on the ledger entry) and
  runs when the leg settles; it is never declined for timing;
* a leg whose settlement was declined collected nothing: its refund is refused, with that
  reason.

The shopper never gets more back than was captured and never less than asked, unless the
request is refused with a reason (property-tested in tests/settlement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import BaseModel, ConfigDict

from gateway.statuses import REFUNDABLE_STATUSES, TransactionStatus
from schemas.money import Money

# A leg in these statuses never moved money: nothing of it can be refunded.
DEAD_LEG_STATUSES: Final[frozenset[str]] = frozenset({
    "voided", "settlement_declined", "failed", "processor_declined", "gateway_rejected",
})
# Settlement has not happened yet; the leg can still be voided.
UNSETTLED_LEG_STATUSES: Final[frozenset[str]] = frozenset({
    "submitted_for_settlement", "settlement_pending",
})


class CaptureLeg(BaseModel):
    """One capture of an authorization, with its own transaction at the gateway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str
    amount: Money
    status: TransactionStatus
    idempotency_key: str
    final: bool = False
    # True when the leg is a child of submit_for_partial_settlement.
    partial: bool = False
    refunded: Money | None = None

    @property
    def refundable(self) -> Money:
        if self.status in DEAD_LEG_STATUSES:
            return Money.zero(self.amount.currency)
        return self.amount - (self.refunded or Money.zero(self.amount.currency))


class DeferredRefund(BaseModel):
    """A partial refund waiting for its capture to settle; replayed as its request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    idempotency_key: str
    amount: Money
    transaction_id: str
    since: datetime
    # The PaymentRequest JSON to run again (a refund carries no payment credentials).
    request: str


# ------------------------------------------------------------------- split captures


@dataclass(frozen=True)
class CaptureStep:
    amount: Money
    # submit_for_partial_settlement (a child transaction) or submit_for_settlement.
    partial: bool
    final: bool


def captured_total(legs: tuple[CaptureLeg, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for leg in legs:
        total = total + leg.amount
    return total


def plan_capture(authorized: Money, legs: tuple[CaptureLeg, ...], closed: bool,
                 amount: Money | None, final: bool | None) -> CaptureStep | str:
    """The next capture of an authorization, or why there can be none.

    Without an amount the rest is captured; a capture is final when asked, or when it
    takes everything still authorized. A first capture that is final is Braintree's plain
    submit_for_settlement (a lower amount releases the rest); every other capture is a
    partial settlement, so the authorization stays open for the next shipment.
    """
    if closed:
        return "deposit requested but the order is already captured"
    remaining = authorized - captured_total(legs, authorized.currency)
    if remaining.is_zero:
        return "deposit requested but the order is already captured"
    wanted = amount if amount is not None else remaining
    if wanted.currency != authorized.currency:
        return f"deposit in {wanted.currency} but the order is paid in {authorized.currency}"
    if wanted > remaining:
        if not legs:
            return f"deposit of {wanted} exceeds the authorized {authorized}"
        return f"deposit of {wanted} exceeds the {remaining} still authorized"
    is_final = final if final is not None else wanted == remaining
    return CaptureStep(amount=wanted, partial=bool(legs) or not is_final, final=is_final)


def still_authorized(authorized: Money | None, legs: tuple[CaptureLeg, ...],
                     closed: bool) -> Money | None:
    """What an authorization still holds for later captures."""
    if authorized is None:
        return None
    if closed:
        return Money.zero(authorized.currency)
    return authorized - captured_total(legs, authorized.currency)


# ------------------------------------------------------------------------- refunds


@dataclass(frozen=True)
class RefundLeg:
    """Refund `amount` of a settled leg now."""

    transaction_id: str
    amount: Money


@dataclass(frozen=True)
class VoidLeg:
    """A full refund of an unsettled leg: void it instead."""

    transaction_id: str
    amount: Money
    # The leg is the authorization itself (a single capture): the order is reversed.
    whole_authorization: bool


@dataclass(frozen=True)
class DeferRefund:
    """A partial refund of an unsettled leg: wait for its settlement."""

    transaction_id: str
    amount: Money


@dataclass(frozen=True)
class RefuseRefund:
    reason: str


RefundDecision = RefundLeg | VoidLeg | DeferRefund | RefuseRefund


def refundable_total(legs: tuple[CaptureLeg, ...], currency: str) -> Money:
    total = Money.zero(currency)
    for leg in legs:
        total = total + leg.refundable
    return total


def decide_refund(legs: tuple[CaptureLeg, ...], amount: Money | None,
                  authorization_id: str, deferred: tuple[DeferredRefund, ...] = ()
                  ) -> RefundDecision:
    """How to return `amount` (None = everything still refundable) of these captures.

    Refunds already waiting count against what is refundable, so two waiting refunds can
    never add up to more than a capture. One request acts on one capture (each is its own
    transaction at Braintree); settled captures are preferred, then the latest.
    """
    live = [leg for leg in legs if leg.status not in DEAD_LEG_STATUSES]
    if not legs:
        return RefuseRefund("refund requested but the order was never captured")
    if not live:
        if any(leg.status == "settlement_declined" for leg in legs):
            return RefuseRefund("refund refused: the capture's settlement was declined, so "
                                "nothing was collected from the shopper")
        return RefuseRefund("refund requested but nothing was captured")
    waiting = {d.transaction_id: d.amount for d in deferred}
    available = {leg.transaction_id: leg.refundable - waiting.get(
        leg.transaction_id, Money.zero(leg.amount.currency)) for leg in live}
    currency = live[0].amount.currency
    total = Money.zero(currency)
    for value in available.values():
        total = total + value
    if total.is_zero:
        return RefuseRefund("refund requested but the order is already fully refunded")
    if amount is not None and amount.currency != currency:
        return RefuseRefund(f"refund in {amount.currency} but the order is paid in {currency}")
    if amount is not None and amount > total:
        return RefuseRefund(f"refund of {amount} exceeds the refundable {total}")
    candidates = [leg for leg in live if not available[leg.transaction_id].is_zero]
    if amount is None:
        if len(candidates) > 1:
            return RefuseRefund(f"refund of the remaining {total} spans {len(candidates)} "
                                "captures; refund each capture's amount separately")
        leg = candidates[0]
        return _for_leg(leg, available[leg.transaction_id], authorization_id)
    # Settled first (refunded now), then the latest capture.
    ordered = sorted(candidates, key=lambda leg: (leg.status in REFUNDABLE_STATUSES,
                                                  candidates.index(leg)), reverse=True)
    for leg in ordered:
        if amount <= available[leg.transaction_id]:
            return _for_leg(leg, amount, authorization_id)
    largest = max(available[leg.transaction_id].amount for leg in candidates)
    return RefuseRefund(f"refund of {amount} spans several captures (the largest refundable "
                        f"is {Money.of(largest, currency)}); refund per capture")


def _for_leg(leg: CaptureLeg, amount: Money, authorization_id: str) -> RefundDecision:
    if leg.status in REFUNDABLE_STATUSES:
        return RefundLeg(leg.transaction_id, amount)
    untouched = leg.refunded is None or leg.refunded.is_zero
    if leg.status in UNSETTLED_LEG_STATUSES and untouched and amount == leg.amount:
        return VoidLeg(leg.transaction_id, amount,
                       whole_authorization=leg.transaction_id == authorization_id)
    return DeferRefund(leg.transaction_id, amount)


def with_leg(legs: tuple[CaptureLeg, ...], leg: CaptureLeg) -> tuple[CaptureLeg, ...]:
    """The legs with `leg` added or replaced (by transaction id)."""
    for i, old in enumerate(legs):
        if old.transaction_id == leg.transaction_id:
            return (*legs[:i], leg, *legs[i + 1:])
    return (*legs, leg)


def with_leg_status(legs: tuple[CaptureLeg, ...], transaction_id: str,
                    status: TransactionStatus) -> tuple[CaptureLeg, ...]:
    return tuple(leg.model_copy(update={"status": status})
                 if leg.transaction_id == transaction_id else leg for leg in legs)


def leg_of(legs: tuple[CaptureLeg, ...], transaction_id: str) -> CaptureLeg | None:
    return next((leg for leg in legs if leg.transaction_id == transaction_id), None)


__all__ = [
    "CaptureLeg",
    "CaptureStep",
    "DeferRefund",
    "DeferredRefund",
    "RefundDecision",
    "RefundLeg",
    "RefuseRefund",
    "VoidLeg",
    "captured_total",
    "decide_refund",
    "leg_of",
    "plan_capture",
    "refundable_total",
    "still_authorized",
    "with_leg",
    "with_leg_status",
]
