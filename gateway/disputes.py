"""Disputes through Braintree's dispute API (`gateway.dispute.*`, `document_upload.create`).

A port of its own beside `PaymentGateway`: disputes are answered by the merchant from the
edge, not executed by the worker. Calls are rare and not money-moving on our side, so the
SDK runs with its own requests transport on a worker thread (the evidence upload is a
multipart request, which the event-loop transport does not carry). Errors are classified
as the payment adapter does; Braintree's refusals (95701 not open, 95726 no evidence...)
come back as `DisputeRefused` with their codes.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import braintree

from gateway.braintree_adapter import build_environment
from gateway.error_mapping import classify
from gateway.errors import GatewayError, NotFoundGatewayError
from gateway.settings import GatewaySettings
from schemas.money import Money


class DisputeRefused(Exception):
    """Braintree refused the dispute operation (validation errors, with their codes)."""

    def __init__(self, message: str, codes: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.codes = codes


@dataclass(frozen=True, slots=True)
class Dispute:
    id: str
    status: str
    kind: str | None
    reason: str | None
    amount_disputed: Money | None
    transaction_id: str | None
    order_id: str | None
    reply_by: date | None
    evidence_ids: tuple[str, ...]


class DisputePort(Protocol):
    async def find(self, dispute_id: str) -> Dispute: ...

    async def accept(self, dispute_id: str) -> Dispute: ...

    async def add_text_evidence(self, dispute_id: str, content: str,
                                category: str | None = None) -> str: ...

    async def add_file_evidence(self, dispute_id: str, filename: str, content: bytes,
                                category: str | None = None) -> str: ...

    async def finalize(self, dispute_id: str) -> Dispute: ...


class BraintreeDisputes:
    def __init__(self, settings: GatewaySettings | None = None) -> None:
        settings = settings or GatewaySettings()
        self._sdk = braintree.BraintreeGateway(braintree.Configuration(
            environment=build_environment(settings), merchant_id=settings.merchant_id,
            public_key=settings.public_key,
            private_key=settings.private_key.get_secret_value(),
            timeout=settings.timeout_seconds))

    async def _run(self, operation: str, fn: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args)
        except braintree.exceptions.NotFoundError:
            raise NotFoundGatewayError(f"dispute not found ({operation})",
                                       operation=operation) from None
        except GatewayError:
            raise
        except Exception as exc:
            # Answering a dispute is not a payment: repeating it is harmless, so an
            # unknown outcome is reported as a transient error to the caller.
            raise classify(exc, operation, mutating=False) from exc

    async def find(self, dispute_id: str) -> Dispute:
        return to_dispute(await self._run("dispute_find", self._sdk.dispute.find, dispute_id))

    async def accept(self, dispute_id: str) -> Dispute:
        _check(await self._run("dispute_accept", self._sdk.dispute.accept, dispute_id))
        return await self.find(dispute_id)

    async def add_text_evidence(self, dispute_id: str, content: str,
                                category: str | None = None) -> str:
        request: Any = {"content": content, "category": category} if category else content
        result = _check(await self._run("dispute_text_evidence",
                                        self._sdk.dispute.add_text_evidence, dispute_id,
                                        request))
        return str(result.evidence.id)

    async def add_file_evidence(self, dispute_id: str, filename: str, content: bytes,
                                category: str | None = None) -> str:
        upload = io.BytesIO(content)
        upload.name = filename
        document = _check(await self._run(
            "document_upload", self._sdk.document_upload.create,
            {"kind": braintree.DocumentUpload.Kind.EvidenceDocument, "file": upload}))
        request: Any = {"document_id": document.document_upload.id}
        if category:
            request["category"] = category
        result = _check(await self._run("dispute_file_evidence",
                                        self._sdk.dispute.add_file_evidence, dispute_id,
                                        request))
        return str(result.evidence.id)

    async def finalize(self, dispute_id: str) -> Dispute:
        _check(await self._run("dispute_finalize", self._sdk.dispute.finalize, dispute_id))
        return await self.find(dispute_id)


def _check(result: Any) -> Any:
    if getattr(result, "is_success", False):
        return result
    errors = getattr(result, "errors", None)
    codes = [str(e.code) for e in errors.deep_errors] if errors is not None else []
    raise DisputeRefused(getattr(result, "message", "refused"), codes)


def to_dispute(d: Any) -> Dispute:
    txn = getattr(d, "transaction", None)
    amount = getattr(d, "amount_disputed", None)
    currency = getattr(d, "currency_iso_code", None) or "USD"
    return Dispute(
        id=d.id, status=d.status, kind=getattr(d, "kind", None),
        reason=getattr(d, "reason", None),
        amount_disputed=Money(amount=Decimal(str(amount)), currency=currency)
        if amount is not None else None,
        transaction_id=getattr(txn, "id", None), order_id=getattr(txn, "order_id", None),
        reply_by=getattr(d, "reply_by_date", None),
        evidence_ids=tuple(e.id for e in getattr(d, "evidence", None) or []))


__all__ = ["BraintreeDisputes", "Dispute", "DisputePort", "DisputeRefused", "to_dispute"]
