"""The order lifecycle table: order id -> `tables.order_lifecycle.Order` as JSON bytes.

Changelogged RocksDB table co-partitioned with `order-created` and the outcome topics
(all keyed by order id), so the worker that consumes an order's events owns its row
and a web request for it can be routed by the same key.
"""

from __future__ import annotations

from typing import Any, Final

import faust

from tables.order_lifecycle import Order
from tables.payments import raw_table

ORDERS_TABLE: Final = "orders"


def declare_orders_table(app: faust.App, partitions: int) -> Any:
    return raw_table(app, ORDERS_TABLE, partitions,
                     "Order lifecycle: state, amounts, history, anomalies")


def order_key(order_id: str) -> bytes:
    return order_id.encode("utf-8")


class FaustOrderStore:
    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, order_id: str) -> Order | None:
        raw = self.table.get(order_key(order_id))
        return None if raw is None else Order.model_validate_json(raw)

    def put(self, order: Order) -> None:
        # A new value each time: faust logs a change only on assignment.
        self.table[order_key(order.order_id)] = order.model_dump_json().encode("utf-8")


def order_view(order: Order) -> dict[str, Any]:
    """The JSON an order's web view serves: the model without dedup bookkeeping."""
    body = order.model_dump(mode="json", exclude={"seen_event_ids", "created_event_ids"})
    # Held events are shown by position only; their content is in the outcome topics.
    body["pending"] = sorted(order.pending)
    return body
