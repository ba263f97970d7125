"""Operations whose gateway outcome is not known yet, and the rules that resolve them.

"Unknown is never failed": a gateway call that may have been applied (timeout, dropped
connection, 5xx or 429 after sending, the idempotency key still in flight, a malformed
answer) stays pending until the gateway gives a definite answer. Pure: no I/O, no clock.

The durable copy of a pending request is its own Kafka record: the executor does not
acknowledge it until the operation is resolved, so a restarted worker gets the request
(nonce and vault token included, which we never store) redelivered and resumes with the
in-flight record its ledger entry got before the first attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import (
    AuthenticationGatewayError,
    GatewayConfigurationError,
    GatewayError,
    NotFoundGatewayError,
    PermanentGatewayError,
    TransientGatewayError,
)
from gateway.port import Transaction
from schemas.money import Money
from schemas.payment_request import PaymentKind

# Braintree's and our clocks are not the same clock; a sale created a little "before" the
# request started (by our clock) is still that request's sale.
CLOCK_SKEW = timedelta(minutes=5)


class PendingOperation(BaseModel):
    """What an order shows while one of its requests waits for a definite answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaymentKind
    idempotency_key: str
    since: datetime
    attempts: int = Field(ge=1)
    last_error: str


class Resolution(StrEnum):
    """What an error from the gateway means for the operation that raised it."""

    DEFINITE = "definite"  # the gateway refused it: a decline with the gateway's reason
    UNKNOWN = "unknown"    # may or may not have been applied: pending, ask again later
    PARK = "park"          # our side is misconfigured: dead-letter, alert, never decline


def resolution_for(error: GatewayError) -> Resolution:
    if isinstance(error, AuthenticationGatewayError | GatewayConfigurationError):
        return Resolution.PARK
    if isinstance(error, TransientGatewayError):
        return Resolution.UNKNOWN
    if isinstance(error, NotFoundGatewayError | PermanentGatewayError):
        return Resolution.DEFINITE
    # An error type this rule does not know about: it may have been applied.
    return Resolution.UNKNOWN


class PendingPolicy(BaseModel):
    """How long and how often an unknown outcome is asked about again."""

    model_config = ConfigDict(frozen=True)

    base_s: float = Field(default=0.2, ge=0)
    # Braintree's own request timeout is 60 s: the back-off must outlast it, so it grows
    # to minutes rather than giving up after a couple of seconds.
    cap_s: float = Field(default=120.0, ge=0)
    # The life of a Braintree idempotency key: after that a repeat is no longer the same
    # request, so the operation is given up and its late effect compensated.
    give_up_after_s: float = Field(default=24 * 3600.0, gt=0)
    # Attempts after which the order view shows the operation as pending.
    announce_after: int = Field(default=2, ge=1)


def retry_delay(attempt: int, policy: PendingPolicy, rand: float) -> float:
    """Seconds before retry `attempt` (0-based): exponential with full jitter, capped.

    Jitter spreads the retries of many orders that failed together; the floor of half the
    ceiling keeps a long outage from turning into a tight loop of tiny random waits.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if not 0.0 <= rand < 1.0:
        raise ValueError("rand must be in [0, 1)")
    ceiling = policy.cap_s if attempt >= 64 else min(policy.cap_s, policy.base_s * 2.0**attempt)
    return ceiling / 2 + rand * ceiling / 2


def given_up(started_at: datetime, now: datetime, policy: PendingPolicy) -> bool:
    return (now - started_at).total_seconds() >= policy.give_up_after_s


def should_announce(attempts: int, policy: PendingPolicy) -> bool:
    """Announce when it first becomes pending, then at doubling attempt counts."""
    if attempts < policy.announce_after:
        return False
    ratio = attempts // policy.announce_after
    return attempts % policy.announce_after == 0 and ratio & (ratio - 1) == 0


def matching_sale(candidates: Sequence[Transaction], *, order_id: str, amount: Money,
                  started_at: datetime) -> Transaction | None:
    """The sale an authorization with an unknown outcome created, or None.

    Only a sale of this order, for this amount, created after the request started counts:
    an older (declined or voided) attempt of the same order is not this request's answer.
    Of several matches the oldest is the one the first attempt created.
    """
    earliest = started_at - CLOCK_SKEW
    matches = [
        t for t in candidates
        if t.type == "sale" and t.order_id == order_id and t.amount == amount
        and (t.created_at is None or t.created_at >= earliest)
    ]
    if not matches:
        return None
    return min(matches, key=lambda t: (t.created_at is None, t.created_at or started_at))


__all__ = [
    "CLOCK_SKEW",
    "PendingOperation",
    "PendingPolicy",
    "Resolution",
    "given_up",
    "matching_sale",
    "resolution_for",
    "retry_delay",
    "should_announce",
]
