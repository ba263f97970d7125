"""paystream's own services (worker, bridge) as child processes, for tests and tools.

Each runs `python -m streams.cli <command>` (the `paystream` command) with an explicit
environment so a test can start several workers against the same broker, kill one, and
start it again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack.paths import REPO_ROOT
from devstack.ports import free_port


class ServiceProcess:
    def __init__(self, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.command = command
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", *self.command], cwd=REPO_ROOT,
                env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return self

    def launch(self) -> None:
        self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def exit_code(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: the crash case, no chance to commit or flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class WorkerProcess(ServiceProcess):
    """One Faust worker with its own data directory and web port."""

    def __init__(self, env: dict[str, str], datadir: Path, log_path: Path,
                 web_port: int | None = None) -> None:
        self.web_port = web_port or free_port()
        self.datadir = datadir
        super().__init__(["worker", "--loglevel", "info"], {
            **env,
            "PAYSTREAM_WORKER_DATADIR": str(datadir),
            "PAYSTREAM_WORKER_WEB_PORT": str(self.web_port),
        }, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def get_json(self, path: str, timeout: float = 5.0) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            body = exc.read()
            try:
                return exc.code, json.loads(body or b"null")
            except ValueError:
                return exc.code, body.decode(errors="replace")

    def is_ready(self) -> bool:
        """Its web server answers and it holds its partitions with every table recovered."""
        try:
            status, body = self.get_json("/health/ready", timeout=2)
        except OSError:
            return False
        return status == 200 and isinstance(body, dict) and bool(body.get("ready"))

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"worker exited during start-up:\n{self.log_tail()}")
            if self.is_ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready after {timeout:.0f}s:\n{self.log_tail()}")
