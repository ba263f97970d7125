"""The whole platform in one process tree: `paystream up`.

Starts Kafka and ElasticMQ (JVMs), the Braintree simulator, an identity provider (the
local dev issuer, or Keycloak with --keycloak), N Faust workers (one by default), the SQS
bridge and the HTTP edge; prints where each listens; supervises all of them (one that exits
is restarted on the same data directory and port, with a back-off, and the restart is
logged); stops everything on SIGINT/SIGTERM.

State survives a stop: Kafka's log directory, ElasticMQ's messages, the simulator's ledger,
the workers' RocksDB tables and the issuer's keys all live under one data directory
(`<run dir>/stack/platform`), which `paystream up --fresh` wipes first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from api_edge.webhooks import WEBHOOK_PATH
from devstack.dev_realm import ORCHESTRATOR_CLIENT_SECRET
from devstack.kafka import KafkaServer
from devstack.paths import logs_dir, stack_dir
from devstack.ports import free_port, port_open
from devstack.process import stop_group
from devstack.services import ServiceProcess, WorkerProcess
from devstack.sqs import ElasticMQServer
from devstack.supervisor import RestartPolicy, Supervised, supervise_once

DEFAULT_PORTS = {"edge": 8080, "orchestrator": 8081, "edge_ops": 8082, "worker": 6066,
                 "simulator": 8093, "issuer": 8180, "bridge_metrics": 9108, "kafka": 9092,
                 "kafka_controller": 9093, "elasticmq": 9324}
STATE_FILE = "platform.json"
PORTS_FILE = "ports.json"


def _default_port(name: str) -> int:
    if name.startswith("worker-"):
        return DEFAULT_PORTS["worker"] + int(name.rsplit("-", 1)[1])
    return DEFAULT_PORTS[name]


def _choose_port(candidates: list[int | None], taken: set[int]) -> int:
    """The first candidate nothing listens on and no other component got, else any free
    port."""
    for candidate in candidates:
        if candidate and candidate not in taken and not port_open(candidate):
            return candidate
    while (port := free_port()) in taken:
        pass
    return port


@dataclass
class Platform:
    data_dir: Path = field(default_factory=lambda: stack_dir() / "platform")
    keycloak: bool = False
    default_ports: bool = True
    workers: int = 1
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    services: list[Supervised] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _kafka: KafkaServer | None = None
    _sqs: ElasticMQServer | None = None
    _keycloak: Any = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['edge']}"

    @property
    def worker_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{self.ports[name]}" for name in self._worker_names()]

    @property
    def worker_url(self) -> str:
        return self.worker_urls[0]

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['simulator']}"

    @property
    def issuer(self) -> str:
        return self.env["PAYSTREAM_AUTH_ISSUER"]

    def _worker_names(self) -> list[str]:
        return ["worker" if i == 0 else f"worker-{i}" for i in range(self.workers)]

    def wipe(self) -> None:
        """`--fresh`: forget every order, wallet, queued message and ledger entry."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _assign_ports(self) -> None:
        """The port each component had last time if still free (a restarted platform keeps
        its addresses), else its default unless --free-ports, else any free port."""
        saved_path = self.data_dir / PORTS_FILE
        saved: dict[str, int] = (json.loads(saved_path.read_text())
                                 if saved_path.exists() else {})
        names = [n for n in DEFAULT_PORTS if n != "worker"] + self._worker_names()
        taken: set[int] = set()
        for name in names:
            default = _default_port(name) if self.default_ports else None
            self.ports[name] = _choose_port([saved.get(name), default], taken)
            taken.add(self.ports[name])
        saved_path.write_text(json.dumps({**saved, **self.ports}, indent=2))

    def start(self) -> None:
        began = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._assign_ports()
        try:
            self._kafka = KafkaServer(self.data_dir / "kafka", port=self.ports["kafka"],
                                      controller_port=self.ports["kafka_controller"])
            self._start_broker("kafka", self._kafka)
            self._sqs = ElasticMQServer(self.data_dir / "elasticmq",
                                        port=self.ports["elasticmq"], persist=True)
            self._start_broker("elasticmq", self._sqs)
            issuer = self._start_identity()
            self.env = {
                "KAFKA_BOOTSTRAP_SERVERS": self._kafka.bootstrap,
                "SQS_ENDPOINT_URL": self._sqs.endpoint_url,
                "BRAINTREE_ENVIRONMENT": "simulator",
                "BRAINTREE_SIMULATOR_URL": self.simulator_url,
                "PAYSTREAM_AUTH_ISSUER": issuer,
                "PAYSTREAM_EDGE_PUBLIC_PORT": str(self.ports["edge"]),
                "PAYSTREAM_EDGE_ORCHESTRATOR_PORT": str(self.ports["orchestrator"]),
                "PAYSTREAM_EDGE_OPS_PORT": str(self.ports["edge_ops"]),
                # Every worker: the edge asks the next one when one is down or recovering.
                "PAYSTREAM_EDGE_WORKER_URL": ",".join(self.worker_urls),
                "PAYSTREAM_EDGE_SERVICE_CLIENT_SECRET": ORCHESTRATOR_CLIENT_SECRET,
                "PAYSTREAM_BRIDGE_METRICS_PORT": str(self.ports["bridge_metrics"]),
            }
            self._start_services()
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - began
        self._write_state()

    def _start_broker(self, name: str, server: KafkaServer | ElasticMQServer) -> None:
        server.start()
        self.timings[name] = server.started_in_s
        svc = Supervised(name, server, server.alive)
        svc.started(time.monotonic())
        self.services.append(svc)

    def _start_identity(self) -> str:
        if self.keycloak:
            from devstack.keycloak import KeycloakServer

            self._keycloak = KeycloakServer(port=self.ports["issuer"])
            self._keycloak.start()
            self.timings["keycloak"] = self._keycloak.started_in_s
            return str(self._keycloak.issuer)
        return f"http://127.0.0.1:{self.ports['issuer']}/realms/paystream"

    def _service(self, name: str, command: list[str]) -> ServiceProcess:
        return ServiceProcess(command, self.env, logs_dir() / f"{name}.log")

    def _start_services(self) -> None:
        ledger = self.data_dir / "simulator" / "ledger.json"
        ledger.parent.mkdir(parents=True, exist_ok=True)
        # The simulator's webhooks go to the edge, as Braintree's go to a merchant's URL.
        sim = self._service("simulator", ["sim", "--port", str(self.ports["simulator"]),
                                          "--persist-file", str(ledger), "--webhook-url",
                                          f"http://127.0.0.1:{self.ports['edge']}"
                                          f"{WEBHOOK_PATH}"])
        specs: list[tuple[str, ServiceProcess, Callable[[], bool]]] = [
            ("simulator", sim, lambda: port_open(self.ports["simulator"])),
        ]
        if not self.keycloak:
            issuer = self._service("issuer", ["issuer", "--port", str(self.ports["issuer"]),
                                              "--key-file",
                                              str(self.data_dir / "issuer-keys.json")])
            specs.append(("issuer", issuer, lambda: port_open(self.ports["issuer"])))
        for name in self._worker_names():
            # Each worker its own RocksDB directory and web port; the same directory
            # again after a restart, so its tables only catch up on the changelog.
            # Static membership: the restarted worker takes its partitions back at once.
            worker = WorkerProcess({**self.env, "PAYSTREAM_WORKER_GROUP_INSTANCE_ID": name},
                                   self.data_dir / name, logs_dir() / f"{name}.log",
                                   web_port=self.ports[name])
            specs.append((name, worker, worker.is_ready))
        specs.append(("bridge", self._service("bridge", ["bridge"]),
                      lambda: port_open(self.ports["bridge_metrics"])))
        specs.append(("edge", self._service("edge", ["edge"]),
                      lambda: port_open(self.ports["edge"])
                      and port_open(self.ports["orchestrator"])))
        for name, proc, ready in specs:
            t0 = time.monotonic()
            proc.start()
            svc = Supervised(name, proc, ready)
            svc.started(t0)
            self.services.append(svc)
            _wait(lambda r=ready, p=proc: r() or not p.alive(), 120)  # type: ignore[misc]
            if not proc.alive():
                raise RuntimeError(f"{name} exited during start-up:\n{proc.log_tail()}")
            if not ready():
                raise RuntimeError(f"{name} not ready after 120 s:\n{proc.log_tail()}")
            self.timings[name] = time.monotonic() - t0

    def supervise_once(self) -> list[str]:
        """Restart any component that exited; returns the names restarted."""
        if self._stopping.is_set():
            return []
        restarted = supervise_once(self.services, self.policy)
        if restarted:
            self._write_state()
        return restarted

    def run_until_stopped(self, poll_s: float = 1.0) -> None:
        while not self._stopping.wait(poll_s):
            self.supervise_once()

    def request_stop(self) -> None:
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        # Reverse start order: the edge first, the brokers last.
        for svc in reversed(self.services):
            svc.process.stop()
        if self._keycloak is not None:
            self._keycloak.stop()
        (stack_dir() / STATE_FILE).unlink(missing_ok=True)

    def describe(self) -> dict[str, Any]:
        return {
            "edge": self.edge_url,
            "edge_docs": f"{self.edge_url}/docs",
            "orchestrator": f"http://127.0.0.1:{self.ports['orchestrator']}",
            "worker_views": self.worker_url,
            "workers": self.worker_urls,
            "metrics": {"edge": f"http://127.0.0.1:{self.ports['edge_ops']}/metrics",
                        "worker": f"{self.worker_url}/metrics",
                        "bridge": f"http://127.0.0.1:{self.ports['bridge_metrics']}/metrics"},
            "simulator": self.simulator_url,
            "issuer": self.issuer,
            "kafka": self.env.get("KAFKA_BOOTSTRAP_SERVERS"),
            "sqs": self.env.get("SQS_ENDPOINT_URL"),
            "token_endpoint": f"{self.issuer}/protocol/openid-connect/token",
            "pids": {s.name: s.process.pid for s in self.services if s.process.pid},
            "restarts": {s.name: s.restarts for s in self.services},
            "supervisor_pid": os.getpid(),
            "started_in_s": {k: round(v, 1) for k, v in self.timings.items()},
            "data": str(self.data_dir),
            "logs": str(logs_dir()),
        }

    def _write_state(self) -> None:
        (stack_dir() / STATE_FILE).write_text(json.dumps(self.describe(), indent=2))


