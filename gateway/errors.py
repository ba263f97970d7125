"""Gateway errors, classified so the executor can decide whether a retry is safe.

- `TransientGatewayError`: retrying later may succeed (timeouts, connection errors, 429, 5xx,
  an idempotency key still in flight).
- `OutcomeUnknownError` (transient): the request may have been applied. Retry only with the
  same idempotency key, or resolve by looking the order up; never re-charge blindly.
- `PermanentGatewayError`: the request will not succeed as sent (validation errors with
  Braintree's codes, authentication, not found).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GatewayValidationError:
    code: str
    message: str
    attribute: str


class GatewayError(Exception):
    """Base of every error the gateway port raises."""

    retryable: bool = False

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation


class TransientGatewayError(GatewayError):
    retryable = True

    def __init__(
        self, message: str, *, operation: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, operation=operation)
        self.status = status


class OutcomeUnknownError(TransientGatewayError):
    """The request was sent and may have been applied; the answer never arrived."""


class IdempotencyKeyInFlightError(TransientGatewayError):
    """Braintree 915233: the first request with this key has not finished yet."""

    code = "915233"


class PermanentGatewayError(GatewayError):
    def __init__(
        self,
        message: str,
        *,
        errors: list[GatewayValidationError] | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, operation=operation)
        self.errors: list[GatewayValidationError] = list(errors or [])

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]


class AuthenticationGatewayError(PermanentGatewayError):
    """401/403: wrong keys or a key without the permission."""


class NotFoundGatewayError(PermanentGatewayError):
    """404: the transaction, customer or payment method does not exist."""


class GatewayConfigurationError(PermanentGatewayError):
    """Our side is set up wrongly (no merchant account for a currency, missing keys).

    Not the shopper's fault and not a decline: the request is parked for an operator.
    """
