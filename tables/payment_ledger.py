"""The executor's state core: per-order payment ledger, in-flight calls and the fold of results.

No I/O and no faust: the executor loads the entry for the request's order, asks
`tables.payment_plan.plan_request` what to do, performs the gateway call, then `conclude`
folds the result into the entry and builds the outcome event to publish. Keeping this pure
is what lets every rule here be tested exhaustively without a broker or a gateway.

Idempotency: a request whose idempotency key is already in `processed` is planned as
AlreadyProcessed so the executor re-publishes nothing and decides nothing again (a second
decision on a redelivered approve would wrongly decline it as "already authorized"). A
crash between the gateway call and the ledger write is covered by the gateway itself: the
idempotency key is also Braintree's api_request_key, so repeating the call returns the
original result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.statuses import LIVE_STATUSES, TransactionStatus
from schemas.money import Money
from schemas.outcomes import (
    SUCCESS_EVENT_FOR_KIND,
    OutcomeEvent,
    PaymentDeclined,
    PaymentFailed,
    PaymentOutcome,
    PaymentReversed,
    outcome_event_id,
    outcome_for_request,
)
from schemas.payment_request import PaymentMethodType, PaymentRequest
from tables.settlement import (
    CaptureLeg,
    DeferredRefund,
    captured_total,
    leg_of,
    with_leg,
    with_leg_status,
)


class InFlightRecord(BaseModel):
    """A gateway call that was started; present only until its outcome is recorded."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    kind: str
    started_at: datetime
    transaction_id: str | None = None
    # Attempts that got no definite answer, and the last such error (no secrets: the
    # adapter's messages name the failure, never the request's fields).
    attempts: int = Field(default=0, ge=0)
    last_error: str | None = None


class PaymentLedgerEntry(BaseModel):
    """What the executor knows about one order's payment. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    customer_id: str
    transaction_id: str | None = None
    # As last reported by the gateway (the executor may refresh it before deciding).
    status: TransactionStatus | None = None
    currency: str | None = None
    authorized: Money | None = None
    captured: Money | None = None
    refunded: Money | None = None
    refund_transaction_ids: tuple[str, ...] = ()
    payment_method_type: PaymentMethodType | None = None
    # Each capture of the authorization (tables.settlement); closed after a final one.
    captures: tuple[CaptureLeg, ...] = ()
    capture_closed: bool = False
    # Partial refunds of unsettled captures, run when their capture settles.
    deferred_refunds: tuple[DeferredRefund, ...] = ()
    next_sequence: int = Field(default=1, ge=1)
    processed: dict[str, str] = Field(
        default_factory=dict, description="idempotency_key -> outcome event_id"
    )
    # When the last outcome was recorded (what `paystream reconcile --since` selects on).
    updated_at: datetime | None = None
    # Gateway calls started and not yet concluded, by idempotency key (at most one at a
    # time: an order's requests run in sequence). Held in the order's own entry so that
    # the record written before a call and the one concluding it are the only two
    # changelog records a payment costs, and the conclusion clears the call atomically.
    calls_in_flight: dict[str, InFlightRecord] = Field(default_factory=dict)

    @property
    def has_live_authorization(self) -> bool:
        return self.transaction_id is not None and self.status in LIVE_STATUSES

    @property
    def refundable(self) -> Money | None:
        if self.captured is None:
            return None
        if self.refunded is None:
            return self.captured
        return self.captured - self.refunded


def planned_amount(entry: PaymentLedgerEntry | None, request: PaymentRequest) -> Money | None:
    """The amount a request resolves to: explicit, or the full remainder it acts on."""
    if request.amount is not None or entry is None:
        return request.amount
    if request.kind == "deposit":
        return entry.authorized
    if request.kind == "refund":
        return entry.refundable
    return None


def opened(request: PaymentRequest) -> PaymentLedgerEntry:
    """The entry of an order the ledger has not seen, as its first request starts it."""
    return PaymentLedgerEntry(
        order_id=request.order_id,
        customer_id=request.customer_id,
        currency=request.amount.currency if request.amount is not None else None,
    )


def call_in_flight(entry: PaymentLedgerEntry | None, idempotency_key: str
                   ) -> InFlightRecord | None:
    return None if entry is None else entry.calls_in_flight.get(idempotency_key)


def with_call_in_flight(entry: PaymentLedgerEntry | None, request: PaymentRequest,
                        record: InFlightRecord) -> PaymentLedgerEntry:
    """The entry recording that `request`'s gateway call started (or was tried again)."""
    base = entry if entry is not None else opened(request)
    return base.model_copy(update={
        "calls_in_flight": {**base.calls_in_flight, request.idempotency_key: record}})


