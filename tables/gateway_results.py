"""Translate what the gateway port returned into the executor core's GatewayResult.

Pure: no I/O. Kept apart from the handler so the mapping from Braintree outcomes and
error codes to declined / failed is tested directly.
"""

from __future__ import annotations

from typing import cast

from gateway.errors import PermanentGatewayError
from gateway.port import Outcome, Transaction, TransactionResult
from gateway.statuses import TransactionStatus
from schemas.payment_request import PaymentKind
from tables.payment_ledger import GatewayResult


def from_transaction_result(kind: PaymentKind, result: TransactionResult) -> GatewayResult:
    txn = result.transaction
    status = _status_after(kind, txn)
    if result.outcome is Outcome.APPROVED:
        return GatewayResult(
            result="succeeded",
            transaction_id=txn.id if txn is not None else None,
            status=status,
            amount=txn.amount if txn is not None else None,
            processor_response_code=result.processor_response_code,
            processor_response_text=result.processor_response_text,
        )
    if result.outcome is Outcome.FAILED:
        return GatewayResult(
            result="failed",
            transaction_id=txn.id if txn is not None else None,
            status=status,
            processor_response_code=result.processor_response_code,
            processor_response_text=result.processor_response_text,
            reason=result.message or "the processor failed the transaction",
        )
    reason = (
        f"gateway rejected: {result.gateway_rejection_reason}"
        if result.outcome is Outcome.GATEWAY_REJECTED
        else f"processor declined: {result.processor_response_code} "
             f"{result.processor_response_text or ''}".strip()
    )
    return GatewayResult(
        result="declined",
        transaction_id=txn.id if txn is not None else None,
        status=status,
        processor_response_code=result.processor_response_code,
        processor_response_text=result.processor_response_text,
        reason=reason,
    )


def from_permanent_error(error: PermanentGatewayError) -> GatewayResult:
    """A validation error means the request cannot succeed as sent: a decline with why."""
    codes = ",".join(error.codes)
    reason = f"gateway refused the request ({codes}): {error.message}" if codes else (
        f"gateway refused the request: {error.message}"
    )
    return GatewayResult(result="declined", reason=reason)


def from_existing_sale(txn: Transaction) -> GatewayResult:
    """Result of an authorization found at the gateway after an unknown outcome."""
    if txn.status in ("processor_declined", "gateway_rejected"):
        return GatewayResult(result="declined", transaction_id=txn.id,
                             status=cast(TransactionStatus, txn.status),
                             processor_response_code=txn.processor_response_code,
                             processor_response_text=txn.processor_response_text,
                             reason=f"{txn.status}: {txn.processor_response_text or ''}".strip())
    if txn.status == "failed":
        return GatewayResult(result="failed", transaction_id=txn.id, status="failed",
                             reason="the processor failed the transaction")
    return GatewayResult(result="succeeded", transaction_id=txn.id,
                         status=cast(TransactionStatus, txn.status), amount=txn.amount,
                         processor_response_code=txn.processor_response_code,
                         processor_response_text=txn.processor_response_text)


def _status_after(kind: PaymentKind, txn: Transaction | None) -> TransactionStatus | None:
    if txn is None:
        return None
    # A refund returns the new credit transaction; the authorization's status is not it.
    if kind == "refund" or txn.type == "credit":
        return None
    return cast(TransactionStatus, txn.status)
