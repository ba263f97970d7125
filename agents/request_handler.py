"""Executes one payment request: plan, call the gateway, publish exactly one outcome.

The handler owns the crash-safety protocol; the faust agent around it only feeds records
and acknowledges them. Ordering of effects, and why:

1. An in-flight record of the call is stored in the order's ledger entry *before* the
   gateway call and counts the attempts that got no definite answer.
2. Every gateway call carries the idempotency key as Braintree's `api_request_key`, so a
   repeat returns the original transaction once the first attempt completed, and is
   refused as "in flight" (915233) while it has not: money never moves twice.
3. Unknown is never failed: an error after which the call may have been applied
   (`tables.pending.resolution_for`) leaves the request pending. It is repeated, with a
   back-off that grows to minutes, until the gateway answers definitely; the order view
   shows it as pending meanwhile, and the order's later requests wait behind it (the
   dispatcher chains them). The Kafka record stays unacknowledged, so a restarted worker
   gets it again and resumes with the in-flight record. Only after the life of an idempotency
   key is it given up (reported failed; a late effect is compensated by the reconciler).
4. The outcome event is published (and acknowledged by Kafka) *before* the ledger entry
   records the request as processed; that same write clears the call in flight, so a
   payment costs two changelog records. A crash in between re-runs the request, which the
   gateway answers idempotently, and re-publishes the same event id and sequence, which
   consumers de-duplicate. A processed request is never executed or published again.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from pydantic import ValidationError

from agents import metrics
from agents.record_retry import record_key
from agents.settlement_flow import hold_refund, refresh_legs
from gateway.errors import GatewayError, PermanentGatewayError
from gateway.port import PaymentGateway, TransactionResult
from gateway.statuses import CAPTURED_STATUSES, TransactionStatus
from schemas.dead_letter import DeadLetter
from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PaymentRequest
from schemas.pending import PaymentPending, pending_event_id
from schemas.validation import describe_validation_error
from streams.logs import get_logger
from tables.gateway_results import from_existing_sale, from_permanent_error, from_transaction_result
from tables.payment_ledger import (
    GatewayResult,
    InFlightRecord,
    PaymentLedgerEntry,
    call_in_flight,
    conclude,
    with_call_in_flight,
    with_status,
    without_call,
)
from tables.payment_plan import (
    AlreadyProcessed,
    Authorize,
    Capture,
    Decline,
    GatewayCall,
    Refund,
    Void,
    annotate,
    needs_status_refresh,
    plan_request,
)
from tables.pending import (
    PendingPolicy,
    Resolution,
    given_up,
    matching_sale,
    resolution_for,
    retry_delay,
    should_announce,
)
from tables.settlement import DeferRefund

log = get_logger("paystream.executor")


class LedgerStore(Protocol):
    def get(self, order_id: str) -> PaymentLedgerEntry | None: ...

    def put(self, order_id: str, entry: PaymentLedgerEntry) -> None: ...

    def delete(self, order_id: str) -> None: ...


class LegacyInFlightStore(Protocol):
    """The `payment-in-flight` table, where calls in flight were kept before they moved
    into the ledger entry: read so that a call started by an older worker resumes with
    its start time and attempts (its key's life is counted from that start)."""

    def get(self, idempotency_key: str) -> InFlightRecord | None: ...

    def delete(self, idempotency_key: str) -> None: ...


class Publisher(Protocol):
    async def outcome(self, event: OutcomeEvent) -> None: ...

    async def dead_letter(self, letter: DeadLetter, key: str | None) -> None: ...

    async def pending_operation(self, event: PaymentPending) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


class RequestHandler:
    def __init__(self, gateway: PaymentGateway, ledger: LedgerStore, publisher: Publisher,
                 pending: PendingPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random,
                 busy: set[str] | None = None,
                 legacy_in_flight: LegacyInFlightStore | None = None) -> None:
        self.gateway = gateway
        self.ledger = ledger
        self.legacy_in_flight = legacy_in_flight
        self.publisher = publisher
        self.pending = pending or PendingPolicy()
        self._sleep = sleep
        self._rand = rand
        # Orders being executed now, shared with the reconciler so it leaves them alone.
        self.busy = busy if busy is not None else set()

    async def handle(self, raw: bytes, key: bytes | None = None) -> None:
        try:
            request = PaymentRequest.model_validate_json(raw)
        except ValidationError as exc:
            await self._reject(raw, key, exc)
            return
        log.debug("payment_request", order_id=request.order_id, payment_id=request.payment_id,
                 kind=request.kind, correlation_id=request.correlation_id)
        await self.execute(request)

    async def execute(self, request: PaymentRequest) -> None:
        self.busy.add(request.order_id)
        try:
            await self._execute(request)
        finally:
            self.busy.discard(request.order_id)

    async def _execute(self, request: PaymentRequest) -> None:
        entry = self._adopt_legacy_call(self.ledger.get(request.order_id), request)
        if needs_status_refresh(entry, request):
            entry = await self._fresh(request, entry)
        plan = plan_request(entry, request)
        if isinstance(plan, DeferRefund):
            await hold_refund(self.ledger, self.publisher, entry, request, plan)
            return
        if isinstance(plan, AlreadyProcessed):
            metrics.DUPLICATES.inc()
            log.info("duplicate_request_ignored", order_id=request.order_id,
                     payment_id=request.payment_id, event_id=plan.event_id)
            return
        if isinstance(plan, Decline):
            result = GatewayResult.declined_by_rule(plan.reason)
        else:
            called = await self._call_until_definite(entry, request, plan)
            if called is None:
                return  # parked for an operator: no outcome, not processed
            result = called
        await self._conclude(entry, request, result)

    async def _conclude(self, entry: PaymentLedgerEntry | None, request: PaymentRequest,
                        result: GatewayResult) -> None:
        after, event = conclude(entry, request, result, occurred_at=_now())
        await self.publisher.outcome(event)
        self.ledger.put(after.order_id, after)
        metrics.REQUESTS.labels(request.kind, event.event_type).inc()
        log.info("payment_outcome", order_id=request.order_id, payment_id=request.payment_id,
                 event_type=event.event_type, sequence=event.sequence,
                 transaction_id=event.transaction_id, correlation_id=request.correlation_id,
                 reason=event.reason)

    def _adopt_legacy_call(self, entry: PaymentLedgerEntry | None,
                           request: PaymentRequest) -> PaymentLedgerEntry | None:
        """The entry holding the call an older worker recorded in the legacy table."""
        key = request.idempotency_key
        if self.legacy_in_flight is None:
            return entry
        record = self.legacy_in_flight.get(key)
        if record is None:
            return entry
        if call_in_flight(entry, key) is None and not (entry and key in entry.processed):
            entry = self._store_call(entry, request, record)
        self.legacy_in_flight.delete(key)
        return entry

    def _store_call(self, entry: PaymentLedgerEntry | None, request: PaymentRequest,
                    record: InFlightRecord) -> PaymentLedgerEntry:
        stored = with_call_in_flight(entry, request, record)
        self.ledger.put(request.order_id, stored)
        return stored

    async def _fresh(self, request: PaymentRequest,
                     entry: PaymentLedgerEntry | None) -> PaymentLedgerEntry | None:
        """The entry with the gateway's current statuses, read until the read succeeds.

        Settlement moves statuses on without telling us; a plan made on a stale status
        would decline (or hold) a refund the gateway would take, and an earlier attempt of
        this very request may have been applied. Reads are safe to repeat, so a failed one
        is repeated with the same back-off as an unknown outcome.
        """
        attempt = 0
        while True:
            try:
                return await refresh_legs(self.gateway, await self._refresh(entry))
            except GatewayError as exc:
                attempt += 1
                log.warning("status_read_failed", order_id=request.order_id,
                            attempts=attempt, error=type(exc).__name__)
                await self._pause(attempt)

    async def _pause(self, attempts: int) -> None:
        """The back-off after `attempts` tries without a definite answer."""
        await self._sleep(retry_delay(attempts - 1, self.pending, min(self._rand(), 0.999999)))

    async def _refresh(self, entry: PaymentLedgerEntry | None) -> PaymentLedgerEntry | None:
        if entry is None or entry.transaction_id is None:
            return entry
        txn = await self.gateway.find_transaction(entry.transaction_id)
        if txn is None:
            return entry
        return with_status(entry, _status(txn.status))

    async def _call_until_definite(self, entry: PaymentLedgerEntry | None,
                                   request: PaymentRequest,
                                   call: GatewayCall) -> GatewayResult | None:
        """The gateway's definite answer to `call`; None when it was parked."""
        record = call_in_flight(entry, request.idempotency_key)
        if record is None:
            record = InFlightRecord(order_id=request.order_id, kind=request.kind,
                                    started_at=_now(),
                                    transaction_id=getattr(call, "transaction_id", None))
            entry = self._store_call(entry, request, record)
        operation = type(call).__name__.lower()
        metrics.IN_FLIGHT.inc()
        try:
            while True:
                try:
                    outcome = await self._timed(operation, call)
                except GatewayError as exc:
                    resolution = resolution_for(exc)
                    if (resolution is Resolution.DEFINITE
                            and isinstance(exc, PermanentGatewayError)):
                        metrics.GATEWAY_CALLS.labels(operation, "refused").inc()
                        return from_permanent_error(exc)
                    if resolution is Resolution.PARK:
                        await self._park_misconfigured(entry, request, exc,
                                                       record.attempts + 1)
                        return None
                    metrics.GATEWAY_CALLS.labels(operation, "unknown").inc()
                    record = record.model_copy(update={
                        "attempts": record.attempts + 1,
                        "last_error": f"{type(exc).__name__}: {exc.message}"[:250]})
                    entry = self._store_call(entry, request, record)
                    log.warning("gateway_outcome_unknown", order_id=request.order_id,
                                operation=operation, attempts=record.attempts,
                                error=type(exc).__name__, detail=exc.message)
                    if given_up(record.started_at, _now(), self.pending):
                        return await self._give_up(request, call, record)
                    if should_announce(record.attempts, self.pending):
                        await self.publisher.pending_operation(_notice(request, record))
                    metrics.RETRIES.labels(operation).inc()
                    await self._pause(record.attempts)
                    continue
                metrics.GATEWAY_CALLS.labels(operation, outcome.outcome.value).inc()
                return annotate(from_transaction_result(request.kind, outcome), call)
        finally:
            metrics.IN_FLIGHT.dec()

    async def _give_up(self, request: PaymentRequest, call: GatewayCall,
                       record: InFlightRecord) -> GatewayResult:
        """Past the life of the idempotency key: look once more, else report failed.

        A repeat would no longer be the same request at the gateway, so the last word is
        a lookup; whatever appears there later is compensated by the reconciler.
        """
        found = await self._look_up(call, record)
        if found is not None:
            return annotate(found, call)
        reason = (f"no definite answer from the gateway after {record.attempts} attempts "
                  f"since {record.started_at.isoformat()}; given up, a late effect will be "
                  f"compensated: {record.last_error}")
        metrics.GIVEN_UP.labels(request.kind).inc()
        await self._dead_letter(request, reason, "GivenUp", record.attempts)
        return GatewayResult(result="failed", reason=reason)

    async def _timed(self, operation: str, call: GatewayCall) -> TransactionResult:
        """One gateway call. The in-flight cap is the gateway client's own (connections
        or threads), so the SDK builds and parses outside it; the latency includes the
        wait for a connection when all are busy."""
        began = time.perf_counter()
        try:
            return await self._invoke(call)
        finally:
            metrics.GATEWAY_LATENCY.labels(operation).observe(time.perf_counter() - began)

    async def _invoke(self, call: GatewayCall) -> TransactionResult:
        if isinstance(call, Authorize):
            return await self.gateway.authorize(
                order_id=call.order_id, amount=call.amount, idempotency_key=call.idempotency_key,
                payment_method_token=call.payment_method_token,
                payment_method_nonce=call.payment_method_nonce,
                customer_id=call.customer_id if call.payment_method_token else None)
        if isinstance(call, Capture) and call.partial:
            return await self.gateway.capture_partial(
                transaction_id=call.transaction_id, idempotency_key=call.idempotency_key,
                amount=call.amount, final=call.final, order_id=call.order_id)
        if isinstance(call, Capture):
            return await self.gateway.capture(transaction_id=call.transaction_id,
                                              idempotency_key=call.idempotency_key,
                                              amount=call.amount)
        if isinstance(call, Void):
            return await self.gateway.void(transaction_id=call.transaction_id,
                                           idempotency_key=call.idempotency_key)
        assert isinstance(call, Refund)
        return await self.gateway.refund(transaction_id=call.transaction_id,
                                         idempotency_key=call.idempotency_key, amount=call.amount)

    async def _look_up(self, call: GatewayCall,
                       record: InFlightRecord) -> GatewayResult | None:
        """What the gateway's records say an unanswered call did, when they can tell."""
        try:
            if isinstance(call, Authorize):
                sale = matching_sale(
                    await self.gateway.find_transactions_by_order(call.order_id),
                    order_id=call.order_id, amount=call.amount, started_at=record.started_at)
                return from_existing_sale(sale) if sale is not None else None
            # A split capture's child cannot be told from its parent's status: only the
            # repeat with its api_request_key finds it.
            if isinstance(call, Capture | Void) and not (isinstance(call, Capture)
                                                         and call.partial):
                txn = await self.gateway.find_transaction(call.transaction_id)
                applied = txn is not None and (
                    txn.status in CAPTURED_STATUSES if isinstance(call, Capture)
                    else txn.status == "voided")
                if txn is not None and applied:
                    return GatewayResult(result="succeeded", transaction_id=txn.id,
                                         status=_status(txn.status),
                                         amount=call.amount if isinstance(call, Capture)
                                         else None)
        except GatewayError:
            return None
        # A refund cannot be matched to its request by looking; only the repeat with its
        # api_request_key can, and that is what the retries did.
        return None

    async def _park_misconfigured(self, entry: PaymentLedgerEntry | None,
                                  request: PaymentRequest, exc: GatewayError,
                                  attempts: int) -> None:
        metrics.GATEWAY_MISCONFIGURED.labels(type(exc).__name__).inc()
        log.error("gateway_misconfigured", order_id=request.order_id,
                  error=type(exc).__name__, detail=exc.message)
        await self._dead_letter(
            request, f"gateway configuration, not the payment: {exc.message}",
            type(exc).__name__, attempts)
        # Not processed: a replay from the dead-letter topic runs it once fixed, as a
        # new call (its key's life starts again).
        remaining = None if entry is None else without_call(entry, request.idempotency_key)
        if remaining is None:
            self.ledger.delete(request.order_id)
        else:
            self.ledger.put(request.order_id, remaining)

    async def _dead_letter(self, request: PaymentRequest, reason: str, error_type: str,
                           attempts: int) -> None:
        metrics.DEAD_LETTERS.labels("payment-requests").inc()
        await self.publisher.dead_letter(DeadLetter(
            source="payment-requests", reason=reason, payload=request.model_dump_json(),
            error_type=error_type, first_seen_at=_now(), attempts=attempts,
            order_id=request.order_id, idempotency_key=request.idempotency_key,
        ), request.order_id)

    async def _reject(self, raw: bytes, key: bytes | None, exc: ValidationError) -> None:
        reason = describe_validation_error(exc)
        order_id = record_key(key)
        metrics.DEAD_LETTERS.labels("payment-requests").inc()
        log.warning("malformed_request_dead_lettered", order_id=order_id, reason=reason)
        await self.publisher.dead_letter(DeadLetter(
            source="payment-requests", reason=f"invalid payment request: {reason}",
            payload=raw.decode("utf-8", errors="replace"), error_type="ValidationError",
            first_seen_at=_now(), attempts=1, order_id=order_id,
        ), order_id)


def _notice(request: PaymentRequest, record: InFlightRecord) -> PaymentPending:
    return PaymentPending(
        event_id=pending_event_id(request.order_id, request.idempotency_key, record.attempts),
        order_id=request.order_id, customer_id=request.customer_id,
        idempotency_key=request.idempotency_key, request_kind=request.kind,
        since=record.started_at, attempts=record.attempts,
        last_error=record.last_error or "no answer", correlation_id=request.correlation_id,
        occurred_at=_now())


def _status(status: str) -> TransactionStatus:
    return status  # type: ignore[return-value]
