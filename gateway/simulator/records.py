"""The simulator's stored records: what Braintree keeps about a transaction, customer,
vaulted method, idempotency key and dispute. Plain data; behaviour lives in the ledger.

Card data is kept as Braintree shows it back (BIN, last 4, indicators), never a PAN or CVV.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from gateway.simulator.testvalues import Instrument

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(now: datetime) -> str:
    return now.strftime(ISO_FORMAT)


def parse_iso(value: str) -> datetime:
    return datetime.strptime(value, ISO_FORMAT).replace(tzinfo=UTC)


def new_id(n: int = 8) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(n))


@dataclass(slots=True)
class StatusEvent:
    status: str
    amount: str
    timestamp: str


@dataclass(slots=True)
class TxnRecord:
    id: str
    type: Literal["sale", "credit"]
    status: str
    amount: str
    currency: str
    merchant_account_id: str
    order_id: str | None
    instrument: Instrument
    details: dict[str, str]
    customer_id: str | None
    payment_method_token: str | None
    processor_response_code: str | None
    processor_response_text: str | None
    processor_response_type: str | None
    gateway_rejection_reason: str | None
    authorized_amount: str
    created_at: str
    updated_at: str
    refunded_transaction_id: str | None = None
    refund_ids: list[str] = field(default_factory=list)
    status_history: list[StatusEvent] = field(default_factory=list)
    submitted_at: float | None = None
    additional_processor_response: str | None = None
    processor_authorization_code: str | None = None
    network_transaction_id: str | None = None
    processor_settlement_response_code: str | None = None
    processor_settlement_response_text: str | None = None
    settlement_batch_id: str | None = None
    disbursement_date: str | None = None
    dispute_ids: list[str] = field(default_factory=list)
    # Split capture: a child capture names its authorization; the authorization lists them.
    authorized_transaction_id: str | None = None
    partial_settlement_transaction_ids: list[str] = field(default_factory=list)
    final_captured: bool = False

    @property
    def amount_dec(self) -> Decimal:
        return Decimal(self.amount)

    def set_status(self, status: str, now: datetime) -> None:
        self.status = status
        ts = iso(now)
        self.updated_at = ts
        self.status_history.append(StatusEvent(status, self.amount, ts))


@dataclass(slots=True)
class CustomerRecord:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    created_at: str
    updated_at: str
    default_token: str | None = None


@dataclass(slots=True)
class PaymentMethodRecord:
    token: str
    customer_id: str
    instrument: Instrument
    details: dict[str, str]
    created_at: str
    updated_at: str


@dataclass(slots=True)
class KeyRecord:
    merchant_id: str
    key: str
    operation: str
    fingerprint: str
    state: Literal["in_flight", "done"]
    transaction_id: str | None
    created_at: str


@dataclass(slots=True)
class TokenizedCard:
    """A client-API nonce: the card as Braintree shows it, not the number itself."""

    details: dict[str, str]
    consumed: bool = False


@dataclass(slots=True)
class EvidenceRecord:
    id: str
    created_at: str
    comments: str | None = None
    url: str | None = None
    category: str | None = None
    sequence_number: int | None = None
    sent_to_processor_at: str | None = None


@dataclass(slots=True)
class DisputeStatusEvent:
    status: str
    timestamp: str
    effective_date: str


@dataclass(slots=True)
class DisputeRecord:
    id: str
    transaction_id: str
    amount: str
    currency: str
    merchant_account_id: str
    status: str
    reason: str
    reason_code: str
    reason_description: str
    case_number: str
    reference_number: str
    received_date: str
    reply_by_date: str
    created_at: str
    updated_at: str
    amount_won: str = "0.00"
    date_won: str | None = None
    evidence: list[EvidenceRecord] = field(default_factory=list)
    status_history: list[DisputeStatusEvent] = field(default_factory=list)

    def set_status(self, status: str, now: datetime) -> None:
        self.status = status
        self.updated_at = iso(now)
        self.status_history.append(
            DisputeStatusEvent(status, self.updated_at, now.date().isoformat()))


@dataclass(slots=True)
class DocumentRecord:
    """An uploaded evidence document: its name and size, never its bytes."""

    id: str
    kind: str
    content_type: str
    name: str
    size: int


SubjectType = Literal["transaction", "dispute", "disbursement"]


@dataclass(slots=True)
class Notification:
    """A webhook the ledger owes the merchant: what happened to which object, and when."""

    kind: str
    subject_type: SubjectType
    subject_id: str
    at: str
    # A disbursement has no record of its own: its transactions and total travel here.
    extra: dict[str, str] = field(default_factory=dict)
