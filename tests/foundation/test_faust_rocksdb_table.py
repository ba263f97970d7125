"""A real Faust worker with a RocksDB table: the agent updates it and the state survives
a stop and start of the worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from devstack.ports import free_port

HERE = Path(__file__).parent


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "faust", "-A", "faust_counter_app", "worker", "-l", "warn"],
        cwd=HERE, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _count(port: int, word: str) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/counts/{word}", timeout=2) as resp:
            return int(json.loads(resp.read())["count"])
    except OSError:
        return None


def _wait_count(proc: subprocess.Popen[bytes], port: int, word: str, expected: int,
                timeout: float = 90) -> int | None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline and proc.poll() is None:
        last = _count(port, word)
        if last == expected:
            return last
        time.sleep(0.5)
    return last


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def test_rocksdb_table_state_survives_worker_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    topic = f"words-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
           "FAUST_DATADIR": str(tmp_path / "faust"), "FAUST_WEB_PORT": str(port),
           "COUNTER_TOPIC": topic, "PYTHONPATH": str(HERE)}
    log = tmp_path / "worker.log"

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for word in ["apple", "apple", "pear", "apple"]:
            encoded = json.dumps(word).encode()
            await producer.send_and_wait(topic, encoded, key=encoded)
    finally:
        await producer.stop()

    worker = _start_worker(env, log)
    try:
        assert _wait_count(worker, port, "apple", 3) == 3, log.read_text()[-3000:]
        assert _count(port, "pear") == 1
    finally:
        _stop(worker)

    rocks_files = list((tmp_path / "faust").rglob("*.sst")) + list(
        (tmp_path / "faust").rglob("CURRENT"))
    assert rocks_files, "the table was not stored in RocksDB"

    worker = _start_worker(env, log)
    try:
        # No new events: the counts come back from the worker's stored state.
        assert _wait_count(worker, port, "apple", 3) == 3, log.read_text()[-3000:]
        assert _count(port, "pear") == 1
    finally:
        _stop(worker)
