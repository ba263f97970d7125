"""`paystream stack up / status / down` as a newcomer runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil

from devstack.paths import REPO_ROOT


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams.cli", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=180)


def test_stack_up_status_down_leaves_no_process(tmp_path: Path) -> None:
    env = {**os.environ, "PAYSTREAM_RUN_DIR": str(tmp_path), "COLUMNS": "200"}
    up = _cli(env, "stack", "up")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert re.search(r"stack up in [0-9.]+s", up.stdout)
        assert "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:" in up.stdout
        status = _cli(env, "stack", "status", "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        comps = {c["name"]: c for c in state["components"]}
        assert set(comps) == {"kafka", "elasticmq"}
        assert all(c["alive"] for c in comps.values())
        assert comps["kafka"]["started_in_s"] > 0  # recorded for `stack status`
    finally:
        down = _cli(env, "stack", "down")
    assert down.returncode == 0, down.stderr
    for comp in comps.values():
        assert not psutil.pid_exists(comp["pid"]) or psutil.Process(
            comp["pid"]).status() == psutil.STATUS_ZOMBIE
    again = _cli(env, "stack", "status")
    assert again.returncode == 1 and "not running" in again.stdout
