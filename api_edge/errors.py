"""Why the edge refuses a request or cannot serve it now, said without HTTP.

The checkout use case and the wallet routes raise these; `api_edge.problems` is the one
place that turns them into problem+json answers.
"""

from __future__ import annotations


class EdgeError(Exception):
    """A refusal or a temporary failure the client is told about."""


class OrderNotFoundError(EdgeError):
    """Missing, unregistered and foreign orders look the same: ids are not to be probed."""


class OperationForbiddenError(EdgeError):
    """The caller sees the order, but its role does not allow this operation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PriceMismatchError(EdgeError):
    """A checkout whose amount is not the price the merchant registered."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RateLimitedError(EdgeError):
    """Too many requests from one subject or client; retry after `retry_after` seconds."""

    def __init__(self, who: str, retry_after: int) -> None:
        super().__init__(who)
        self.who = who
        self.retry_after = retry_after


class OrderStateConflictError(EdgeError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DependencyUnavailableError(EdgeError):
    """A dependency cannot be reached; the client retries with the same Idempotency-Key."""

    def __init__(self, dependency: str) -> None:
        super().__init__(dependency)
        self.dependency = dependency


class UnknownPaymentMethodError(EdgeError):
    """The token names no method in this shopper's wallet (unknown and foreign alike)."""


class PaymentMethodTypeMismatchError(EdgeError):
    def __init__(self, saved: str, given: str) -> None:
        super().__init__(f"saved {saved}, given {given}")
        self.saved = saved
        self.given = given


class PaymentMethodNotFoundError(EdgeError):
    """No payment method with this token in the shopper's wallet."""


class WalletRefusedError(EdgeError):
    """The wallet refused the request; `conflict` when it clashes with the wallet's state."""

    def __init__(self, detail: str, *, conflict: bool = False, not_found: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.conflict = conflict
        self.not_found = not_found


class NothingToUpdateError(EdgeError):
    """A wallet update that names no change."""
