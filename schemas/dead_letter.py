"""DeadLetter: a message that could not be processed, parked with why and where from."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

from schemas.types import NonEmptyStr, ReasonText, UtcDatetime

MAX_PAYLOAD_BYTES: Final = 64 * 1024
REASON_MAX_BYTES: Final = 1024

# Credentials are scrubbed even here: a dead letter is read by people and tools far
# outside the payment path, and a nonce is single-use and short-lived anyway, so a
# replay of an approve has to obtain a fresh one regardless.
# The backslashes allow for a request embedded as a JSON string inside an envelope.
_SECRET_FIELD = re.compile(r'(payment_method_(?:nonce|token)\\*"\s*:\s*\\*")[^"\\]*')
REDACTED: Final = "[redacted]"


def redact(payload: str) -> str:
    """Replace payment credentials in JSON-ish text; idempotent."""
    return _SECRET_FIELD.sub(rf"\g<1>{REDACTED}", payload)


def truncate_utf8(text: str, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """At most `limit` UTF-8 bytes, never splitting a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


class DeadLetter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = 1
    source: NonEmptyStr = Field(description='Where it came from, e.g. "sqs", "payment-requests"')
    reason: ReasonText
    payload: str = Field(
        description="Raw message text, credentials redacted, at most 64 KiB of UTF-8"
    )
    error_type: NonEmptyStr
    first_seen_at: UtcDatetime
    attempts: NonNegativeInt
    order_id: str | None = None
    idempotency_key: str | None = None

    @field_validator("payload", mode="before")
    @classmethod
    def _safe_payload(cls, value: Any) -> Any:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            # Redact before truncating: a cut could otherwise break the pattern
            # and leave half a nonce in place.
            return truncate_utf8(redact(value))
        return value

    @field_validator("reason", mode="before")
    @classmethod
    def _bounded_reason(cls, value: Any) -> Any:
        # Exception text can embed the offending input; keep it bounded and scrubbed. The
        # bound is the field's own: a reason that failed validation would crash the very
        # code that is parking the record, and the record would be lost.
        if isinstance(value, str):
            return truncate_utf8(redact(value), REASON_MAX_BYTES) or "no reason given"
        return value
