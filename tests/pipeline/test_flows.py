"""Each flow for every payment-method type, from an SQS message to its outcome event."""

from __future__ import annotations

import pytest
from pipeline_helpers import Enqueuer, OutcomeCollector, new_id, request

from devstack.services import ServiceProcess, WorkerProcess
from gateway.simulator.runner import SimulatorHandle

pytestmark = pytest.mark.usefixtures("worker", "bridge")


@pytest.mark.parametrize("method", ["credit_card", "paypal", "apple_pay", "google_pay"])
async def test_approve_deposit_refund_per_method(
    method: str, enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="50.00", method=method))
    # A final capture of less: Braintree's capture of 40.00, the other 10.00 released.
    enqueuer.send({**request("deposit", order, amount="40.00"), "final_capture": True})
    events = await outcomes.wait_for(order, 2)
    assert [e.event_type for e in events] == ["payment-approved", "payment-deposited"]
    approved, deposited = events
    assert approved.payment_method_type == method
    assert str(approved.authorized_amount) == "50.00 USD"
    assert str(deposited.captured_amount) == "40.00 USD"
    # Braintree refunds only settled captures; a partial refund before settlement would be
    # held until the settlement webhook (tests/settlement covers that end to end).
    simulator.settle(approved.transaction_id)
    enqueuer.send(request("refund", order, amount="15.00"))
    enqueuer.send(request("refund", order))  # the rest: 25.00
    events = await outcomes.wait_for(order, 4)
    assert [e.event_type for e in events[2:]] == ["payment-refunded", "payment-refunded"]
    assert str(events[3].refunded_amount) == "40.00 USD"
    assert [e.sequence for e in events] == [1, 2, 3, 4]

    ledger = simulator.ledger()
    sale = next(t for t in ledger["transactions"] if t["id"] == approved.transaction_id)
    assert sale["status"] == "settled"
    credits = [t for t in ledger["refunds"]
               if t["refunded_transaction_id"] == approved.transaction_id]
    assert sorted(c["amount"] for c in credits) == ["15.00", "25.00"]


@pytest.mark.parametrize("method", ["credit_card", "paypal", "apple_pay", "google_pay"])
async def test_approve_then_reverse_per_method(
    method: str, enqueuer: Enqueuer, outcomes: OutcomeCollector
) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="12.34", method=method))
    enqueuer.send(request("reverse", order))
    events = await outcomes.wait_for(order, 2)
    assert [e.event_type for e in events] == ["payment-approved", "payment-reversed"]


async def test_reverse_of_unsettled_capture(enqueuer: Enqueuer, outcomes: OutcomeCollector
                                            ) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="30.00"))
    enqueuer.send(request("deposit", order))
    enqueuer.send(request("reverse", order))
    events = await outcomes.wait_for(order, 3)
    assert [e.event_type for e in events] == [
        "payment-approved", "payment-deposited", "payment-reversed"]


async def test_processor_decline_is_an_outcome(enqueuer: Enqueuer, outcomes: OutcomeCollector
                                                ) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="2001.00"))
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-declined"
    assert event.processor_response_code == "2001"


async def test_gateway_rejected_is_declined(enqueuer: Enqueuer, outcomes: OutcomeCollector
                                            ) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="5001.00"))
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-declined"
    assert "gateway rejected" in (event.reason or "")


async def test_processor_failure_is_failed(enqueuer: Enqueuer, outcomes: OutcomeCollector
                                           ) -> None:
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="3000.00"))
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-failed"


async def test_refund_of_never_paid_order_is_declined(
    enqueuer: Enqueuer, outcomes: OutcomeCollector
) -> None:
    order = new_id("ord")
    enqueuer.send(request("refund", order, amount="1.00"))
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-declined"
    assert "never paid" in (event.reason or "")


def test_services_still_running(worker: WorkerProcess, bridge: ServiceProcess) -> None:
    assert worker.alive(), worker.log_tail()
    assert bridge.alive(), bridge.log_tail()
