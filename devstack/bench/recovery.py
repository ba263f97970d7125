"""`paystream bench recovery`: how long a worker with no local state takes to rebuild the
order table from its changelog, and how much memory it holds with the orders loaded.

Starts its own Kafka, lets a first worker create the topics, then writes N orders
(each CREATED -> AUTHORIZED -> PAID through the real state machine, so values have the
size and shape of production ones) straight to the order table's changelog, keyed and
partitioned exactly as the order agent writes them. A second worker then starts with an
empty data directory; its time to ready is the rebuild time (readiness includes "every
table recovered"). A baseline start over empty changelogs is measured too, so the
figure can be read as boot + rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.bench.common import calibration_ms, emit, machine, rss_mb
from devstack.bench.profile import Profiler
from devstack.kafka import KafkaServer
from devstack.services import WorkerProcess
from schemas.money import Money
from schemas.orders import OrderCreated
from schemas.outcomes import outcome_adapter
from tables.order_lifecycle import apply_order_created, apply_outcome
from tables.worker_tables import ORDERS_TABLE

APP_ID = "bench-recovery"
ID_TEMPLATE = "bench-{:010d}"
TARGET_S = 20.0  # issue 16 (was 60 s)
TARGET_RSS_MB = 300.0  # issue 16 (was 500 MB)


def _template_order(order_id: str) -> bytes:
    """A PAID order as the agent stores it; other orders differ only in their id."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    amount = Money.of("129.99", "USD")
    order = apply_order_created(None, OrderCreated(
        event_id=f"created-{order_id}", order_id=order_id, customer_id="cust-bench",
        amount=amount, correlation_id=f"corr-{order_id}", occurred_at=t0))
    for seq, (name, kind) in enumerate((("approved", "approve"), ("deposited", "deposit")), 1):
        event = outcome_adapter.validate_python({
            "event_id": f"ev-{order_id}-{seq}", "event_type": f"payment-{name}",
            "order_id": order_id, "customer_id": "cust-bench", "payment_id": f"pay-{order_id}",
            "idempotency_key": f"key-{order_id}-{seq}", "request_kind": kind,
            "sequence": seq, "transaction_id": f"tx-{order_id}", "amount": amount,
            "authorized_amount": amount, "captured_amount": amount if seq == 2 else None,
            "payment_method_type": "credit_card", "correlation_id": f"corr-{order_id}",
            "occurred_at": t0 + timedelta(seconds=seq)})
        order = apply_outcome(order, event).order
    return order.model_dump_json().encode("utf-8")


async def _seed(bootstrap: str, topic: str, orders: int) -> dict[str, Any]:
    placeholder = ID_TEMPLATE.format(0)
    template = _template_order(placeholder)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024, compression_type=None)
    await producer.start()
    began = time.monotonic()
    try:
        pending = []
        for i in range(1, orders + 1):
            order_id = ID_TEMPLATE.format(i)
            value = template.replace(placeholder.encode(), order_id.encode())
            pending.append(await producer.send(topic, value, key=order_id.encode()))
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return {"seed_s": round(time.monotonic() - began, 2), "value_bytes": len(template),
            "changelog_mb": round(orders * len(template) / 2**20, 1)}


class _PeakRss:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            # The process may be gone or still starting: then there is nothing to sample.
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, rss_mb(self.pid))
            self._stop.wait(0.25)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _timed_start(env: dict[str, str], datadir: Path, log: Path,
                 profile: dict[str, Any] | None = None) -> tuple[WorkerProcess, float, float]:
    """Start a worker and time it to ready; with `profile` ({"path": Path}), py-spy
    samples it from start to ready and the breakdown is added to `profile`."""
    worker = WorkerProcess(env, datadir, log)
    began = time.monotonic()
    worker.start()
    assert worker.proc is not None
    profiler = Profiler(worker.proc.pid, profile["path"]).start() if profile else None
    with _PeakRss(worker.proc.pid) as peak:
        worker.wait_ready(timeout=900)
    elapsed = round(time.monotonic() - began, 2)
    if profiler is not None and profile is not None:
        profile.update(profiler.stop())
        profile["path"] = str(profile["path"])
    return worker, elapsed, peak.peak


