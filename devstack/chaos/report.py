"""The chaos run's verdict: a pure function of what the client saw, the worker's order
views and the gateway's ledger. No I/O, so every rule here is tested directly.

What counts:
- accepted: orders whose checkout the edge answered 202;
- lost: an order with an accepted request (the client's own, not a double click) that left
  no trace in the order (no history entry or anomaly with its correlation id), or whose
  order view is missing or still holds pending work, after the settle time;
- double effects: more than one live sale for an order, or live refunds above the capture;
- order != ledger: the order's state and amounts disagree with the gateway's transactions;
- refusals: 5xx by status, 403/404/422 for orders and cards the client knew existed, and
  the longest window in which checkouts (or the merchant's order registrations before
  them) were refused with a 5xx (or got no answer).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from gateway.statuses import CAPTURED_STATUSES, DEAD_REFUND_STATUSES, LIVE_STATUSES

# A refusal a client must treat as final although the order or card exists.
FALSE_REFUSALS: Final = frozenset({403, 404, 422})
NO_ANSWER: Final = 0  # the status recorded for a timeout or a dropped connection
EXAMPLES: Final = 20  # examples kept per finding; the counts are always complete
# What a shop's checkout is made of: the merchant registering the order (when the edge
# has that API) and the shopper's checkout; a refusal of either refuses the sale.
CHECKOUT_OPS: Final = frozenset({"register", "checkout"})
NO_SALE_STATES: Final = frozenset({"CREATED", "DECLINED", "FAILED"})
CAPTURED_STATES: Final = frozenset({"PAID", "PARTIALLY_REFUNDED", "REFUNDED"})


@dataclass(frozen=True)
class Call:
    """One HTTP attempt by the client."""

    at: float  # seconds since the run began
    op: str  # checkout | deposit | refund | order | wallet
    status: int  # NO_ANSWER for a timeout or a lost connection
    # The client knew the order (or card) existed: a 403/404/422 is then a false refusal.
    target_exists: bool = True
    order_id: str = ""
    detail: str = ""  # the problem's title and detail for a refusal, for the examples


@dataclass(frozen=True)
class Sent:
    """One logical request (one Idempotency-Key, however many attempts)."""

    order_id: str
    kind: str  # approve | deposit | refund
    correlation_id: str
    accepted: bool  # some attempt got 202
    double_click: bool = False  # a second click with a new key


def refusal_window_s(checkouts: Iterable[tuple[float, int]]) -> float:
    """The longest span from the first refused checkout after an answered one (or the
    start) to the next checkout that was not refused; a window still open at the end of
    the run runs to its last refusal."""
    return longest_refusal_window(checkouts)[0]


def longest_refusal_window(checkouts: Iterable[tuple[float, int]]) -> tuple[float, float | None]:
    """(length, start) of the longest refusal window (`refusal_window_s`); start is None
    when nothing was refused."""
    longest, start = 0.0, None
    opened: float | None = None
    last_refused = 0.0
    for at, status in sorted(checkouts):
        refused = status >= 500 or status == NO_ANSWER
        if refused:
            if opened is None:
                opened = at
            last_refused = at
        elif opened is not None:
            if start is None or at - opened > longest:
                longest, start = at - opened, opened
            opened = None
    if opened is not None and (start is None or last_refused - opened > longest):
        longest, start = last_refused - opened, opened
    return round(longest, 3), start


def http_summary(calls: Sequence[Call]) -> dict[str, Any]:
    by_op: dict[str, Counter[str]] = {}
    for call in calls:
        by_op.setdefault(call.op, Counter())[str(call.status or "no_answer")] += 1
    five_xx = Counter(str(c.status) for c in calls if c.status >= 500)
    false_refusals = Counter(f"{c.op} {c.status}" for c in calls
                             if c.status in FALSE_REFUSALS and c.target_exists)
    return {
        "by_operation": {op: dict(sorted(counts.items())) for op, counts in sorted(by_op.items())},
        "5xx_by_status": dict(sorted(five_xx.items())),
        "5xx_total": sum(five_xx.values()),
        "no_answer": sum(1 for c in calls if c.status == NO_ANSWER),
        "false_refusals": dict(sorted(false_refusals.items())),
        "false_refusals_total": sum(false_refusals.values()),
        "false_refusal_examples": [
            {"at": c.at, "op": c.op, "status": c.status, "order_id": c.order_id,
             "detail": c.detail} for c in calls
            if c.status in FALSE_REFUSALS and c.target_exists][:EXAMPLES],
        # A 409 is the edge's advice that the order's state refuses the request; with a
        # careful client it points at a state the edge read wrongly (or a double click).
        "conflict_examples": [
            {"at": c.at, "op": c.op, "order_id": c.order_id, "detail": c.detail}
            for c in calls if c.status == 409][:EXAMPLES],
        **dict(zip(("longest_refusal_window_s", "longest_refusal_window_at"),
                   longest_refusal_window((c.at, c.status) for c in calls
                                          if c.op in CHECKOUT_OPS), strict=True)),
    }


def _money(view: Mapping[str, Any], key: str) -> Decimal | None:
    value = view.get(key)
    return Decimal(value["amount"]) if value else None


def _traces(view: Mapping[str, Any]) -> set[str]:
    return {str(e.get("correlation_id")) for e in [*view.get("history", []),
                                                   *view.get("anomalies", [])]}


def _has_pending(view: Mapping[str, Any]) -> bool:
    # Held out-of-order outcomes, or (once the executor records them) unresolved gateway
    # operations: either way the order has not reached its outcome yet.
    return bool(view.get("pending")) or bool(view.get("pending_operations"))


def unresolved(order_id: str, sent: Sequence[Sent], view: Mapping[str, Any] | None) -> list[str]:
    """The client's accepted requests the order shows no outcome for (empty: resolved)."""
    mine = [s for s in sent if s.accepted and not s.double_click]
    if not mine:
        return []
    if view is None:
        return [f"{s.kind} {s.correlation_id}: no order view" for s in mine]
    traces = _traces(view)
    missing = [f"{s.kind} {s.correlation_id}: no outcome in the order"
               for s in mine if s.correlation_id not in traces]
    if _has_pending(view):
        missing.append(f"order still pending: {view.get('pending') or ''}"
                       f"{view.get('pending_operations') or ''}")
    return missing


