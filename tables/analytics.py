"""Payment analytics in tumbling one-minute windows: the pure aggregation.

Outcome events are keyed by order id; a window aggregates many orders, so the analytics
agent re-keys each outcome as a small `AnalyticsFact` onto `analytics-facts`, keyed by
the minute it belongs to (event time, `occurred_at`). All facts of one minute then meet
in one partition and one row of the `analytics-minutes` table (`tables.worker_tables`),
which `table_route` finds by the window key. A minute is a small, bounded amount of work,
and consecutive minutes spread over the partitions.

Windows are tumbling (non-overlapping, aligned to the minute). Counts are at-least-once:
a redelivery after a worker crash can count an event twice; the order table, not this,
is the record of truth.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from pydantic import BaseModel, ConfigDict

from schemas.outcomes import OutcomeEvent
from schemas.payment_request import PaymentKind, PaymentMethodType
from schemas.types import UtcDatetime

WINDOW: Final = timedelta(minutes=1)
WINDOW_KEY_FORMAT: Final = "%Y-%m-%dT%H:%MZ"
UNKNOWN: Final = "unknown"


class AnalyticsFact(BaseModel):
    """What analytics needs of one outcome event, and nothing that identifies a shopper."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    event_type: str
    # None for facts that are not payment outcomes (dispute changes, agents.notifications).
    request_kind: PaymentKind | None = None
    payment_method_type: PaymentMethodType | None = None
    currency: str | None = None
    amount: Decimal | None = None
    occurred_at: UtcDatetime


class GroupStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: str
    payment_method_type: str
    currency: str
    count: int = 0
    amount: Decimal = Decimal(0)


class AnalyticsWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_start: UtcDatetime
    window_end: UtcDatetime
    groups: dict[str, GroupStats] = {}
    # Authorization attempts only: a declined capture or refund says nothing about the
    # rate at which shoppers' payment methods are refused.
    approved: int = 0
    declined: int = 0

    @property
    def decline_rate(self) -> float | None:
        attempts = self.approved + self.declined
        return None if attempts == 0 else self.declined / attempts

    def view(self) -> dict[str, Any]:
        return {
            "window": window_key(self.window_start),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "groups": [
                {"event_type": g.event_type, "payment_method_type": g.payment_method_type,
                 "currency": g.currency, "count": g.count, "amount": str(g.amount)}
                for _, g in sorted(self.groups.items())
            ],
            "authorizations": {"approved": self.approved, "declined": self.declined,
                               "decline_rate": self.decline_rate},
        }


def fact_of(event: OutcomeEvent) -> AnalyticsFact:
    money = (event.amount or event.authorized_amount or event.captured_amount
             or event.refunded_amount)
    return AnalyticsFact(
        event_id=event.event_id, event_type=event.event_type,
        request_kind=event.request_kind, payment_method_type=event.payment_method_type,
        currency=money.currency if money else None,
        amount=money.amount if money else None, occurred_at=event.occurred_at,
    )


def window_start(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(second=0, microsecond=0)


def window_key(at: datetime) -> str:
    return window_start(at).strftime(WINDOW_KEY_FORMAT)


def parse_window_key(key: str) -> datetime:
    """The window's start from a key like 2025-01-31T12:34Z; ValueError if malformed."""
    return datetime.strptime(key, WINDOW_KEY_FORMAT).replace(tzinfo=UTC)


def add_fact(window: AnalyticsWindow | None, fact: AnalyticsFact) -> AnalyticsWindow:
    start = window_start(fact.occurred_at)
    if window is None:
        window = AnalyticsWindow(window_start=start, window_end=start + WINDOW)
    elif window.window_start != start:
        raise ValueError(f"fact at {fact.occurred_at} is outside window {window.window_start}")
    pmt = fact.payment_method_type or UNKNOWN
    currency = fact.currency or UNKNOWN
    group_key = f"{fact.event_type}/{pmt}/{currency}"
    group = window.groups.get(group_key) or GroupStats(
        event_type=fact.event_type, payment_method_type=pmt, currency=currency)
    group = group.model_copy(update={"count": group.count + 1,
                                     "amount": group.amount + (fact.amount or Decimal(0))})
    update: dict[str, Any] = {"groups": {**window.groups, group_key: group}}
    if fact.request_kind == "approve":
        if fact.event_type == "payment-approved":
            update["approved"] = window.approved + 1
        elif fact.event_type == "payment-declined":
            update["declined"] = window.declined + 1
    return window.model_copy(update=update)
