"""The reconciler voids an authorization no order holds and records it; it refreshes
settlement progress; it leaves orders with a request in flight alone."""

import asyncio
from typing import Any

from core_factories import usd
from faulty_gateway import FaultyGateway

from agents.reconciler import Reconciler
from schemas.dead_letter import DeadLetter
from schemas.orders import OrderAnomaly
from tables.payment_ledger import InFlightRecord, PaymentLedgerEntry


class Table(dict[str, Any]):
    def put(self, key: str, value: Any) -> None:
        self[key] = value


def run(gateway: FaultyGateway, ledger: Table, in_flight: Table, busy: set[str]
        ) -> tuple[dict[str, Any], list[OrderAnomaly], list[DeadLetter]]:
    anomalies: list[OrderAnomaly] = []
    letters: list[DeadLetter] = []

    async def anomaly(a: OrderAnomaly) -> None:
        anomalies.append(a)

    async def letter(d: DeadLetter, key: str | None) -> None:
        letters.append(d)

    reconciler = Reconciler(lambda: gateway, ledger, in_flight, busy,  # type: ignore[arg-type]
                            anomaly, letter, sample_every=1)
    report = asyncio.run(reconciler.run_pass(repair=True))
    return report, anomalies, letters


def failed_order(order_id: str = "order-1") -> PaymentLedgerEntry:
    return PaymentLedgerEntry(order_id=order_id, customer_id="cust-1", status="failed",
                              currency="USD")


def late_sale(gateway: FaultyGateway, order_id: str = "order-1") -> str:
    result = asyncio.run(gateway.authorize(order_id=order_id, amount=usd("10"),
                                           idempotency_key=f"late-{order_id}"))
    assert result.transaction is not None
    return result.transaction.id


def test_a_late_authorization_is_voided_and_the_order_records_why() -> None:
    gateway = FaultyGateway()
    tid = late_sale(gateway)
    report, anomalies, letters = run(gateway, Table({"order-1": failed_order()}), Table(), set())
    assert gateway.transactions[tid].status == "voided"
    assert report["drift"] == 1 and report["repaired"] == 1
    assert anomalies[0].event_type == "compensation" and tid in anomalies[0].reason
    assert letters[0].error_type == "OrphanSale"


def test_a_second_pass_changes_nothing() -> None:
    gateway = FaultyGateway()
    late_sale(gateway)
    ledger = Table({"order-1": failed_order()})
    run(gateway, ledger, Table(), set())
    report, anomalies, _ = run(gateway, ledger, Table(), set())
    assert report["drift"] == 0 and anomalies == []


def test_orders_with_a_request_in_flight_or_being_executed_are_left_alone() -> None:
    gateway = FaultyGateway()
    first, second = late_sale(gateway, "order-1"), late_sale(gateway, "order-2")
    ledger = Table({"order-1": failed_order("order-1"), "order-2": failed_order("order-2")})
    in_flight = Table({"k": InFlightRecord.model_validate(
        {"order_id": "order-1", "kind": "approve", "started_at": "2024-05-01T12:00:00Z"})})
    report, _, _ = run(gateway, ledger, in_flight, {"order-2"})
    assert report["checked"] == 0 and report["skipped_in_flight"] == 2
    assert gateway.transactions[first].status == gateway.transactions[second].status \
        == "authorized"


def test_the_reconciler_never_writes_a_table() -> None:
    # Faust allows table writes only inside stream iteration; the reconciler runs on a timer.
    gateway = FaultyGateway()
    tid = late_sale(gateway)
    asyncio.run(gateway.capture(transaction_id=tid, idempotency_key="cap"))
    gateway.settle_all()
    entry = PaymentLedgerEntry(order_id="order-1", customer_id="cust-1", transaction_id=tid,
                               status="submitted_for_settlement", currency="USD")

    class ReadOnly(Table):
        def put(self, key: str, value: Any) -> None:
            raise TypeError("Cannot modify table key from outside of stream iteration")

    report, _, _ = run(gateway, ReadOnly({"order-1": entry}), Table(), set())
    assert report["drift"] == 0
    late_sale(gateway, "order-2")
    report, anomalies, _ = run(gateway, ReadOnly({"order-2": failed_order("order-2")}),
                               Table(), set())
    assert report["repaired"] == 1 and anomalies


def test_an_order_whose_entry_holds_a_call_in_flight_is_left_alone() -> None:
    gateway = FaultyGateway()
    tid = late_sale(gateway, "order-1")
    call = InFlightRecord.model_validate(
        {"order_id": "order-1", "kind": "approve", "started_at": "2024-05-01T12:00:00Z"})
    entry = failed_order("order-1").model_copy(update={"calls_in_flight": {"k": call}})
    report, anomalies, _ = run(gateway, Table({"order-1": entry}), Table(), set())
    assert report["checked"] == 0 and report["skipped_in_flight"] == 1 and anomalies == []
    assert gateway.transactions[tid].status == "authorized"