async def raw_read_s(bootstrap: str, topic: str, records: int) -> float:
    """Seconds a bare aiokafka consumer takes to read `records` of `topic` and parse each
    value as JSON: the floor of any Python rebuild of the table on this machine, measured
    in the same run so the rebuild's figure is also a ratio."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    try:
        began = time.perf_counter()
        done = 0
        while done < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            for recs in batch.values():
                for rec in recs:
                    json.loads(rec.value)
                done += len(recs)
        return round(time.perf_counter() - began, 2)
    finally:
        await consumer.stop()


def run_recovery_bench(orders: int = 100_000, json_path: Path | None = None,
                       partitions: int = 4, profile_path: Path | None = None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="paystream-bench-recovery-"))
    kafka = KafkaServer(tmp / "kafka")
    kafka.start()
    try:
        env = {"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "PAYSTREAM_WORKER_APP_ID": APP_ID,
               "PAYSTREAM_WORKER_PARTITIONS": str(partitions)}
        # First start creates every topic, changelogs included.
        first, _, _ = _timed_start(env, tmp / "w0", tmp / "w0.log")
        first.stop()
        baseline, baseline_s, _ = _timed_start(env, tmp / "w1", tmp / "w1.log")
        assert baseline.proc is not None
        # What the worker holds with no orders: the loaded figure minus this is the table's.
        baseline_mb = rss_mb(baseline.proc.pid)
        baseline.stop()

        changelog = f"{APP_ID}-{ORDERS_TABLE}-changelog"
        seeded = asyncio.run(_seed(kafka.bootstrap, changelog, orders))
        calibration = [calibration_ms()]
        raw_s = asyncio.run(raw_read_s(kafka.bootstrap, changelog, orders))

        profile = {"path": profile_path} if profile_path is not None else None
        worker, ready_s, peak_mb = _timed_start(env, tmp / "w2", tmp / "w2.log", profile)
        try:
            assert worker.proc is not None
            loaded_mb = rss_mb(worker.proc.pid)
            sample = random.Random(7).sample(range(1, orders + 1), min(50, orders))
            served = 0
            for i in sample:
                status, body = worker.get_json(f"/orders/{ID_TEMPLATE.format(i)}")
                served += status == 200 and body["state"] == "PAID"
        finally:
            worker.stop()
        calibration.append(calibration_ms())

        result = {
            "benchmark": "recovery",
            "orders": orders,
            "partitions": partitions,
            **seeded,
            "baseline_ready_s": baseline_s,
            "rebuild_ready_s": ready_s,
            "rebuild_minus_baseline_s": round(ready_s - baseline_s, 2),
            "raw_aiokafka_read_and_parse_s": raw_s,
            "rebuild_over_raw_read": round((ready_s - baseline_s) / raw_s, 2) if raw_s else None,
            "calibration_ms_before_after": calibration,
            **({"worker_profile": profile} if profile else {}),
            "rss_baseline_mb": baseline_mb,
            "rss_loaded_mb": loaded_mb,
            "rss_peak_mb": peak_mb,
            "sample_served": f"{served}/{len(sample)}",
            "target": {"rebuild_s": TARGET_S, "rss_mb": TARGET_RSS_MB},
            "meets_target": ready_s < TARGET_S and max(loaded_mb, peak_mb) < TARGET_RSS_MB
            and served == len(sample),
            "machine": machine(),
        }
        return emit(result, json_path)
    finally:
        kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - manual runs
    import sys

    run_recovery_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000,
                       Path(sys.argv[2]) if len(sys.argv) > 2 else None)
