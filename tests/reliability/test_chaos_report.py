"""The chaos verdict's rules, on hand-made order views and ledgers (no servers)."""

from __future__ import annotations

import random
from typing import Any

from devstack.chaos.report import (
    NO_ANSWER,
    Call,
    Sent,
    build_report,
    double_effects,
    http_summary,
    longest_refusal_window,
    order_vs_ledger,
    refusal_window_s,
    unresolved,
)
from devstack.chaos.run import ChaosOptions, chaos_schedule, fault_config


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def sale(txn_id: str, order_id: str, status: str, amount: str,
         authorized: str | None = None) -> dict[str, Any]:
    return {"id": txn_id, "type": "sale", "order_id": order_id, "status": status,
            "amount": amount, "authorized_amount": authorized or amount}


def refund(txn_id: str, sale_id: str, amount: str, status: str = "settled") -> dict[str, Any]:
    return {"id": txn_id, "type": "credit", "refunded_transaction_id": sale_id,
            "status": status, "amount": amount}


def view(state: str, cids: list[str], **fields: Any) -> dict[str, Any]:
    return {"state": state, "pending": [], "anomalies": [],
            "history": [{"correlation_id": c} for c in cids], **fields}


def paid_view(cids: list[str], refunded: str | None = None) -> dict[str, Any]:
    return view("PARTIALLY_REFUNDED" if refunded else "PAID", cids,
                authorization_transaction_id="s1", authorized_amount=usd("100.00"),
                captured_amount=usd("100.00"),
                refunded_amount=usd(refunded) if refunded else None)


def test_refusal_window_runs_from_first_refusal_to_next_success() -> None:
    calls = [(0.0, 202), (1.0, 503), (2.5, NO_ANSWER), (4.0, 202), (5.0, 500), (5.5, 202)]
    assert refusal_window_s(calls) == 3.0


def test_refusal_window_still_open_at_the_end_counts_to_its_last_refusal() -> None:
    assert refusal_window_s([(0.0, 202), (1.0, 503), (7.0, 503)]) == 6.0
    assert refusal_window_s([(0.0, 202), (1.0, 409)]) == 0.0


def test_http_summary_counts_false_refusals_only_for_known_targets() -> None:
    calls = [Call(0, "register", 503), Call(1, "checkout", 202),
             Call(2, "order", 404, target_exists=False), Call(3, "order", 404),
             Call(4, "checkout", 422), Call(5, "deposit", 403)]
    summary = http_summary(calls)
    assert summary["5xx_by_status"] == {"503": 1}
    assert summary["false_refusals"] == {"checkout 422": 1, "deposit 403": 1, "order 404": 1}
    assert summary["false_refusals_total"] == 3
    assert summary["longest_refusal_window_s"] == 1.0


def test_an_accepted_request_without_a_trace_in_the_order_is_unresolved() -> None:
    sent = [Sent("o1", "approve", "c1", True), Sent("o1", "deposit", "c2", True),
            Sent("o1", "deposit", "c2-dbl", True, double_click=True),
            Sent("o1", "refund", "c3", False)]
    assert unresolved("o1", sent, view("PAID", ["c1", "c2"])) == []
    assert unresolved("o1", sent, view("AUTHORIZED", ["c1"])) == [
        "deposit c2: no outcome in the order"]
    assert len(unresolved("o1", sent, None)) == 2
    held = view("PAID", ["c1", "c2"], pending=[4])
    assert unresolved("o1", sent, held)


def test_two_live_sales_and_refunds_above_the_capture_are_double_effects() -> None:
    sales = [sale("s1", "o1", "settled", "100.00"), sale("s2", "o1", "authorized", "100.00"),
             sale("s3", "o1", "processor_declined", "100.00")]
    assert double_effects(sales, [])[0].startswith("2 live sales")
    over = [refund("r1", "s1", "60.00"), refund("r2", "s1", "50.00"),
            refund("r3", "s1", "90.00", status="failed")]
    assert double_effects(sales[:1], over) == ["refunds 110.00 above capture 100.00"]
    assert double_effects(sales[:1], over[:1]) == []


