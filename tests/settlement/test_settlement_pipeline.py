"""Simulator -> edge webhook endpoint -> Kafka -> worker -> orders table, end to end:
settled, settlement declined, a dispute opened and lost, and a partial refund of an
unsettled capture that waits for the settlement webhook and then runs."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from braintree.test.credit_card_numbers import CreditCardNumbers
from fastapi import FastAPI

from api_edge.problems import install_problem_handlers
from api_edge.settings import EdgeSettings
from api_edge.webhooks import WEBHOOK_PATH, install_webhooks
from devstack.ports import free_port
from devstack.services import WorkerProcess
from gateway.notifications import NotificationParser
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.runner import SimulatorHandle, run_simulator
from schemas.codec import json_bytes
from schemas.money import Money
from schemas.payment_request import PaymentRequest
from streams.channels import PAYMENT_REQUESTS


@pytest.fixture(scope="module")
def edge_url(kafka_bootstrap: str) -> Iterator[str]:
    """Only the webhook endpoint of the edge, producing to the test broker."""
    port = free_port()
    app = FastAPI()
    install_problem_handlers(app)
    install_webhooks(app, EdgeSettings(kafka_bootstrap_servers=kafka_bootstrap),
                     parser=NotificationParser())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                          log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "webhook endpoint did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def sim(edge_url: str) -> Iterator[SimulatorHandle]:
    config = SimulatorConfig(webhook_url=edge_url + WEBHOOK_PATH)
    with run_simulator(config=config) as handle:
        handle.configure(webhook_backoff_seconds=0.1)
        yield handle


@pytest.fixture(scope="module")
def worker(kafka_bootstrap: str, sqs_endpoint: str, sim: SimulatorHandle,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    tmp: Path = tmp_path_factory.mktemp("settlement-worker")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SQS_ENDPOINT_URL": sqs_endpoint,
           "BRAINTREE_SIMULATOR_URL": sim.url, "BRAINTREE_TIMEOUT_SECONDS": "3",
           "PAYSTREAM_WORKER_APP_ID": f"paystream-settle-{uuid.uuid4().hex[:6]}",
           "PAYSTREAM_WORKER_OFFSET_RESET": "latest"}
    proc = WorkerProcess(env, tmp / "data", tmp / "worker.log")
    proc.start()
    try:
        proc.wait_ready()
        asyncio.run(until_consuming(proc, kafka_bootstrap))
        yield proc
    finally:
        proc.stop()


async def until_consuming(worker: WorkerProcess, bootstrap: str) -> None:
    """A new consumer group reading from "latest" skips what was produced before it got
    its partitions: probe with small authorizations until one reaches the orders table."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            probe = order_id("probe")
            await producer.send_and_wait(PAYMENT_REQUESTS, json_bytes(payment_request(
                probe, "approve", "1.00", nonce="fake-valid-nonce")), key=probe.encode())
            for _ in range(20):
                if worker.get_json(f"/orders/{probe}")[0] == 200:
                    return
                await asyncio.sleep(0.25)
        raise AssertionError("the worker never consumed payment-requests")
    finally:
        await producer.stop()


def payment_request(order_id: str, kind: str, amount: str | None = None, *,
                    nonce: str | None = None, key: str | None = None) -> PaymentRequest:
    return PaymentRequest(
        payment_id=f"pay-{uuid.uuid4().hex[:8]}",
        idempotency_key=key or f"{order_id}-{kind}-{uuid.uuid4().hex[:6]}",
        order_id=order_id, customer_id="cust-settle", kind=kind,  # type: ignore[arg-type]
        amount=Money.of(amount, "USD") if amount else None,
        payment_method_nonce=nonce if kind == "approve" else None,
        payment_method_type="credit_card" if kind == "approve" else None,
        correlation_id=f"corr-{order_id}", requested_at=datetime.now(UTC),
        requested_by="customer" if kind == "approve" else "merchant")


@pytest.fixture
async def produce(kafka_bootstrap: str) -> AsyncIterator[Callable[..., Any]]:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()

    async def send(order_id: str, kind: str, amount: str | None = None, *,
                   nonce: str | None = None, key: str | None = None) -> None:
        request = payment_request(order_id, kind, amount, nonce=nonce, key=key)
        await producer.send_and_wait(PAYMENT_REQUESTS, json_bytes(request),
                                     key=order_id.encode())

    try:
        yield send
    finally:
        await producer.stop()


