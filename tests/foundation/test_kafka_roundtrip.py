"""aiokafka against the real broker: a consumer-group round trip and a compacted topic."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType


async def _consume(bootstrap: str, topic: str, group: str, count: int) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    got.extend((r.key, r.value) for r in records)  # type: ignore[misc]
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def _consume_to_end(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        got: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(30):
            while await consumer.position(tp) < end:
                batch = await consumer.getmany(tp, timeout_ms=500)
                got.extend((r.key, r.value) for r in batch.get(tp, []))  # type: ignore[misc]
        return got
    finally:
        await consumer.stop()


async def test_produce_consume_through_consumer_group(kafka_bootstrap: str) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=f"order-{i % 3}".encode())
    finally:
        await producer.stop()

    got = await _consume(kafka_bootstrap, topic, group, 10)
    assert sorted(v for _, v in got) == sorted(f"v{i}".encode() for i in range(10))
    # Per-key order is what the product relies on: keyed messages share a partition.
    for key in (b"order-0", b"order-1", b"order-2"):
        values = [int(v[1:]) for k, v in got if k == key]
        assert values == sorted(values)

    # The committed group offset means a restarted member sees nothing already consumed.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        leftover = await consumer.getmany(timeout_ms=2000)
        assert sum(len(r) for r in leftover.values()) == 0
    finally:
        await consumer.stop()


async def test_compacted_topic_keeps_latest_value_per_key(kafka_bootstrap: str) -> None:
    topic = f"compacted-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1, topic_configs={
            "cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
            "delete.retention.ms": "100"})])
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {e[0]: e[1] for e in described[0].resources[0][4]}
        assert entries["cleanup.policy"] == "compact"
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for round_ in range(3):
            for key in ("a", "b"):
                await producer.send_and_wait(topic, f"{key}{round_}".encode(), key=key.encode())
            await asyncio.sleep(0.2)
        await producer.send_and_wait(topic, b"x", key=b"c")
    finally:
        await producer.stop()

    # Reading a compacted topic to its end into a dict is how a table restores from its
    # changelog: whether or not the cleaner has run yet, the last value per key wins.
    got = await _consume_to_end(kafka_bootstrap, topic)
    assert len(got) <= 7
    latest: dict[bytes, bytes] = {}
    for key, value in got:
        latest[key] = value
    assert latest[b"a"] == b"a2"
    assert latest[b"b"] == b"b2"
