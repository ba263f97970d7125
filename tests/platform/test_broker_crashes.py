"""Kafka and ElasticMQ are supervised by `paystream up` like the Python services: SIGKILL
either, and it comes back on the same data directory and port, and checkouts go through
again."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from platform_helpers import (
    Running,
    demo_orders,
    run_demo,
    start_platform,
    wait_for,
    worker_ready,
)

from devstack.kafka import kafka_ready
from devstack.sqs import sqs_client
from streams.channels import PAYMENT_QUEUE


def _serving(component: str, address: str) -> bool:
    try:
        if component == "kafka":
            asyncio.run(kafka_ready(address))
        else:
            sqs_client(address).get_queue_url(QueueName=PAYMENT_QUEUE)
    except Exception:  # a readiness probe: any failure means "not yet"
        return False
    return True


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start_platform(tmp_path_factory.mktemp("broker-crashes"))
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize("component", ["kafka", "elasticmq"])
def test_a_killed_broker_is_restarted_and_payments_resume(
    platform: Running, component: str,
) -> None:
    before = platform.state()
    pid = before["pids"][component]
    address = before["kafka"] if component == "kafka" else before["sqs"]
    orders_before = len(demo_orders(before))
    os.killpg(pid, signal.SIGKILL)

    def restarted() -> bool:
        state = platform.state()
        new = state["pids"].get(component)
        return bool(state["restarts"].get(component) == before["restarts"][component] + 1
                    and new and new != pid and psutil.pid_exists(new))

    wait_for(restarted, 60, f"{component} restarted")
    after = platform.state()
    # Same address: the services' clients reconnect to where they were.
    assert (after["kafka"] if component == "kafka" else after["sqs"]) == address
    assert '"component_restarted"' in platform.out_path.read_text()
    wait_for(lambda: _serving(component, address), 60, f"{component} serving again")
    wait_for(lambda: worker_ready(after["worker_views"]), 120, "worker ready again")

    demo = run_demo(platform)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    # The demo itself checks each of its orders against the ledger; here: new ones exist.
    assert len(demo_orders(after)) > orders_before
    # Nothing else had to be restarted to get there.
    assert all(n == 0 for name, n in after["restarts"].items() if name != component
               and name not in ("kafka", "elasticmq")), after["restarts"]


def test_the_data_directory_holds_every_component_state(platform: Running) -> None:
    data = Path(platform.state()["data"])
    assert (data / "kafka" / "logs" / "meta.properties").exists()
    assert list((data / "elasticmq").glob("messages*.db"))
    assert (data / "worker").is_dir()
    assert (data / "simulator" / "ledger.json").exists()
