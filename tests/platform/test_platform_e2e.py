"""The whole platform from the project's own command: `paystream up`, then `paystream
demo` through the edge with real tokens, then Ctrl-C. Asserts every order's end state,
that a crashed component is restarted and logged, that no log line carries a secret, and
that SIGINT leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from devstack.dev_realm import service_headers
from devstack.paths import REPO_ROOT
from streams.channels import PAYMENT_DLQ, PAYMENT_QUEUE, PAYMENT_REQUESTS

# What must never reach a log: test nonces, card numbers, passwords and client secrets,
# bearer tokens (JWTs start with eyJ), the simulator's private key.
SECRET_PATTERNS = [
    re.compile(r"fake-[a-z-]*nonce"),
    re.compile(r"\b4111111111111111\b|\b4012888888881881\b|\b5555555555554444\b"),
    re.compile(r"shopper1-password|paystream-orchestrator-secret|sim_private"),
    re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}"),
]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", *args]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    run_dir = tmp_path_factory.mktemp("platform")
    env = {**os.environ, "PAYSTREAM_RUN_DIR": str(run_dir), "COLUMNS": "200"}
    for key in ("KAFKA_BOOTSTRAP_SERVERS", "SQS_ENDPOINT_URL"):
        env.pop(key, None)  # the platform starts its own, as `make run` does
    out = (run_dir / "up.out").open("wb")
    proc = subprocess.Popen(_cli("up", "--free-ports"), cwd=REPO_ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    state_file = run_dir / "stack" / "platform.json"
    deadline = time.monotonic() + 240
    while not state_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if not state_file.exists():
        proc.kill()
        pytest.fail(f"platform did not start:\n{(run_dir / 'up.out').read_text()[-4000:]}")
    info = {"proc": proc, "env": env, "run_dir": run_dir,
            "state": json.loads(state_file.read_text())}
    try:
        yield info
    finally:
        # Children run in sessions of their own: stop `up` politely so it stops them,
        # and kill by pid whatever is left if a failed test cut the sequence short.
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        for pid in info["state"]["pids"].values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        out.close()


def test_demo_completes_with_every_order_in_its_expected_state(
    platform: dict[str, Any]
) -> None:
    result = subprocess.run(_cli("demo"), cwd=REPO_ROOT, env=platform["env"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    out = result.stdout
    assert "every order ended as expected and matches the ledger" in out
    for state in ("REFUNDED", "REVERSED", "PAID", "DECLINED"):
        assert state in out


def test_status_reports_processes_lag_queues_tables_and_dead_letters(
    platform: dict[str, Any]
) -> None:
    result = subprocess.run(_cli("status", "--json"), cwd=REPO_ROOT, env=platform["env"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["running"] and all(report["running"].values()), report
    assert set(report["queue_depths"]) == {PAYMENT_QUEUE, PAYMENT_DLQ}
    assert report["table_sizes"]["orders"] >= 5
    assert report["table_sizes"]["wallets"] >= 1
    assert isinstance(report["kafka_dead_letters"], int)
    assert any(PAYMENT_REQUESTS in topics for topics in report["consumer_lag"].values())


def test_correlation_id_travels_from_the_request_into_the_order_history(
    platform: dict[str, Any]
) -> None:
    import urllib.request

    worker = platform["state"]["worker_views"]
    orders = _demo_orders(platform)
    assert orders
    # The views want the orchestrator's service token, as Payments-B presents it.
    request = urllib.request.Request(f"{worker}/orders/{orders[0]}",
                                     headers=service_headers(platform["state"]["issuer"]))
    with urllib.request.urlopen(request, timeout=5) as resp:
        order = json.loads(resp.read())
    ids = [h.get("correlation_id") for h in order["history"]]
    # The demo sends X-Correlation-ID "demo-<run>-<n>" on every write.
    assert ids and all(i and i.startswith("demo-") for i in ids), order["history"]


def _demo_orders(platform: dict[str, Any]) -> list[str]:
    import urllib.request

    with urllib.request.urlopen(f"{platform['state']['simulator']}/__sim__/ledger",
                                timeout=5) as resp:
        ledger = json.loads(resp.read())
    # Order ids are issued by paystream at registration; this platform ran only the demo.
    return [t["order_id"] for t in ledger["transactions"] if t["order_id"]]


def test_prometheus_metrics_on_edge_bridge_and_worker(platform: dict[str, Any]) -> None:
    import urllib.request

    def scrape(url: str) -> str:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    metrics = platform["state"]["metrics"]
    worker = scrape(metrics["worker"])
    for name in ("paystream_gateway_calls_total", "paystream_gateway_call_seconds_bucket",
                 "paystream_executor_requests_total", "paystream_worker_consumer_lag",
                 "paystream_dead_letters_total"):
        assert name in worker, name
    bridge = scrape(metrics["bridge"])
    for name in ("paystream_bridge_forwarded_total", "paystream_bridge_queue_depth"):
        assert name in bridge, name
    edge = scrape(metrics["edge"])
    assert "_bucket" in edge and "/v1/checkouts" in edge


def test_a_crashed_component_is_restarted_and_logged(platform: dict[str, Any]) -> None:
    bridge_pid = platform["state"]["pids"]["bridge"]
    os.killpg(bridge_pid, signal.SIGKILL)
    up_out = platform["run_dir"] / "up.out"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if '"component_restarted"' in up_out.read_text() and "bridge" in up_out.read_text():
            break
        time.sleep(0.5)
    text = up_out.read_text()
    assert '"component_restarted"' in text, text[-3000:]
    state = json.loads((platform["run_dir"] / "stack" / "platform.json").read_text())
    assert state["restarts"]["bridge"] == 1
    assert psutil.pid_exists(state["pids"]["bridge"]) and state["pids"]["bridge"] != bridge_pid


def test_logs_contain_no_secret(platform: dict[str, Any]) -> None:
    logs = [*(platform["run_dir"] / "logs").glob("*.log"), platform["run_dir"] / "up.out"]
    assert len(logs) >= 6
    for path in logs:
        text = path.read_text(errors="replace")
        for pattern in SECRET_PATTERNS:
            match = pattern.search(text)
            assert match is None, f"{path.name} leaks {match.group(0)[:12]}..."


def test_sigint_stops_everything(platform: dict[str, Any]) -> None:
    proc: subprocess.Popen[bytes] = platform["proc"]
    state = json.loads((platform["run_dir"] / "stack" / "platform.json").read_text())
    pids = list(state["pids"].values())
    assert all(psutil.pid_exists(p) for p in pids)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=90) == 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    assert not [p for p in pids if _alive(p)]
    leftovers = [p.pid for p in psutil.process_iter(["environ"])
                 if (p.info.get("environ") or {}).get("PAYSTREAM_RUN_DIR")
                 == str(platform["run_dir"]) and p.pid != os.getpid()]
    assert leftovers == []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
