"""SQS FIFO -> Kafka (`order-created`, `payment-requests`), never losing and never
reordering an order.

A message is deleted from SQS only after Kafka acknowledged it (acks=all, idempotent
producer): a crash at any point means redelivery, never loss. The executor tolerates the
resulting duplicates by idempotency key. A message that fails validation is copied to the
dead-letter queue with its reason and deleted, so it never blocks the rest of its group.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from bridge_sqs import metrics
from bridge_sqs.ordering import group_id, in_group_order, topic_of
from bridge_sqs.settings import BridgeSettings
from bridge_sqs.sqs_client import SqsJsonClient
from bridge_sqs.validation import Accepted, Rejected, validate_message
from schemas.dead_letter import REASON_MAX_BYTES, REDACTED, redact, truncate_utf8
from streams.channels import QUEUED_TOPICS
from streams.logs import get_logger
from streams.provision import ensure_topics

log = get_logger("paystream.bridge")

CORRELATION_ATTRIBUTE = "correlation_id"


class SqsKafkaBridge:
    def __init__(self, settings: BridgeSettings | None = None) -> None:
        self.settings = settings or BridgeSettings()
        self._sqs: SqsJsonClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self.queue_url = ""
        self.dlq_url = ""
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        s = self.settings
        self._sqs = SqsJsonClient(s.sqs_endpoint_url, s.aws_region,
                                  timeout_seconds=s.sqs_timeout_s,
                                  max_connections=s.receivers * 2 + 2)
        self.queue_url = await self._sqs.get_queue_url(s.queue_name)
        self.dlq_url = await self._sqs.get_queue_url(s.dead_letter_queue_name)
        await ensure_topics(s.kafka_bootstrap_servers, s.partitions, names=QUEUED_TOPICS)
        self._producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers, acks="all", enable_idempotence=True,
            linger_ms=2,
        )
        await self._producer.start()

    async def stop(self) -> None:
        self._stopping.set()
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._sqs is not None:
            await self._sqs.aclose()
            self._sqs = None

    def request_stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Poll until stopped; each receiver finishes its batch before returning."""
        receivers = [asyncio.create_task(self._receive_loop(i))
                     for i in range(self.settings.receivers)]
        depth = asyncio.create_task(self._depth_loop())
        try:
            await self._stopping.wait()
        finally:
            await asyncio.gather(*receivers, return_exceptions=True)
            depth.cancel()

    async def _receive_loop(self, _: int) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # a failed poll must not end the bridge
                log.error("bridge_poll_failed", error=type(exc).__name__, detail=str(exc))
                await asyncio.sleep(1.0)

    async def _depth_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                for name, url in (("source", self.queue_url), ("dlq", self.dlq_url)):
                    attrs = await self._client().get_queue_attributes(
                        url, ["ApproximateNumberOfMessages"])
                    metrics.QUEUE_DEPTH.labels(name).set(int(attrs["ApproximateNumberOfMessages"]))
            except Exception as exc:  # metrics only; never fatal
                log.warning("queue_depth_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.queue_depth_interval_s)

    async def run_once(self) -> int:
        """One receive + forward + delete round; returns the number of messages handled."""
        s = self.settings
        messages = await self._client().receive_messages(
            self.queue_url, max_messages=s.batch_size, wait_seconds=s.wait_time_s,
            attribute_names=("MessageGroupId", "ApproximateReceiveCount"),
        )
        if not messages:
            return 0
        began = time.perf_counter()
        metrics.RECEIVED.inc(len(messages))
        # Groups (orders) go out concurrently; within one, strictly one after the other.
        handled = await asyncio.gather(*(self._forward_group(group)
                                         for group in in_group_order(messages)))
        await self._delete([msg for done in handled for msg in done])
        metrics.FORWARD_LATENCY.observe(time.perf_counter() - began)
        return len(messages)

    async def _forward_group(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Forward one order's messages in order; returns those to delete from SQS.

        At the first message Kafka does not acknowledge the group stops: that message and
        every later one stay on SQS, become visible again together and come back in order,
        so a later request never reaches Kafka before an earlier one.
        """
        assert self._producer is not None
        done: list[dict[str, Any]] = []
        for position, msg in enumerate(messages):
            verdict = validate_message(msg["Body"], group_id(msg), topic_of(msg))
            if isinstance(verdict, Rejected):
                await self._dead_letter(msg, verdict.reason)
                done.append(msg)
                continue
            assert isinstance(verdict, Accepted)
            headers = [("correlation_id", verdict.correlation_id.encode())]
            try:
                # One partition per order keeps the order in Kafka too.
                sent = await self._producer.send(verdict.topic, verdict.body,
                                                 key=verdict.order_id.encode(),
                                                 headers=headers)
                await sent
            except Exception as exc:
                metrics.KAFKA_ERRORS.inc()
                log.error("kafka_send_failed", message_id=msg["MessageId"],
                          error=type(exc).__name__, held_back=len(messages) - position - 1)
                break
            metrics.FORWARDED.inc()
            done.append(msg)
        return done

    async def _dead_letter(self, msg: dict[str, Any], reason: str) -> None:
        metrics.REJECTED.inc()
        group = msg.get("Attributes", {}).get("MessageGroupId") or "invalid"
        log.warning("message_dead_lettered", message_id=msg["MessageId"], reason=reason)
        # Redacted like the Kafka dead letters: people and tools read this queue, so no
        # nonce or vault token goes there (a replayed approve needs a fresh nonce anyway).
        await self._client().send_message(
            self.dlq_url, truncate_utf8(redact(msg["Body"])) or REDACTED, group_id=group,
            dedup_id=msg["MessageId"],
            attributes={"reason": truncate_utf8(redact(reason), REASON_MAX_BYTES),
                        "source_queue": self.settings.queue_name},
        )

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            if not chunk:
                continue
            failed = await self._client().delete_message_batch(
                self.queue_url, [m["ReceiptHandle"] for m in chunk])
            for failure in failed:
                # Already forwarded; redelivery is a harmless duplicate for the executor.
                log.warning("sqs_delete_failed", code=failure.get("Code"))

    def _client(self) -> SqsJsonClient:
        if self._sqs is None:
            raise RuntimeError("the bridge is not started")
        return self._sqs
