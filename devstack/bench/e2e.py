"""`paystream bench e2e`: time from the edge's 202 to the order state in the order view.

Starts the whole platform (as `paystream up` does, on free ports, simulator at zero
latency), then sends checkouts one at a time at light load and polls the worker's order
view until the order is AUTHORIZED: edge → SQS → bridge → Kafka → executor → simulator →
outcome topic → order table, the full path of a payment.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from devstack.bench.common import emit, machine, percentile
from devstack.platform import Platform


async def _drive(platform: Platform, requests: int, gap_s: float) -> dict[str, Any]:
    info = platform.describe()
    async with httpx.AsyncClient(timeout=10) as http:
        token = (await http.post(info["token_endpoint"], data={
            "grant_type": "password", "client_id": "paystream-shop",
            "username": "shopper1", "password": "shopper1-password"})).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        latencies: list[float] = []
        failures = 0
        for i in range(requests + 5):
            order_id = f"e2e-{uuid.uuid4().hex[:16]}"
            resp = await http.post(f"{platform.edge_url}/v1/checkouts", headers={
                **auth, "Idempotency-Key": uuid.uuid4().hex}, json={
                "order_id": order_id, "amount": {"amount": "10.00", "currency": "USD"},
                "payment_method_nonce": "fake-valid-visa-nonce",
                "payment_method_type": "credit_card"})
            accepted = time.perf_counter()
            if resp.status_code != 202:
                failures += 1
                continue
            deadline = accepted + 10
            while time.perf_counter() < deadline:
                view = await http.get(f"{platform.worker_url}/orders/{order_id}")
                if view.status_code == 200 and view.json()["state"] == "AUTHORIZED":
                    if i >= 5:  # the first few warm up connections and caches
                        latencies.append((time.perf_counter() - accepted) * 1000)
                    break
                await asyncio.sleep(0.002)
            else:
                failures += 1
            await asyncio.sleep(gap_s)
    return {"requests": len(latencies), "failures": failures,
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "max_ms": round(max(latencies), 1) if latencies else None}


def run_e2e_bench(requests: int, gap_ms: float, json_path: Path | None) -> dict[str, Any]:
    platform = Platform(data_dir=Path(tempfile.mkdtemp(prefix="paystream-e2e-")),
                        default_ports=False)
    platform.start()
    try:
        figures = asyncio.run(_drive(platform, requests, gap_ms / 1000))
    finally:
        platform.stop()
    return emit({"benchmark": "e2e", "load": f"one checkout at a time, {gap_ms} ms apart",
                 "simulator_latency_ms": 0, **figures, "machine": machine()}, json_path)
