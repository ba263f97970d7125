"""Orders this orchestrator accepted a checkout for, until the order table shows them."""

from __future__ import annotations

import time
from collections import OrderedDict


class RecentCheckouts:
    """Lets the owner's status poll right after a checkout say "not recorded yet" (404)
    instead of the 403 that a probe of someone else's order id gets.
    """

    def __init__(self, max_entries: int = 50_000, ttl_seconds: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._orders: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def add(self, order_id: str, customer_id: str) -> None:
        self._orders[order_id] = (customer_id, time.monotonic())
        self._orders.move_to_end(order_id)
        while len(self._orders) > self.max_entries:
            self._orders.popitem(last=False)

    def accepted_for(self, order_id: str, customer_id: str) -> bool:
        entry = self._orders.get(order_id)
        return (entry is not None and entry[0] == customer_id
                and time.monotonic() - entry[1] < self.ttl_seconds)