def read_platform_state() -> dict[str, Any] | None:
    path = stack_dir() / STATE_FILE
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _command(pid: int) -> list[str]:
    try:
        return list(psutil.Process(pid).cmdline())
    except psutil.Error:
        return []


def _ours(pid: int) -> bool:
    """Still a process this run directory's platform started (not a reused pid)."""
    command = _command(pid)
    return "streams.cli" in command or any(str(stack_dir()) in arg for arg in command)


def running_supervisor() -> int | None:
    """The pid of a `paystream up` still running on this run directory, if any."""
    pid = (read_platform_state() or {}).get("supervisor_pid")
    if not pid:
        return None
    command = _command(int(pid))
    launched = "streams.cli" in command or any(a.endswith("paystream") for a in command)
    return int(pid) if launched and "up" in command else None


def stop_leftovers() -> list[str]:
    """A `paystream up` killed without a chance to clean up leaves its children running,
    holding the data directory and ports: stop them before starting again."""
    state = read_platform_state() or {}
    stopped = []
    # Reverse start order, as a clean stop does: the users of the brokers first.
    for name, pid in reversed(list(state.get("pids", {}).items())):
        if _ours(int(pid)):
            stop_group(int(pid))
            stopped.append(str(name))
    (stack_dir() / STATE_FILE).unlink(missing_ok=True)
    return stopped


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.2)


