"""Poison records of every kind on every topic the worker consumes end in the dead-letter
topic with their reason, the stream goes on, and `paystream status` counts them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from pipeline_helpers import Enqueuer, OutcomeCollector, new_id, request

from devstack.status import kafka_figures
from streams.channels import (
    ANALYTICS_FACTS,
    ORDER_ANOMALIES,
    ORDER_CREATED,
    OUTCOME_TOPICS,
    PAYMENT_PENDING,
    PAYMENT_REQUESTS,
    WALLET_COMMANDS,
)

pytestmark = pytest.mark.usefixtures("worker")

CONSUMED = (PAYMENT_REQUESTS, ORDER_CREATED, PAYMENT_PENDING, ORDER_ANOMALIES,
            *OUTCOME_TOPICS, WALLET_COMMANDS, ANALYTICS_FACTS)

POISON: dict[str, bytes] = {
    "invalid-json": b'{"order_id": "x", ',
    "binary": bytes(range(256)),
    "missing-fields": b"{}",
    "oversized-field": json.dumps({"order_id": "o" * 100_000, "kind": "approve"}).encode(),
    "wrong-types": json.dumps({"order_id": 7, "amount": [1], "kind": {"x": 1},
                               "sequence": "first", "op": 3}).encode(),
}


async def _produce(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=2_000_000)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


async def test_every_kind_of_poison_on_every_consumed_topic_is_dead_lettered(
        kafka_bootstrap: str, outcomes: OutcomeCollector, enqueuer: Enqueuer) -> None:
    before = (await kafka_figures(kafka_bootstrap))["kafka_dead_letters"]
    keys: dict[str, tuple[str, str]] = {}
    records: list[tuple[str, str, bytes]] = []
    for topic in CONSUMED:
        for kind, value in POISON.items():
            key = new_id("poison")
            keys[key] = (topic, kind)
            records.append((topic, key, value))
    await _produce(kafka_bootstrap, records)

    # The stream goes on: a good payment sent after the poison is processed.
    order = new_id("ord")
    await _produce(kafka_bootstrap, [(PAYMENT_REQUESTS, order,
                                      json.dumps(request("approve", order,
                                                         amount="9.00")).encode())])
    (event,) = await outcomes.wait_for(order, 1, timeout=120)
    assert event.event_type == "payment-approved"

    def parked(topic: str) -> list[dict[str, Any]]:
        return [d for d in outcomes.dead_letters if d.get("source") == topic]

    async with asyncio.timeout(120):
        while True:
            missing = [t for t in CONSUMED if len(parked(t)) < len(POISON)]
            if not missing:
                break
            await asyncio.sleep(0.2)
    for topic in CONSUMED:
        letters = parked(topic)
        assert all(d["reason"] and d["error_type"] for d in letters), letters
        assert all(len(d["payload"].encode()) <= 64 * 1024 for d in letters)
    after = (await kafka_figures(kafka_bootstrap))["kafka_dead_letters"]
    assert after - before >= len(CONSUMED) * len(POISON)
