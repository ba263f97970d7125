"""Order lifecycle, wallets, fulfillment and analytics on two real workers and a real broker.

The tests run in file order and share two workers; the last two take them down on
purpose (fail-over, then local state deleted and rebuilt from the changelogs).
"""

from __future__ import annotations

import re
import shutil
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from tables_helpers import (
    TopicReader,
    call,
    created,
    eventually,
    get,
    order_in_state,
    outcome,
    publish,
    wait_all_ready,
)

from devstack.services import WorkerProcess
from gateway.simulator.runner import SimulatorHandle, run_simulator
from tables.analytics import window_key

RUN = uuid.uuid4().hex[:6]
PMTS = ("credit_card", "paypal", "apple_pay", "google_pay")
NONCES = {"credit_card": "fake-valid-visa-nonce",
          "paypal": "fake-paypal-billing-agreement-nonce",
          "apple_pay": "fake-apple-pay-visa-nonce",
          "google_pay": "fake-android-pay-visa-nonce"}
# Every order this module creates, with the state it must be served in by any worker.
EXPECTED: dict[str, str] = {}


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorHandle]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture(scope="module")
def cluster(kafka_bootstrap: str, simulator: SimulatorHandle,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[WorkerProcess]]:
    tmp = tmp_path_factory.mktemp("tables")
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "BRAINTREE_SIMULATOR_URL": simulator.url,
           "PAYSTREAM_WORKER_APP_ID": f"tables-{RUN}",
           # A fresh group on a broker other tests share: start at the end, so this
           # module's executor does not re-run other modules' payment requests.
           "PAYSTREAM_WORKER_OFFSET_RESET": "latest"}
    workers = [WorkerProcess(env, tmp / f"w{i}", tmp / f"w{i}.log") for i in range(2)]
    for w in workers:
        w.start()
    try:
        for w in workers:
            w.wait_ready()
        wait_all_ready(workers)
        yield workers
    finally:
        for w in workers:
            w.stop()


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="module")
async def reader(kafka_bootstrap: str) -> AsyncIterator[TopicReader]:
    r = TopicReader(kafka_bootstrap, "order-anomalies", "fulfillment-requested")
    await r.start()
    yield r
    await r.stop()


def oid(name: str) -> str:
    return f"o-{RUN}-{name}"


async def served_everywhere(workers: list[WorkerProcess], order_id: str, state: str,
                            history: int | None = None) -> dict[str, Any]:
    bodies = [await order_in_state(w, order_id, state, history) for w in workers]
    assert all(b == bodies[0] for b in bodies)
    EXPECTED[order_id] = state
    return bodies[0]


