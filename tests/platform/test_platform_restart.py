"""`paystream up` keeps its state across a stop: Ctrl-C, start again, and every earlier
order is still served; `--fresh` starts clean. Runs two workers, so it also shows that
each has its own web port and RocksDB directory."""

from __future__ import annotations

from pathlib import Path

from platform_helpers import demo_orders, get_json, run_demo, start_platform, wait_for


def _order(worker_url: str, order_id: str) -> tuple[int, object]:
    return get_json(f"{worker_url}/orders/{order_id}")


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
        assert len(orders) == 5
        before = {}
        for order_id in orders:
            status, view = _order(state["worker_views"], order_id)
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
            wait_for(lambda o=order_id: _order(state["worker_views"], o)[0] == 200, 60,
                     f"order {order_id} served again")
            status, again = _order(state["worker_views"], order_id)
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
        status, view = _order(state["worker_views"], next(iter(before)))
        assert status == 404, view
    finally:
        assert fresh.stop() == 0
