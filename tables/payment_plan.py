"""The executor's plan for one payment request: which gateway call, or why none.

Pure: no I/O. `plan_request` reads the order's ledger entry (`tables.payment_ledger`)
and returns a gateway call to make, a refusal with its reason, or AlreadyProcessed for a
redelivered request. Which kinds of request an order allows at all is the one rule in
`tables.order_state.ALLOWED_KINDS`; the ledger's Braintree status then refines it
(a void only before settlement, a refund only after it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gateway.statuses import (
    IN_SETTLEMENT_STATUSES,
    REFUNDABLE_STATUSES,
    UNSUCCESSFUL_STATUSES,
    VOIDABLE_STATUSES,
)
from schemas.money import Money
from schemas.payment_request import PaymentMethodType, PaymentRequest
from tables.order_state import APPROVABLE_STATES, OrderState, allows
from tables.payment_ledger import GatewayResult, PaymentLedgerEntry
from tables.roles import owner_refusal, role_refusal
from tables.settlement import (
    UNSETTLED_LEG_STATUSES,
    CaptureLeg,
    CaptureStep,
    DeferRefund,
    RefundLeg,
    RefuseRefund,
    VoidLeg,
    decide_refund,
    plan_capture,
)


@dataclass(frozen=True)
class Authorize:
    order_id: str
    customer_id: str
    amount: Money
    payment_method_type: PaymentMethodType | None
    idempotency_key: str
    payment_method_token: str | None = field(default=None, repr=False)
    payment_method_nonce: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Capture:
    transaction_id: str
    amount: Money
    idempotency_key: str
    # submit_for_partial_settlement (a child transaction per shipment), else
    # submit_for_settlement; final releases what stays authorized.
    partial: bool = False
    final: bool = True
    order_id: str | None = None


@dataclass(frozen=True)
class Void:
    transaction_id: str
    idempotency_key: str
    # Set when the void carries out a refund of an unsettled capture (tables.settlement).
    refund_amount: Money | None = None
    whole_authorization: bool = True


@dataclass(frozen=True)
class Refund:
    transaction_id: str
    amount: Money
    idempotency_key: str


@dataclass(frozen=True)
class Decline:
    reason: str


@dataclass(frozen=True)
class AlreadyProcessed:
    event_id: str


GatewayCall = Authorize | Capture | Void | Refund
# DeferRefund: a partial refund of an unsettled capture, held on the ledger until it settles.
Plan = GatewayCall | Decline | AlreadyProcessed | DeferRefund


def annotate(result: GatewayResult, call: GatewayCall) -> GatewayResult:
    """The gateway's result with what the plan meant by the call, for the ledger fold."""
    if result.result != "succeeded":
        return result
    if isinstance(call, Capture):
        return replace(result, capture_final=call.final)
    if isinstance(call, Refund):
        return replace(result, leg=call.transaction_id)
    if isinstance(call, Void) and call.refund_amount is not None:
        # The voided capture's status is not the authorization's, unless it is the same.
        return replace(result, leg=call.transaction_id, by_void=True,
                       reversed_by_void=call.whole_authorization, amount=call.refund_amount,
                       status=result.status if call.whole_authorization else None)
    return result


def capture_legs(entry: PaymentLedgerEntry) -> tuple[CaptureLeg, ...]:
    """The entry's captures; an entry from before split captures has its one capture."""
    if entry.captures or entry.captured is None or entry.transaction_id is None:
        return entry.captures
    return (CaptureLeg(transaction_id=entry.transaction_id, amount=entry.captured,
                       status=entry.status or "submitted_for_settlement",
                       idempotency_key="", final=True, refunded=entry.refunded),)


def ledger_state(entry: PaymentLedgerEntry | None) -> OrderState:
    """The order state the ledger entry stands for, as far as requests are concerned."""
    if entry is None or not entry.has_live_authorization:
        status = entry.status if entry is not None else None
        if status == "voided":
            return OrderState.REVERSED
        if status == "failed":
            return OrderState.FAILED
        if status in UNSUCCESSFUL_STATUSES:
            return OrderState.DECLINED
        # Never authorized, or the authorization expired: payable again.
        return OrderState.CREATED
    if entry.status in ("authorizing", "authorized"):
        return OrderState.AUTHORIZED
    if entry.refunded is not None and not entry.refunded.is_zero:
        remaining = entry.refundable
        if remaining is not None and remaining.is_zero:
            return OrderState.REFUNDED
        return OrderState.PARTIALLY_REFUNDED
    return OrderState.PAID


