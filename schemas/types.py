"""Field types shared by the wire models: identifiers and timestamps.

Kept in one place so the order-id rule the gateway enforces is written once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, StringConstraints

# Braintree refuses order ids outside [A-Za-z0-9_-]{1,36}; checking at the edge
# turns a late gateway 422 into an early, explainable 400.
OrderId = Annotated[
    str, StringConstraints(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9_-]+$")
]

# Doubles as Braintree's api_request_key, so it must satisfy the same alphabet.
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]

NonEmptyStr = Annotated[str, StringConstraints(min_length=1, max_length=256)]

ReasonText = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# Naive datetimes are refused: a producer's local clock offset would silently
# reorder events across services.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]

SchemaVersion = Literal[1]


def new_event_id() -> str:
    """Random event id; producers that can replay should derive ids instead."""
    return uuid.uuid4().hex


# Fixed namespace so a derived id is stable across processes and releases.
_EVENT_NAMESPACE = uuid.UUID("6c7e6a52-4a0e-4f55-9d4b-5b1f7f1d0a11")


def derived_event_id(*parts: str) -> str:
    """Deterministic event id from its causes, so a replayed effect re-emits the same id."""
    return uuid.uuid5(_EVENT_NAMESPACE, "\x1f".join(parts)).hex
