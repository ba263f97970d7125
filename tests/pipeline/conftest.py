"""The platform of the pipeline tests: one simulator per session, a worker and the bridge
per module (same app id, so the second module resumes from committed offsets)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pipeline_helpers import Enqueuer, OutcomeCollector

from devstack.services import ServiceProcess, WorkerProcess
from gateway.simulator.runner import SimulatorHandle, run_simulator


@pytest.fixture(scope="session")
def simulator() -> Iterator[SimulatorHandle]:
    with run_simulator() as sim:
        yield sim


@pytest.fixture(scope="session")
def platform_env(kafka_bootstrap: str, sqs_endpoint: str,
                 simulator: SimulatorHandle) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SQS_ENDPOINT_URL": sqs_endpoint,
        "BRAINTREE_SIMULATOR_URL": simulator.url,
        "PAYSTREAM_WORKER_APP_ID": f"paystream-{uuid.uuid4().hex[:6]}",
        "PAYSTREAM_WORKER_BACKOFF_BASE_S": "0.05",
        "PAYSTREAM_WORKER_BACKOFF_CAP_S": "0.2",
        "BRAINTREE_TIMEOUT_SECONDS": "3",
        # The group is new each session, so "earliest" re-reads only this session's
        # requests; "latest" would skip a request whose first worker died before
        # committing anything (the kill test).
        "PAYSTREAM_WORKER_OFFSET_RESET": "earliest",
    }


# Module scope: other test folders run workers of their own app on the same broker, and
# a worker of this app left running would consume their topics too.
@pytest.fixture(scope="module")
def worker(platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    tmp = tmp_path_factory.mktemp("worker")
    proc = WorkerProcess(platform_env, tmp / "data", tmp / "worker.log")
    proc.start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def bridge(platform_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServiceProcess]:
    log = Path(tmp_path_factory.mktemp("bridge")) / "bridge.log"
    proc = ServiceProcess(["bridge"], platform_env, log).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def enqueuer(sqs_endpoint: str) -> Enqueuer:
    return Enqueuer(sqs_endpoint)


@pytest.fixture
async def outcomes(kafka_bootstrap: str) -> AsyncIterator[OutcomeCollector]:
    collector = OutcomeCollector(kafka_bootstrap)
    await collector.start()
    try:
        yield collector
    finally:
        await collector.stop()
