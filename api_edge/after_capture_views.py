"""The order view's after-capture parts, as the edge shows them (tables.after_capture).

Kept beside `api_edge.api_models.OrderView`, which embeds them: each capture's
settlement, the disputes, and a request that is still waiting (a refund held until its
capture settles, or a gateway call without a definite answer yet).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.money import Money


class CaptureSettlementView(BaseModel):
    model_config = ConfigDict(extra="ignore")
    transaction_id: str
    amount: Money
    settled: bool = False
    settled_at: datetime | None = None
    settlement_declined: bool = False
    settlement_response: str | None = None


class SettlementView(BaseModel):
    """Settled when every capture settled; one capture per shipment of a split capture."""

    model_config = ConfigDict(extra="ignore")
    settled: bool = False
    settled_at: datetime | None = None
    settlement_declined: bool = False
    captures: list[CaptureSettlementView] = Field(default_factory=list)


class DisputeOnOrderView(BaseModel):
    """state: open (under review or contested included), won, lost or accepted (a
    chargeback of `chargeback_amount`), expired."""

    model_config = ConfigDict(extra="ignore")
    dispute_id: str
    state: str
    gateway_status: str
    transaction_id: str | None = None
    amount_disputed: Money | None = None
    chargeback_amount: Money | None = None
    reason: str | None = None
    reply_by: datetime | None = None
    opened_at: datetime
    updated_at: datetime


class PendingOperationView(BaseModel):
    """A request without its outcome yet: why it waits, since when."""

    model_config = ConfigDict(extra="ignore")
    kind: str
    since: datetime
    attempts: int
    last_error: str | None = None
