"""The executor's I/O around settlement: re-reading capture legs, holding refunds.

The rules are pure (`tables.settlement`, `tables.payment_plan`); these helpers are what
the request handler calls around them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol, cast

from gateway.port import PaymentGateway
from gateway.statuses import TransactionStatus
from schemas.payment_request import PaymentRequest
from schemas.pending import PaymentPending, pending_event_id
from streams.logs import get_logger
from tables.payment_ledger import PaymentLedgerEntry, with_deferred_refund, with_leg_status_of
from tables.settlement import UNSETTLED_LEG_STATUSES, DeferRefund

log = get_logger("paystream.settlement")


class _Ledger(Protocol):
    def put(self, order_id: str, entry: PaymentLedgerEntry) -> None: ...


class _Pending(Protocol):
    async def pending_operation(self, event: PaymentPending) -> None: ...


async def refresh_legs(gateway: PaymentGateway,
                       entry: PaymentLedgerEntry | None) -> PaymentLedgerEntry | None:
    """The entry with the gateway's current status of each unsettled child capture.

    Settlement happens at the gateway; a missed or late webhook must not keep a refund
    waiting, so the executor looks before it plans a refund."""
    if entry is None:
        return None
    for leg in entry.captures:
        if leg.transaction_id == entry.transaction_id or leg.status not in UNSETTLED_LEG_STATUSES:
            continue
        # A failed read raises: the handler reads again rather than plan on stale state.
        txn = await gateway.find_transaction(leg.transaction_id)
        if txn is not None and txn.status != leg.status:
            entry = with_leg_status_of(entry, leg.transaction_id,
                                       cast(TransactionStatus, txn.status))
    return entry


async def hold_refund(ledger: _Ledger, publisher: _Pending, entry: PaymentLedgerEntry | None,
                      request: PaymentRequest, plan: DeferRefund) -> None:
    """Keep a partial refund of an unsettled capture until that capture settles.

    Stored on the ledger entry, not marked processed and given no sequence: the request
    runs again when the settlement notification (or the periodic re-read) comes, and its
    one outcome is published then. The order shows it as a pending operation meanwhile.
    """
    assert entry is not None
    held = with_deferred_refund(entry, request, plan.amount, plan.transaction_id,
                                datetime.now(UTC))
    if held is entry:
        return  # already waiting: a redelivery of the same request
    now = datetime.now(UTC)
    if len(held.deferred_refunds) == len(entry.deferred_refunds):
        # Already waiting; only a call an earlier attempt left in flight is cleared.
        ledger.put(held.order_id, held)
        return
    await publisher.pending_operation(PaymentPending(
        event_id=pending_event_id(request.order_id, request.idempotency_key, 1),
        order_id=request.order_id, customer_id=request.customer_id,
        idempotency_key=request.idempotency_key, request_kind=request.kind, since=now,
        attempts=1, last_error=(f"refund of {plan.amount} waits for capture "
                                f"{plan.transaction_id} to settle"),
        correlation_id=request.correlation_id, occurred_at=now))
    ledger.put(held.order_id, held)
    log.info("refund_deferred", order_id=request.order_id, transaction_id=plan.transaction_id,
             amount=str(plan.amount), correlation_id=request.correlation_id)


def due_refunds(entry: PaymentLedgerEntry, transaction_id: str | None = None
                ) -> list[PaymentRequest]:
    """The held refunds to run again: those waiting for `transaction_id`, or all."""
    return [PaymentRequest.model_validate_json(d.request) for d in entry.deferred_refunds
            if transaction_id is None or d.transaction_id == transaction_id]


__all__ = ["due_refunds", "hold_refund", "refresh_legs"]
