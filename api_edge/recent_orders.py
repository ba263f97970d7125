"""Orders this orchestrator registered, until the order table shows them.

The merchant registers an order and hands its id to the shopper, who may check out
before `order-created` has reached the order table. The registration is remembered here
(bounded, for an hour) so that checkout does not have to wait for the table; with
several orchestrator instances, a checkout reaching another instance waits for the table
(404 until then, which the shop retries).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from api_edge.api_models import OrderView


class RecentOrders:
    def __init__(self, max_entries: int = 50_000, ttl_seconds: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._orders: OrderedDict[str, tuple[OrderView, float]] = OrderedDict()

    def add(self, view: OrderView) -> None:
        self._orders[view.order_id] = (view, time.monotonic())
        self._orders.move_to_end(view.order_id)
        while len(self._orders) > self.max_entries:
            self._orders.popitem(last=False)

    def get(self, order_id: str) -> OrderView | None:
        entry = self._orders.get(order_id)
        if entry is None or time.monotonic() - entry[1] >= self.ttl_seconds:
            return None
        return entry[0]