async def test_full_lifecycle_per_payment_method_type(
        cluster: list[WorkerProcess], producer: AIOKafkaProducer, reader: TopicReader) -> None:
    cc, pp, ap, gp = (oid(p) for p in PMTS)
    await publish(producer,
                  created(cc), created(pp), created(ap), created(gp),
                  # card: paid, refunded in two parts
                  outcome("approved", cc, 1, amount="100.00", authorized_amount="100.00"),
                  outcome("deposited", cc, 2, amount="100.00", captured_amount="100.00"),
                  outcome("refunded", cc, 3, amount="30.00", refunded_amount="30.00"),
                  outcome("refunded", cc, 4, amount="70.00", refunded_amount="100.00"),
                  # PayPal: paid, then reversed before settlement
                  outcome("approved", pp, 1, pmt="paypal", amount="100.00"),
                  outcome("deposited", pp, 2, pmt="paypal", amount="100.00"),
                  outcome("reversed", pp, 3, pmt="paypal"),
                  # Apple Pay: partial capture, partial refund
                  outcome("approved", ap, 1, pmt="apple_pay", amount="100.00"),
                  outcome("deposited", ap, 2, pmt="apple_pay", amount="60.00",
                          captured_amount="60.00", authorized_amount="100.00"),
                  outcome("refunded", ap, 3, pmt="apple_pay", amount="20.00",
                          refunded_amount="20.00"),
                  # Google Pay: a decline, a retry that is authorized, then voided
                  outcome("declined", gp, 1, pmt="google_pay"),
                  outcome("approved", gp, 2, pmt="google_pay", amount="100.00"),
                  outcome("reversed", gp, 3, pmt="google_pay"))

    card = await served_everywhere(cluster, cc, "REFUNDED", history=4)
    assert [(h["from_state"], h["to_state"]) for h in card["history"]] == [
        ("CREATED", "AUTHORIZED"), ("AUTHORIZED", "PAID"), ("PAID", "PARTIALLY_REFUNDED"),
        ("PARTIALLY_REFUNDED", "REFUNDED")]
    assert card["captured_amount"] == {"amount": "100.00", "currency": "USD"}
    assert card["refunded_amount"] == {"amount": "100.00", "currency": "USD"}
    assert card["expected_amount"] == {"amount": "100.00", "currency": "USD"}
    assert card["payment_method_type"] == "credit_card"
    assert card["authorization_transaction_id"] == f"tx-{cc}"
    assert card["anomalies"] == [] and card["pending"] == []

    paypal = await served_everywhere(cluster, pp, "REVERSED", history=3)
    assert paypal["payment_method_type"] == "paypal"
    apple = await served_everywhere(cluster, ap, "PARTIALLY_REFUNDED", history=3)
    assert apple["captured_amount"]["amount"] == "60.00"
    assert apple["authorized_amount"]["amount"] == "100.00"
    assert apple["refunded_amount"]["amount"] == "20.00"
    google = await served_everywhere(cluster, gp, "REVERSED", history=3)
    assert [h["to_state"] for h in google["history"]] == ["DECLINED", "AUTHORIZED", "REVERSED"]

    # Fulfillment: one request per order captured in full; none for the order never
    # captured, nor for the one captured short of its price.
    for order_id in (cc, pp):
        requests = await eventually(lambda o=order_id: _some(reader.of(
            "fulfillment-requested", o)), what=f"fulfillment for {order_id}")
        assert len(requests) == 1
    assert reader.of("fulfillment-requested", gp) == []
    assert reader.of("fulfillment-requested", ap) == []


async def _some(items: list[Any]) -> list[Any] | None:
    return items or None


async def test_failed_authorization(cluster: list[WorkerProcess],
                                    producer: AIOKafkaProducer) -> None:
    order = oid("failed")
    await publish(producer, created(order), outcome("failed", order, 1))
    body = await served_everywhere(cluster, order, "FAILED", history=1)
    assert body["history"][0]["reason"] == "refused"


async def test_deposited_before_approved_ends_paid(
        cluster: list[WorkerProcess], producer: AIOKafkaProducer) -> None:
    order = oid("early-deposit")
    await publish(producer, created(order),
                  outcome("deposited", order, 2, amount="100.00", captured_amount="100.00"))
    held = await order_in_state(cluster[0], order, "CREATED")
    assert held["pending"] == [2]
    await publish(producer, outcome("approved", order, 1, amount="100.00"))
    body = await served_everywhere(cluster, order, "PAID", history=2)
    assert body["pending"] == [] and body["last_sequence"] == 2


async def test_duplicates_are_ignored(cluster: list[WorkerProcess],
                                      producer: AIOKafkaProducer, reader: TopicReader) -> None:
    order = oid("dupes")
    approved = outcome("approved", order, 1, amount="50.00")
    deposited = outcome("deposited", order, 2, amount="50.00")
    await publish(producer, created(order, "50.00"), approved, approved, deposited, approved,
                  deposited, created(order, "50.00"))
    body = await served_everywhere(cluster, order, "PAID", history=2)
    assert body["anomalies"] == []
    await eventually(lambda: _some(reader.of("fulfillment-requested", order)))
    assert len(reader.of("fulfillment-requested", order)) == 1