def without_call(entry: PaymentLedgerEntry, idempotency_key: str) -> PaymentLedgerEntry | None:
    """The entry once the call under `idempotency_key` ends without an outcome (parked);
    None when nothing but the call's own opening remains, i.e. the order is unseen again."""
    remaining = entry.model_copy(update=_calls_without(entry, idempotency_key))
    if (not remaining.calls_in_flight and not entry.processed and entry.transaction_id is None
            and not entry.deferred_refunds and entry.next_sequence == 1):
        return None
    return remaining


def _calls_without(entry: PaymentLedgerEntry, idempotency_key: str) -> dict[str, object]:
    """The change that concludes a request's call, if the entry holds one."""
    if idempotency_key not in entry.calls_in_flight:
        return {}
    return {"calls_in_flight": {k: v for k, v in entry.calls_in_flight.items()
                                if k != idempotency_key}}


def with_status(entry: PaymentLedgerEntry, status: TransactionStatus) -> PaymentLedgerEntry:
    """The entry with a gateway-reported status for its authorization (and for its capture,
    when the capture is the authorization itself)."""
    update: dict[str, object] = {"status": status}
    if entry.transaction_id is not None and leg_of(entry.captures, entry.transaction_id):
        update["captures"] = with_leg_status(entry.captures, entry.transaction_id, status)
    return entry.model_copy(update=update)


def with_leg_status_of(entry: PaymentLedgerEntry, transaction_id: str,
                       status: TransactionStatus) -> PaymentLedgerEntry:
    """The entry with a gateway-reported status for one capture leg."""
    if transaction_id == entry.transaction_id:
        return with_status(entry, status)
    return entry.model_copy(update={
        "captures": with_leg_status(entry.captures, transaction_id, status)})


def with_deferred_refund(entry: PaymentLedgerEntry, request: PaymentRequest, amount: Money,
                         transaction_id: str, at: datetime) -> PaymentLedgerEntry:
    """The entry holding a refund that waits for `transaction_id` to settle. Not processed
    and no sequence: its one outcome comes when it runs (or is refused)."""
    if any(d.idempotency_key == request.idempotency_key for d in entry.deferred_refunds):
        concluded = _calls_without(entry, request.idempotency_key)
        return entry.model_copy(update=concluded) if concluded else entry
    deferred = DeferredRefund(idempotency_key=request.idempotency_key, amount=amount,
                              transaction_id=transaction_id, since=at,
                              request=request.model_dump_json())
    return entry.model_copy(update={"deferred_refunds": (*entry.deferred_refunds, deferred),
                                    **_calls_without(entry, request.idempotency_key)})


# ----------------------------------------------------------------------- results


ResultKind = Literal["succeeded", "declined", "failed"]


