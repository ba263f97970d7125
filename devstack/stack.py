"""The local stack (Kafka + ElasticMQ) as a Python API and as a detached set of servers.

Tests use `LocalStack` as a context manager. `paystream stack up` starts the same servers
detached and records them in a state file so `stack status` / `stack down` work from
another shell.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from devstack.kafka import KafkaServer
from devstack.paths import stack_dir
from devstack.process import group_alive, stop_group
from devstack.sqs import ElasticMQServer


@dataclass
class ComponentInfo:
    name: str
    pid: int
    address: str
    started_in_s: float
    log: str


class LocalStack:
    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or stack_dir() / "data"
        self.kafka = KafkaServer(self.data_dir / "kafka")
        self.sqs = ElasticMQServer(self.data_dir / "elasticmq")

    def start(self) -> None:
        try:
            self.kafka.start()
            self.sqs.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.sqs.stop()
        self.kafka.stop()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        """Environment variables that point every paystream service at this stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka.bootstrap,
            "SQS_ENDPOINT_URL": self.sqs.endpoint_url,
        }

    def components(self) -> list[ComponentInfo]:
        out = []
        for name, server, address in (
            ("kafka", self.kafka, self.kafka.bootstrap),
            ("elasticmq", self.sqs, self.sqs.endpoint_url),
        ):
            assert server.process is not None
            out.append(ComponentInfo(name, server.process.pid, address, server.started_in_s,
                                     str(server.process.log_path)))
        return out


STATE_FILE = "state.json"


def state_path() -> Path:
    return stack_dir() / STATE_FILE


def write_state(stack: LocalStack) -> None:
    state = {"components": [asdict(c) for c in stack.components()], "env": stack.env,
             "started_at": time.time()}
    state_path().write_text(json.dumps(state, indent=2))


def read_state() -> dict[str, object] | None:
    path = state_path()
    if not path.exists():
        return None
    data: dict[str, object] = json.loads(path.read_text())
    return data


def down() -> list[str]:
    """Stop every server recorded in the state file; returns the names stopped."""
    state = read_state()
    stopped: list[str] = []
    if state is None:
        return stopped
    components = state.get("components", [])
    assert isinstance(components, list)
    for comp in reversed(components):
        if group_alive(int(comp["pid"])):
            stop_group(int(comp["pid"]))
            stopped.append(str(comp["name"]))
    state_path().unlink(missing_ok=True)
    shutil.rmtree(stack_dir() / "data", ignore_errors=True)
    return stopped