async def test_impossible_transition_is_recorded_as_an_anomaly(
        cluster: list[WorkerProcess], producer: AIOKafkaProducer, reader: TopicReader) -> None:
    order = oid("anomaly")
    await publish(producer, created(order),
                  outcome("approved", order, 1, amount="100.00"),
                  outcome("refunded", order, 2, amount="10.00"),  # never captured
                  outcome("deposited", order, 3, amount="100.00"))
    body = await served_everywhere(cluster, order, "PAID", history=2)
    assert [(a["event_type"], a["from_state"], a["reason"]) for a in body["anomalies"]] == [
        ("payment-refunded", "AUTHORIZED", "refunded while AUTHORIZED")]
    published = await eventually(lambda: _some(reader.of("order-anomalies", order)))
    assert published[0]["event_id"] == f"ev-{order}-2"
    assert published[0]["reason"] == "refunded while AUTHORIZED"

    total = 0.0
    for worker in cluster:
        text = _metrics(worker)
        match = re.search(r'paystream_order_anomalies_total\{event_type="payment-refunded"\} '
                          r"([0-9.]+)", text)
        total += float(match.group(1)) if match else 0.0
    assert total >= 1


def _metrics(worker: WorkerProcess) -> str:
    with urllib.request.urlopen(worker.url + "/metrics", timeout=5) as resp:
        return resp.read().decode()


async def test_unknown_order_is_a_json_404(cluster: list[WorkerProcess]) -> None:
    for worker in cluster:
        status, body = await get(worker, f"/orders/{oid('nope')}")
        assert status == 404
        assert body["error"]["status"] == 404 and body["error"]["title"] == "Order not found"


async def test_wallet_commands_through_the_views(cluster: list[WorkerProcess]) -> None:
    a, b = cluster
    customer = f"cust-{RUN}"
    assert (await get(a, f"/wallets/{customer}"))[0] == 404
    tokens: dict[str, str] = {}
    for i, pmt in enumerate(PMTS):
        status, method = await call(cluster[i % 2], "POST", f"/wallets/{customer}/methods",
                                    {"nonce": NONCES[pmt], "make_default": pmt == "apple_pay"})
        assert status == 201, method
        assert method["type"] == pmt
        assert NONCES[pmt] not in str(method)
        tokens[pmt] = method["token"]
    for worker in cluster:
        status, wallet = await get(worker, f"/wallets/{customer}")
        assert status == 200
        assert [m["type"] for m in wallet["methods"]] == list(PMTS)
        assert [m["type"] for m in wallet["methods"] if m["is_default"]] == ["apple_pay"]
        card = wallet["methods"][0]
        assert card["card_brand"] == "Visa" and card["last_4"] == "1881"
        assert wallet["methods"][1]["email"]
        status, listed = await get(worker, f"/wallets/{customer}/methods")
        assert status == 200 and listed["methods"] == wallet["methods"]

    card_path = f"/wallets/{customer}/methods/{tokens['credit_card']}"
    status, card = await call(b, "PATCH", card_path,
                              {"make_default": True, "expiration_month": "04",
                               "expiration_year": "2031"})
    assert status == 200, card
    assert card["is_default"] and (card["expiration_month"], card["expiration_year"]) == (
        "04", "2031")
    for worker in cluster:
        status, got = await get(worker, card_path)
        assert status == 200 and got == card
        _, wallet = await get(worker, f"/wallets/{customer}")
        assert [m["type"] for m in wallet["methods"] if m["is_default"]] == ["credit_card"]

    paypal_path = f"/wallets/{customer}/methods/{tokens['paypal']}"
    status, _ = await call(a, "DELETE", paypal_path)
    assert status == 204
    for worker in cluster:
        assert (await get(worker, paypal_path))[0] == 404
    assert (await call(b, "DELETE", paypal_path))[0] == 404
    _, wallet = await get(b, f"/wallets/{customer}")
    assert "paypal" not in [m["type"] for m in wallet["methods"]]

    # Errors are JSON with a clear message.
    status, err = await call(a, "POST", f"/wallets/{customer}/methods", {"make_default": True})
    assert status == 400 and err["error"]["title"] == "Invalid payment method"
    status, err = await call(a, "PATCH", card_path, {})
    assert status == 400 and err["error"]["detail"] == "nothing to update"
    status, err = await call(b, "POST", f"/wallets/{customer}/methods",
                             {"nonce": "fake-consumed-nonce"})
    assert status == 422 and err["error"]["title"] == "Refused by the payment vault"
    status, err = await call(a, "PATCH", f"/wallets/{customer}/methods/nosuchtoken",
                             {"make_default": True})
    assert status == 404 and err["error"]["status"] == 404

    # A retried command with the same Idempotency-Key is answered, not executed again.
    key = {"Idempotency-Key": f"idem-{RUN}"}
    first = await call(a, "POST", f"/wallets/{customer}/methods",
                       {"nonce": NONCES["credit_card"]}, key)
    again = await call(b, "POST", f"/wallets/{customer}/methods",
                       {"nonce": NONCES["credit_card"]}, key)
    assert first[0] == 201 and again == first
    _, wallet = await get(a, f"/wallets/{customer}")
    assert len(wallet["methods"]) == 4
    EXPECTED[f"wallet:{customer}"] = str(len(wallet["methods"]))


