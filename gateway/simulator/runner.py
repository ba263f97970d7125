"""Start the simulator as a subprocess for tests, benchmarks and other packages.

    with run_simulator() as sim:
        gateway = BraintreeGateway(sim.gateway_settings())
        ...
        sim.ledger()
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import braintree

from gateway.settings import GatewaySettings
from gateway.simulator.config import FaultConfig, SimulatorConfig

_REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config_env(config: SimulatorConfig) -> dict[str, str]:
    env: dict[str, str] = {}
    for name, value in config.model_dump().items():
        if value is None:
            continue
        key = f"PAYSTREAM_SIM_{name.upper()}"
        env[key] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return env


def _die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the test process dies,
    so a crashed test run leaves no orphan simulator behind (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class SimulatorHandle:
    def __init__(self, port: int, config: SimulatorConfig, process: subprocess.Popen[bytes]):
        self.port = port
        self.config = config
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)

    def ledger(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/__sim__/ledger"))

    def configure(self, **faults: Any) -> dict[str, Any]:
        FaultConfig.model_validate({**FaultConfig().model_dump(), **faults})
        return dict(self._admin("POST", "/__sim__/config", faults))

    def reset(self) -> None:
        """Forget all state and restore the start-up fault configuration."""
        self._admin("POST", "/__sim__/reset", {})

    def environment(self) -> braintree.Environment:
        return braintree.Environment("simulator", "127.0.0.1", str(self.port), "", False, None)

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "environment": "simulator", "simulator_url": self.url,
            "merchant_id": "sim_merchant", "public_key": self.config.public_key,
            "private_key": self.config.private_key,
        }
        values.update(overrides)
        return GatewaySettings(**values)

    def sdk(self, *, timeout: float = 10.0, merchant_id: str = "sim_merchant",
            private_key: str | None = None) -> braintree.BraintreeGateway:
        """The official SDK pointed at this simulator."""
        return braintree.BraintreeGateway(braintree.Configuration(
            environment=self.environment(), merchant_id=merchant_id,
            public_key=self.config.public_key,
            private_key=private_key if private_key is not None else self.config.private_key,
            timeout=timeout))

    def settle(self, transaction_id: str) -> str:
        """Settle a captured sale through the sandbox testing endpoint; returns its status."""
        result = self.sdk().testing.settle_transaction(transaction_id)
        if not result.is_success:
            raise RuntimeError(f"settle {transaction_id} failed: {result.message}")
        return str(result.transaction.status)

    def webhooks(self) -> dict[str, Any]:
        """Webhooks still owed (pending), given up (failed), and how many were delivered."""
        return dict(self._admin("GET", "/__sim__/webhooks"))

    def run_settlement_batch(self) -> list[str]:
        """Run a settlement batch now; returns the ids of the transactions it moved."""
        return list(self._admin("POST", "/__sim__/settlement_batch", {})["transaction_ids"])

    def move_dispute(self, dispute_id: str, status: str) -> str:
        """Testing hook: the processor decides (won / lost), reviews or lets a dispute expire."""
        return str(self._admin("POST", f"/__sim__/disputes/{dispute_id}/{status}", {})["status"])

    def alive(self) -> bool:
        return self.process.poll() is None


def _wait_ready(handle: SimulatorHandle, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not handle.alive():
            raise RuntimeError(f"simulator exited with code {handle.process.returncode}")
        try:
            handle._admin("GET", "/__sim__/health")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    raise TimeoutError("simulator did not answer within the start-up timeout")


@contextlib.contextmanager
def run_simulator(
    port: int | None = None,
    config: SimulatorConfig | None = None,
    *,
    startup_timeout: float = 15.0,
) -> Iterator[SimulatorHandle]:
    config = config or SimulatorConfig()
    port = port or _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYSTREAM_SIM_")}
    env.update(_config_env(config))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_REPO_ROOT),
                                                      env.get("PYTHONPATH")]))
    # A file, not a pipe: nobody drains a pipe while tests run, and a full one would
    # block the simulator.
    log_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.simulator", "--port", str(port), "--host", "127.0.0.1"],
        cwd=_REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_file,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    handle = SimulatorHandle(port, config, process)
    try:
        try:
            _wait_ready(handle, time.monotonic() + startup_timeout)
        except Exception:
            process.kill()
            process.wait(timeout=5)
            log_file.seek(0)
            err = log_file.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"simulator failed to start: {err}") from None
        yield handle
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        log_file.close()
