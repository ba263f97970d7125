"""The saved payment methods this orchestrator last saw in a wallet (token -> type).

While the wallet table cannot answer (a worker restarting or rebalancing), a checkout with
a saved card known here is admitted rather than refused: the token and its type are all
the request needs, and the gateway is the judge of whether the token still charges (a
card removed meanwhile is declined there, never charged). Absence here proves nothing:
an unknown token is still a 503 while the table is away, never a 422.

Bounded (entries and an hour's age); a method deleted through this orchestrator is
forgotten at once. Holds no card data: the vault token is the gateway's reference, not a
credential, and is what the wallet view already returns.
"""

from __future__ import annotations

from api_edge.aging_lru import AgingLru
from schemas.payment_request import PaymentMethodType


class KnownMethods:
    def __init__(self, max_entries: int = 100_000, ttl_seconds: float = 3600.0) -> None:
        self._methods: AgingLru[tuple[str, str], PaymentMethodType] = AgingLru(
            max_entries, ttl_seconds)

    def remember(self, customer_id: str, token: str, method_type: PaymentMethodType) -> None:
        self._methods.put((customer_id, token), method_type)

    def forget(self, customer_id: str, token: str) -> None:
        self._methods.discard((customer_id, token))

    def type_of(self, customer_id: str, token: str) -> PaymentMethodType | None:
        return self._methods.get((customer_id, token))