@dataclass(frozen=True)
class GatewayResult:
    """What came back from the gateway (or from the plan, for a rule's refusal)."""

    result: ResultKind
    # The transaction this call created (authorization, refund) or acted on.
    transaction_id: str | None = None
    # The authorization transaction's status after the call, if the gateway said.
    status: TransactionStatus | None = None
    # Amount the gateway processed; defaults to what the plan asked for.
    amount: Money | None = None
    processor_response_code: str | None = None
    processor_response_text: str | None = None
    reason: str | None = None
    # Refused by a rule without asking the gateway: says nothing about the
    # transaction, so it must not overwrite what the ledger knows about it.
    by_rule: bool = False
    # A capture: whether it closed the authorization (None: not a capture).
    capture_final: bool | None = None
    # A refund: the capture it returned money from, and whether that was done by voiding
    # the unsettled capture; when it was the authorization itself the order is reversed.
    leg: str | None = None
    by_void: bool = False
    reversed_by_void: bool = False

    @classmethod
    def declined_by_rule(cls, reason: str) -> GatewayResult:
        return cls(result="declined", reason=reason, by_rule=True)


def record_result(
    entry: PaymentLedgerEntry | None,
    request: PaymentRequest,
    result: GatewayResult,
    *,
    event_id: str | None = None,
) -> PaymentLedgerEntry:
    """Fold the result of handling `request` into the entry and consume a sequence number."""
    if entry is None:
        entry = opened(request)
    event_id = event_id or outcome_event_id(request.order_id, request.idempotency_key)
    changes: dict[str, object] = {
        "next_sequence": entry.next_sequence + 1,
        "processed": {**entry.processed, request.idempotency_key: event_id},
        # The outcome is the call's conclusion: both land in the same changelog record.
        **_calls_without(entry, request.idempotency_key),
    }
    if entry.deferred_refunds:
        # Its one outcome is this one, whatever it is: it no longer waits.
        changes["deferred_refunds"] = tuple(d for d in entry.deferred_refunds
                                            if d.idempotency_key != request.idempotency_key)
    if result.result == "succeeded":
        changes.update(_success_changes(entry, request, result))
    elif result.by_rule:
        pass
    elif request.kind == "approve" and not entry.has_live_authorization:
        changes["status"] = result.status or (
            "processor_declined" if result.result == "declined" else "failed"
        )
        if result.transaction_id is not None:
            changes["transaction_id"] = result.transaction_id
    elif result.status is not None:
        # A refused capture/refund/void may still have told us the real status.
        changes["status"] = result.status
    return entry.model_copy(update=changes)


def _success_changes(
    entry: PaymentLedgerEntry, request: PaymentRequest, result: GatewayResult
) -> dict[str, object]:
    amount = result.amount or planned_amount(entry, request)
    if request.kind == "approve":
        assert amount is not None
        return {
            "transaction_id": result.transaction_id or entry.transaction_id,
            "status": result.status or "authorized",
            "currency": amount.currency,
            "authorized": amount,
            "captured": None,
            "refunded": None,
            "refund_transaction_ids": (),
            "payment_method_type": request.payment_method_type,
            "captures": (),
            "capture_closed": False,
            "deferred_refunds": (),
        }
    if request.kind == "deposit":
        assert amount is not None
        return _capture_changes(entry, request, result, amount)
    if request.kind == "reverse":
        voided = entry.captures
        if entry.transaction_id is not None:
            voided = with_leg_status(voided, entry.transaction_id, "voided")
        return {"status": result.status or "voided", "captures": voided}
    assert amount is not None
    if result.reversed_by_void:
        # The whole (single, unsettled) capture was voided: the order is reversed.
        return {"status": "voided", "captures": with_leg_status(
            entry.captures, result.leg or entry.transaction_id or "", "voided")}
    refunded = amount if entry.refunded is None else entry.refunded + amount
    refund_ids = entry.refund_transaction_ids
    if result.transaction_id is not None and not result.by_void:
        refund_ids = (*refund_ids, result.transaction_id)
    captures = entry.captures
    leg = leg_of(captures, result.leg) if result.leg is not None else (
        captures[0] if len(captures) == 1 else None)
    if leg is not None:
        captures = with_leg(captures, leg.model_copy(update={
            "refunded": amount if leg.refunded is None else leg.refunded + amount,
            "status": "voided" if result.by_void else leg.status}))
    # A refund is its own transaction; the original keeps its (settled) status.
    return {
        "status": result.status or entry.status,
        "refunded": refunded,
        "refund_transaction_ids": refund_ids,
        "captures": captures,
    }


