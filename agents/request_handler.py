"""Executes one payment request: plan, call the gateway, publish exactly one outcome.

The handler owns the crash-safety protocol; the faust agent around it only feeds records
and acknowledges them. Ordering of effects, and why:

1. An `in_flight` record keyed by idempotency key is stored *before* the gateway call.
   If it is already there, an earlier attempt died with an unknown outcome: the handler
   asks the gateway what happened (transactions by order id, or the transaction itself)
   before acting again.
2. Every gateway call carries the idempotency key as Braintree's `api_request_key`, so
   even an unresolved retry returns the original transaction instead of moving money twice.
3. The outcome event is published (and acknowledged by Kafka) *before* the ledger entry
   records the request as processed. A crash in between re-runs the request, which the
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

from pydantic import BaseModel, ValidationError

from agents import metrics
from gateway.errors import OutcomeUnknownError, PermanentGatewayError, TransientGatewayError
from gateway.port import PaymentGateway, TransactionResult
from gateway.statuses import CAPTURED_STATUSES, TransactionStatus
from schemas.dead_letter import DeadLetter
from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PaymentRequest
from schemas.validation import describe_validation_error
from streams.logs import get_logger
from tables.gateway_results import from_existing_sale, from_permanent_error, from_transaction_result
from tables.payment_ledger import (
    GatewayResult,
    InFlightRecord,
    PaymentLedgerEntry,
    backoff_delay,
    conclude,
    with_status,
)
from tables.payment_plan import (
    AlreadyProcessed,
    Authorize,
    Capture,
    Decline,
    GatewayCall,
    Refund,
    Void,
    needs_status_refresh,
    plan_request,
)

log = get_logger("paystream.executor")


class LedgerStore(Protocol):
    def get(self, order_id: str) -> PaymentLedgerEntry | None: ...

    def put(self, order_id: str, entry: PaymentLedgerEntry) -> None: ...


class InFlightStore(Protocol):
    def get(self, idempotency_key: str) -> InFlightRecord | None: ...

    def put(self, idempotency_key: str, record: InFlightRecord) -> None: ...

    def delete(self, idempotency_key: str) -> None: ...


class Publisher(Protocol):
    async def outcome(self, event: OutcomeEvent) -> None: ...

    async def dead_letter(self, letter: DeadLetter, key: str | None) -> None: ...


class RetryPolicy(BaseModel):
    max_attempts: int = 5
    base_s: float = 0.2
    cap_s: float = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


class RequestHandler:
    def __init__(self, gateway: PaymentGateway, ledger: LedgerStore, in_flight: InFlightStore,
                 publisher: Publisher, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rand: Callable[[], float] = random.random,
                 gateway_slots: int | None = None) -> None:
        self.gateway = gateway
        self.ledger = ledger
        self.in_flight = in_flight
        self.publisher = publisher
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rand = rand
        # The in-flight cap applies to gateway calls only: parsing, deciding and
        # publishing happen outside it, so a slot is never idle while Kafka acks.
        self._slots = asyncio.Semaphore(gateway_slots) if gateway_slots else None

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
        entry = self.ledger.get(request.order_id)
        if needs_status_refresh(entry, request):
            entry = await self._refresh(entry)
        plan = plan_request(entry, request)
        if isinstance(plan, AlreadyProcessed):
            metrics.DUPLICATES.inc()
            log.info("duplicate_request_ignored", order_id=request.order_id,
                     payment_id=request.payment_id, event_id=plan.event_id)
            return
        if isinstance(plan, Decline):
            result = GatewayResult.declined_by_rule(plan.reason)
            self.in_flight.delete(request.idempotency_key)
        else:
            result = await self._call_gateway(request, plan)
        await self._conclude(entry, request, result)

    async def _conclude(self, entry: PaymentLedgerEntry | None, request: PaymentRequest,
                        result: GatewayResult) -> None:
        after, event = conclude(entry, request, result, occurred_at=_now())
        await self.publisher.outcome(event)
        self.ledger.put(after.order_id, after)
        self.in_flight.delete(request.idempotency_key)
        metrics.REQUESTS.labels(request.kind, event.event_type).inc()
        log.info("payment_outcome", order_id=request.order_id, payment_id=request.payment_id,
                 event_type=event.event_type, sequence=event.sequence,
                 transaction_id=event.transaction_id, correlation_id=request.correlation_id,
                 reason=event.reason)

    async def _refresh(self, entry: PaymentLedgerEntry | None) -> PaymentLedgerEntry | None:
        if entry is None or entry.transaction_id is None:
            return entry
        try:
            txn = await self.gateway.find_transaction(entry.transaction_id)
        except TransientGatewayError:
            return entry  # plan on what we know; the gateway re-checks the rule anyway
        if txn is None:
            return entry
        return with_status(entry, _status(txn.status))

    async def _call_gateway(self, request: PaymentRequest, call: GatewayCall) -> GatewayResult:
        earlier = self.in_flight.get(request.idempotency_key)
        if earlier is not None:
            resolved = await self._resolve_unknown(call)
            if resolved is not None:
                log.info("unknown_outcome_resolved", order_id=request.order_id,
                         payment_id=request.payment_id, result=resolved.result)
                return resolved
        else:
            self.in_flight.put(request.idempotency_key, InFlightRecord(
                order_id=request.order_id, kind=request.kind, started_at=_now(),
                transaction_id=getattr(call, "transaction_id", None)))
        operation = type(call).__name__.lower()
        last_error: TransientGatewayError | None = None
        metrics.IN_FLIGHT.inc()
        try:
            for attempt in range(self.retry.max_attempts):
                if attempt:
                    metrics.RETRIES.labels(operation).inc()
                    await self._sleep(_backoff(attempt - 1, self.retry, self._rand()))
                try:
                    outcome = await self._timed(operation, call)
                except PermanentGatewayError as exc:
                    metrics.GATEWAY_CALLS.labels(operation, "refused").inc()
                    return from_permanent_error(exc)
                except TransientGatewayError as exc:
                    metrics.GATEWAY_CALLS.labels(operation, "transient_error").inc()
                    last_error = exc
                    log.warning("gateway_transient_error", order_id=request.order_id,
                                operation=operation, attempt=attempt + 1,
                                error=type(exc).__name__, detail=exc.message)
                    continue
                metrics.GATEWAY_CALLS.labels(operation, outcome.outcome.value).inc()
                return from_transaction_result(request.kind, outcome)
        finally:
            metrics.IN_FLIGHT.dec()
        detail = f"{type(last_error).__name__}: {last_error.message if last_error else ''}"
        if isinstance(last_error, OutcomeUnknownError):
            # The last attempt may have moved money: ask before declaring it failed.
            resolved = await self._resolve_unknown(call)
            if resolved is not None:
                return resolved
            reason = (f"outcome unknown after {self.retry.max_attempts} attempts; the "
                      f"gateway may have applied it, reconcile by order id: {detail}")
        else:
            reason = f"gateway unavailable after {self.retry.max_attempts} attempts: {detail}"
        await self._park(request, reason, type(last_error).__name__)
        return GatewayResult(result="failed", reason=reason)

    async def _timed(self, operation: str, call: GatewayCall) -> TransactionResult:
        """One gateway call inside an in-flight slot; the latency metric excludes the
        wait for the slot, so it shows the gateway, not our queue."""
        if self._slots is None:
            return await self._timed_invoke(operation, call)
        async with self._slots:
            return await self._timed_invoke(operation, call)

    async def _timed_invoke(self, operation: str, call: GatewayCall) -> TransactionResult:
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

    async def _resolve_unknown(self, call: GatewayCall) -> GatewayResult | None:
        """Ask the gateway whether an earlier, unanswered attempt took effect."""
        try:
            if isinstance(call, Authorize):
                sales = [t for t in await self.gateway.find_transactions_by_order(call.order_id)
                         if t.type == "sale"]
                if sales:
                    return from_existing_sale(max(sales, key=lambda t: t.created_at or _now()))
                return None
            if isinstance(call, Capture | Void):
                txn = await self.gateway.find_transaction(call.transaction_id)
                if txn is None:
                    return None
                applied = (txn.status in CAPTURED_STATUSES if isinstance(call, Capture)
                           else txn.status == "voided")
                if applied:
                    return GatewayResult(result="succeeded", transaction_id=txn.id,
                                         status=_status(txn.status),
                                         amount=call.amount if isinstance(call, Capture)
                                         else None)
                return None
        except TransientGatewayError:
            return None
        # A refund cannot be matched to its request by looking; the api_request_key
        # on the retry makes Braintree return the original refund instead.
        return None

    async def _park(self, request: PaymentRequest, reason: str, error_type: str) -> None:
        metrics.DEAD_LETTERS.labels("payment-requests").inc()
        await self.publisher.dead_letter(DeadLetter(
            source="payment-requests", reason=reason, payload=request.model_dump_json(),
            error_type=error_type, first_seen_at=_now(), attempts=self.retry.max_attempts,
            order_id=request.order_id, idempotency_key=request.idempotency_key,
        ), request.order_id)

    async def _reject(self, raw: bytes, key: bytes | None, exc: ValidationError) -> None:
        reason = describe_validation_error(exc)
        order_id = key.decode("utf-8", errors="replace") if key else None
        metrics.DEAD_LETTERS.labels("payment-requests").inc()
        log.warning("malformed_request_dead_lettered", order_id=order_id, reason=reason)
        await self.publisher.dead_letter(DeadLetter(
            source="payment-requests", reason=f"invalid payment request: {reason}",
            payload=raw.decode("utf-8", errors="replace"), error_type="ValidationError",
            first_seen_at=_now(), attempts=1, order_id=order_id,
        ), order_id)


def _backoff(attempt: int, policy: RetryPolicy, rand: float) -> float:
    return backoff_delay(attempt, policy.base_s, policy.cap_s, min(rand, 0.999999))


def _status(status: str) -> TransactionStatus:
    return status  # type: ignore[return-value]