def plan_request(entry: PaymentLedgerEntry | None, request: PaymentRequest) -> Plan:
    """What to do with `request` given the order's ledger entry (None = never seen)."""
    if entry is not None and request.idempotency_key in entry.processed:
        return AlreadyProcessed(entry.processed[request.idempotency_key])
    refusal = owner_refusal(entry.customer_id if entry is not None else None,
                            request.customer_id)
    if refusal is None and request.requested_by is not None:
        refusal = role_refusal(request.requested_by, request.kind, ledger_state(entry))
    if refusal is not None:
        return Decline(refusal)
    if (entry is not None and request.amount is not None and entry.currency is not None
            and request.amount.currency != entry.currency):
        return Decline(
            f"{request.kind} in {request.amount.currency} but the order is paid in "
            f"{entry.currency}"
        )
    state = ledger_state(entry)
    if not allows(state, request.kind):
        return Decline(_refusal(state, entry, request))
    if request.kind == "approve":
        assert request.amount is not None  # guaranteed by PaymentRequest for approve
        return Authorize(
            order_id=request.order_id,
            customer_id=request.customer_id,
            amount=request.amount,
            payment_method_type=request.payment_method_type,
            idempotency_key=request.idempotency_key,
            payment_method_token=request.payment_method_token,
            payment_method_nonce=request.payment_method_nonce,
        )
    assert entry is not None and entry.transaction_id is not None  # a live authorization
    if request.kind == "deposit":
        return _plan_deposit(entry, entry.transaction_id, request)
    if request.kind == "reverse":
        if entry.status in VOIDABLE_STATUSES:
            return Void(entry.transaction_id, request.idempotency_key)
        return Decline(_SETTLED_REVERSE)
    return _plan_refund(entry, entry.transaction_id, request)


_SETTLED_REVERSE = "reverse requested but the capture has already settled; refund it instead"


def _refusal(state: OrderState, entry: PaymentLedgerEntry | None,
             request: PaymentRequest) -> str:
    """Why `state` does not allow the request, in the executor's words."""
    kind = request.kind
    status = entry.status if entry is not None else None
    if kind == "approve":
        if state == OrderState.REVERSED:
            return "approve requested but the order was reversed"
        return "approve requested but the order already has an authorization"
    if state in APPROVABLE_STATES or state == OrderState.REVERSED:
        return _no_authorization_reason(status, request)
    if kind == "deposit":
        return "deposit requested but the order is already captured"
    if kind == "reverse":
        return _SETTLED_REVERSE
    # A refund the order's state refuses: still authorized, or nothing left to refund.
    if status == "authorized":
        return "refund requested but the order was never captured"
    if status not in REFUNDABLE_STATUSES:
        return "refund requested before settlement"
    return "refund requested but the order is already fully refunded"


def _no_authorization_reason(status: str | None, request: PaymentRequest) -> str:
    if status == "voided":
        return f"{request.kind} requested but the order was already reversed"
    if status == "authorization_expired":
        return f"{request.kind} requested but the authorization expired"
    if request.kind == "refund":
        return "refund requested but the order was never paid"
    return f"{request.kind} requested but the order has no authorization"


def _plan_deposit(entry: PaymentLedgerEntry, transaction_id: str,
                  request: PaymentRequest) -> Plan:
    legs = capture_legs(entry)
    if entry.status != "authorized" and not entry.captures:
        return Decline("deposit requested but the order is already captured")
    authorized = entry.authorized
    if authorized is None:
        return Decline("deposit requested but the authorized amount is unknown")
    step = plan_capture(authorized, legs, entry.capture_closed, request.amount,
                        request.final_capture)
    if not isinstance(step, CaptureStep):
        return Decline(step)
    return Capture(transaction_id, step.amount, request.idempotency_key, partial=step.partial,
                   final=step.final, order_id=entry.order_id if step.partial else None)


def _plan_refund(entry: PaymentLedgerEntry, transaction_id: str,
                 request: PaymentRequest) -> Plan:
    others = tuple(d for d in entry.deferred_refunds
                   if d.idempotency_key != request.idempotency_key)
    decision = decide_refund(capture_legs(entry), request.amount, transaction_id, others)
    if isinstance(decision, RefuseRefund):
        return Decline(decision.reason)
    if isinstance(decision, RefundLeg):
        return Refund(decision.transaction_id, decision.amount, request.idempotency_key)
    if isinstance(decision, VoidLeg):
        return Void(decision.transaction_id, request.idempotency_key,
                    refund_amount=decision.amount,
                    whole_authorization=decision.whole_authorization)
    assert isinstance(decision, DeferRefund)
    return decision


def needs_status_refresh(entry: PaymentLedgerEntry | None, request: PaymentRequest) -> bool:
    """True when the stored status may be stale for this request's plan.

    Settlement happens at the gateway without an event to us, so before refusing a
    refund (or a reverse) the executor should re-read the transaction's status.
    """
    return (
        entry is not None
        and request.kind in ("refund", "reverse")
        and request.idempotency_key not in entry.processed
        and (entry.status in IN_SETTLEMENT_STATUSES
             or any(leg.status in UNSETTLED_LEG_STATUSES for leg in entry.captures))
    )


__all__ = [
    "AlreadyProcessed",
    "Authorize",
    "Capture",
    "Decline",
    "GatewayCall",
    "Plan",
    "Refund",
    "Void",
    "annotate",
    "capture_legs",
    "ledger_state",
    "needs_status_refresh",
    "plan_request",
]