def run_platform(keycloak: bool = False, free_ports: bool = False, fresh: bool = False,
                 workers: int = 1) -> None:
    """Foreground: start, print, supervise, and stop everything on Ctrl-C."""
    from rich.console import Console

    from streams.logs import configure_logging

    configure_logging("platform")
    console = Console()
    if (other := running_supervisor()) is not None:
        console.print(f"[red]paystream is already running[/red] (pid {other}); stop it first")
        raise SystemExit(1)
    if leftovers := stop_leftovers():
        console.print(f"stopped what an earlier, killed `paystream up` left running: "
                      f"{', '.join(leftovers)}")
    platform = Platform(keycloak=keycloak, default_ports=not free_ports, workers=workers)
    if fresh:
        platform.wipe()
    signal.signal(signal.SIGINT, lambda *_: platform.request_stop())
    signal.signal(signal.SIGTERM, lambda *_: platform.request_stop())
    console.print("starting paystream (first run fetches jars; later starts take seconds)")
    try:
        platform.start()
    except BaseException as exc:
        console.print(f"[red]platform failed to start:[/red] {exc}")
        raise SystemExit(1) from exc
    info = platform.describe()
    console.print_json(json.dumps(info))
    # The dev password stays out of the output (and so out of any captured log); the
    # README's "Identity" section lists the development users.
    console.print(
        "Get a shopper token (dev users and passwords: README, 'Identity'):\n"
        f"  curl -s -d grant_type=password -d client_id=paystream-shop -d username=shopper1 "
        f"--data-urlencode password=\"$SHOPPER_PASSWORD\" {info['token_endpoint']}\n"
        "Drive a scripted checkout: paystream demo\n"
        "Ctrl-C stops everything.")
    try:
        platform.run_until_stopped()
    finally:
        console.print("stopping paystream ...")
        platform.stop()
        console.print("stopped")



