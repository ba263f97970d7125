"""The payment gateway port: what agents and the orchestrator depend on.

Declines are outcomes (a `TransactionResult`), never exceptions; only failures to get an
answer (transport, throttling, validation) raise, see `gateway.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from schemas.money import Money
from schemas.payment_request import PaymentMethodType


class Outcome(StrEnum):
    APPROVED = "approved"
    PROCESSOR_DECLINED = "processor_declined"
    GATEWAY_REJECTED = "gateway_rejected"
    FAILED = "failed"


TransactionType = Literal["sale", "credit"]


@dataclass(frozen=True, slots=True)
class Transaction:
    """A Braintree transaction as the rest of paystream sees it (no card data beyond last 4)."""

    id: str
    type: TransactionType
    status: str
    amount: Money
    order_id: str | None
    payment_method_type: PaymentMethodType | None
    refunded_transaction_id: str | None = None
    refund_ids: list[str] = field(default_factory=list)
    merchant_account_id: str | None = None
    processor_response_code: str | None = None
    processor_response_text: str | None = None
    gateway_rejection_reason: str | None = None
    card_brand: str | None = None
    last_4: str | None = None
    customer_id: str | None = None
    payment_method_token: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Status-history timestamps, when Braintree reported them.
    authorized_at: datetime | None = None
    submitted_for_settlement_at: datetime | None = None
    settled_at: datetime | None = None
    voided_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransactionResult:
    outcome: Outcome
    transaction: Transaction | None
    processor_response_code: str | None = None
    processor_response_text: str | None = None
    gateway_rejection_reason: str | None = None
    message: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome is Outcome.APPROVED


@dataclass(frozen=True, slots=True)
class VaultedPaymentMethod:
    """A vaulted payment method. Carries no PAN and no CVV by construction."""

    token: str
    customer_id: str | None
    type: PaymentMethodType
    is_default: bool
    card_brand: str | None = None
    last_4: str | None = None
    expiration_month: str | None = None
    expiration_year: str | None = None
    email: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@runtime_checkable
class PaymentGateway(Protocol):
    async def authorize(
        self,
        *,
        order_id: str,
        amount: Money,
        idempotency_key: str,
        payment_method_token: str | None = None,
        payment_method_nonce: str | None = None,
        customer_id: str | None = None,
    ) -> TransactionResult: ...

    async def capture(
        self, *, transaction_id: str, idempotency_key: str, amount: Money | None = None
    ) -> TransactionResult: ...

    async def capture_partial(
        self, *, transaction_id: str, idempotency_key: str, amount: Money, final: bool,
        order_id: str | None = None,
    ) -> TransactionResult:
        """One capture of a split shipment: a child transaction of the authorization."""
        ...

    async def void(self, *, transaction_id: str, idempotency_key: str) -> TransactionResult: ...

    async def refund(
        self, *, transaction_id: str, idempotency_key: str, amount: Money | None = None
    ) -> TransactionResult: ...

    async def find_transaction(self, transaction_id: str) -> Transaction | None: ...

    async def find_transactions_by_order(self, order_id: str) -> list[Transaction]: ...

    async def create_customer(self, *, customer_id: str, email: str | None = None) -> str: ...

    async def vault_payment_method(
        self, *, customer_id: str, nonce: str, make_default: bool = False
    ) -> VaultedPaymentMethod: ...

    async def find_payment_method(self, token: str) -> VaultedPaymentMethod | None: ...

    async def update_payment_method(
        self,
        token: str,
        *,
        make_default: bool | None = None,
        expiration_month: str | None = None,
        expiration_year: str | None = None,
        billing_postal_code: str | None = None,
    ) -> VaultedPaymentMethod: ...

    async def delete_payment_method(self, token: str) -> None: ...

    async def aclose(self) -> None: ...