def ledger_by_order(ledger: Mapping[str, Any]) -> dict[str, tuple[list[dict[str, Any]],
                                                                  list[dict[str, Any]]]]:
    """order id -> (its sales, its refunds), from the simulator's ledger dump."""
    sales: dict[str, list[dict[str, Any]]] = {}
    owner: dict[str, str] = {}
    for txn in ledger.get("transactions", []):
        if txn.get("type", "sale") == "sale" and txn.get("order_id"):
            sales.setdefault(txn["order_id"], []).append(txn)
            owner[txn["id"]] = txn["order_id"]
    refunds: dict[str, list[dict[str, Any]]] = {}
    for ref in ledger.get("refunds", []):
        order_id = owner.get(ref.get("refunded_transaction_id") or "") or ref.get("order_id")
        if order_id:
            refunds.setdefault(order_id, []).append(ref)
    return {oid: (sales.get(oid, []), refunds.get(oid, []))
            for oid in sales.keys() | refunds.keys()}


def double_effects(sales: Sequence[Mapping[str, Any]],
                   refunds: Sequence[Mapping[str, Any]]) -> list[str]:
    live = [s for s in sales if s["status"] in LIVE_STATUSES]
    found = []
    if len(live) > 1:
        found.append(f"{len(live)} live sales: "
                     + ", ".join(f"{s['id']} {s['status']} {s['amount']}" for s in live))
    captured = sum((Decimal(s["amount"]) for s in live if s["status"] in CAPTURED_STATUSES),
                   Decimal(0))
    refunded = sum((Decimal(r["amount"]) for r in refunds
                    if r["status"] not in DEAD_REFUND_STATUSES), Decimal(0))
    if refunded > captured:
        found.append(f"refunds {refunded} above capture {captured}")
    return found


