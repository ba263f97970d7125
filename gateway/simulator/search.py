"""Transaction search as the SDK's `advanced_search_ids` / `advanced_search` ask for it."""

from __future__ import annotations

from typing import Any

from gateway.simulator.records import TxnRecord


def search_transactions(transactions: dict[str, TxnRecord], criteria: dict[str, Any]) -> list[str]:
    def text_match(value: str | None, node: Any) -> bool:
        if not isinstance(node, dict):
            return value == node
        v = value or ""
        checks = {
            "is": lambda x: v == x, "is_not": lambda x: v != x,
            "starts_with": v.startswith, "ends_with": v.endswith,
            "contains": lambda x: x in v,
        }
        return all(checks[k](str(x)) for k, x in node.items() if k in checks)

    def in_list(value: str | None, node: Any) -> bool:
        items = node if isinstance(node, list) else [node]
        return value in [str(i) for i in items]

    matchers: list[tuple[str, Any]] = []
    for name in ("order_id", "id", "customer_id", "payment_method_token"):
        if name in criteria:
            matchers.append((name, lambda t, n=name, c=criteria[name]: text_match(
                getattr(t, n), c)))
    for name in ("ids", "status", "type", "merchant_account_id"):
        if name in criteria:
            attr = "id" if name == "ids" else name
            matchers.append((name, lambda t, a=attr, c=criteria[name]: in_list(
                getattr(t, a), c)))
    out = [t for t in transactions.values() if all(m(t) for _, m in matchers)]
    out.sort(key=lambda t: t.created_at, reverse=True)
    return [t.id for t in out]
