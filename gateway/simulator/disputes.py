"""Disputes (chargebacks) as Braintree's sandbox runs them: opened on a settled sale made
with the dispute test card, answered by accept or evidence + finalize, decided by the
sandbox's evidence texts or a testing hook."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway.simulator import rules
from gateway.simulator.records import (
    DisputeRecord,
    DocumentRecord,
    EvidenceRecord,
    TxnRecord,
    iso,
    new_id,
)
from gateway.simulator.rules import Violation
from gateway.simulator.state import LedgerState
from gateway.simulator.testvalues import (
    DISPUTE_REASON_CODES,
    LOSING_EVIDENCE,
    WINNING_EVIDENCE,
)

# Days a merchant has to answer, as Braintree's reply-by date usually allows.
REPLY_DAYS = 7
EVIDENCE_DOCUMENT = "evidence_document"

DisputeResult = DisputeRecord | list[Violation]


class DisputeOps(LedgerState):
    def _set_dispute_status(self, d: DisputeRecord, status: str, now: datetime) -> None:
        d.set_status(status, now)
        if status == "won":
            d.amount_won = d.amount
            d.date_won = now.date().isoformat()
        self.notify(rules.DISPUTE_STATUS_KINDS[status], "dispute", d.id, now)
        self.dirty = True

    def open_dispute(self, txn: TxnRecord, now: datetime) -> DisputeRecord:
        code, description = DISPUTE_REASON_CODES.get(
            txn.amount_dec, ("83", "Visa Fraud"))
        did = new_id(12)
        while did in self.disputes:
            did = new_id(12)
        today = now.date()
        d = DisputeRecord(
            id=did, transaction_id=txn.id, amount=txn.amount, currency=txn.currency,
            merchant_account_id=txn.merchant_account_id, status="open", reason="fraud",
            reason_code=code, reason_description=description,
            case_number=f"CB{new_id(8).upper()}", reference_number=f"REF{new_id(8).upper()}",
            received_date=today.isoformat(),
            reply_by_date=(today + timedelta(days=REPLY_DAYS)).isoformat(),
            created_at=iso(now), updated_at=iso(now),
        )
        self.disputes[did] = d
        txn.dispute_ids.append(did)
        self._set_dispute_status(d, "open", now)
        return d

    def accept_dispute(self, d: DisputeRecord, now: datetime) -> DisputeResult:
        refusal = rules.check_dispute_open(d.status, rules.DISPUTE_ACCEPT_NOT_OPEN)
        if refusal:
            return [refusal]
        self._set_dispute_status(d, "accepted", now)
        return d

    def add_evidence(self, d: DisputeRecord, params: dict[str, Any],
                     now: datetime) -> EvidenceRecord | list[Violation]:
        refusal = rules.check_dispute_open(d.status, rules.DISPUTE_EVIDENCE_NOT_OPEN)
        if refusal:
            return [refusal]
        document_id = params.get("document_upload_id")
        comments = params.get("comments")
        url: str | None = None
        if document_id:
            doc = self.documents.get(str(document_id))
            if doc is None or doc.kind != EVIDENCE_DOCUMENT:
                return [rules.DISPUTE_DOCUMENT_INVALID]
            url = f"https://sandbox.braintreegateway.com/evidence/{doc.id}/{doc.name}"
        elif comments is not None and len(str(comments)) > rules.MAX_EVIDENCE_TEXT:
            return [rules.DISPUTE_CONTENT_TOO_LONG]
        seq = params.get("sequence_number")
        evidence = EvidenceRecord(
            id=new_id(16), created_at=iso(now),
            comments=None if document_id else str(comments or ""), url=url,
            category=params.get("category") or None,
            sequence_number=int(seq) if seq not in (None, "") else None)
        d.evidence.append(evidence)
        d.updated_at = iso(now)
        self.dirty = True
        return evidence

    def remove_evidence(self, d: DisputeRecord, evidence_id: str,
                        now: datetime) -> bool | list[Violation]:
        """False when there is no such evidence (the API answers 404)."""
        if not any(e.id == evidence_id for e in d.evidence):
            return False
        refusal = rules.check_dispute_open(d.status, rules.DISPUTE_REMOVE_NOT_OPEN)
        if refusal:
            return [refusal]
        d.evidence = [e for e in d.evidence if e.id != evidence_id]
        d.updated_at = iso(now)
        self.dirty = True
        return True

    def finalize_dispute(self, d: DisputeRecord, now: datetime) -> DisputeResult:
        refusal = rules.check_dispute_open(d.status, rules.DISPUTE_FINALIZE_NOT_OPEN)
        if refusal:
            return [refusal]
        if not d.evidence:
            return [rules.DISPUTE_EVIDENCE_REQUIRED]
        for e in d.evidence:
            e.sent_to_processor_at = now.date().isoformat()
        self._set_dispute_status(d, "disputed", now)
        texts = [e.comments for e in d.evidence if e.comments]
        outcome = rules.finalized_status(texts, WINNING_EVIDENCE, LOSING_EVIDENCE)
        if outcome != "disputed":
            self._set_dispute_status(d, outcome, now)
        return d

    def move_dispute(self, d: DisputeRecord, target: str, now: datetime) -> bool:
        """Testing hook: the processor's decision (or the deadline) arrives."""
        if not rules.check_dispute_move(d.status, target):
            return False
        self._set_dispute_status(d, target, now)
        return True

    def expire_disputes(self, now: datetime) -> int:
        """Open disputes past their reply-by date expire (the merchant did not answer)."""
        today = now.date().isoformat()
        late = [d for d in self.disputes.values()
                if d.status == "open" and d.reply_by_date < today]
        for d in late:
            self._set_dispute_status(d, "expired", now)
        return len(late)

    def upload_document(self, kind: str, content_type: str, name: str,
                        size: int) -> DocumentRecord:
        doc = DocumentRecord(id=new_id(16), kind=kind, content_type=content_type,
                             name=name, size=size)
        self.documents[doc.id] = doc
        self.dirty = True
        return doc

    def search_disputes(self, criteria: dict[str, Any]) -> list[DisputeRecord]:
        def matches(d: DisputeRecord) -> bool:
            for name, node in criteria.items():
                value = {"id": d.id, "status": d.status, "transaction_id": d.transaction_id,
                         "case_number": d.case_number, "reason": d.reason,
                         "reason_code": d.reason_code, "kind": "chargeback",
                         "merchant_account_id": d.merchant_account_id,
                         "reference_number": d.reference_number}.get(name)
                if name == "amount_disputed" and isinstance(node, dict):
                    amount = Decimal(d.amount)
                    lo, hi = node.get("min"), node.get("max")
                    if (lo is not None and amount < Decimal(str(lo))) or (
                            hi is not None and amount > Decimal(str(hi))):
                        return False
                    continue
                if value is None:
                    continue
                if isinstance(node, dict):
                    if "is" in node and value != str(node["is"]):
                        return False
                elif isinstance(node, list):
                    if value not in [str(i) for i in node]:
                        return False
                elif value != str(node):
                    return False
            return True

        out = [d for d in self.disputes.values() if matches(d)]
        out.sort(key=lambda d: d.created_at, reverse=True)
        return out
