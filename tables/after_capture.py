"""What an order learns after capture: its captures' settlement and its disputes. Pure.

Fed by two sources: `payment-deposited` outcomes add a capture (one per shipment of a
split capture), and gateway notifications (`schemas.notifications`) settle or decline a
capture and open, move and close disputes. Webhooks arrive at least once and in any
order, so every notification id is remembered (bounded) and a dispute never moves back
from a final status to an open one because an older notification came late.

Dispute states on the order: `open` (Braintree `open`, `under_review`, `disputed`: the
money is held by the bank, shipment is held) and the outcomes `won`, `lost` (a chargeback:
`chargeback_amount` says how much the shop lost), `accepted` (also a chargeback), `expired`.
The order's payment state (PAID, REFUNDED...) does not change: a chargeback is the bank's
reversal, shown next to it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict

from schemas.money import Money
from schemas.notifications import GatewayNotification
from schemas.types import derived_event_id

if TYPE_CHECKING:
    from tables.order_record import Order

MAX_SEEN_NOTIFICATIONS: Final = 128

DisputeState = Literal["open", "won", "lost", "accepted", "expired"]
_DISPUTE_STATE: Final[dict[str, DisputeState]] = {
    "open": "open", "under_review": "open", "disputed": "open",
    "won": "won", "lost": "lost", "accepted": "accepted", "expired": "expired",
}
OPEN_DISPUTE: Final = "open"
CHARGEBACK_STATES: Final = frozenset({"lost", "accepted"})


class CaptureView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transaction_id: str
    amount: Money
    settled: bool = False
    settled_at: datetime | None = None
    settlement_declined: bool = False
    settlement_response: str | None = None


class DisputeView(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    dispute_id: str
    state: DisputeState
    gateway_status: str
    transaction_id: str | None = None
    amount_disputed: Money | None = None
    chargeback_amount: Money | None = None
    reason: str | None = None
    reply_by: datetime | None = None
    opened_at: datetime
    # Braintree's timestamp of the latest notification applied: older ones never win.
    updated_at: datetime


class AfterCapture(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    captures: tuple[CaptureView, ...] = ()
    disputes: tuple[DisputeView, ...] = ()
    seen_notifications: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        """Every capture settled (False before the first capture)."""
        return bool(self.captures) and all(c.settled for c in self.captures)

    @property
    def settled_at(self) -> datetime | None:
        times = [c.settled_at for c in self.captures if c.settled_at is not None]
        return max(times) if self.settled and times else None

    @property
    def settlement_declined(self) -> bool:
        return any(c.settlement_declined for c in self.captures)

    @property
    def open_dispute(self) -> bool:
        return any(d.state == OPEN_DISPUTE for d in self.disputes)


def record_capture(after: AfterCapture, transaction_id: str | None,
                   amount: Money | None) -> AfterCapture:
    """A capture from a payment-deposited outcome (its own transaction)."""
    if transaction_id is None or amount is None:
        return after
    if any(c.transaction_id == transaction_id for c in after.captures):
        return after
    return after.model_copy(update={"captures": (
        *after.captures, CaptureView(transaction_id=transaction_id, amount=amount))})


class DisputeChanged(BaseModel):
    """A dispute on an order moved (published on `order-disputes`, once per change)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: Literal["order-dispute"] = "order-dispute"
    order_id: str
    dispute: DisputeView
    previous_state: DisputeState | None
    occurred_at: datetime


def apply_notification(order: Order, note: GatewayNotification
                       ) -> tuple[Order, DisputeChanged | None]:
    """The order after one notification; the same order object if it changes nothing."""
    after = order.after_capture
    if note.notification_id in after.seen_notifications:
        return order, None
    seen = (*after.seen_notifications, note.notification_id)[-MAX_SEEN_NOTIFICATIONS:]
    changed: DisputeChanged | None = None
    if note.kind in ("transaction_settled", "transaction_settlement_declined"):
        after = _settle(after, note)
    elif note.dispute_id is not None:
        after, changed = _dispute(order.order_id, after, note)
    after = after.model_copy(update={"seen_notifications": seen})
    updated = order.model_copy(update={"after_capture": after,
                                       "updated_at": max(order.updated_at, note.received_at)})
    return updated, changed


def _settle(after: AfterCapture, note: GatewayNotification) -> AfterCapture:
    # Refunds settle too; only the order's own captures are tracked here.
    if note.transaction_type != "sale" or note.transaction_id is None:
        return after
    declined = note.kind == "transaction_settlement_declined"
    response = " ".join(p for p in (note.settlement_response_code,
                                    note.settlement_response_text) if p) or None
    captures = list(after.captures)
    for i, capture in enumerate(captures):
        if capture.transaction_id == note.transaction_id:
            captures[i] = capture.model_copy(update={
                "settled": not declined, "settlement_declined": declined,
                "settled_at": None if declined else note.timestamp,
                "settlement_response": response})
            return after.model_copy(update={"captures": tuple(captures)})
    # Settled before its deposit outcome reached the order: keep it, the deposit joins it.
    if note.amount is None:
        return after
    return after.model_copy(update={"captures": (*captures, CaptureView(
        transaction_id=note.transaction_id, amount=note.amount, settled=not declined,
        settlement_declined=declined, settled_at=None if declined else note.timestamp,
        settlement_response=response))})


def _dispute(order_id: str, after: AfterCapture, note: GatewayNotification
             ) -> tuple[AfterCapture, DisputeChanged | None]:
    assert note.dispute_id is not None
    state = _DISPUTE_STATE.get(note.dispute_status or "", "open")
    existing = next((d for d in after.disputes if d.dispute_id == note.dispute_id), None)
    if existing is not None and (note.timestamp < existing.updated_at or (
            existing.state != OPEN_DISPUTE and state == OPEN_DISPUTE)):
        return after, None  # late: an older notification never undoes a newer one
    chargeback = note.amount_disputed if state in CHARGEBACK_STATES else None
    view = DisputeView(
        dispute_id=note.dispute_id, state=state, gateway_status=note.dispute_status or "open",
        transaction_id=note.transaction_id, amount_disputed=note.amount_disputed,
        chargeback_amount=chargeback, reason=note.dispute_reason, reply_by=note.reply_by,
        opened_at=existing.opened_at if existing is not None else note.timestamp,
        updated_at=note.timestamp)
    others = tuple(d for d in after.disputes if d.dispute_id != note.dispute_id)
    after = after.model_copy(update={"disputes": (*others, view)})
    previous = existing.state if existing is not None else None
    if existing is not None and (previous, existing.gateway_status) == (
            state, view.gateway_status):
        return after, None
    return after, DisputeChanged(
        event_id=derived_event_id("order-dispute", order_id, note.notification_id),
        order_id=order_id, dispute=view, previous_state=previous, occurred_at=note.timestamp)


def after_capture_view(after: AfterCapture) -> dict[str, object]:
    """The order view's `settlement` and `disputes` (without dedup bookkeeping)."""
    return {
        "settlement": {
            "settled": after.settled,
            "settled_at": after.settled_at.isoformat() if after.settled_at else None,
            "settlement_declined": after.settlement_declined,
            "captures": [c.model_dump(mode="json") for c in after.captures],
        },
        "disputes": [d.model_dump(mode="json") for d in after.disputes],
        "open_dispute": after.open_dispute,
    }


__all__ = [
    "AfterCapture",
    "CaptureView",
    "DisputeChanged",
    "DisputeView",
    "after_capture_view",
    "apply_notification",
    "record_capture",
]