def wait_order(worker: WorkerProcess, order_id: str, check: Callable[[dict[str, Any]], bool],
               timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        status, body = worker.get_json(f"/orders/{order_id}")
        if status == 200:
            last = body
            if check(body):
                return dict(body)
        time.sleep(0.2)
    raise AssertionError(f"order {order_id} never got there; last view: {last}")


def dispute_nonce(sim: SimulatorHandle) -> str:
    token = json.loads(base64.b64decode(sim.sdk().client_token.generate()))
    body = json.dumps({"authorization_fingerprint": token["authorizationFingerprint"],
                       "credit_card": {"number": CreditCardNumbers.Disputes.Chargeback,
                                       "expiration_date": "12/2030"}}).encode()
    req = urllib.request.Request(token["clientApiUrl"] + "/v1/payment_methods/credit_cards",
                                 data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return str(json.load(resp)["creditCards"][0]["nonce"])


def order_id(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}"


def is_paid(view: dict[str, Any]) -> bool:
    return bool(view["state"] == "PAID")


async def test_settled_and_settlement_declined_reach_the_order(
        sim: SimulatorHandle, worker: WorkerProcess, produce: Callable[..., Any]) -> None:
    settled, declined = order_id("settled"), order_id("declined")
    for oid, amount in ((settled, "10.00"), (declined, "4001.00")):
        await produce(oid, "approve", amount, nonce="fake-valid-nonce")
        await produce(oid, "deposit")
    view = wait_order(worker, settled, is_paid)
    sim.settle(view["authorization_transaction_id"])
    view = wait_order(worker, settled, lambda v: v["settlement"]["settled"])
    assert view["settlement"]["settled_at"] is not None

    view = wait_order(worker, declined, is_paid)
    sim.sdk().testing.settlement_decline_transaction(view["authorization_transaction_id"])
    view = wait_order(worker, declined, lambda v: v["settlement"]["settlement_declined"])
    assert view["settlement"]["settled"] is False


async def test_dispute_opened_then_lost(sim: SimulatorHandle, worker: WorkerProcess,
                                        produce: Callable[..., Any]) -> None:
    oid = order_id("dispute")
    await produce(oid, "approve", "83.00", nonce=dispute_nonce(sim))
    await produce(oid, "deposit")
    view = wait_order(worker, oid, is_paid)
    sim.settle(view["authorization_transaction_id"])
    view = wait_order(worker, oid, lambda v: v["open_dispute"])
    dispute = view["disputes"][0]
    assert dispute["amount_disputed"] == {"amount": "83.00", "currency": "USD"}
    bt = sim.sdk()
    bt.dispute.add_text_evidence(dispute["dispute_id"], "losing_evidence")
    bt.dispute.finalize(dispute["dispute_id"])
    view = wait_order(worker, oid, lambda v: v["disputes"][0]["state"] == "lost")
    assert view["disputes"][0]["chargeback_amount"] == {"amount": "83.00", "currency": "USD"}
    assert not view["open_dispute"] and view["state"] == "PAID"


async def test_partial_refund_waits_for_settlement_then_runs(
        sim: SimulatorHandle, worker: WorkerProcess, produce: Callable[..., Any]) -> None:
    oid = order_id("deferred")
    await produce(oid, "approve", "50.00", nonce="fake-valid-nonce")
    await produce(oid, "deposit")
    view = wait_order(worker, oid, is_paid)
    await produce(oid, "refund", "20.00")
    view = wait_order(worker, oid, lambda v: v["pending_operation"] is not None)
    assert "waits for capture" in view["pending_operation"]["last_error"]
    assert view["state"] == "PAID"
    sim.settle(view["authorization_transaction_id"])
    view = wait_order(worker, oid, lambda v: v["state"] == "PARTIALLY_REFUNDED")
    assert view["refunded_amount"] == {"amount": "20.00", "currency": "USD"}
    assert view["pending_operation"] is None
    # Checked against the gateway's own ledger: one refund of 20.00 of that capture.
    (refund,) = [t for t in sim.ledger()["refunds"]
                 if t["refunded_transaction_id"] == view["authorization_transaction_id"]]
    assert Money.of(str(refund["amount"]), "USD") == Money.of("20.00", "USD")
