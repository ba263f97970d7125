"""`paystream bench executor`: throughput and latency of the executor agent.

Starts its own Kafka, a simulator answering after L ms, and one worker with an in-flight
cap of C; produces N payment requests straight to `payment-requests` (approvals for N/2
orders, then a deposit for each, as a shop's checkouts and later captures would) and
times each request from produce to its outcome event. Little's law bounds the rate at
C / L. The same machine's raw aiokafka consume-and-produce rate is measured for scale.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from devstack.bench.common import (
    calibration_wall_and_cpu_ms,
    cpu_seconds,
    emit,
    histogram_totals,
    machine,
    percentile,
    rss_mb,
)
from devstack.bench.profile import Profiler
from devstack.kafka import KafkaServer
from devstack.services import WorkerProcess
from gateway.simulator.config import SimulatorConfig
from gateway.simulator.runner import run_simulator
from streams.channels import OUTCOME_TOPICS, PAYMENT_REQUESTS
from streams.provision import ensure_topics
from streams.settings import ALL_ROLES

PARTITIONS = 4


def _request(kind: str, order_id: str, amount: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "payment_id": uuid.uuid4().hex, "idempotency_key": uuid.uuid4().hex,
        "order_id": order_id, "customer_id": "bench", "kind": kind,
        "correlation_id": uuid.uuid4().hex, "requested_at": datetime.now(UTC).isoformat(),
    }
    if amount is not None:
        body["amount"] = {"amount": amount, "currency": "USD"}
    if kind == "approve":
        body["payment_method_nonce"] = "fake-valid-visa-nonce"
        body["payment_method_type"] = "credit_card"
    return body


async def _outcome_consumer(bootstrap: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, fetch_max_wait_ms=20)
    await consumer.start()
    parts = [TopicPartition(t, p) for t in OUTCOME_TOPICS for p in range(PARTITIONS)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)
    return consumer


async def drive(bootstrap: str, requests: int) -> dict[str, Any]:
    orders = [f"bench-{uuid.uuid4().hex[:16]}" for _ in range(max(1, requests // 2))]
    bodies = [_request("approve", o, "25.00") for o in orders]
    bodies += [_request("deposit", o, None) for o in orders][: requests - len(bodies)]
    consumer = await _outcome_consumer(bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    outcomes: dict[str, list[tuple[int, str]]] = {}
    try:
        began = time.perf_counter()
        futures = []
        for body in bodies:
            sent_at[body["idempotency_key"]] = time.perf_counter()
            futures.append(await producer.send(PAYMENT_REQUESTS, json.dumps(body).encode(),
                                               key=body["order_id"].encode()))
        await asyncio.gather(*futures)
        last = began
        # Generous: on a saturated shared machine the rate can fall to tens per second.
        async with asyncio.timeout(max(300, requests / 5)):
            while len(latencies) < len(bodies):
                batch = await consumer.getmany(timeout_ms=200)
                now = time.perf_counter()
                for records in batch.values():
                    for rec in records:
                        event = json.loads(rec.value)
                        key = event["idempotency_key"]
                        if key in sent_at:
                            latencies.append((now - sent_at.pop(key)) * 1000)
                            outcomes.setdefault(event["order_id"], []).append(
                                (event["sequence"], event["event_type"]))
                            last = now
        elapsed = last - began
    finally:
        await producer.stop()
        await consumer.stop()
    expected = ["payment-approved", "payment-deposited"]
    in_order = all([t for _, t in sorted(v)] == expected[: len(v)] for v in outcomes.values())
    return {
        "requests": len(bodies), "elapsed_s": round(elapsed, 3),
        "payments_per_s": round(len(bodies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "per_order_order_preserved": in_order,
        "non_success_outcomes": sum(1 for v in outcomes.values() for _, t in v
                                    if t not in expected),
    }


async def raw_kafka_rate(bootstrap: str, messages: int) -> float:
    """aiokafka consume-and-produce (acks=all) of `messages` 600-byte records."""
    src, dst = f"bench-raw-in-{uuid.uuid4().hex[:6]}", f"bench-raw-out-{uuid.uuid4().hex[:6]}"
    await ensure_topics(bootstrap, PARTITIONS, names=(src, dst))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    payload = b"x" * 600
    futs = [await producer.send(src, payload, key=str(i).encode()) for i in range(messages)]
    await asyncio.gather(*futs)
    consumer = AIOKafkaConsumer(src, bootstrap_servers=bootstrap, group_id=uuid.uuid4().hex,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        done = 0
        began = time.perf_counter()
        while done < messages:
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            sends = [await producer.send(dst, r.value, key=r.key)
                     for records in batch.values() for r in records]
            await asyncio.gather(*sends)
            if sends:
                await consumer.commit()
            done += len(sends)
        return round(messages / (time.perf_counter() - began), 1)
    finally:
        await consumer.stop()
        await producer.stop()


def _wait_balanced(fleet: list[WorkerProcess], timeout: float = 60) -> None:
    """With several workers, wait until the group has settled (every worker ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(w.is_ready() for w in fleet):
            time.sleep(2)  # one more rebalance may still follow the last join
            if all(w.is_ready() for w in fleet):
                return
        time.sleep(0.5)


def ceiling_with_a_free_worker(cpu_ms_per_payment: dict[str, float], cores: int
                               ) -> float | None:
    """Payments/s this machine allows if the worker's CPU were zero: Kafka and the
    simulator share its cores with the worker, and their CPU per payment (same run) caps
    the rate whatever the worker does. Beside `raw_kafka_per_s` it says how much of the
    L=0 ratio the executor can still move."""
    others = cpu_ms_per_payment.get("kafka", 0.0) + cpu_ms_per_payment.get("simulator", 0.0)
    return round(cores * 1000 / others, 1) if others > 0 else None


def _mean_gateway_ms(worker: WorkerProcess) -> float | None:
    """Mean gateway call time as the worker saw it (SDK + HTTP + simulator latency)."""
    total, count = histogram_totals(f"{worker.url}/metrics", "paystream_gateway_call_seconds")
    return round(total / count * 1000, 1) if count else None


def run_executor_bench(latency_ms: float, in_flight: int, requests: int,
                       json_path: Path | None, workers: int = 1,
                       roles: tuple[str, ...] = ALL_ROLES,
                       profile_path: Path | None = None) -> dict[str, Any]:
    """C is the total in-flight cap; with W workers each gets C / W slots. With
    `profile_path`, py-spy samples the (first) worker during the run and the result gets
    its breakdown by stage; the collapsed stacks are written there."""
    if in_flight % workers:
        raise ValueError("--in-flight must be a multiple of --workers")
    tmp = Path(tempfile.mkdtemp(prefix="paystream-bench-"))
    kafka = KafkaServer(tmp / "kafka", num_partitions=PARTITIONS)
    kafka.start()
    try:
        asyncio.run(ensure_topics(kafka.bootstrap, PARTITIONS))
        raw = asyncio.run(raw_kafka_rate(kafka.bootstrap, requests))
        with run_simulator(config=SimulatorConfig(latency_ms=latency_ms)) as sim:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
                "BRAINTREE_SIMULATOR_URL": sim.url,
                "PAYSTREAM_WORKER_IN_FLIGHT": str(in_flight // workers),
                "PAYSTREAM_WORKER_PARTITIONS": str(PARTITIONS),
                "PAYSTREAM_WORKER_APP_ID": f"bench-{uuid.uuid4().hex[:6]}",
                "BRAINTREE_MAX_WORKERS": str(max(in_flight, 8)),
                "PAYSTREAM_WORKER_ROLES": json.dumps(roles),
            }
            fleet = [WorkerProcess(env, tmp / f"worker{i}", tmp / f"worker{i}.log")
                     for i in range(workers)]
            for worker in fleet:
                worker.start()
            try:
                for worker in fleet:
                    worker.wait_ready()
                _wait_balanced(fleet)
                # CPU per payment is the figure that survives a noisy shared machine:
                # throughput moves with steal time, the work done per payment does not.
                pids = {"worker": [w.proc.pid for w in fleet if w.proc is not None],
                        "simulator": [sim.process.pid],
                        "kafka": [kafka.process.pid] if kafka.process else []}
                before = {k: sum(cpu_seconds(p) for p in v) for k, v in pids.items()}
                wall, cpu = calibration_wall_and_cpu_ms()
                calibration, calibration_cpu = [wall], [cpu]
                profiler = (Profiler(pids["worker"][0], profile_path).start()
                            if profile_path is not None else None)
                try:
                    figures = asyncio.run(drive(kafka.bootstrap, requests))
                finally:
                    profile = profiler.stop() if profiler is not None else None
                if profile is not None:
                    figures["worker_profile"] = profile
                wall, cpu = calibration_wall_and_cpu_ms()
                calibration.append(wall)
                calibration_cpu.append(cpu)
                figures["calibration_ms_before_after"] = calibration
                figures["calibration_cpu_ms_before_after"] = calibration_cpu
                figures["cpu_ms_per_payment"] = {
                    k: round((sum(cpu_seconds(p) for p in v) - before[k]) * 1000 / requests, 3)
                    for k, v in pids.items()}
                means = [m for m in (_mean_gateway_ms(w) for w in fleet) if m is not None]
                figures["gateway_call_mean_ms"] = round(sum(means) / len(means), 1)
                worker_rss = sum(rss_mb(w.proc.pid) for w in fleet if w.proc is not None)
            finally:
                for worker in fleet:
                    worker.stop()
    finally:
        kafka.stop()
    littles = in_flight / (latency_ms / 1000) if latency_ms > 0 else None
    ceiling = ceiling_with_a_free_worker(figures["cpu_ms_per_payment"], os.cpu_count() or 1)
    result = {
        "benchmark": "executor", "latency_ms": latency_ms, "in_flight": in_flight,
        "workers": workers, "worker_roles": list(roles),
        **figures,
        "littles_limit_per_s": round(littles, 1) if littles else None,
        "ratio_to_littles_limit": (round(figures["payments_per_s"] / littles, 3)
                                   if littles else None),
        "raw_kafka_per_s": raw,
        "ratio_to_raw_kafka": round(figures["payments_per_s"] / raw, 3),
        "ceiling_with_a_free_worker_per_s": ceiling,
        "ceiling_ratio_to_raw_kafka": round(ceiling / raw, 3) if ceiling else None,
        "worker_rss_mb": worker_rss,
        "machine": machine(),
    }
    return emit(result, json_path)
