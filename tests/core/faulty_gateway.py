"""An in-memory gateway with Braintree's idempotency semantics and scripted faults.

Each mutating call takes the next fault from a script (then behaves): the call may be
applied and its answer lost, lost before it was applied, still in flight for a few
repeats, refused with a 5xx/429, or answered. A repeat with the same api_request_key
returns the original answer once the first attempt completed, exactly like Braintree.
The ledger it keeps is the truth the executor's outcomes are compared with.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.errors import (
    IdempotencyKeyInFlightError,
    OutcomeUnknownError,
    PermanentGatewayError,
    TransientGatewayError,
)
from gateway.port import Outcome, Transaction, TransactionResult
from schemas.money import Money

Fault = Literal["ok", "lost_after_apply", "lost_before_apply", "in_flight", "5xx", "429"]
FAULTS: tuple[Fault, ...] = ("ok", "lost_after_apply", "lost_before_apply", "in_flight",
                             "5xx", "429")


@dataclass
class FaultyGateway:
    script: deque[Fault] = field(default_factory=deque)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    answers: dict[str, TransactionResult] = field(default_factory=dict)
    # key -> repeats left that still find the first attempt in flight
    in_flight: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------- mutating calls

    async def authorize(self, *, order_id: str, amount: Money, idempotency_key: str,
                        payment_method_token: str | None = None,
                        payment_method_nonce: str | None = None,
                        customer_id: str | None = None) -> TransactionResult:
        def apply() -> TransactionResult:
            declined = Money.of("2000", amount.currency) <= amount < Money.of("3000",
                                                                             amount.currency)
            txn = self._new("sale", "processor_declined" if declined else "authorized",
                            amount, order_id)
            return TransactionResult(
                Outcome.PROCESSOR_DECLINED if declined else Outcome.APPROVED, txn,
                processor_response_code="2000" if declined else "1000")
        return self._mutate(idempotency_key, apply)

    async def capture(self, *, transaction_id: str, idempotency_key: str,
                      amount: Money | None = None) -> TransactionResult:
        def apply() -> TransactionResult:
            txn = self._existing(transaction_id)
            if txn.status != "authorized":
                raise PermanentGatewayError("Cannot submit for settlement (91507)")
            return TransactionResult(Outcome.APPROVED, self._update(
                txn, status="submitted_for_settlement", amount=amount or txn.amount))
        return self._mutate(idempotency_key, apply)

    async def void(self, *, transaction_id: str, idempotency_key: str) -> TransactionResult:
        def apply() -> TransactionResult:
            txn = self._existing(transaction_id)
            if txn.status not in ("authorized", "submitted_for_settlement"):
                raise PermanentGatewayError("Transaction can only be voided if ... (91504)")
            return TransactionResult(Outcome.APPROVED, self._update(txn, status="voided"))
        return self._mutate(idempotency_key, apply)

    async def refund(self, *, transaction_id: str, idempotency_key: str,
                     amount: Money | None = None) -> TransactionResult:
        def apply() -> TransactionResult:
            txn = self._existing(transaction_id)
            if txn.status not in ("settled", "settling"):
                raise PermanentGatewayError("Cannot refund a transaction unless settled (91506)")
            credit = self._new("credit", "submitted_for_settlement", amount or txn.amount,
                               txn.order_id)
            return TransactionResult(Outcome.APPROVED, credit)
        return self._mutate(idempotency_key, apply)

    # ------------------------------------------------------------------------ lookups

    async def find_transaction(self, transaction_id: str) -> Transaction | None:
        return self.transactions.get(transaction_id)

    async def find_transactions_by_order(self, order_id: str) -> list[Transaction]:
        return [t for t in self.transactions.values() if t.order_id == order_id]

    def settle_all(self) -> None:
        for tid, txn in list(self.transactions.items()):
            if txn.status == "submitted_for_settlement":
                self.transactions[tid] = self._update(txn, status="settled")

    # ---------------------------------------------------------------------- internals

    def _mutate(self, key: str, apply: Any) -> TransactionResult:
        self.calls += 1
        if key in self.answers:
            return self.answers[key]
        if self.in_flight.get(key, 0) > 0:
            self.in_flight[key] -= 1
            if self.in_flight[key] == 0:
                del self.in_flight[key]
                self._record(key, apply)  # the first attempt completes now
            raise IdempotencyKeyInFlightError("API request key is in flight")
        fault = self.script.popleft() if self.script else "ok"
        if fault == "5xx":
            raise TransientGatewayError("service unavailable (503)", status=503)
        if fault == "429":
            raise TransientGatewayError("throttled (429)", status=429)
        if fault == "lost_before_apply":
            raise OutcomeUnknownError("read timeout: the request may have been applied")
        if fault == "in_flight":
            self.in_flight[key] = 2
            raise OutcomeUnknownError("read timeout: the request may have been applied")
        answer = self._record(key, apply)
        if fault == "lost_after_apply":
            raise OutcomeUnknownError("connection lost before the answer arrived")
        return answer

    def _record(self, key: str, apply: Any) -> TransactionResult:
        try:
            answer: TransactionResult = apply()
        except PermanentGatewayError:
            raise
        self.answers[key] = answer
        return answer

    def _new(self, kind: Literal["sale", "credit"], status: str, amount: Money,
             order_id: str | None) -> Transaction:
        tid = f"tx{next(self._ids)}"
        txn = Transaction(id=tid, type=kind, status=status, amount=amount, order_id=order_id,
                          payment_method_type=None, created_at=datetime.now(UTC))
        self.transactions[tid] = txn
        return txn

    def _existing(self, transaction_id: str) -> Transaction:
        return self.transactions[transaction_id]

    def _update(self, txn: Transaction, **changes: Any) -> Transaction:
        from dataclasses import replace

        updated = replace(txn, **changes)
        self.transactions[txn.id] = updated
        return updated
