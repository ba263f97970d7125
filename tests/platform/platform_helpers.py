"""Starting, driving and stopping `paystream up` as a user does, for the platform tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.paths import REPO_ROOT


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", *args]


def platform_env(run_dir: Path) -> dict[str, str]:
    env = {**os.environ, "PAYSTREAM_RUN_DIR": str(run_dir), "COLUMNS": "200"}
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "SQS_ENDPOINT_URL"):
        env.pop(key, None)  # the platform starts its own, as `make run` does
    return env


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    run_dir: Path
    env: dict[str, str]
    out_path: Path

    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack" / "platform.json"

    def started(self) -> bool:
        """This `up` (not an earlier one on the same run directory) wrote its state."""
        try:
            return bool(self.state().get("supervisor_pid") == self.proc.pid)
        except (OSError, ValueError):
            return False

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state_file.read_text())
        return data

    def stop(self, timeout: float = 90.0) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        pids = list(self.state()["pids"].values()) if self.state_file.exists() else []
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in pids:  # whatever a failed test left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        return int(self.proc.returncode)


def start_platform(run_dir: Path, *args: str, timeout: float = 240.0) -> Running:
    env = platform_env(run_dir)
    out_path = run_dir / f"up-{time.monotonic_ns()}.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(cli("up", "--free-ports", *args), cwd=REPO_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    running = Running(proc, run_dir, env, out_path)
    deadline = time.monotonic() + timeout
    while (not running.started() and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.5)
    if not running.started():
        running.stop()
        raise AssertionError(f"platform did not start:\n{out_path.read_text()[-4000:]}")
    return running


def run_demo(running: Running, timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli("demo"), cwd=REPO_ROOT, env=running.env, capture_output=True,
                          text=True, timeout=timeout)


def get_json(url: str, timeout: float = 5.0,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, body.decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def demo_orders(state: dict[str, Any]) -> list[str]:
    """The demo's orders, as the simulator's ledger knows them (paystream issues the ids at
    registration; nothing but the demo places orders on these platforms)."""
    status, ledger = get_json(f"{state['simulator']}/__sim__/ledger")
    assert status == 200, ledger
    return sorted({t["order_id"] for t in ledger["transactions"] if t["order_id"]})


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


def worker_ready(url: str) -> bool:
    status, body = get_json(f"{url}/health/ready", timeout=2)
    return status == 200 and isinstance(body, dict) and bool(body.get("ready"))
