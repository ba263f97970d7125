"""ElasticMQ: an SQS-protocol server, with the payment FIFO queue and its dead-letter queue.

In memory by default (tests, benchmarks); with `persist=True` queues and messages live in an
H2 database in the data directory, so a restart (after a crash, or the next `paystream up`)
still holds every message that was not yet deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3

from devstack.jars import SetupError, classpath, java_bin
from devstack.paths import DEVSTACK_DIR, logs_dir
from devstack.ports import free_port
from devstack.process import ManagedProcess, ServerProcessMixin
from streams.channels import MAX_RECEIVE_COUNT, PAYMENT_DLQ, PAYMENT_QUEUE, VISIBILITY_TIMEOUT_S


def sqs_client(endpoint_url: str):  # type: ignore[no-untyped-def]
    """A boto3 SQS client for the local server (any credentials are accepted there)."""
    return boto3.client(
        "sqs", endpoint_url=endpoint_url, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )


@dataclass
class ElasticMQServer(ServerProcessMixin):
    data_dir: Path
    port: int = field(default_factory=free_port)
    persist: bool = False
    process: ManagedProcess | None = None
    started_in_s: float = 0.0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _storage(self) -> str:
        if not self.persist:
            return ""
        # WRITE_DELAY=0: H2 writes each commit at once, so a message SQS acknowledged
        # survives a SIGKILL of the server.
        return f"""messages-storage {{
  enabled = true
  uri = "jdbc:h2:{self.data_dir / 'messages'};WRITE_DELAY=0"
}}
"""

    def _config(self) -> str:
        return f"""include classpath("application.conf")
node-address {{ protocol = http, host = 127.0.0.1, port = {self.port}, context-path = "" }}
rest-sqs {{
  enabled = true, bind-port = {self.port}, bind-hostname = "127.0.0.1", sqs-limits = strict
}}
rest-stats {{ enabled = false }}
aws {{ region = us-east-1, accountId = 000000000000 }}
queues {{
  "{PAYMENT_DLQ}" {{
    fifo = true
    contentBasedDeduplication = false
  }}
  "{PAYMENT_QUEUE}" {{
    fifo = true
    contentBasedDeduplication = false
    defaultVisibilityTimeout = {VISIBILITY_TIMEOUT_S} seconds
    receiveMessageWait = 0 seconds
    deadLettersQueue {{
      name = "{PAYMENT_DLQ}"
      maxReceiveCount = {MAX_RECEIVE_COUNT}
    }}
  }}
}}
{self._storage()}"""

    def start(self, timeout: float = 60.0) -> None:
        """Launch and wait until the payment queue answers."""
        began = time.monotonic()
        self.launch()
        self._wait_ready(timeout)
        self.started_in_s = time.monotonic() - began

    def launch(self) -> None:
        """Start the server on this data directory and port without waiting: the first
        start and every restart after a crash."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "elasticmq.conf"
        conf.write_text(self._config())
        argv = [
            # A local stand-in for SQS, run for minutes at a time: C1 alone reaches its
            # steady state within seconds (C2 spent more CPU compiling during a whole
            # 40-second benchmark than it saved), and serial GC keeps G1's concurrent threads
            # off the two cores the services under test need.
            java_bin(), "-Xms256m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dconfig.file={conf}",
            f"-Dlogback.configurationFile={DEVSTACK_DIR / 'elasticmq-logback.xml'}",
            "-cp", classpath("elasticmq"), "org.elasticmq.server.Main",
        ]
        if self.process is None:
            self.process = ManagedProcess("elasticmq", argv,
                                          logs_dir() / f"elasticmq-{self.port}.log")
        self.process.start()

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        client = sqs_client(self.endpoint_url)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise SetupError(f"elasticmq exited during start-up:\n{self.process.tail()}")
            try:
                client.get_queue_url(QueueName=PAYMENT_QUEUE)
                return
            except Exception as exc:  # readiness probe
                last = exc
                time.sleep(0.2)
        self.stop()
        raise SetupError(f"elasticmq not ready after {timeout:.0f}s: {last!r}")

