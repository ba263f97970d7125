"""Duplicates, poison messages, dropped connections and a killed worker: every request is
executed once at the gateway and produces one outcome; nothing is lost or blocks the rest."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from aiokafka import AIOKafkaProducer
from pipeline_helpers import Enqueuer, OutcomeCollector, new_id, request

from devstack.services import WorkerProcess
from devstack.sqs import sqs_client
from gateway.simulator.runner import SimulatorHandle
from streams.channels import PAYMENT_DLQ, PAYMENT_REQUESTS

pytestmark = pytest.mark.usefixtures("worker", "bridge")


def _sales(simulator: SimulatorHandle, order_id: str) -> list[dict[str, object]]:
    return [t for t in simulator.ledger()["transactions"] if t["order_id"] == order_id]


async def _produce(bootstrap: str, key: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(PAYMENT_REQUESTS, value, key=key.encode())
    finally:
        await producer.stop()


async def test_duplicate_sqs_message_executes_once(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    order = new_id("ord")
    body = request("approve", order, amount="20.00")
    # Two SQS messages with different dedup ids: a producer retry outside SQS's window.
    enqueuer.send(body, dedup="first")
    enqueuer.send(body, dedup="second")
    marker = new_id("ord")
    enqueuer.send(request("approve", marker, amount="1.00"))
    await outcomes.wait_for(marker, 1)
    await asyncio.sleep(0.5)
    assert [e.event_type for e in outcomes.for_order(order)] == ["payment-approved"]
    assert len(_sales(simulator, order)) == 1


async def test_duplicate_kafka_record_executes_once(
    kafka_bootstrap: str, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    order = new_id("ord")
    raw = json.dumps(request("approve", order, amount="21.00")).encode()
    await _produce(kafka_bootstrap, order, raw)
    await _produce(kafka_bootstrap, order, raw)
    deposit = json.dumps(request("deposit", order)).encode()
    await _produce(kafka_bootstrap, order, deposit)
    events = await outcomes.wait_for(order, 2)
    await asyncio.sleep(0.5)
    events = outcomes.for_order(order)
    assert [e.event_type for e in events] == ["payment-approved", "payment-deposited"]
    assert len(_sales(simulator, order)) == 1


async def test_poison_sqs_message_goes_to_dead_letter_queue(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, sqs_endpoint: str
) -> None:
    poison_group = new_id("ord")
    enqueuer.send('{"kind": "approve", "amount": 1.5}', group=poison_group, dedup=new_id("p"))
    order = new_id("ord")
    enqueuer.send(request("approve", order, amount="5.00"))
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-approved"

    sqs = sqs_client(sqs_endpoint)
    dlq = sqs.get_queue_url(QueueName=PAYMENT_DLQ)["QueueUrl"]
    found = None
    deadline = time.monotonic() + 20
    while found is None and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   MessageAttributeNames=["All"], AttributeNames=["All"])
        for msg in resp.get("Messages", []):
            if msg["Attributes"].get("MessageGroupId") == poison_group:
                found = msg
            sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=msg["ReceiptHandle"],
                                          VisibilityTimeout=0)
    assert found is not None, "poison message not in the dead-letter queue"
    reason = found["MessageAttributes"]["reason"]["StringValue"]
    assert "invalid payment request" in reason
    assert "order_id" in reason


async def test_poison_kafka_record_is_dead_lettered_and_stream_continues(
    kafka_bootstrap: str, outcomes: OutcomeCollector
) -> None:
    bad_key = new_id("ord")
    await _produce(kafka_bootstrap, bad_key, b"\xff not json at all")
    order = new_id("ord")
    await _produce(kafka_bootstrap, order, json.dumps(request("approve", order,
                                                              amount="7.00")).encode())
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-approved"
    letter = await outcomes.wait_dead_letter(lambda d: d.get("order_id") == bad_key)
    assert letter["source"] == "payment-requests"
    assert letter["reason"].startswith("invalid payment request")


async def test_dropped_connection_after_charge_leaves_one_transaction(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    order = new_id("ord")
    simulator.configure(drop_after_apply_fraction=1.0)
    try:
        enqueuer.send(request("approve", order, amount="33.00"))
        deadline = time.monotonic() + 30
        while not _sales(simulator, order) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        simulator.configure(drop_after_apply_fraction=0.0)
    (event,) = await outcomes.wait_for(order, 1)
    assert event.event_type == "payment-approved"
    sales = _sales(simulator, order)
    assert len(sales) == 1
    assert event.transaction_id == sales[0]["id"]


async def test_worker_killed_mid_gateway_call_executes_once(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle,
    worker: WorkerProcess
) -> None:
    order = new_id("ord")
    simulator.configure(latency_ms=2500)
    try:
        enqueuer.send(request("approve", order, amount="44.00"))
        # Kill while the sale is in flight at the gateway: nothing committed, no outcome.
        await asyncio.sleep(1.5)
        worker.kill()
        assert not outcomes.for_order(order)
    finally:
        simulator.configure(latency_ms=0)
    worker.start()
    await asyncio.to_thread(worker.wait_ready)
    events = await outcomes.wait_for(order, 1, timeout=90)
    await asyncio.sleep(1.0)
    events = outcomes.for_order(order)
    assert len({e.event_id for e in events}) == 1
    assert events[0].event_type == "payment-approved"
    sales = _sales(simulator, order)
    assert len(sales) == 1, sales
    assert events[0].transaction_id == sales[0]["id"]


async def test_one_order_back_to_back_runs_in_order_under_concurrency(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    # Settling at once lets a refund follow its deposit immediately, as in production
    # after the nightly settlement.
    simulator.configure(latency_ms=100, auto_settle_seconds=0)
    try:
        orders = [new_id("ord") for _ in range(12)]
        for order in orders:
            enqueuer.send(request("approve", order, amount="60.00"))
        for order in orders:
            enqueuer.send(request("deposit", order))
        for order in orders:
            enqueuer.send(request("refund", order, amount="25.00"))
        for order in orders:
            events = await outcomes.wait_for(order, 3)
            assert [e.event_type for e in events] == [
                "payment-approved", "payment-deposited", "payment-refunded"], events
            assert str(events[2].refunded_amount) == "25.00 USD"
    finally:
        simulator.configure(latency_ms=0, auto_settle_seconds=None)


async def test_a_gateway_that_never_answers_leaves_the_payment_pending_not_failed(
    enqueuer: Enqueuer, outcomes: OutcomeCollector, simulator: SimulatorHandle
) -> None:
    order = new_id("ord")
    # Every call is applied and its answer lost, reads included: the outcome is unknown
    # for as long as this lasts, and unknown is never failed.
    simulator.configure(drop_after_apply_fraction=1.0)
    try:
        enqueuer.send(request("approve", order, amount="55.00"))
        async with asyncio.timeout(60):
            while not any(p.get("order_id") == order for p in outcomes.pending):
                await asyncio.sleep(0.1)
        await asyncio.sleep(2.0)  # many more unanswered attempts
        assert outcomes.for_order(order) == []  # no decline, no failure
    finally:
        simulator.configure(drop_after_apply_fraction=0.0)
    # Once the gateway answers, the repeat with the same api_request_key returns the
    # sale the first attempt made: one outcome, one sale.
    (event,) = await outcomes.wait_for(order, 1, timeout=120)
    assert event.event_type == "payment-approved"
    assert len(_sales(simulator, order)) == 1
    notice = next(p for p in outcomes.pending if p.get("order_id") == order)
    assert notice["request_kind"] == "approve" and notice["attempts"] >= 2
