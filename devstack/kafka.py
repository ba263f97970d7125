"""Apache Kafka 4.0 in KRaft combined broker+controller mode, from Maven Central jars.

The data directory is formatted once, on first use, and kept from then on: a restart (after
a crash, or the next `paystream up`) finds every topic, offset and changelog where the
workers' local tables expect them. Whoever wants a clean broker removes the directory.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devstack.jars import SetupError, classpath, java_bin
from devstack.paths import DEVSTACK_DIR, logs_dir
from devstack.ports import free_port
from devstack.process import ManagedProcess, ServerProcessMixin

# Small heap: the broker sits beside a JVM for ElasticMQ and Python workers on 2 cores.
KAFKA_HEAP = "-Xms256m -Xmx768m"
# The local broker serves tests and benchmarks that last seconds to minutes on two cores:
# C1 alone compiles in a fraction of the CPU C2 spends warming up, and serial GC keeps
# G1's concurrent threads off the cores the services under test need.
KAFKA_JIT_GC = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): url-safe base64 of 16 bytes, no padding.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class KafkaServer(ServerProcessMixin):
    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    num_partitions: int = 4
    process: ManagedProcess | None = None
    started_in_s: float = 0.0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _properties(self) -> str:
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.data_dir / 'logs'}",
            f"num.partitions={self.num_partitions}",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            # Tests and the demo start consumer groups constantly; the default 3 s
            # initial rebalance delay would dominate their start-up.
            "group.initial.rebalance.delay.ms=0",
            # A broker restarted after a crash is served again only once the controller
            # has expired its previous session: 9 s by default, which made every broker
            # restart cost ~13 s; with 3 s it costs ~5-6 s on two cores.
            "broker.session.timeout.ms=3000",
            "broker.heartbeat.interval.ms=500",
            "log.segment.bytes=67108864",
            "log.cleaner.backoff.ms=1000",
            "",
        ])

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            java_bin(), *KAFKA_HEAP.split(), *KAFKA_JIT_GC, "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={DEVSTACK_DIR / 'log4j2.properties'}",
            "-cp", classpath("kafka"), main, *args,
        ]

    @property
    def formatted(self) -> bool:
        return (self.data_dir / "logs" / "meta.properties").exists()

    def start(self, timeout: float = 90.0) -> None:
        """Launch and wait until the broker answers metadata requests."""
        began = time.monotonic()
        self.launch()
        self._wait_ready(timeout)
        self.started_in_s = time.monotonic() - began

    def launch(self) -> None:
        """Start the broker on this server's data directory and ports without waiting: the
        first start and every restart after a crash."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text(self._properties())
        if not self.formatted:
            self._format(props)
        if self.process is None:
            self.process = ManagedProcess(
                "kafka", self._java("kafka.Kafka", str(props)),
                logs_dir() / f"kafka-{self.port}.log",
            )
        self.process.start()

    def _format(self, props: Path) -> None:
        fmt = subprocess.run(
            # "=" form: a random id may start with "-", which would parse as an option.
            self._java("kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}",
                       "-c", str(props)),
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise SetupError(f"kafka storage format failed:\n{fmt.stdout}\n{fmt.stderr}")

    def _wait_ready(self, timeout: float) -> None:
        # The probe's connection errors are expected while the broker boots.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if not self.process.alive():
                raise SetupError(f"kafka exited during start-up:\n{self.process.tail()}")
            try:
                asyncio.run(kafka_ready(self.bootstrap))
                logging.getLogger("aiokafka").setLevel(logging.NOTSET)
                return
            except Exception as exc:  # readiness probe: any failure means "not yet"
                last_error = exc
                time.sleep(0.3)
        self.stop()
        raise SetupError(f"kafka not ready after {timeout:.0f}s: {last_error!r}")



async def kafka_ready(bootstrap: str) -> None:
    """Readiness: an admin metadata call succeeds (the broker has joined its own quorum)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    await admin.start()
    try:
        await admin.list_topics()
        cluster = await admin.describe_cluster()
        if not cluster.get("brokers"):
            raise RuntimeError("no broker registered yet")
    finally:
        await admin.close()