def _capture_changes(entry: PaymentLedgerEntry, request: PaymentRequest,
                     result: GatewayResult, amount: Money) -> dict[str, object]:
    child = result.transaction_id is not None and result.transaction_id != entry.transaction_id
    leg_status: TransactionStatus = result.status or "submitted_for_settlement"
    leg = CaptureLeg(transaction_id=(result.transaction_id if child else entry.transaction_id)
                     or "", amount=amount, status=leg_status,
                     idempotency_key=request.idempotency_key, partial=child,
                     final=bool(result.capture_final))
    captures = with_leg(entry.captures, leg)
    captured = captured_total(captures, amount.currency)
    authorized = entry.authorized or captured
    closed = bool(result.capture_final) or captured >= authorized
    changes: dict[str, object] = {
        # A split capture's parent waits in settlement_pending while its children settle.
        "status": "settlement_pending" if child else leg_status,
        "captured": captured, "captures": captures, "capture_closed": closed,
    }
    if closed and captured < authorized:
        # A final capture releases the rest: what stays authorized is what was captured.
        changes["authorized"] = captured
    return changes


def outcome_event(
    entry_after: PaymentLedgerEntry,
    request: PaymentRequest,
    result: GatewayResult,
    *,
    occurred_at: datetime,
    amount: Money | None = None,
) -> OutcomeEvent:
    """The outcome to publish for a result already folded into `entry_after`."""
    model: type[PaymentOutcome]
    if result.result == "succeeded":
        # A full refund of an unsettled single capture was a void: the order is reversed.
        model = PaymentReversed if result.reversed_by_void else SUCCESS_EVENT_FOR_KIND[
            request.kind]
    elif result.result == "declined":
        model = PaymentDeclined
    else:
        model = PaymentFailed
    reason = result.reason
    if reason is None and result.result != "succeeded":
        reason = result.processor_response_text or f"{request.kind} {result.result}"
    return outcome_for_request(
        model,
        request,
        event_id=entry_after.processed[request.idempotency_key],
        sequence=entry_after.next_sequence - 1,
        transaction_id=result.transaction_id,
        amount=result.amount or amount or request.amount,
        authorized_amount=entry_after.authorized,
        captured_amount=entry_after.captured,
        refunded_amount=entry_after.refunded,
        payment_method_type=entry_after.payment_method_type or request.payment_method_type,
        processor_response_code=result.processor_response_code,
        processor_response_text=result.processor_response_text,
        reason=reason,
        occurred_at=occurred_at,
    )


def conclude(
    entry: PaymentLedgerEntry | None,
    request: PaymentRequest,
    result: GatewayResult,
    *,
    occurred_at: datetime,
) -> tuple[PaymentLedgerEntry, OutcomeEvent]:
    """record_result + outcome_event: the new entry to store and the event to publish."""
    amount = planned_amount(entry, request) if result.result == "succeeded" else None
    after = record_result(entry, request, result).model_copy(update={"updated_at": occurred_at})
    return after, outcome_event(after, request, result, occurred_at=occurred_at, amount=amount)


# ------------------------------------------------------------------------ retries


__all__ = [
    "GatewayResult",
    "InFlightRecord",
    "PaymentLedgerEntry",
    "ResultKind",
    "call_in_flight",
    "conclude",
    "opened",
    "outcome_event",
    "planned_amount",
    "record_result",
    "with_call_in_flight",
    "with_deferred_refund",
    "with_leg_status_of",
    "with_status",
    "without_call",
]
