"""The orders this orchestrator last knew: registered here, or read from the order table.

Two uses, both bounded (entries and an hour's age):
- The merchant registers an order and hands its id to the shopper, who may check out
  before `order-created` has reached the order table. The registration is kept here so
  that checkout does not wait for the table; with several orchestrator instances, a
  checkout reaching another instance waits for the table.
- While the order table cannot answer (a worker restarting or rebalancing), a payment
  request for an order known here is admitted from this copy rather than refused: the
  fields that decide it (owner, merchant, registered price) never change, and the
  executor judges the order's current state when it runs (`tables.payment_plan`). A copy
  is never the ground for a refusal that depends on the state (`api_edge.checkout`).

Only those fields are kept (no history, no request keys): a copy is small.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from api_edge.api_models import OrderView

# What a copy keeps of a view: what admission reads, nothing that grows with the order.
_KEPT = frozenset({"order_id", "customer_id", "state", "currency", "expected_amount",
                   "authorized_amount", "captured_amount", "refunded_amount", "merchant_id",
                   "merchant_reference"})


class RecentOrders:
    def __init__(self, max_entries: int = 50_000, ttl_seconds: float = 3600.0) -> None:
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._orders: OrderedDict[str, tuple[OrderView, float]] = OrderedDict()

    def add(self, view: OrderView) -> None:
        slim = OrderView.model_validate(view.model_dump(include=set(_KEPT)))
        self._orders[view.order_id] = (slim, time.monotonic())
        self._orders.move_to_end(view.order_id)
        while len(self._orders) > self.max_entries:
            self._orders.popitem(last=False)

    def get(self, order_id: str) -> OrderView | None:
        entry = self._orders.get(order_id)
        if entry is None or time.monotonic() - entry[1] >= self.ttl_seconds:
            return None
        return entry[0]
