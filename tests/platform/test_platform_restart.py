"""`paystream up` keeps its state across a stop: Ctrl-C, start again, and every earlier
order is still served; `--fresh` starts clean. Runs two workers, so it also shows that
each has its own web port and RocksDB directory."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psutil
from platform_helpers import (
    cli,
    demo_orders,
    get_json,
    run_demo,
    start_platform,
    wait_for,
    worker_ready,
)

from devstack.dev_realm import service_headers
from devstack.paths import REPO_ROOT


def _order(state: dict[str, Any], order_id: str) -> tuple[int, object]:
    # The views want the orchestrator's service token, as Payments-B presents it.
    return get_json(f"{state['worker_views']}/orders/{order_id}",
                    headers=service_headers(state["issuer"]))


def test_a_restarted_platform_serves_every_earlier_order_and_fresh_starts_clean(
    tmp_path: Path,
) -> None:
    first = start_platform(tmp_path, "--workers", "2")
    try:
        state = first.state()
        assert len(state["workers"]) == 2 and len(set(state["workers"])) == 2
        data = Path(state["data"])
        demo = run_demo(first)
        assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
        orders = demo_orders(state)
        assert len(orders) >= 5  # the five checkout scenarios, then the after-capture ones
        before = {}
        for order_id in orders:
            status, view = _order(state, order_id)
            assert status == 200, view
            before[order_id] = view
    finally:
        assert first.stop() == 0
    # Each worker kept its own tables.
    assert sorted(p.name for p in data.iterdir() if p.name.startswith("worker")) == [
        "worker", "worker-1"]
    kafka_meta = (data / "kafka" / "logs" / "meta.properties").read_text()

    second = start_platform(tmp_path, "--workers", "2")
    try:
        state = second.state()
        for order_id, view in before.items():
            # Recovery may answer 503 for a moment; never 404 for an order that exists.
            wait_for(lambda o=order_id: _order(state, o)[0] == 200, 60,
                     f"order {order_id} served again")
            status, again = _order(state, order_id)
            assert status == 200
            assert again == view
        # The simulator's ledger survived too, so the demo's ledger check still agrees.
        assert demo_orders(state) == sorted(before)
        # Kafka was not reformatted: the same cluster id and directory id.
        assert (data / "kafka" / "logs" / "meta.properties").read_text() == kafka_meta
    finally:
        assert second.stop() == 0

    fresh = start_platform(tmp_path, "--fresh")
    try:
        state = fresh.state()
        assert demo_orders(state) == []
        status, view = _order(state, next(iter(before)))
        assert status == 404, view
    finally:
        assert fresh.stop() == 0


def test_after_a_hard_kill_of_up_the_next_up_clears_the_leftovers_and_starts(
    tmp_path: Path,
) -> None:
    first = start_platform(tmp_path)
    orphans = first.state()["pids"]
    # No Ctrl-C: `up` itself dies, its children (own sessions) keep running and keep the
    # data directory locked.
    first.proc.kill()
    first.proc.wait()
    assert all(psutil.pid_exists(pid) for pid in orphans.values())

    second = start_platform(tmp_path)
    try:
        state = second.state()
        assert "stopped what an earlier, killed `paystream up` left running" in (
            second.out_path.read_text())
        assert not [pid for pid in orphans.values() if _running(pid)]
        assert worker_ready(state["worker_views"])
        # A second `up` on the same run directory refuses instead of fighting over it.
        again = subprocess.run(cli("up", "--free-ports"), cwd=REPO_ROOT, env=second.env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "already running" in again.stdout
    finally:
        assert second.stop() == 0


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