async def test_analytics_window_view(cluster: list[WorkerProcess],
                                     producer: AIOKafkaProducer) -> None:
    order = oid("analytics")
    events = [outcome("approved", order, 1, pmt="paypal", amount="7.00"),
              outcome("declined", oid("analytics-2"), 1, pmt="paypal")]
    await publish(producer, *events)
    key = window_key(events[0].occurred_at)

    async def window_has_ours() -> Any:
        status, body = await get(cluster[1], f"/analytics/windows/{key}")
        if status != 200:
            return None
        groups = {(g["event_type"], g["payment_method_type"]): g for g in body["groups"]}
        ok = ("payment-approved", "paypal") in groups and ("payment-declined",
                                                            "paypal") in groups
        return body if ok else None

    body = await eventually(window_has_ours, what="analytics window")
    assert body["authorizations"]["approved"] >= 1
    assert body["authorizations"]["declined"] >= 1
    assert 0 < body["authorizations"]["decline_rate"] < 1
    for worker in cluster:
        status, same = await get(worker, f"/analytics/windows/{key}")
        assert status == 200 and same["window"] == key
        status, recent = await get(worker, "/analytics/recent?minutes=3")
        assert status == 200 and key in [w["window"] for w in recent["windows"]]
    status, err = await get(cluster[0], "/analytics/windows/yesterday")
    assert status == 400 and err["error"]["title"] == "Invalid window"


async def _all_served_by(worker: WorkerProcess) -> None:
    for order_id, state in EXPECTED.items():
        if order_id.startswith("wallet:"):
            customer = order_id.removeprefix("wallet:")

            async def wallet_ok(c: str = customer, n: str = state) -> Any:
                status, body = await get(worker, f"/wallets/{c}")
                return body if status == 200 and str(len(body["methods"])) == n else None

            await eventually(wallet_ok, what=f"wallet {customer}")
        else:
            await order_in_state(worker, order_id, state)


async def test_a_stopped_workers_state_is_served_by_the_other(
        cluster: list[WorkerProcess]) -> None:
    assert len(EXPECTED) >= 8
    survivor, stopped = cluster
    stopped.stop()
    wait_all_ready([survivor])
    await _all_served_by(survivor)


async def test_local_state_deleted_and_rebuilt_from_the_changelog(
        cluster: list[WorkerProcess]) -> None:
    worker = cluster[0]
    worker.stop()
    shutil.rmtree(worker.datadir)
    assert not Path(worker.datadir).exists()
    worker.start()
    worker.wait_ready()
    wait_all_ready([worker])
    await _all_served_by(worker)