def test_failed_order_with_an_authorization_at_the_gateway_disagrees() -> None:
    problems = order_vs_ledger(view("FAILED", []), [sale("s1", "o1", "authorized", "10.00")], [])
    assert problems == ["order FAILED, gateway holds s1 authorized 10.00"]
    assert order_vs_ledger(view("DECLINED", []),
                           [sale("s1", "o1", "processor_declined", "10.00")], []) == []


def test_authorized_order_with_a_captured_sale_disagrees() -> None:
    authorized = view("AUTHORIZED", [], authorization_transaction_id="s1",
                      authorized_amount=usd("100.00"))
    assert order_vs_ledger(authorized, [sale("s1", "o1", "authorized", "100.00")], []) == []
    assert order_vs_ledger(authorized, [sale("s1", "o1", "submitted_for_settlement",
                                             "100.00")], []) == [
        "order AUTHORIZED, gateway sale submitted_for_settlement"]


def test_paid_and_refunded_amounts_are_compared() -> None:
    sales = [sale("s1", "o1", "settled", "100.00")]
    assert order_vs_ledger(paid_view([], "30.00"), sales, [refund("r1", "s1", "30.00")]) == []
    assert order_vs_ledger(paid_view([], "30.00"), sales, []) == [
        "refunded 30.00 vs gateway 0"]
    partial = [sale("s1", "o1", "settled", "60.00", authorized="100.00")]
    assert order_vs_ledger(paid_view([]), partial, []) == ["captured 100.00 vs gateway 60.00"]


def test_reversed_order_needs_its_sale_voided() -> None:
    reversed_view = view("REVERSED", [], authorization_transaction_id="s1")
    assert order_vs_ledger(reversed_view, [sale("s1", "o1", "voided", "5.00")], []) == []
    assert order_vs_ledger(reversed_view, [sale("s1", "o1", "authorized", "5.00")], [])


def test_build_report_counts_each_finding_once_per_order() -> None:
    sent = [Sent("o1", "approve", "a1", True), Sent("o1", "deposit", "d1", True),
            Sent("o2", "approve", "a2", True), Sent("o3", "approve", "a3", False)]
    views = {"o1": paid_view(["a1", "d1"]), "o2": view("FAILED", ["a2"]), "o3": None}
    ledger = {"transactions": [sale("s1", "o1", "settled", "100.00"),
                               sale("s2", "o2", "authorized", "20.00"),
                               sale("s9", "elsewhere", "authorized", "1.00")],
              "refunds": []}
    report = build_report(sent, [Call(0, "checkout", 202)], views, ledger, settle_s=1.5)
    assert (report["orders"], report["accepted"]) == (3, 2)
    assert (report["lost"], report["double"], report["mismatch"]) == (0, 0, 1)
    assert report["examples"]["mismatch"][0]["order_id"] == "o2"
    assert report["final_states"] == {"FAILED": 1, "PAID": 1}
    assert report["gateway_orders_unknown_to_client"] == ["elsewhere"]
    assert report["settle_s"] == 1.5


def test_chaos_schedule_places_every_kill_inside_the_drive() -> None:
    options = ChaosOptions(kills=5, broker_restarts=2, kill_targets=("worker",))
    plan = chaos_schedule(options, 100.0, ["worker", "worker-1"], random.Random(3))
    assert [at for at, _, _ in plan] == sorted(at for at, _, _ in plan)
    assert all(2.0 <= at <= 90.0 for at, _, _ in plan)
    assert {t for _, a, t in plan if a == "sigkill"} <= {"worker", "worker-1"}
    assert [t for _, a, t in plan if a == "broker_restart"] == ["kafka", "kafka"]
    assert len(plan) == 7
    shares = fault_config(0.1)
    assert abs(sum(v for k, v in shares.items() if k.endswith("_fraction")) - 0.1) < 1e-9


def test_the_longest_window_says_when_it_opened() -> None:
    calls = [(0.0, 202), (1.0, 503), (2.0, 202), (5.0, 503), (9.0, 503), (9.5, 202)]
    assert longest_refusal_window(calls) == (4.5, 5.0)
    assert longest_refusal_window([(0.0, 202)]) == (0.0, None)
