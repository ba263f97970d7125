"""Drift between the ledger and the gateway: what is found, and which repair is named."""

from datetime import timedelta

from core_factories import T0, usd

from gateway.port import Transaction
from tables.drift import DriftKind, Repair, find_drift, needs_check
from tables.payment_ledger import PaymentLedgerEntry


def txn(tid: str, status: str, *, kind: str = "sale", order_id: str = "order-1") -> Transaction:
    return Transaction(id=tid, type=kind, status=status, amount=usd("10"),  # type: ignore[arg-type]
                       order_id=order_id, payment_method_type=None,
                       created_at=T0 + timedelta(minutes=1))


def entry(status: str | None, tid: str | None = "tx1") -> PaymentLedgerEntry:
    return PaymentLedgerEntry(order_id="order-1", customer_id="cust-1", transaction_id=tid,
                              status=status)  # type: ignore[arg-type]


def test_agreement_is_no_drift() -> None:
    assert find_drift("order-1", entry("authorized"), [txn("tx1", "authorized")]) == []


def test_a_late_authorization_of_a_given_up_request_is_voided() -> None:
    (drift,) = find_drift("order-1", entry("failed", tid=None), [txn("tx9", "authorized")])
    assert (drift.kind, drift.transaction_id, drift.repair) == (
        DriftKind.ORPHAN_SALE, "tx9", Repair.VOID)


def test_declined_and_voided_sales_are_not_orphans() -> None:
    found = find_drift("order-1", entry("authorized"),
                       [txn("tx1", "authorized"), txn("tx0", "processor_declined"),
                        txn("tx2", "voided")])
    assert found == []


def test_settlement_moving_a_capture_on_is_not_drift() -> None:
    assert find_drift("order-1", entry("submitted_for_settlement"), [txn("tx1", "settled")]) == []


def test_an_unexplained_disagreement_is_reported_not_repaired() -> None:
    (drift,) = find_drift("order-1", entry("authorized"),
                          [txn("tx1", "submitted_for_settlement")])
    assert (drift.kind, drift.repair) == (DriftKind.STATUS_MISMATCH, Repair.NONE)
    (missing,) = find_drift("order-1", entry("authorized"), [])
    assert missing.kind is DriftKind.MISSING_AT_GATEWAY


def test_a_settled_orphan_is_reported_because_a_void_cannot_undo_it() -> None:
    (drift,) = find_drift("order-1", None, [txn("tx5", "settled")])
    assert drift.repair is Repair.NONE


def test_open_and_failed_orders_are_always_checked_final_ones_in_rotation() -> None:
    assert needs_check(entry("authorized"), 10, 0)
    assert needs_check(entry("failed", tid=None), 10, 0)
    final = entry("settled")
    assert sum(needs_check(final, 10, n) for n in range(10)) == 1
