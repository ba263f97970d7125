"""Drift between what the ledger says about an order and what the gateway holds.

Pure: the reconciler feeds it a ledger entry and the gateway's transactions for the
order id and carries out the repairs it names. A repair is named only where the rule is
clear; everything else is reported for a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from gateway.port import Transaction
from gateway.statuses import (
    CAPTURED_STATUSES,
    IN_SETTLEMENT_STATUSES,
    LIVE_STATUSES,
    VOIDABLE_STATUSES,
)
from tables.payment_ledger import PaymentLedgerEntry


class DriftKind(StrEnum):
    # A live sale at the gateway that no request of the order holds: an authorization
    # nobody wants (a request given up, then applied late).
    ORPHAN_SALE = "orphan_sale"
    # Ledger and gateway disagree in a way no rule can settle alone.
    STATUS_MISMATCH = "status_mismatch"
    # The ledger names a transaction the gateway does not know.
    MISSING_AT_GATEWAY = "missing_at_gateway"


class Repair(StrEnum):
    VOID = "void"  # compensate: void the orphan sale
    NONE = "none"  # report only


@dataclass(frozen=True, slots=True)
class Drift:
    kind: DriftKind
    order_id: str
    transaction_id: str
    ledger_status: str | None
    gateway_status: str
    repair: Repair

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind.value, "order_id": self.order_id,
                "transaction_id": self.transaction_id, "ledger_status": self.ledger_status,
                "gateway_status": self.gateway_status, "repair": self.repair.value}


# Settlement only ever moves a capture along this path.
_SETTLEMENT_ORDER: dict[str, int] = {
    "submitted_for_settlement": 0, "settlement_pending": 1, "settling": 2, "settled": 3,
    "settlement_confirmed": 4,
}


def _settled_further(ledger: str | None, gateway: str) -> bool:
    return (ledger in IN_SETTLEMENT_STATUSES and gateway in _SETTLEMENT_ORDER
            and _SETTLEMENT_ORDER[gateway] > _SETTLEMENT_ORDER[ledger or ""])


def find_drift(order_id: str, entry: PaymentLedgerEntry | None,
               transactions: Sequence[Transaction]) -> list[Drift]:
    """What disagrees between the order's ledger entry and the gateway's transactions.

    Call it only for an order with no request in flight: a pending operation is the
    executor's to resolve, and its sale is not an orphan.
    """
    drifts: list[Drift] = []
    known = entry.transaction_id if entry is not None else None
    ledger_status = entry.status if entry is not None else None
    sales = [t for t in transactions if t.type == "sale" and t.order_id == order_id]
    for sale in sales:
        if sale.id == known or sale.status not in LIVE_STATUSES:
            continue
        # A split capture's part belongs to the authorization it was taken from.
        if known is not None and getattr(sale, "authorized_transaction_id", None) == known:
            continue
        drifts.append(Drift(DriftKind.ORPHAN_SALE, order_id, sale.id, None, sale.status,
                            Repair.VOID if sale.status in VOIDABLE_STATUSES
                            else Repair.NONE))
    if known is None:
        return drifts
    ours = next((t for t in transactions if t.id == known), None)
    if ours is None:
        drifts.append(Drift(DriftKind.MISSING_AT_GATEWAY, order_id, known, ledger_status,
                            "unknown", Repair.NONE))
    elif (ours.status != ledger_status and not _settled_further(ledger_status, ours.status)
          and not (ledger_status in CAPTURED_STATUSES and ours.status in CAPTURED_STATUSES)):
        # Settlement moving a capture on is not drift: the executor re-reads the status
        # before any decision that depends on it, and the ledger may lag behind it.
        drifts.append(Drift(DriftKind.STATUS_MISMATCH, order_id, known, ledger_status,
                            ours.status, Repair.NONE))
    return drifts


def needs_check(entry: PaymentLedgerEntry, sample_every: int, pass_number: int) -> bool:
    """Every order that can still change at the gateway; a rotating sample of the rest."""
    if entry.status is None or entry.status in LIVE_STATUSES - {"settled",
                                                                 "settlement_confirmed"}:
        return True
    if entry.status in ("failed", "processor_declined", "gateway_rejected"):
        return True  # a late effect of a given-up request would show up here
    if sample_every <= 1:
        return True
    return (sum(entry.order_id.encode()) + pass_number) % sample_every == 0


__all__ = ["Drift", "DriftKind", "Repair", "find_drift", "needs_check"]