def order_vs_ledger(view: Mapping[str, Any] | None, sales: Sequence[Mapping[str, Any]],
                    refunds: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where the order's state and amounts disagree with the gateway (empty: agree)."""
    live = [s for s in sales if s["status"] in LIVE_STATUSES]
    live_refunds = sum((Decimal(r["amount"]) for r in refunds
                        if r["status"] not in DEAD_REFUND_STATUSES), Decimal(0))
    gateway = ", ".join(f"{s['id']} {s['status']} {s['amount']}" for s in sales) or "nothing"
    if view is None:
        return [f"no order, gateway holds {gateway}"] if live else []
    state = str(view.get("state"))
    problems: list[str] = []
    if state in NO_SALE_STATES:
        if live:
            problems.append(f"order {state}, gateway holds {gateway}")
    elif state == "REVERSED":
        if live:
            problems.append(f"order REVERSED, gateway holds {gateway}")
        auth_id = view.get("authorization_transaction_id")
        if auth_id and not any(s["id"] == auth_id and s["status"] == "voided" for s in sales):
            problems.append(f"order REVERSED, its sale {auth_id} is not voided ({gateway})")
    elif len(live) != 1:
        problems.append(f"order {state}, gateway has {len(live)} live sales ({gateway})")
    else:
        sale = live[0]
        if view.get("authorization_transaction_id") not in (None, sale["id"]):
            problems.append(f"order names sale {view.get('authorization_transaction_id')}, "
                            f"the live one is {sale['id']}")
        if _money(view, "authorized_amount") != Decimal(sale["authorized_amount"]):
            problems.append(f"authorized {_money(view, 'authorized_amount')} vs gateway "
                            f"{sale['authorized_amount']}")
        if state == "AUTHORIZED" and sale["status"] != "authorized":
            problems.append(f"order AUTHORIZED, gateway sale {sale['status']}")
        if state in CAPTURED_STATES:
            if sale["status"] not in CAPTURED_STATUSES:
                problems.append(f"order {state}, gateway sale {sale['status']}")
            elif _money(view, "captured_amount") != Decimal(sale["amount"]):
                problems.append(f"captured {_money(view, 'captured_amount')} vs gateway "
                                f"{sale['amount']}")
    if (_money(view, "refunded_amount") or Decimal(0)) != live_refunds:
        problems.append(f"refunded {_money(view, 'refunded_amount')} vs gateway {live_refunds}")
    return problems


def _examples(found: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    return [{"order_id": oid, "problems": probs}
            for oid, probs in sorted(found.items())[:EXAMPLES]]


def build_report(sent: Sequence[Sent], calls: Sequence[Call],
                 views: Mapping[str, Mapping[str, Any] | None],
                 ledger: Mapping[str, Any], settle_s: float | None) -> dict[str, Any]:
    """The whole verdict. `views` has an entry (None if the view answered 404) for every
    order the client touched; `settle_s` is None if the settle time ran out."""
    per_order: dict[str, list[Sent]] = {}
    for s in sent:
        per_order.setdefault(s.order_id, []).append(s)
    gateway = ledger_by_order(ledger)
    accepted = sorted(oid for oid, reqs in per_order.items()
                      if any(r.accepted and r.kind == "approve" for r in reqs))
    lost: dict[str, list[str]] = {}
    doubles: dict[str, list[str]] = {}
    mismatches: dict[str, list[str]] = {}
    for oid in sorted(per_order):
        view = views.get(oid)
        sales, refunds = gateway.get(oid, ([], []))
        if missing := unresolved(oid, per_order[oid], view):
            lost[oid] = missing
        if found := double_effects(sales, refunds):
            doubles[oid] = found
        if found := order_vs_ledger(view, sales, refunds):
            mismatches[oid] = found
    strangers = sorted(oid for oid in gateway if oid not in per_order)
    states = Counter(str(v.get("state")) for v in views.values() if v is not None)
    clicks = [s for s in sent if s.double_click]
    return {
        "orders": len(per_order),
        "accepted": len(accepted),
        "lost": len(lost),
        "double": len(doubles),
        "mismatch": len(mismatches),
        "final_states": dict(sorted(states.items())),
        "requests": dict(sorted(Counter(f"{s.kind} {'accepted' if s.accepted else 'refused'}"
                                        for s in sent if not s.double_click).items())),
        "double_clicks": {"sent": len(clicks), "accepted": sum(s.accepted for s in clicks)},
        "http": http_summary(calls),
        "settle_s": settle_s,
        "gateway_orders_unknown_to_client": strangers[:EXAMPLES],
        "examples": {"lost": _examples(lost), "double": _examples(doubles),
                     "mismatch": _examples(mismatches)},
    }
